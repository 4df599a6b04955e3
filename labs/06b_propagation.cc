// Lab 06b — mount propagation: shared, slave and private mounts, and a volume.
//
// A side lab of lab 06: the same namespaces and pivot_root, plus a volume — a
// directory of the host bind-mounted into the sandbox at /data — whose propagation
// you choose. The lab first takes a private mount namespace of its own to play the
// host (so nothing it mounts can reach the real one, even on SIGKILL), mounts the
// volume there and makes it shared: a peer group. The child's copy, and its bind at
// /data, join that group; --propagation then keeps it shared, makes it a slave, or
// private. The demo mounts something under the volume on the host side and
// something under /data inside, and each side says what it sees of the other's.
//
//   bazel run //labs:06b_propagation                            # slave: host -> inside
//   bazel run //labs:06b_propagation -- --propagation shared    # both ways
//   bazel run //labs:06b_propagation -- --volume /srv/data -- ls /data
//
// Read: mount_namespaces(7), Documentation/filesystems/sharedsubtree.rst, mount(2).
#include <sched.h>
#include <sys/mount.h>
#include <signal.h>
#include <unistd.h>

#include <string>

#include "common/fd.h"
#include "common/lab.h"
#include "common/mount.h"
#include "common/narrate.h"
#include "common/ns.h"
#include "common/pid.h"
#include "common/propagation.h"
#include "common/process.h"
#include "common/rootfs.h"
#include "common/uts.h"

using namespace nslab;

int main(int argc, char** argv) {
  lab::Options opt;
  std::string hostname = "nslab";
  std::string rootfs_dir, volume_source, mode_name = "slave";
  CLI::App app{"06b_propagation: lab 06's sandbox with a volume at /data, shared, slave or "
               "private"};
  lab::AddCommonFlags(app, opt);
  app.add_option("--hostname", hostname, "Hostname inside the sandbox (at most 64 bytes)")
      ->capture_default_str();
  app.add_option("--rootfs", rootfs_dir,
                 "Run this unpacked root filesystem instead of the built-in busybox image");
  app.add_option("--propagation", mode_name,
                 "The volume's propagation inside: shared (mounts go both ways), slave "
                 "(host -> sandbox only), private or unbindable (neither way)")
      ->check(CLI::IsMember(propagation::Names()))
      ->capture_default_str();
  app.add_option("--volume", volume_source,
                 "The host directory to bind at /data (default: a tmpfs of the run)")
      ->check(CLI::ExistingDirectory);
  return lab::Main("06b_propagation", app, argc, argv, opt, [&] {
    lab::RequireRoot("creating namespaces");
    uts::ValidateHostname(hostname);  // a bad name is refused before anything exists
    rootfs::Source source = rootfs::ChooseSource(rootfs_dir, opt.command);  // validated
    const propagation::Mode mode = propagation::ParseMode(mode_name);
    narrate::Title("06b_propagation: a volume, " + mode_name);
    const int flags = CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS;
    // 0. The lab's own mount namespace, private, plays the host; in it the volume:
    //    a tmpfs (or a bind of --volume), made shared — a new peer group.
    propagation::MakeOwnHostNamespace();
    const std::string mounts_before = ReadFile("/proc/self/mountinfo");
    rootfs::RunDir run = rootfs::PrepareRun("06b_propagation");  // removed on every way out
    const std::string volume = run.path() + "/vol";
    propagation::MakeVolumeFromParent(volume, volume_source);
    narrate::Step("the volume " + volume + " is " + mount::Propagation(volume));
    propagation::Demo demo(volume);

    // 1. clone(2) with CLONE_NEWNS: the child gets a copy of our mount table; it
    //    makes it private, builds its root in run.rootfs() and pivots into it.
    process::Child child = process::Clone({flags}, [&] {
      uts::SetHostnameInChild(hostname);
      // (No MakePrivateInChild: our copy of the lab's namespace is private already,
      // all but the volume — whose peer group is the point.)
      rootfs::PopulateInChild(run.rootfs(), source);        // tmpfs + busybox image
      propagation::BindVolumeInChild(volume, run.rootfs() + "/data", mode);  // the volume
      mount::MountProcInChild(run.rootfs() + "/proc");      // our PID namespace's /proc
      mount::SetupDevInChild(run.rootfs() + "/dev");        // null, zero, tty, pts...
      mount::MountSysReadOnlyInChild(run.rootfs() + "/sys");
      mount::PivotRootInChild(run.rootfs());                // / is now the rootfs
      narrate::Step("sethostname done: my hostname is \"" + uts::Hostname() + "\"");
      if (opt.Demo()) {
        demo.ShowInChild();  // takes turns with the host side
        return 0;
      }
      return process::Exec(opt.command);
    });
    narrate::Step("clone(" + process::CloneFlagsToString(flags | SIGCHLD) +
                  ") gave child " + std::to_string(child.pid()) + "; it waits on the pipe");
    if (opt.Demo()) demo.StartHostSide();  // the host's half of the demo

    // 2. The parent prepares while the child waits; here it only looks.
    narrate::Table(ns::TableHeader({"host", "child"}),
                   ns::TableRows({ns::Read(getpid()), ns::Read(child.pid())}));
    narrate::Step("NSpid in /proc/" + std::to_string(child.pid()) + "/status: " +
                  pid::NsPidsString(child.pid()) + " (its pid here, then inside)");
    narrate::Step("root filesystem: " + source.Describe() + ", in " + run.rootfs() +
                  "; the volume at /data, " + mode_name);
    narrate::Step("the marked rows are the child's own; now writing the go byte");

    // 3. Let the child go; its setup error, if any, is thrown here.
    child.Go();
    process::ExitStatus st = child.Wait();
    narrate::Step("child " + st.Describe());
    narrate::Step("my hostname is still \"" + uts::Hostname() + "\"");
    demo.FinishFromParent();
    narrate::Step("propagation " + mode_name + ": host mounts reach the sandbox: " +
                  (propagation::HostMountsReachInside(mode) ? "yes" : "no") +
                  ", the sandbox's reach the host: " +
                  (propagation::InsideMountsReachHost(mode) ? "yes" : "no"));

    // 4. The volume and every mount under it lived in the lab's own namespace and go
    //    with it; the real host's mount table never changed.
    // Unmount the volume (and what the demo mounted under it) before removing the
    // run directory, which never crosses into a mount.
    mount::Unmount(volume, MNT_DETACH);
    rootfs::RemoveRunFromParent(run, mounts_before);  // and shows the host unchanged
    return st.ShellCode();
  });
}
