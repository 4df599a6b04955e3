// Lab 06 — CLONE_NEWNS: a root filesystem of the sandbox's own, entered with
// pivot_root(2).
//
// Lab 05 plus one flag and a root filesystem. The child's new mount namespace is a
// copy of ours; it first makes every mount private (so nothing it mounts reaches
// the host), mounts a tmpfs on the per-run directory and unpacks the busybox image
// into it, mounts a fresh /proc (its own PID namespace's), a minimal /dev and a
// read-only /sys inside, then pivot_root(2)s into it and detaches the old root.
// `ps` now shows only the sandbox; the host's mount table never changes.
//
//   bazel run //labs:06_mount
//   bazel run //labs:06_mount -- ps                     # PID 1 is ps itself
//   bazel run //labs:06_mount -- --rootfs /path/to/rootfs -- ls /
//   bazel run //labs:06_mount -- --pitfall shared       # see --help
//
// Read: mount_namespaces(7), pivot_root(2), mount(2), proc(5), pts(4).
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <string>

#include "common/fd.h"
#include "common/lab.h"
#include "common/mount.h"
#include "common/narrate.h"
#include "common/ns.h"
#include "common/pid.h"
#include "common/process.h"
#include "common/rootfs.h"
#include "common/uts.h"

using namespace nslab;

int main(int argc, char** argv) {
  lab::Options opt;
  std::string hostname = "nslab";
  std::string rootfs_dir, pitfall;
  CLI::App app{"06_mount: new UTS, PID and mount namespaces, a busybox root, pivot_root"};
  lab::AddCommonFlags(app, opt);
  uts::AddFlags(app, hostname);
  rootfs::AddFlags(app, rootfs_dir, pitfall);
  return lab::Main("06_mount", app, argc, argv, opt, [&] {
    lab::RequireRoot("creating namespaces");
    uts::ValidateHostname(hostname);  // a bad name is refused before anything exists
    rootfs::Source source = rootfs::ChooseSource(rootfs_dir, opt.command);  // validated
    narrate::Title("06_mount: a root filesystem of its own");
    int flags = CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS;
    if (pitfall == "proc-without-pidns") flags &= ~CLONE_NEWPID;
    const std::string mounts_before = ReadFile("/proc/self/mountinfo");
    rootfs::RunDir run = rootfs::PrepareRun("06_mount");  // removed on every way out

    // 1. clone(2) with CLONE_NEWNS: the child gets a copy of our mount table; it
    //    makes it private, builds its root in run.rootfs() and pivots into it.
    process::Child child = process::Clone({flags}, [&] {
      uts::SetHostnameInChild(hostname);
      if (!pitfall.empty()) rootfs::ShowPitfallInChild(pitfall, run, source);
      mount::MakePrivateInChild();                          // nothing leaks to the host
      rootfs::PopulateInChild(run.rootfs(), source);        // tmpfs + busybox image
      mount::MountProcInChild(run.rootfs() + "/proc");      // our PID namespace's /proc
      mount::SetupDevInChild(run.rootfs() + "/dev");        // null, zero, tty, pts...
      mount::MountSysReadOnlyInChild(run.rootfs() + "/sys");
      mount::PivotRootInChild(run.rootfs());                // / is now the rootfs
      narrate::Step("sethostname done: my hostname is \"" + uts::Hostname() + "\"");
      if (opt.Demo()) return mount::ShowRootInChild();
      return process::Exec(opt.command);
    });
    narrate::Step("clone(" + process::CloneFlagsToString(flags | SIGCHLD) +
                  ") gave child " + std::to_string(child.pid()) + "; it waits on the pipe");

    // 2. The parent prepares while the child waits; here it only looks.
    narrate::Table(ns::TableHeader({"host", "child"}),
                   ns::TableRows({ns::Read(getpid()), ns::Read(child.pid())}));
    narrate::Step("NSpid in /proc/" + std::to_string(child.pid()) + "/status: " +
                  pid::NsPidsString(child.pid()) + " (its pid here, then inside)");
    narrate::Step("root filesystem: " + source.Describe() + ", in " + run.rootfs());
    narrate::Step("the marked rows are the child's own; now writing the go byte");

    // 3. Let the child go; its setup error, if any, is thrown here.
    child.Go();
    process::ExitStatus st = child.Wait();
    narrate::Step("child " + st.Describe());
    narrate::Step("my hostname is still \"" + uts::Hostname() + "\"");

    // 4. Nothing to unmount: every mount lived in the child's namespace and died
    //    with it. Only the per-run directory remains, and it goes now.
    rootfs::RemoveRunFromParent(run, mounts_before);  // and shows the host unchanged
    return st.ShellCode();
  });
}
