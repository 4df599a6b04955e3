#include "common/pid.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "common/error.h"
#include "common/fd.h"
#include "common/narrate.h"

namespace nslab::pid {

std::vector<pid_t> ParseNsPids(const std::string& status_text) {
  std::vector<pid_t> out;
  std::istringstream in(status_text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("NSpid:", 0) != 0) continue;
    std::istringstream fields(line.substr(6));
    long v;
    while (fields >> v) out.push_back(static_cast<pid_t>(v));
    break;
  }
  return out;
}

std::vector<pid_t> NsPids(pid_t pid) {
  return ParseNsPids(ReadFile("/proc/" + std::to_string(pid) + "/status"));
}

std::string NsPidsString(pid_t pid) {
  std::string out;
  for (pid_t p : NsPids(pid)) out += (out.empty() ? "" : " ") + std::to_string(p);
  return out;
}

pid_t PidInProcMount() {
  char buf[32];
  ssize_t n = Check(readlink("/proc/self", buf, sizeof buf - 1), "readlink", "/proc/self");
  buf[n] = '\0';
  return static_cast<pid_t>(std::atol(buf));
}

std::vector<Reaped> ReapAllInChild(bool block) {
  std::vector<Reaped> out;
  for (;;) {
    int wstatus = 0;
    pid_t r = waitpid(-1, &wstatus, block ? 0 : WNOHANG);
    if (r > 0) {
      out.push_back({r, process::Decode(wstatus)});
      continue;
    }
    if (r == 0) break;                // children left, none has ended yet
    if (errno == EINTR) continue;
    if (errno == ECHILD) break;       // no children at all: nothing to reap
    Check(r, "waitpid", "-1");
  }
  return out;
}

namespace {
constexpr int kInitForwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT,
                                  SIGUSR1, SIGUSR2, SIGWINCH};
}  // namespace

int RunAsInit(const process::ChildFn& program, const InitOptions& opts) {
  // Block the signals we handle so that they queue for sigwaitinfo(2) instead of
  // interrupting us; the program gets the default mask back before it runs.
  sigset_t handled, old;
  sigemptyset(&handled);
  sigaddset(&handled, SIGCHLD);
  if (opts.forward_signals)
    for (int sig : kInitForwarded) sigaddset(&handled, sig);
  Check(sigprocmask(SIG_BLOCK, &handled, &old), "sigprocmask", "SIG_BLOCK");

  std::fflush(stdout);
  std::fflush(stderr);
  narrate::Syscall("fork", "the program");
  pid_t program_pid = Check(fork(), "fork", "init's program");
  if (program_pid == 0) {
    sigprocmask(SIG_SETMASK, &old, nullptr);
    process::RunInChild(program);
  }

  // tini's loop: wait for a signal; forward it, or on SIGCHLD reap everything that
  // has ended. Orphans of the namespace are our children now, so they end up here.
  for (;;) {
    siginfo_t info;
    int sig = sigwaitinfo(&handled, &info);
    if (sig < 0) {
      if (errno == EINTR) continue;
      Check(sig, "sigwaitinfo");
    }
    if (sig != SIGCHLD) {
      narrate::Syscall("kill", std::to_string(program_pid) + ", SIG" + sigabbrev_np(sig));
      kill(program_pid, sig);  // ESRCH is fine: it has just ended
      continue;
    }
    for (const Reaped& r : ReapAllInChild()) {
      if (r.pid == program_pid) {
        // Reap whatever else has ended too, then leave: when PID 1 exits the kernel
        // kills the rest of the namespace.
        ReapAllInChild();
        sigprocmask(SIG_SETMASK, &old, nullptr);
        return r.status.ShellCode();
      }
      if (opts.narrate_reaps && narrate::Verbose())
        narrate::Step("reaped orphan " + std::to_string(r.pid) + ": " + r.status.Describe());
    }
  }
}

std::string ProcessState(pid_t host_pid) {
  std::string status = ReadFile("/proc/" + std::to_string(host_pid) + "/status");
  size_t at = status.find("State:\t");
  if (at == std::string::npos) return "?";
  at += 7;
  return status.substr(at, status.find('\n', at) - at);
}

int ShowInitDutiesInChild(int victim_out) {
  narrate::Step("getpid() = " + std::to_string(getpid()) + ", getppid() = " +
                std::to_string(getppid()) + " (my parent is outside my namespace)");
  narrate::Step("but /proc is the host's: /proc/self -> " +
                std::to_string(PidInProcMount()) + ", /proc/1/comm = \"" +
                TrimNewlines(ReadFile("/proc/1/comm")) +
                "\": ps would list the host's processes (lab 06 fixes this)");

  // Duty 1: an orphan. A child forks a grandchild and exits without waiting; the
  // grandchild is reparented to us, PID 1 of the namespace, not to the host's init.
  Pipe go = MakePipe(), told = MakePipe();
  pid_t middle = Check(fork(), "fork");
  if (middle == 0) process::RunInChild([&] {
    pid_t orphan = Check(fork(), "fork");
    if (orphan == 0) process::RunInChild([&] {
      go.write.Reset();           // or our own copy would keep the pipe open
      ReadAll(go.read.Get(), 1);  // EOF: our parent has gone
      narrate::Step("orphan: my parent is now " + std::to_string(getppid()));
      WriteAll(told.write.Get(), std::to_string(PidInProcMount()));
      return 0;
    });
    narrate::Step("forked " + std::to_string(orphan) + "; exiting without waiting for it");
    return 0;
  });
  process::WaitPid(middle);
  narrate::Step("reaped my child " + std::to_string(middle) + "; its child is an orphan now");
  go.write.Reset();  // EOF lets the orphan go on
  told.write.Reset();
  pid_t orphan_host = std::stoi(ReadAll(told.read.Get()));
  siginfo_t info = {};
  // WNOWAIT: wait until it has ended but leave it unreaped, to look at the zombie.
  Check(waitid(P_ALL, 0, &info, WEXITED | WNOWAIT), "waitid", "P_ALL, WNOWAIT");
  narrate::Step("the orphan " + std::to_string(info.si_pid) + " has exited; until I reap it, "
                "the host sees /proc/" + std::to_string(orphan_host) + " as \"" +
                ProcessState(orphan_host) + "\"");
  for (const Reaped& r : ReapAllInChild())
    narrate::Step("reaped " + std::to_string(r.pid) + " (" + r.status.Describe() +
                  "): no zombie left");

  // Duty 2: when PID 1 dies, the kernel SIGKILLs the rest of the namespace.
  Pipe ready = MakePipe();
  pid_t sleeper = Check(fork(), "fork");
  if (sleeper == 0) process::RunInChild([&] {
    WriteAll(victim_out, std::to_string(PidInProcMount()));
    ready.write.Reset();
    narrate::Step("sleeper: waiting forever in pause()");
    pause();
    return 0;
  });
  ready.write.Reset();
  ReadAll(ready.read.Get());  // EOF: the sleeper has told the host who it is
  narrate::Step("I exit now, leaving " + std::to_string(sleeper) + " running");
  return 0;
}

void ShowSleeperKilledFromParent(int victim_in) {
  std::string left = ReadAll(victim_in);
  if (left.empty()) return;
  narrate::Step("the sleeper (" + left + " here) is gone: kill(" + left + ", 0) says " +
                (kill(std::stoi(left), 0) < 0 && errno == ESRCH
                     ? "ESRCH — the kernel killed it when PID 1 exited"
                     : "it still exists?!"));
}

}  // namespace nslab::pid
