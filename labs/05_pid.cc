// Lab 05 — CLONE_NEWPID: the child is PID 1 inside and an ordinary pid outside.
//
// Lab 04 plus one flag. The first process of a new PID namespace is its init: it
// sees itself as PID 1, while the host sees another pid (both on the NSpid line
// of /proc/PID/status). Init has duties: orphans of the namespace are reparented
// to it and stay zombies until it reaps them, and when it dies the kernel kills
// everything else in the namespace. /proc is still the host's, so `ps` inside
// lists the host's processes — lab 06 mounts a /proc of its own.
//
//   bazel run //labs:05_pid
//   bazel run //labs:05_pid -- sh -c 'echo $$'          # prints 1
//
// Read: pid_namespaces(7), proc(5) (NSpid), wait(2), waitid(2) WNOWAIT.
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "common/error.h"
#include "common/fd.h"
#include "common/lab.h"
#include "common/narrate.h"
#include "common/ns.h"
#include "common/pid.h"
#include "common/process.h"
#include "common/uts.h"

using namespace nslab;

namespace {

// "Z (zombie)": the State line of /proc/PID/status.
std::string State(pid_t host_pid) {
  std::string status = ReadFile("/proc/" + std::to_string(host_pid) + "/status");
  size_t at = status.find("State:\t");
  if (at == std::string::npos) return "?";
  at += 7;
  return status.substr(at, status.find('\n', at) - at);
}

std::string Chomp(std::string s) {
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

// The demo run by PID 1: what an init must do, shown step by step. `victim_out`
// is a pipe to the host: the host pid of a process left running when we exit.
int ShowInitDutiesInChild(int victim_out) {
  narrate::Step("getpid() = " + std::to_string(getpid()) + ", getppid() = " +
                std::to_string(getppid()) + " (my parent is outside my namespace)");
  narrate::Step("but /proc is the host's: /proc/self -> " +
                std::to_string(pid::PidInProcMount()) + ", /proc/1/comm = \"" +
                Chomp(ReadFile("/proc/1/comm")) +
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
      WriteAll(told.write.Get(), std::to_string(pid::PidInProcMount()));
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
                State(orphan_host) + "\"");
  for (const pid::Reaped& r : pid::ReapAllInChild())
    narrate::Step("reaped " + std::to_string(r.pid) + " (" + r.status.Describe() +
                  "): no zombie left");

  // Duty 2: when PID 1 dies, the kernel SIGKILLs the rest of the namespace.
  Pipe ready = MakePipe();
  pid_t sleeper = Check(fork(), "fork");
  if (sleeper == 0) process::RunInChild([&] {
    WriteAll(victim_out, std::to_string(pid::PidInProcMount()));
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

}  // namespace

int main(int argc, char** argv) {
  lab::Options opt;
  std::string hostname = "nslab";
  CLI::App app{"05_pid: a child in new UTS and PID namespaces: PID 1 and its duties"};
  lab::AddCommonFlags(app, opt);
  app.add_option("--hostname", hostname, "Hostname inside the sandbox (at most 64 bytes)")
      ->capture_default_str();
  return lab::Main("05_pid", app, argc, argv, opt, [&] {
    lab::RequireRoot("creating namespaces");
    uts::ValidateHostname(hostname);  // a bad name is refused before anything exists
    narrate::Title("05_pid: PID 1 of a new PID namespace");
    const int flags = CLONE_NEWUTS | CLONE_NEWPID;
    Pipe victim = MakePipe();  // the demo's sleeper tells us its host pid

    // 1. clone(2) with CLONE_NEWPID: the child is the first process, PID 1, of a new
    //    PID namespace; it renames itself, then runs the command as PID 1.
    process::Child child = process::Clone({flags}, [&] {
      uts::SetHostnameInChild(hostname);
      narrate::Step("sethostname done: my hostname is \"" + uts::Hostname() + "\"");
      if (opt.Demo()) return ShowInitDutiesInChild(victim.write.Get());
      return process::Exec(opt.command);
    });
    narrate::Step("clone(" + process::CloneFlagsToString(flags | SIGCHLD) +
                  ") gave child " + std::to_string(child.pid()) + "; it waits on the pipe");
    victim.write.Reset();

    // 2. The parent prepares while the child waits; here it only looks.
    narrate::Table(ns::TableHeader({"host", "child"}),
                   ns::TableRows({ns::Read(getpid()), ns::Read(child.pid())}));
    narrate::Step("NSpid in /proc/" + std::to_string(child.pid()) + "/status: " +
                  pid::NsPidsString(child.pid()) + " (its pid here, then inside)");
    narrate::Step("the marked uts and pid rows are the child's own; now writing the go byte");

    // 3. Let the child go; its setup error, if any, is thrown here.
    child.Go();
    process::ExitStatus st = child.Wait();
    narrate::Step("child " + st.Describe());
    narrate::Step("my hostname is still \"" + uts::Hostname() + "\"");
    if (opt.Demo()) {
      std::string left = ReadAll(victim.read.Get());
      if (!left.empty())
        narrate::Step("the sleeper (" + left + " here) is gone: kill(" + left + ", 0) says " +
                      (kill(std::stoi(left), 0) < 0 && errno == ESRCH
                           ? "ESRCH — the kernel killed it when PID 1 exited"
                           : "it still exists?!"));
    }
    return st.ShellCode();
  });
}
