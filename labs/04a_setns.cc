// Lab 04a — setns(2) and unshare(2): a namespace kept alive by a file, entered later.
//
// A side lab of lab 04: the same UTS namespace and hostname, made another way and
// kept. A child calls unshare(2) — it moves *itself* into a new UTS namespace
// (clone(2) made a new child instead) — names it, bind-mounts its
// /proc/self/ns/uts onto a file and exits. No process is left in the namespace, yet
// it lives: the bind mount refers to it (`ip netns add` keeps network namespaces so).
// A second child opens the file and setns(2)s into it: it finds the name given
// there. Unmounting the file drops the last reference and the kernel frees it.
// With --target PID the lab is a small nsenter(1) instead.
//
//   bazel run //labs:04a_setns
//   bazel run //labs:04a_setns -- --hostname kept -- hostname
//   bazel run //labs:04a_setns -- --target 4242 --uts -- hostname   # nsenter -t 4242 -u
//
// Read: setns(2), unshare(2), namespaces(7), nsenter(1), ip-netns(8).
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "common/lab.h"
#include "common/mount.h"
#include "common/narrate.h"
#include "common/ns.h"
#include "common/process.h"
#include "common/rootfs.h"
#include "common/setns.h"
#include "common/uts.h"

using namespace nslab;

int main(int argc, char** argv) {
  lab::Options opt;
  std::string hostname = "nslab";
  setns::EnterOptions enter;
  CLI::App app{"04a_setns: a UTS namespace made with unshare(2), kept by a bind mount of "
               "its nsfs file, entered with setns(2); or, with --target, an nsenter"};
  lab::AddCommonFlags(app, opt);
  app.add_option("--hostname", hostname, "Hostname inside the sandbox (at most 64 bytes)")
      ->capture_default_str();
  setns::AddEnterFlags(app, enter);
  return lab::Main("04a_setns", app, argc, argv, opt, [&] {
    // nsenter mode: join existing namespaces (all opened and checked first), run CMD.
    if (enter.Active())
      return setns::RunJoined(setns::OpenForEnter(enter, !opt.Demo()), opt.command).ShellCode();

    lab::RequireRoot("creating namespaces");
    uts::ValidateHostname(hostname);  // a bad name is refused before anything exists
    narrate::Title("04a_setns: a namespace kept by a file, entered with setns");
    // 0. A mount namespace of the lab's own, private: the bind mount that keeps the
    //    UTS namespace lives in it and dies with the lab, even on SIGKILL. (ip netns
    //    add mounts in the host's namespace instead: its files outlive the shell.)
    setns::Unshare(CLONE_NEWNS);
    mount::MakePrivateInChild();  // the lab itself is the "child" that moved here
    rootfs::RunDir run = rootfs::PrepareRun("04a_setns");  // removed on every way out
    const std::string keep = run.path() + "/uts";
    const int flags = CLONE_NEWUTS;

    // 1. A child (clone without flags) unshare(2)s: it moves itself into a new UTS
    //    namespace, names it, and bind-mounts its nsfs file onto `keep`; then exits.
    process::Child maker = process::Clone({0}, [&] {
      setns::Unshare(flags);
      uts::SetHostnameInChild(hostname);
      setns::BindKeep("/proc/self/ns/uts", keep);
      narrate::Step("unshare, sethostname and bind mount done: " + keep + " is uts:[" +
                    std::to_string(setns::InodeOf("/proc/self/ns/uts")) + "]; exiting");
      return 0;
    });
    maker.Go();
    narrate::Step("unsharing child " + maker.Wait().Describe());
    mount::ScopedMount kept(keep);  // unmounted on every way out (before run goes)

    // 2. No process is in the namespace any more, yet it lives: stat -L of the file
    //    gives its inode, and it still holds the name.
    const unsigned long inode = setns::InodeOf(keep);
    narrate::Step("stat -L " + keep + ": uts:[" + std::to_string(inode) + "], processes in it: " +
                  std::to_string(setns::ProcessesIn("uts", inode).size()) +
                  "; the bind mount holds it");

    // 3. A second child opens the file and setns(2)s into the kept namespace; its
    //    marked uts row is the kept one. Then it runs the command there.
    process::Child child = process::Clone({0}, [&] {
      setns::JoinInChild(setns::OpenFile(keep));
      narrate::Step("setns done: my hostname is \"" + uts::Hostname() + "\"");
      narrate::Table(ns::TableHeader({"lab", "joiner"}),
                     ns::TableRows({ns::Read(getppid()), ns::Read(getpid())}));
      if (opt.Demo()) return 0;
      return process::Exec(opt.command);
    });
    child.Go();
    process::ExitStatus st = child.Wait();
    narrate::Step("joining child " + st.Describe());
    narrate::Step("my hostname is still \"" + uts::Hostname() + "\"");

    // 4. Unmount the file: its last reference gone, the kernel frees the namespace.
    setns::Release(kept.Release());
    narrate::Step("released " + keep + ": nothing refers to uts:[" + std::to_string(inode) +
                  "] any more, the kernel frees it");
    return st.ShellCode();
  });
}
