// Lab 04 — CLONE_NEWUTS: the first namespace, a hostname of the sandbox's own.
//
// Lab 03's clone gets one flag more. The child starts with a copy of our hostname
// (uts_namespaces(7)) and changes it with sethostname(2) before running anything;
// the host keeps its name. The namespace table shows the uts row differing.
//
//   bazel run //labs:04_uts
//   bazel run //labs:04_uts -- --hostname inner -- sh -c 'hostname; hostname other; hostname'
//
// Read: uts_namespaces(7), sethostname(2), uname(2).
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <string>

#include "common/lab.h"
#include "common/narrate.h"
#include "common/ns.h"
#include "common/process.h"
#include "common/uts.h"

using namespace nslab;

int main(int argc, char** argv) {
  lab::Options opt;
  std::string hostname = "nslab";
  CLI::App app{"04_uts: a child in a new UTS namespace, with a hostname of its own"};
  lab::AddCommonFlags(app, opt);
  uts::AddFlags(app, hostname);
  return lab::Main("04_uts", app, argc, argv, opt, [&] {
    lab::RequireRoot("creating namespaces");
    uts::ValidateHostname(hostname);  // a bad name is refused before anything exists
    narrate::Title("04_uts: a hostname of its own");
    const int flags = CLONE_NEWUTS;

    // 1. clone(2) with CLONE_NEWUTS: the child's UTS namespace starts as a copy of
    //    ours; it renames itself, then runs the command.
    process::Child child = process::Clone({flags}, [&] {
      uts::SetHostnameInChild(hostname);
      narrate::Step("sethostname done: my hostname is \"" + uts::Hostname() + "\"");
      if (opt.Demo()) return 0;
      return process::Exec(opt.command);
    });
    narrate::Step("clone(" + process::CloneFlagsToString(flags | SIGCHLD) +
                  ") gave child " + std::to_string(child.pid()) + "; it waits on the pipe");

    // 2. The parent prepares while the child waits; here it only looks.
    narrate::Table(ns::TableHeader({"host", "child"}),
                   ns::TableRows({ns::Read(getpid()), ns::Read(child.pid())}));
    narrate::Step("the marked uts row is the child's own namespace; now writing the go byte");

    // 3. Let the child go; its setup error, if any, is thrown here.
    child.Go();
    process::ExitStatus st = child.Wait();
    narrate::Step("child " + st.Describe());
    narrate::Step("my hostname is still \"" + uts::Hostname() + "\"");
    return st.ShellCode();
  });
}
