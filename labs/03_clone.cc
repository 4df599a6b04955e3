// Lab 03 — clone(2): a child on a stack of our own, held back by a sync pipe.
//
// fork(2) is clone(2) with no flags. clone lets us choose what the child shares and,
// from lab 04 on, which new namespaces it gets. Two mechanics come first:
//  - the child runs on a stack we mapped (with a guard page), passed to clone;
//  - the child waits on a pipe until the parent has prepared what only the parent
//    can do (labs 08-10 write uid maps, veths and cgroups here); a second,
//    close-on-exec pipe brings back the child's error if it fails before exec.
//
//   bazel run //labs:03_clone
//   bazel run //labs:03_clone -- sh -c 'echo child $$'
//
// Read: clone(2) (the glibc wrapper and its stack argument), pipe(7), TLPI ch. 24, 28.
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>

#include "common/lab.h"
#include "common/narrate.h"
#include "common/ns.h"
#include "common/process.h"

using namespace nslab;

int main(int argc, char** argv) {
  lab::Options opt;
  CLI::App app{"03_clone: clone(2) with its own stack and a parent-then-child sync pipe"};
  lab::AddCommonFlags(app, opt);
  return lab::Main("03_clone", app, argc, argv, opt, [&] {
    narrate::Title("03_clone: clone, stack, sync pipe");
    const int flags = 0;  // no new namespace yet: lab 04 adds the first one

    // 1. clone(2): the child starts in ChildFn below but first blocks on the pipe.
    process::Child child = process::Clone({flags}, [&] {
      int on_stack;
      char where[64];
      std::snprintf(where, sizeof where, "%p", static_cast<void*>(&on_stack));
      narrate::Step(std::string("parent said go; my stack is the mapped one, at ") + where);
      if (opt.Demo()) return 0;
      return process::Exec(opt.command);
    });
    narrate::Step("clone(" + process::CloneFlagsToString(flags | SIGCHLD) +
                  ") gave child " + std::to_string(child.pid()) + "; it waits on the pipe");

    // 2. The parent prepares while the child waits. Nothing to do yet; later labs
    //    put uid maps, veths and cgroups here.
    narrate::Table(ns::TableHeader({"parent", "child"}),
                   ns::TableRows({ns::Read(getpid()), ns::Read(child.pid())}));
    narrate::Step("same namespaces everywhere; now writing the go byte");

    // 3. Let the child go; its setup error, if any, is thrown here.
    child.Go();
    process::ExitStatus st = child.Wait();
    narrate::Step("child " + st.Describe());
    return st.ShellCode();
  });
}
