// Lab 06a — overlayfs: a writable root over read-only layers, copy-on-write.
//
// A side lab of lab 06: the same namespaces, /proc, /dev, /sys and pivot_root, but
// the root filesystem is no longer a private copy of the image. The parent unpacks
// the image once into lower/ (or takes --rootfs DIR as it is) and adds a small layer
// of its own above it; the child mounts an overlay of them with an empty upper/.
// Whatever the sandbox changes lands in upper/ — a copied-up file, a whiteout for a
// deleted one, an opaque directory for one made again — and the lowers stay as they
// were. After the run the parent lists upper/: the container's diff.
//
//   bazel run //labs:06a_overlay
//   bazel run //labs:06a_overlay -- sh -c 'rm /bin/ed; echo hi > /new'
//   bazel run //labs:06a_overlay -- --lower /path/to/layer -- ls /
//
// Read: Documentation/filesystems/overlayfs.rst, mount(2), xattr(7), lab 06's page.
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "common/fd.h"
#include "common/lab.h"
#include "common/mount.h"
#include "common/narrate.h"
#include "common/ns.h"
#include "common/overlay.h"
#include "common/pid.h"
#include "common/process.h"
#include "common/rootfs.h"
#include "common/uts.h"

using namespace nslab;

int main(int argc, char** argv) {
  lab::Options opt;
  std::string hostname = "nslab";
  std::string rootfs_dir;
  std::vector<std::string> lowers;
  CLI::App app{"06a_overlay: lab 06's sandbox on an overlay: read-only layers, a writable "
               "upper directory, copy-on-write"};
  lab::AddCommonFlags(app, opt);
  app.add_option("--hostname", hostname, "Hostname inside the sandbox (at most 64 bytes)")
      ->capture_default_str();
  app.add_option("--rootfs", rootfs_dir,
                 "The lowest layer: this unpacked root filesystem (only read, never "
                 "written) instead of the built-in busybox image");
  app.add_option("--lower", lowers,
                 "A read-only layer on top of the others (repeatable; the first given is "
                 "the topmost)");
  return lab::Main("06a_overlay", app, argc, argv, opt, [&] {
    lab::RequireRoot("creating namespaces");
    uts::ValidateHostname(hostname);  // a bad name is refused before anything exists
    rootfs::Source source = rootfs::ChooseSource(rootfs_dir, opt.command);  // validated
    narrate::Title("06a_overlay: a root filesystem over read-only layers");
    const int flags = CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS;
    const std::string mounts_before = ReadFile("/proc/self/mountinfo");
    rootfs::RunDir run = rootfs::PrepareRun("06a_overlay");  // removed on every way out
    // 0. The layers, in the per-run directory: read-only lowers (top first), an
    //    empty upper for the changes, and overlay's work directory beside it.
    overlay::Layers layers = overlay::PrepareFromParent(run, source, lowers);

    // 1. clone(2) with CLONE_NEWNS: the child gets a copy of our mount table; it
    //    makes it private, mounts the overlay on run.rootfs() and pivots into it.
    process::Child child = process::Clone({flags}, [&] {
      uts::SetHostnameInChild(hostname);
      mount::MakePrivateInChild();                          // nothing leaks to the host
      overlay::MountInChild(layers, run.rootfs());          // lowers + upper, merged
      mount::MountProcInChild(run.rootfs() + "/proc");      // our PID namespace's /proc
      mount::SetupDevInChild(run.rootfs() + "/dev");        // null, zero, tty, pts...
      mount::MountSysReadOnlyInChild(run.rootfs() + "/sys");
      mount::PivotRootInChild(run.rootfs());                // / is now the rootfs
      narrate::Step("sethostname done: my hostname is \"" + uts::Hostname() + "\"");
      if (opt.Demo()) return overlay::DemoChangesInChild();
      return process::Exec(opt.command);
    });
    narrate::Step("clone(" + process::CloneFlagsToString(flags | SIGCHLD) +
                  ") gave child " + std::to_string(child.pid()) + "; it waits on the pipe");

    // 2. The parent prepares while the child waits; here it only looks.
    narrate::Table(ns::TableHeader({"host", "child"}),
                   ns::TableRows({ns::Read(getpid()), ns::Read(child.pid())}));
    narrate::Step("NSpid in /proc/" + std::to_string(child.pid()) + "/status: " +
                  pid::NsPidsString(child.pid()) + " (its pid here, then inside)");
    narrate::Step("root filesystem: an overlay of " + std::to_string(layers.lowers.size()) +
                  " read-only layers (" + source.Describe() + " at the bottom) and " +
                  layers.upper + ", in " + run.rootfs());
    narrate::Step("the marked rows are the child's own; now writing the go byte");

    // 3. Let the child go; its setup error, if any, is thrown here.
    child.Go();
    process::ExitStatus st = child.Wait();
    narrate::Step("child " + st.Describe());
    narrate::Step("my hostname is still \"" + uts::Hostname() + "\"");

    // 4. The sandbox's changes, all in upper/: copies, whiteouts, opaque directories.
    narrate::Table({"in upper/", "what", "why"}, overlay::UpperRows(overlay::ScanUpper(layers)));

    // 5. Nothing to unmount: every mount lived in the child's namespace and died
    //    with it. Only the per-run directory remains, and it goes now.
    rootfs::RemoveRunFromParent(run, mounts_before);  // and shows the host unchanged
    return st.ShellCode();
  });
}
