// Unit tests for common/pid: NSpid parsing, PID 1 in a new namespace, reaping,
// and the minimal init's signal forwarding and orphan reaping.
#include "common/pid.h"

#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/fd.h"
#include "common/process.h"

namespace nslab {
namespace {

TEST(PidTest, ParsesNsPidLine) {
  EXPECT_EQ(pid::ParseNsPids("Name:\tsh\nNSpid:\t4242\t7\t1\nNSpgid:\t1\n"),
            (std::vector<pid_t>{4242, 7, 1}));
  EXPECT_TRUE(pid::ParseNsPids("Name:\tsh\n").empty());
}

TEST(PidTest, OwnStatusEndsWithOwnPid) {
  auto pids = pid::ParseNsPids(ReadFile("/proc/self/status"));
  ASSERT_FALSE(pids.empty());
  EXPECT_EQ(pids.back(), getpid());
}

TEST(PidTest, ChildOfNewNamespaceIsPid1) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  Pipe hold = MakePipe();
  process::Child child = process::Clone({CLONE_NEWPID}, [&] {
    hold.write.Reset();
    ReadAll(hold.read.Get(), 1);  // stay alive until the parent has looked
    return getpid() == 1 ? 0 : 1;
  });
  hold.read.Reset();
  std::vector<pid_t> pids = pid::NsPids(child.pid());
  ASSERT_GE(pids.size(), 2u);
  EXPECT_EQ(pids.back(), 1);
  EXPECT_EQ(pids[pids.size() - 2], child.pid());
  hold.write.Reset();
  child.Go();
  EXPECT_EQ(child.Wait().ShellCode(), 0);
}

TEST(PidTest, ReapAllCollectsEveryChild) {
  for (int code = 0; code < 3; ++code) {
    if (fork() == 0) _exit(code);
  }
  auto reaped = pid::ReapAllInChild(/*block=*/true);
  ASSERT_EQ(reaped.size(), 3u);
  int sum = 0;
  for (const auto& r : reaped) sum += r.status.code;
  EXPECT_EQ(sum, 0 + 1 + 2);
  EXPECT_TRUE(pid::ReapAllInChild().empty());
}

TEST(PidTest, InitReturnsProgramStatus) {
  pid_t init = fork();
  if (init == 0) _exit(pid::RunAsInit([] { return 7; }));
  EXPECT_EQ(process::WaitPid(init).ShellCode(), 7);
}

TEST(PidTest, InitForwardsSignalsToProgram) {
  Pipe started = MakePipe();
  pid_t init = fork();
  if (init == 0) {
    started.read.Reset();
    _exit(pid::RunAsInit([&] {
      WriteAll(started.write.Get(), "s");  // the init has blocked its signals by now
      pause();
      return 0;
    }));
  }
  started.write.Reset();
  ASSERT_EQ(ReadAll(started.read.Get(), 1), "s");
  kill(init, SIGTERM);
  process::ExitStatus st = process::WaitPid(init);
  // The init itself exits normally with the program's 128 + SIGTERM: it blocked
  // the signal and forwarded it instead of dying of it.
  EXPECT_FALSE(st.Signaled());
  EXPECT_EQ(st.code, 128 + SIGTERM);
}

TEST(PidTest, InitReapsOrphans) {
  pid_t init = fork();
  if (init == 0) {
    // A subreaper stands in for PID 1: orphans below it are reparented to it.
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    int code = pid::RunAsInit([] {
      pid_t orphan = fork();
      if (orphan == 0) _exit(0);
      siginfo_t info;
      // Exit only once the grandchild is a zombie, so it is ours to reap.
      waitid(P_PID, orphan, &info, WEXITED | WNOWAIT);
      return 5;
    });
    bool none_left = waitpid(-1, nullptr, WNOHANG) < 0 && errno == ECHILD;
    _exit(code == 5 && none_left ? 0 : 1);
  }
  EXPECT_EQ(process::WaitPid(init).ShellCode(), 0);
}

TEST(PidTest, ProcessStateShowsAZombieUntilReaped) {
  pid_t kid = fork();
  if (kid == 0) _exit(0);
  siginfo_t info;
  ASSERT_EQ(waitid(P_PID, kid, &info, WEXITED | WNOWAIT), 0);  // ended, not reaped
  EXPECT_EQ(pid::ProcessState(kid), "Z (zombie)");
  EXPECT_EQ(pid::ProcessState(getpid()), "R (running)");
  process::WaitPid(kid);
  EXPECT_THROW(pid::ProcessState(kid), SysError);
}

TEST(PidTest, InitDutiesDemoLeavesNothingRunning) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  Pipe victim = MakePipe();
  process::Child child = process::Clone(
      {CLONE_NEWPID}, [&] { return pid::ShowInitDutiesInChild(victim.write.Get()); });
  victim.write.Reset();
  child.Go();
  EXPECT_EQ(child.Wait().ShellCode(), 0);
  // The sleeper told us its host pid, and died with PID 1 of its namespace.
  std::string left = ReadAll(victim.read.Get());
  ASSERT_FALSE(left.empty());
  errno = 0;
  EXPECT_EQ(kill(std::stoi(left), 0), -1);
  EXPECT_EQ(errno, ESRCH);
  Pipe none = MakePipe();
  none.write.Reset();
  pid::ShowSleeperKilledFromParent(none.read.Get());  // nothing told: says nothing
}

}  // namespace
}  // namespace nslab
