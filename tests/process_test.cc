// process_test — clone with its own stack, the sync pipe, exec errors, waiting,
// exit-status decoding, cleanup of un-waited children and signal forwarding.
//
// Cases that change signal dispositions run inside a forked helper process, so the
// test binary itself keeps its own.
#include "common/process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <sstream>
#include <string>

#include "common/error.h"
#include "common/fd.h"

namespace nslab::process {
namespace {

std::string TmpPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + name;
}

// Field 3 of /proc/PID/stat ('?' when the process is gone).
char StateOf(pid_t pid) {
  try {
    std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
    size_t close = stat.rfind(')');
    return close + 2 < stat.size() ? stat[close + 2] : '?';
  } catch (const SysError&) {
    return '?';
  }
}

CloneOptions WithStack(size_t size) {
  CloneOptions o;
  o.stack_size = size;
  return o;
}

CloneOptions Forwarding(int flags) {
  CloneOptions o;
  o.flags = flags;
  o.forward_signals = true;
  return o;
}

bool Reaped(pid_t pid) {
  errno = 0;
  return waitpid(pid, nullptr, WNOHANG) == -1 && errno == ECHILD;
}

TEST(DecodeTest, ExitCode) {
  ExitStatus st = Decode(W_EXITCODE(3, 0));
  EXPECT_EQ(st.code, 3);
  EXPECT_FALSE(st.Signaled());
  EXPECT_EQ(st.ShellCode(), 3);
  EXPECT_EQ(st.Describe(), "exited with status 3");
}

TEST(DecodeTest, SignalAndCoreDump) {
  ExitStatus st = Decode(W_EXITCODE(0, SIGKILL));
  EXPECT_TRUE(st.Signaled());
  EXPECT_EQ(st.signal, SIGKILL);
  EXPECT_FALSE(st.core_dumped);
  EXPECT_EQ(st.ShellCode(), 128 + SIGKILL);
  EXPECT_EQ(st.Describe(), "killed by signal 9 (SIGKILL)");

  ExitStatus core = Decode(W_EXITCODE(0, SIGSEGV) | WCOREFLAG);
  EXPECT_EQ(core.signal, SIGSEGV);
  EXPECT_TRUE(core.core_dumped);
  EXPECT_EQ(core.Describe(), "killed by signal 11 (SIGSEGV), core dumped");
}

TEST(DecodeTest, RealChildrenThroughWaitPid) {
  pid_t a = Check(fork(), "fork");
  if (a == 0) _exit(42);
  EXPECT_EQ(WaitPid(a).code, 42);

  Pipe p = MakePipe();
  pid_t b = Check(fork(), "fork");
  if (b == 0) {
    char c;
    (void)!read(p.read.Get(), &c, 1);  // blocks: nobody writes
    _exit(0);
  }
  Check(kill(b, SIGTERM), "kill");
  ExitStatus st = WaitPid(b);
  EXPECT_EQ(st.signal, SIGTERM);
  EXPECT_EQ(st.ShellCode(), 143);
}

TEST(WaitPidTest, NotOurChildThrows) {
  EXPECT_THROW(WaitPid(getpid()), SysError);
}

TEST(CloneTest, GoThenWaitReturnsTheChildsExitCode) {
  Child c = Clone({}, [] { return 42; });
  EXPECT_GT(c.pid(), 0);
  EXPECT_NE(c.pid(), getpid());
  c.Go();
  ExitStatus st = c.Wait();
  EXPECT_EQ(st.code, 42);
  EXPECT_FALSE(st.Signaled());
}

TEST(CloneTest, ExecRunsTheCommand) {
  Child c = Clone({}, [] { return Exec({"/bin/sh", "-c", "exit 5"}); });
  EXPECT_NO_THROW(c.Go());
  EXPECT_EQ(c.Wait().code, 5);
}

TEST(CloneTest, MissingCommandIs127AndNamed) {
  Child c = Clone({}, [] { return Exec({"/nonexistent-nslab/cmd", "arg"}); });
  try {
    c.Go();
    FAIL() << "Go() did not throw";
  } catch (const ExitCodeError& e) {
    EXPECT_EQ(e.exit_code(), kNotFound);
    EXPECT_NE(std::string(e.what()).find("/nonexistent-nslab/cmd"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(c.Wait().code, kNotFound);
}

TEST(CloneTest, CommandNotOnPathIs127) {
  Child c = Clone({}, [] { return Exec({"nslab-no-such-command"}); });
  try {
    c.Go();
    FAIL() << "Go() did not throw";
  } catch (const ExitCodeError& e) {
    EXPECT_EQ(e.exit_code(), kNotFound);
  }
  EXPECT_EQ(c.Wait().code, kNotFound);
}

TEST(CloneTest, UnsearchablePathDirectoryDoesNotTurnNotFoundInto126) {
  // Like root's PATH seen by another uid: execvp(3) says EACCES when a PATH directory
  // could not be searched and the command was found nowhere. The child drops every
  // capability, so even root cannot search a mode-000 directory.
  const std::string locked = TmpPath("process_test_locked");
  rmdir(locked.c_str());
  Check(mkdir(locked.c_str(), 0), "mkdir", locked);
  Child c = Clone({}, [&] {
    __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct none[2] = {};
    Check(static_cast<int>(syscall(SYS_capset, &hdr, none)), "capset");
    setenv("PATH", (locked + ":/nonexistent-nslab").c_str(), 1);
    return Exec({"nslab-no-such-command"});
  });
  try {
    c.Go();
    FAIL() << "Go() did not throw";
  } catch (const ExitCodeError& e) {
    EXPECT_EQ(e.exit_code(), kNotFound) << e.what();
  }
  EXPECT_EQ(c.Wait().code, kNotFound);
  rmdir(locked.c_str());
}

TEST(CloneTest, CommandFoundOnPathRuns) {
  Child c = Clone({}, [] {
    setenv("PATH", "/nonexistent-nslab:/bin:/usr/bin", 1);
    return Exec({"sh", "-c", "exit 6"});
  });
  c.Go();
  EXPECT_EQ(c.Wait().code, 6);
}

TEST(CloneTest, NonExecutableFileIs126) {
  const std::string path = TmpPath("process_test_not_executable");
  {
    UniqueFd f = Open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    WriteAll(f.Get(), "#!/bin/sh\nexit 0\n");
  }
  Child c = Clone({}, [&] { return Exec({path}); });
  try {
    c.Go();
    FAIL() << "Go() did not throw";
  } catch (const ExitCodeError& e) {
    EXPECT_EQ(e.exit_code(), kNotExecutable);
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  EXPECT_EQ(c.Wait().code, kNotExecutable);
  unlink(path.c_str());
}

TEST(CloneTest, SetupErrorInTheChildIs125WithItsMessage) {
  Child c = Clone({}, []() -> int {
    Check(open("/nonexistent-nslab", O_RDONLY | O_CLOEXEC), "open", "/nonexistent-nslab");
    return 0;
  });
  try {
    c.Go();
    FAIL() << "Go() did not throw";
  } catch (const ExitCodeError& e) {
    EXPECT_EQ(e.exit_code(), kSetupFailed);
    EXPECT_EQ(std::string(e.what()).rfind("open \"/nonexistent-nslab\": ", 0), 0u) << e.what();
  }
  EXPECT_EQ(c.Wait().code, kSetupFailed);
}

// The OCI engine's init: setup done, Go() returns, the child goes on (to wait for
// `start`); a later error is its own exit code, not a report to a Go() long gone.
TEST(CloneTest, ReportReadyInChildEndsGoWithoutAnExec) {
  Pipe hold = MakePipe();
  Child c = Clone({}, [&]() -> int {
    hold.write.Reset();
    ReportReadyInChild();
    char byte;
    (void)!read(hold.read.Get(), &byte, 1);  // blocks until the parent closes its end
    throw ExitCodeError(7, "after ready");
  });
  hold.read.Reset();
  EXPECT_NO_THROW(c.Go());  // returns although the child neither exec'd nor ended
  EXPECT_NE(StateOf(c.pid()), 'Z');
  hold.write.Reset();
  EXPECT_EQ(c.Wait().code, 7);
}

TEST(CloneTest, ChildBlocksUntilGo) {
  // The parent writes a file only after Clone() returned and the child sits blocked;
  // a child that did not wait for Go() would find no file and exit 1.
  const std::string path = TmpPath("process_test_prepared");
  unlink(path.c_str());
  Child c = Clone({}, [&] {
    try {
      return ReadFile(path) == "prepared" ? 0 : 1;
    } catch (const SysError&) {
      return 2;
    }
  });
  // Let the child run as far as it can: it must end up asleep on the pipe, not done.
  char state;
  while ((state = StateOf(c.pid())) != 'S' && state != 'Z' && state != '?') sched_yield();
  EXPECT_EQ(state, 'S');
  {
    UniqueFd f = Open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    WriteAll(f.Get(), "prepared");
  }
  c.Go();
  EXPECT_EQ(c.Wait().code, 0);
  unlink(path.c_str());
}

TEST(CloneTest, DestructorKillsAndReapsAChildNeverStarted) {
  pid_t pid;
  {
    Child c = Clone({}, [] { return 0; });
    pid = c.pid();
  }
  bool reaped = Reaped(pid);
  EXPECT_TRUE(reaped) << "child " << pid << " was left behind";
  if (!reaped) waitpid(pid, nullptr, 0);
}

TEST(CloneTest, DestructorKillsAndReapsARunningCommand) {
  Pipe in = MakePipe();  // we keep the write end: cat never sees EOF
  pid_t pid;
  {
    Child c = Clone({}, [&] {
      Check(dup2(in.read.Get(), STDIN_FILENO), "dup2", "stdin");
      return Exec({"cat"});
    });
    pid = c.pid();
    c.Go();  // returns once cat has exec'd
  }
  bool reaped = Reaped(pid);
  EXPECT_TRUE(reaped) << "child " << pid << " was left behind";
  if (!reaped) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  errno = 0;
  EXPECT_EQ(kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

TEST(CloneTest, GoToAChildKilledBeforehandDoesNotKillUs) {
  Child c = Clone({}, [] { return 0; });
  Check(kill(c.pid(), SIGKILL), "kill");
  siginfo_t info = {};
  Check(waitid(P_PID, c.pid(), &info, WEXITED | WNOWAIT), "waitid");  // dead, not reaped
  EXPECT_NO_THROW(c.Go());  // its end of the pipe is closed: EPIPE, not SIGPIPE
  EXPECT_EQ(c.Wait().signal, SIGKILL);
}

TEST(CloneTest, MoveAssignmentKillsTheOldChild) {
  Child a = Clone({}, [] { return 0; });
  pid_t old = a.pid();
  a = Clone({}, [] { return 9; });
  EXPECT_TRUE(Reaped(old));
  a.Go();
  EXPECT_EQ(a.Wait().code, 9);
}

TEST(CloneTest, ReleaseHandsTheChildOver) {
  pid_t pid;
  {
    Child c = Clone({}, [] { return 4; });
    c.Go();
    pid = c.Release();
    EXPECT_EQ(c.pid(), -1);
  }
  EXPECT_EQ(WaitPid(pid).code, 4);  // still ours to wait for
}

TEST(CloneTest, WaitTwiceThrowsInsteadOfReapingAnotherChild) {
  pid_t other = Check(fork(), "fork");
  if (other == 0) _exit(0);
  Child c = Clone({}, [] { return 0; });
  c.Go();
  EXPECT_EQ(c.Wait().code, 0);
  EXPECT_ANY_THROW(c.Wait());
  EXPECT_EQ(WaitPid(other).code, 0);  // the second Wait() did not take it
}

TEST(CloneTest, ChildRunsOnTheMappedStackAboveAGuardPage) {
  // In the child, find the mapping that holds a local variable in /proc/self/maps:
  // the page right below it must be mapped with no access at all ("---p").
  Child c = Clone(WithStack(256 << 10), [] {
    int local = 0;
    const auto here = reinterpret_cast<unsigned long>(&local);
    std::istringstream maps(ReadFile("/proc/self/maps"));
    std::string line;
    unsigned long stack_start = 0, stack_end = 0;
    std::map<unsigned long, std::string> perms_by_end;
    while (std::getline(maps, line)) {
      unsigned long start, end;
      char perms[5] = {};
      if (std::sscanf(line.c_str(), "%lx-%lx %4s", &start, &end, perms) != 3) continue;
      perms_by_end[end] = perms;
      if (start <= here && here < end) stack_start = start, stack_end = end;
    }
    if (stack_start == 0) return 10;
    if (stack_end - stack_start < (256u << 10)) return 11;  // not the mapped stack
    auto below = perms_by_end.find(stack_start);
    if (below == perms_by_end.end()) return 12;
    return below->second == "---p" ? 0 : 13;
  });
  c.Go();
  EXPECT_EQ(c.Wait().code, 0) << "10 no mapping, 11 wrong size, 12 nothing below, 13 not PROT_NONE";
}

__attribute__((noinline)) int Recurse(int depth) {
  volatile char frame[1024];
  frame[0] = static_cast<char>(depth);
  if (depth == 0) return frame[0];
  return Recurse(depth - 1) + frame[0];  // not a tail call
}

TEST(CloneTest, StackOverflowHitsTheGuardPage) {
  Child c = Clone(WithStack(64 << 10), [] {
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);  // no core file from the expected crash
    return Recurse(1 << 20);           // ~1 GiB of frames on a 64 KiB stack
  });
  c.Go();
  ExitStatus st = c.Wait();
  EXPECT_EQ(st.signal, SIGSEGV) << st.Describe();
}

TEST(CloneTest, TimeNamespaceIsRefusedWithAReason) {
  CloneOptions o;
  o.flags = CLONE_NEWTIME;
  try {
    Clone(o, [] { return 0; });
    FAIL() << "no exception";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("unshare"), std::string::npos) << e.what();
  }
}

TEST(CloneFlagsToStringTest, RendersFlagsAndSignal) {
  EXPECT_EQ(CloneFlagsToString(SIGCHLD), "SIGCHLD");
  EXPECT_EQ(CloneFlagsToString(CLONE_NEWUTS | CLONE_NEWPID | SIGCHLD),
            "CLONE_NEWPID|CLONE_NEWUTS|SIGCHLD");
  EXPECT_EQ(CloneFlagsToString(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUSER |
                               CLONE_NEWCGROUP),
            "CLONE_NEWCGROUP|CLONE_NEWIPC|CLONE_NEWNET|CLONE_NEWNS|CLONE_NEWUSER");
  EXPECT_EQ(CloneFlagsToString(0), "0");
  EXPECT_EQ(CloneFlagsToString(CLONE_SIGHAND | SIGCHLD), "SIGCHLD|0x800");
}

// --- cases run in a forked helper, which may change its signal dispositions ---

int g_release_fd = -1;
void WriteRelease(int) { (void)!write(g_release_fd, "x", 1); }

// Forks a helper that runs fn and _exits with what it returns. An exception is
// printed as "<who>: <what>" and the helper exits `on_error`. Returns its pid.
pid_t ForkHelper(const char* who, int on_error, const std::function<int()>& fn) {
  pid_t pid = Check(fork(), "fork");
  if (pid == 0) {
    int code = on_error;
    try {
      code = fn();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: %s\n", who, e.what());
    }
    _exit(code);
  }
  return pid;
}

TEST(WaitPidTest, RetriesOnEintr) {
  // helper H waits for child C; C interrupts H's waitpid(2) with a signal whose
  // handler has no SA_RESTART, then exits 5 once the handler has run.
  pid_t helper = ForkHelper("helper", 2, [] {
    Pipe release = MakePipe();
    g_release_fd = release.write.Get();
    struct sigaction sa = {};
    sa.sa_handler = WriteRelease;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: waitpid fails with EINTR
    sigaction(SIGUSR1, &sa, nullptr);
    const pid_t h = getpid();
    pid_t child = Check(fork(), "fork");
    if (child == 0) {
      const std::string proc = "/proc/" + std::to_string(h);
      // Until H sleeps in waitpid (its wchan names a wait function).
      for (;;) {
        std::string wchan;
        try {
          wchan = ReadFile(proc + "/wchan");
        } catch (const SysError&) {
        }
        if (StateOf(h) == 'S' && wchan.find("wait") != std::string::npos) break;
        sched_yield();
      }
      kill(h, SIGUSR1);
      char c;
      _exit(read(release.read.Get(), &c, 1) == 1 ? 5 : 6);
    }
    return WaitPid(child).code == 5 ? 0 : 1;
  });
  ExitStatus st = WaitPid(helper);
  EXPECT_EQ(st.ShellCode(), 0) << "1 wrong status, 2 SysError (EINTR not retried)";
}

// Runs a helper that clones `cat` with forward_signals and `flags`, tells us when cat
// runs, and exits with 100 + the signal that ended cat. We send the helper SIGTERM.
// With `reassign`, cat's Child replaces an earlier one by move-assignment first.
ExitStatus SigtermHelperWithChild(int flags, bool reassign = false) {
  Pipe ready = MakePipe();
  pid_t helper = ForkHelper("helper", 3, [&] {
    Pipe in = MakePipe();
    auto cat = [&] {
      Check(dup2(in.read.Get(), STDIN_FILENO), "dup2", "stdin");
      return Exec({"cat"});
    };
    Child c;
    if (reassign) c = Clone(Forwarding(0), [] { return 0; });
    c = Clone(Forwarding(flags), cat);
    c.Go();
    WriteAll(ready.write.Get(), "r");
    ExitStatus st = c.Wait();
    return st.Signaled() ? 100 + st.signal : 4;
  });
  ready.write.Reset();
  char byte;
  EXPECT_EQ(read(ready.read.Get(), &byte, 1), 1);
  Check(kill(helper, SIGTERM), "kill", "helper");
  return WaitPid(helper);
}

TEST(ForwardSignalsTest, SigtermGoesOnToTheChild) {
  ExitStatus st = SigtermHelperWithChild(0);
  EXPECT_FALSE(st.Signaled()) << "the helper itself died: " << st.Describe();
  EXPECT_EQ(st.code, 100 + SIGTERM);
}

TEST(ForwardSignalsTest, StillForwardsAfterMoveAssignment) {
  ExitStatus st = SigtermHelperWithChild(0, /*reassign=*/true);
  EXPECT_FALSE(st.Signaled()) << "the helper itself died: " << st.Describe();
  EXPECT_EQ(st.code, 100 + SIGTERM);
}

TEST(ParseSignalTest, NamesNumbersAndNonsense) {
  EXPECT_EQ(ParseSignal("TERM"), SIGTERM);
  EXPECT_EQ(ParseSignal("SIGKILL"), SIGKILL);
  EXPECT_EQ(ParseSignal("sighup"), SIGHUP);
  EXPECT_EQ(ParseSignal("9"), SIGKILL);
  EXPECT_EQ(ParseSignal(std::to_string(SIGRTMAX)), SIGRTMAX);
  for (const char* bad : {"", "banana", "0", "-9", "SIG", "99999", "TERM9", "9x"})
    EXPECT_THROW(ParseSignal(bad), UsageError) << bad;
}

TEST(ForwardSignalsTest, PidNamespaceInitGetsSigkill) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  ExitStatus st = SigtermHelperWithChild(CLONE_NEWPID);
  EXPECT_FALSE(st.Signaled()) << "the helper itself died: " << st.Describe();
  EXPECT_EQ(st.code, 100 + SIGKILL);
}

TEST(KillWithParentTest, ChildDiesWhenTheParentDies) {
  // R, a child subreaper, forks H; H clones `cat` (kill_with_parent) and dies without
  // any cleanup. cat is reparented to R, which sees how it ended: SIGKILL from
  // PR_SET_PDEATHSIG, or, without it, exit 0 once R closes cat's stdin.
  pid_t reaper = ForkHelper("reaper", 3, [] {
    Check(prctl(PR_SET_CHILD_SUBREAPER, 1), "prctl", "PR_SET_CHILD_SUBREAPER");
    Pipe in = MakePipe(), report = MakePipe();
    pid_t helper = Check(fork(), "fork");
    if (helper == 0) {
      Child c = Clone({}, [&] {
        Check(dup2(in.read.Get(), STDIN_FILENO), "dup2", "stdin");
        return Exec({"cat"});
      });
      c.Go();
      pid_t cat = c.pid();
      (void)!write(report.write.Get(), &cat, sizeof cat);
      _exit(0);  // no destructors: the Child does not get to kill cat
    }
    report.write.Reset();
    in.read.Reset();
    pid_t cat = 0;
    if (read(report.read.Get(), &cat, sizeof cat) != sizeof cat) return 4;
    WaitPid(helper);
    in.write.Reset();  // without PDEATHSIG cat would now read EOF and exit 0
    ExitStatus st = WaitPid(cat);
    return st.signal == SIGKILL ? 0 : 1;
  });
  EXPECT_EQ(WaitPid(reaper).ShellCode(), 0) << "1: cat outlived its parent";
}

TEST(ForwardSignalsTest, DefaultDispositionsComeBackAfterWait) {
  pid_t helper = Check(fork(), "fork");
  if (helper == 0) {
    {
      Child c = Clone(Forwarding(0), [] { return 0; });
      c.Go();
      c.Wait();
    }
    struct sigaction sa = {};
    sigaction(SIGTERM, nullptr, &sa);
    _exit(sa.sa_handler == SIG_DFL ? 0 : 1);
  }
  EXPECT_EQ(WaitPid(helper).ShellCode(), 0);
}

}  // namespace
}  // namespace nslab::process
