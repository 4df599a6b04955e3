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
#include <dirent.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/error.h"
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

namespace {

const std::vector<std::string> kPitfalls = {"shared", "not-a-mount-point",
                                            "proc-without-pidns"};

std::vector<std::string> List(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = CheckPtr(opendir(dir.c_str()), "opendir", dir);
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(name);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// The demo, run by PID 1 after pivot_root: what the sandbox now sees.
int ShowRootInChild() {
  std::string line;
  for (const auto& name : List("/")) line += name + "  ";
  narrate::Step("ls / (the busybox image, not the host):");
  narrate::Block(line);
  std::string procs;
  for (const auto& name : List("/proc")) {
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    procs += name + "  " + ReadFile("/proc/" + name + "/comm");
  }
  narrate::Step("processes in my /proc (what ps shows):");
  narrate::Block(procs);
  std::vector<narrate::Row> rows;
  for (const auto& m : mount::ReadMountInfo())
    rows.push_back({{m.mount_point, m.fstype, m.optional.empty() ? "private" : m.optional,
                     m.options}});
  narrate::Step("my mount table (/proc/self/mountinfo):");
  narrate::Table({"mount point", "type", "propagation", "options"}, rows);
  return 0;
}

// --pitfall NAME: make one classic mistake on purpose and let the kernel's error
// (or wrong result) show. Returns only for proc-without-pidns.
void ShowPitfallInChild(const std::string& name, const rootfs::RunDir& run,
                        const rootfs::Source& source) {
  mount::MakePrivateInChild();
  if (name == "shared") {
    narrate::Step("pitfall: making / shared again (a new peer group, in our namespace only)");
    mount::Mount("", "/", "", MS_REC | MS_SHARED);
    rootfs::PopulateInChild(run.rootfs(), source);
    mount::PivotRootInChild(run.rootfs());  // EINVAL: the mounts are shared
  } else if (name == "not-a-mount-point") {
    narrate::Step("pitfall: pivot_root into /usr of the unpacked image, a plain directory");
    rootfs::PopulateInChild(run.rootfs(), source);
    mount::PivotRootInChild(run.rootfs() + "/usr", /*make_mount_point=*/false);  // EINVAL
  } else {
    narrate::Step("pitfall: no CLONE_NEWPID, so the new /proc shows the host's PID namespace");
  }
}

}  // namespace

int main(int argc, char** argv) {
  lab::Options opt;
  std::string hostname = "nslab";
  std::string rootfs_dir, pitfall;
  CLI::App app{"06_mount: new UTS, PID and mount namespaces, a busybox root, pivot_root"};
  lab::AddCommonFlags(app, opt);
  app.add_option("--hostname", hostname, "Hostname inside the sandbox (at most 64 bytes)")
      ->capture_default_str();
  app.add_option("--rootfs", rootfs_dir,
                 "Run this unpacked root filesystem instead of the built-in busybox image");
  app.add_option("--pitfall", pitfall,
                 "Make a classic mistake on purpose, to see the kernel's answer: shared "
                 "(pivot_root with shared mounts: EINVAL), not-a-mount-point (pivot_root "
                 "into a plain directory: EINVAL), proc-without-pidns (a fresh /proc "
                 "without CLONE_NEWPID lists the host's processes)")
      ->check(CLI::IsMember(kPitfalls));
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
      if (!pitfall.empty()) ShowPitfallInChild(pitfall, run, source);
      mount::MakePrivateInChild();                          // nothing leaks to the host
      rootfs::PopulateInChild(run.rootfs(), source);        // tmpfs + busybox image
      mount::MountProcInChild(run.rootfs() + "/proc");      // our PID namespace's /proc
      mount::SetupDevInChild(run.rootfs() + "/dev");        // null, zero, tty, pts...
      mount::MountSysReadOnlyInChild(run.rootfs() + "/sys");
      mount::PivotRootInChild(run.rootfs());                // / is now the rootfs
      narrate::Step("sethostname done: my hostname is \"" + uts::Hostname() + "\"");
      if (opt.Demo()) return ShowRootInChild();
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
    const std::string path = run.path();
    run.Reset();
    struct stat sb;
    narrate::Step(path + (stat(path.c_str(), &sb) < 0 ? " removed" : " still exists?!"));
    narrate::Step(ReadFile("/proc/self/mountinfo") == mounts_before
                      ? "my mount table is exactly what it was before the run"
                      : "my mount table CHANGED during the run?!");
    return st.ShellCode();
  });
}
