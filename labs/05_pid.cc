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
#include <unistd.h>

#include <string>

#include "common/fd.h"
#include "common/lab.h"
#include "common/narrate.h"
#include "common/ns.h"
#include "common/pid.h"
#include "common/process.h"
#include "common/uts.h"

using namespace nslab;

int main(int argc, char** argv) {
  lab::Options opt;
  std::string hostname = "nslab";
  CLI::App app{"05_pid: a child in new UTS and PID namespaces: PID 1 and its duties"};
  lab::AddCommonFlags(app, opt);
  uts::AddFlags(app, hostname);
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
      if (opt.Demo()) return pid::ShowInitDutiesInChild(victim.write.Get());
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
    if (opt.Demo()) pid::ShowSleeperKilledFromParent(victim.read.Get());
    return st.ShellCode();
  });
}
