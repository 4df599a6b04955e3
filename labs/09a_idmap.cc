// Lab 09a — id maps of several ranges, and a non-root user inside (docker's -u).
//
// A side lab of lab 09 (with its network left out: lo only, no veth, no IPC demo).
// The parent writes uid_map and gid_map of several ranges — by default
// "0 100000 1000", "1000 65534 1", "1001 101001 64535": the container's root is host
// uid 100000, its user 1000 is host nobody — as root may (CAP_SETUID); with
// --newuidmap it asks the setuid helpers to, which only works where /etc/subuid
// grants the range. The child sets everything up as root of its namespace, then
// becomes --user (setgroups, setresgid, setresuid) and runs the command with no
// capabilities left.
//
//   bazel run //labs:09a_idmap                                   # user 1000 inside
//   bazel run //labs:09a_idmap -- --user 1000:1000 -- id
//   bazel run //labs:09a_idmap -- --uid-map 0:200000:65536 --gid-map 0:200000:65536 -- id
//
// Read: user_namespaces(7), newuidmap(1), subuid(5), setresuid(2), capabilities(7).
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "common/fd.h"
#include "common/idmap.h"
#include "common/lab.h"
#include "common/mount.h"
#include "common/narrate.h"
#include "common/net.h"
#include "common/ns.h"
#include "common/pid.h"
#include "common/process.h"
#include "common/rootfs.h"
#include "common/user.h"
#include "common/uts.h"

using namespace nslab;

int main(int argc, char** argv) {
  lab::Options opt;
  std::string hostname = "nslab";
  std::string rootfs_dir, user_spec;
  std::vector<std::string> uid_items = {"0:100000:1000", "1000:65534:1", "1001:101001:64535"};
  std::vector<std::string> gid_items = uid_items;
  bool use_helpers = false;
  CLI::App app{"09a_idmap: lab 09's user namespace with id maps of several ranges and a "
               "non-root user inside"};
  lab::AddCommonFlags(app, opt);
  app.add_option("--hostname", hostname, "Hostname inside the sandbox (at most 64 bytes)")
      ->capture_default_str();
  app.add_option("--rootfs", rootfs_dir,
                 "Run this unpacked root filesystem instead of the built-in busybox image");
  app.add_option("--uid-map", uid_items, "A uid range INSIDE:OUTSIDE:COUNT (repeatable)")
      ->capture_default_str();
  app.add_option("--gid-map", gid_items, "A gid range INSIDE:OUTSIDE:COUNT (repeatable)")
      ->capture_default_str();
  app.add_option("--user", user_spec,
                 "Run the command as UID[:GID] of the container (docker's -u; default 0, "
                 "root; the demo uses 1000:1000)");
  app.add_flag("--newuidmap", use_helpers,
               "Write the maps with newuidmap/newgidmap, as an unprivileged user must: "
               "needs a range in /etc/subuid and /etc/subgid");
  return lab::Main("09a_idmap", app, argc, argv, opt, [&] {
    lab::RequireRoot("mapping ranges of host ids");
    uts::ValidateHostname(hostname);  // a bad name is refused before anything exists
    rootfs::Source source = rootfs::ChooseSource(rootfs_dir, opt.command);  // validated
    const idmap::Map uids = idmap::ParseMap(uid_items, "--uid-map");
    const idmap::Map gids = idmap::ParseMap(gid_items, "--gid-map");
    const idmap::User as = idmap::ParseUser(
        !user_spec.empty() ? user_spec : opt.Demo() ? "1000:1000" : "0:0");
    idmap::CheckCovers(uids, gids, as);  // root (the setup) and --user must be mapped
    narrate::Title("09a_idmap: several id ranges, user " + std::to_string(as.uid) + " inside");
    const int flags = CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET |
                      CLONE_NEWUSER;
    const std::string mounts_before = ReadFile("/proc/self/mountinfo");
    rootfs::RunDir run = rootfs::PrepareRun("09a_idmap");  // removed on every way out
    // Root inside is host uid Outside(uids, 0): the run directory becomes its.
    user::ChownForChild(run.path(), idmap::Outside(uids, 0), idmap::Outside(gids, 0));

    // 1. clone(2) with CLONE_NEWUSER, as in lab 09; the child becomes root of the
    //    namespace, sets up, and at the end becomes --user.
    process::Child child = process::Clone({flags}, [&] {
      user::SetupInChild();  // setresgid/setresuid(0): the maps are there
      uts::SetHostnameInChild(hostname);
      net::SetUpLoopbackInChild();
      mount::MakePrivateInChild();                          // nothing leaks to the host
      rootfs::PopulateInChild(run.rootfs(), source);        // tmpfs + busybox image
      mount::MountProcInChild(run.rootfs() + "/proc");      // our PID namespace's /proc
      mount::SetupDevInChild(run.rootfs() + "/dev");        // null, zero, tty, pts...
      mount::MountSysReadOnlyInChild(run.rootfs() + "/sys");
      mount::PivotRootInChild(run.rootfs());                // / is now the rootfs
      // Last step of the setup: the container's user, with no capabilities left.
      if (as.uid != 0 || as.gid != 0) idmap::BecomeUserInChild(as);
      if (opt.Demo()) {
        idmap::ShowInChild();
        return 0;
      }
      return process::Exec(opt.command);
    });
    narrate::Step("clone(" + process::CloneFlagsToString(flags | SIGCHLD) +
                  ") gave child " + std::to_string(child.pid()) + "; it waits on the pipe");

    // First of all, the child's id maps, several ranges each, in one write per file.
    if (use_helpers)
      idmap::WriteWithHelpersFromParent(child.pid(), uids, gids);
    else
      idmap::WriteFromParent(child.pid(), uids, gids);
    narrate::Step("/proc/" + std::to_string(child.pid()) + "/uid_map now holds:");
    narrate::Block(ReadFile("/proc/" + std::to_string(child.pid()) + "/uid_map"));
    narrate::Step("root inside is host uid " + std::to_string(idmap::Outside(uids, 0)) +
                  ", user " + std::to_string(as.uid) + " is host uid " +
                  std::to_string(idmap::Outside(uids, as.uid)));

    narrate::Table(ns::TableHeader({"host", "child"}),
                   ns::TableRows({ns::Read(getpid()), ns::Read(child.pid())}));
    narrate::Step("root filesystem: " + source.Describe() + ", in " + run.rootfs());
    narrate::Step("the marked rows are the child's own; now writing the go byte");

    // 3. Let the child go; its setup error, if any, is thrown here.
    child.Go();
    process::ExitStatus st = child.Wait();
    narrate::Step("child " + st.Describe());

    // 4. Nothing to unmount: every mount lived in the child's namespace and died
    //    with it. Only the per-run directory remains, and it goes now.
    rootfs::RemoveRunFromParent(run, mounts_before);  // and shows the host unchanged
    return st.ShellCode();
  });
}
