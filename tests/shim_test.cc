// shim — the monitor, without namespaces: a plain child plays the container's init.
// The shim must say "started", copy its output into the log (and to an attached
// CLI), record how it ended, clean up, and SIGKILL it when told to end.
#include "common/shim.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "common/error.h"
#include "common/fd.h"
#include "common/state.h"

namespace nslab {
namespace {

class ShimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    base_ = std::string(tmp ? tmp : "/tmp") + "/shim-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    setenv("NSLAB_STATE_DIR", base_.c_str(), 1);
    r_.id = state::NewId();
    r_.name = r_.id;
    r_.command = {"test"};
    r_.created = state::Now();
    state::CreateDir(r_);
    // An address allocation the shim must release.
    r_.address_file = base_ + "/addr-" + r_.id;
    WriteAll(Open(r_.address_file, O_WRONLY | O_CREAT, 0644).Get(), "x", "addr");
    state::Save(r_);
  }
  void TearDown() override {
    for (const auto& r : state::List()) state::RemoveDir(r.id);
    unlink(r_.address_file.c_str());
    rmdir(base_.c_str());
    unsetenv("NSLAB_STATE_DIR");
  }

  // Forks a monitor process that forks the "init" (running `init_fn`), puts the fds
  // where shim.h says, and runs shim::Run. Returns its pid; the ready pipe's read
  // end and the monitor's stdout/stderr read end are returned through the pointers.
  pid_t StartShim(shim::Options o, void (*init_fn)(), UniqueFd* ready, UniqueFd* cli_out) {
    Pipe ready_pipe = MakePipe();
    Pipe cli = MakePipe();
    pid_t monitor = fork();
    if (monitor == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      Pipe out = MakePipe(), err = MakePipe();
      pid_t init = fork();
      if (init == 0) {
        dup2(out.write.Get(), 1);
        dup2(err.write.Get(), 2);
        init_fn();
        _exit(0);
      }
      out.write.Reset();
      err.write.Reset();
      int null = open("/dev/null", O_RDWR);
      dup2(null, 0);
      dup2(cli.write.Get(), 1);
      dup2(cli.write.Get(), 2);
      dup2(ready_pipe.write.Get(), shim::kReadyFd);
      dup2(out.read.Get(), shim::kOutFd);
      dup2(err.read.Get(), shim::kErrFd);
      o.init = init;
      _exit(shim::Run(o));
    }
    *ready = std::move(ready_pipe.read);
    *cli_out = std::move(cli.read);
    return monitor;
  }

  shim::Options Opts() {
    shim::Options o;
    o.state_dir = base_;
    o.id = r_.id;
    return o;
  }

  std::string base_;
  state::Record r_;
};

void PrintAndExit3() {
  (void)!write(1, "hello\n", 6);
  (void)!write(2, "oops\n", 5);
  _exit(3);
}

void SleepForever() {
  for (;;) pause();
}

TEST_F(ShimTest, RecordsTheExitAndCapturesTheOutput) {
  UniqueFd ready, cli;
  pid_t m = StartShim(Opts(), PrintAndExit3, &ready, &cli);
  std::string said = ReadAll(ready.Get());  // detached: "started", then closed
  EXPECT_EQ(said.rfind("started ", 0), 0u) << said;
  int ws;
  ASSERT_EQ(waitpid(m, &ws, 0), m);
  EXPECT_TRUE(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);

  state::Record back = state::Load(r_.id);
  EXPECT_TRUE(back.exited);
  EXPECT_EQ(back.exit_code, 3);
  EXPECT_GT(back.finished, 0);
  EXPECT_EQ(state::Status(back), state::kExited);
  std::string log = ReadFile(shim::LogPath(r_.id));
  EXPECT_NE(log.find("hello\n"), std::string::npos) << log;
  EXPECT_NE(log.find("oops\n"), std::string::npos) << log;
  EXPECT_EQ(access(r_.address_file.c_str(), F_OK), -1) << "address not released";
  EXPECT_EQ(ReadAll(cli.Get()), "");  // detached: nothing on the CLI's side
}

TEST_F(ShimTest, AttachedCliGetsTheOutputAndTheExitLine) {
  shim::Options o = Opts();
  o.attached = true;
  UniqueFd ready, cli;
  pid_t m = StartShim(o, PrintAndExit3, &ready, &cli);
  std::string said = ReadAll(ready.Get());
  EXPECT_EQ(said.rfind("started ", 0), 0u) << said;
  EXPECT_NE(said.find("\nexit 3\n"), std::string::npos) << said;
  waitpid(m, nullptr, 0);
  std::string out = ReadAll(cli.Get());
  EXPECT_NE(out.find("hello\n"), std::string::npos) << out;
  EXPECT_NE(out.find("oops\n"), std::string::npos) << out;
}

TEST_F(ShimTest, SigtermToTheShimKillsTheInit) {
  shim::Options o = Opts();
  o.attached = true;
  UniqueFd ready, cli;
  pid_t m = StartShim(o, SleepForever, &ready, &cli);
  char buf[64];
  ASSERT_GT(read(ready.Get(), buf, sizeof buf), 0);  // "started ..."
  kill(m, SIGTERM);                                  // what an interrupted attached CLI sends
  std::string rest = ReadAll(ready.Get());
  EXPECT_NE(rest.find("exit 137"), std::string::npos) << rest;
  waitpid(m, nullptr, 0);
  EXPECT_EQ(state::Load(r_.id).exit_code, 137);
}

TEST_F(ShimTest, RemoveTakesTheStateDirectory) {
  shim::Options o = Opts();
  o.remove = true;
  UniqueFd ready, cli;
  pid_t m = StartShim(o, PrintAndExit3, &ready, &cli);
  waitpid(m, nullptr, 0);
  EXPECT_EQ(access(state::Dir(r_.id).c_str(), F_OK), -1);
}

TEST(ShimArgvTest, RoundTrips) {
  shim::Options o;
  o.state_dir = "/run/nslab";
  o.id = "0123456789ab";
  o.init = 4242;
  o.tty = o.attached = o.remove = true;
  std::vector<std::string> args = shim::Argv("/x/nslab-shim", o);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  shim::Options back = shim::ParseArgv(static_cast<int>(argv.size()), argv.data());
  EXPECT_EQ(back.state_dir, o.state_dir);
  EXPECT_EQ(back.id, o.id);
  EXPECT_EQ(back.init, 4242);
  EXPECT_TRUE(back.tty);
  EXPECT_FALSE(back.interactive);
  EXPECT_TRUE(back.attached);
  EXPECT_TRUE(back.remove);
}

TEST(ShimArgvTest, RefusesNonsense) {
  auto parse = [](std::vector<std::string> args) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    return shim::ParseArgv(static_cast<int>(argv.size()), argv.data());
  };
  EXPECT_THROW(parse({"nslab-shim"}), UsageError);
  EXPECT_THROW(parse({"nslab-shim", "/run/nslab", "../etc", "1", "-"}), UsageError);
  EXPECT_THROW(parse({"nslab-shim", "/run/nslab", "0123456789ab", "0", "-"}), UsageError);
  EXPECT_THROW(parse({"nslab-shim", "/run/nslab", "0123456789ab", "1", "-z"}), UsageError);
}

TEST(ShimCleanupTest, RemovesCgroupDirectoriesAndIsIdempotent) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string d = std::string(tmp ? tmp : "/tmp") + "/fakecg-" + std::to_string(getpid());
  ASSERT_EQ(mkdir(d.c_str(), 0755), 0);
  state::Record r;
  r.cgroups = {d};
  shim::CleanupAfterExit(r);
  EXPECT_EQ(access(d.c_str(), F_OK), -1);
  shim::CleanupAfterExit(r);  // gone already: fine
}

}  // namespace
}  // namespace nslab
