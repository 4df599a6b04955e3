// Lab 09 — CLONE_NEWUSER: root inside, an unprivileged uid outside; rootless.
//
// Lab 08 plus one flag and two files. In a new user namespace the child has every
// capability over the namespaces it owns — and none over the host. Which ids exist
// inside is written once, by the parent, while the child waits on the sync pipe:
// /proc/PID/uid_map "0 65534 1" makes uid 0 inside uid 65534 outside (gid_map the
// same, after "deny" in /proc/PID/setgroups when the writer is unprivileged). The
// child then becomes uid 0 of its namespace. Because every other namespace is
// created together with the user namespace, and owned by it, the whole stack of the
// earlier labs runs for a user without root — except the veth, whose host end needs
// CAP_NET_ADMIN in the host's network namespace: unprivileged runs get lo only.
//
//   bazel run //labs:09_user -- id                     # uid=0(root) inside
//   setpriv --reuid=65534 --regid=65534 --clear-groups bazel-bin/labs/09_user -- id -u
//
// Read: user_namespaces(7), capabilities(7), setgroups(2), newuidmap(1).
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <string>

#include "common/fd.h"
#include "common/ipc.h"
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
  std::string rootfs_dir, pitfall;
  std::string network = "veth";
  std::string subnet = "10.77.0.0/16";
  uid_t uid = user::DefaultOutsideUid();
  gid_t gid = user::DefaultOutsideGid();
  CLI::App app{"09_user: a sandbox in a user namespace: root inside, unprivileged outside"};
  lab::AddCommonFlags(app, opt);
  uts::AddFlags(app, hostname);
  rootfs::AddFlags(app, rootfs_dir, pitfall);
  app.add_option("--net", network, "veth: a veth pair to the host; none: only lo")
      ->check(CLI::IsMember({"veth", "none"}))
      ->capture_default_str();
  app.add_option("--subnet", subnet,
                 "IPv4 subnet the run's /30 is taken from (host .1, sandbox .2)")
      ->capture_default_str();
  app.add_option("--uid", uid, "The host uid that is root inside (default: 65534 when run "
                               "as root, else your own uid, the only one you may map)")
      ->capture_default_str();
  app.add_option("--gid", gid, "The host gid that is group 0 inside (same defaults)")
      ->capture_default_str();
  return lab::Main("09_user", app, argc, argv, opt, [&] {
    user::CheckUserNamespacesEnabled();  // no root needed: the user namespace is the key
    uts::ValidateHostname(hostname);  // a bad name is refused before anything exists
    rootfs::Source source = rootfs::ChooseSource(rootfs_dir, opt.command);  // validated
    // Names and addresses are this run's: parallel runs never collide.
    const std::string host_if = net::HostIfName(getpid()), child_if = net::ChildIfName(getpid());
    if (network == "veth" && geteuid() != 0) {
      // The host end would be created in the host's network namespace.
      narrate::Step("not root: a veth needs CAP_NET_ADMIN on the host; --net none (lo only)");
      network = "none";
    }
    net::P2pReservation reserved;  // this run's /30 of --subnet, held until the lab ends
    if (network == "veth")
      reserved = net::ReservePointToPoint(net::Subnet::Parse(subnet), getpid(),
                                          rootfs::RunBase() + "/p2p");
    const net::PointToPoint& p2p = reserved.p2p();
    narrate::Title("09_user: root inside, uid " + std::to_string(uid) + " outside");
    int flags = CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET |
                CLONE_NEWUSER;
    if (pitfall == "proc-without-pidns") flags &= ~CLONE_NEWPID;
    const std::string mounts_before = ReadFile("/proc/self/mountinfo");
    user::UseOwnRunDirIfUnprivileged();  // /run/nslab is root's
    rootfs::RunDir run = rootfs::PrepareRun("09_user");  // removed on every way out
    // Root inside is uid `uid` on the host, with no power over host-owned files: the
    // run directory becomes its (the image is inside this binary, nothing to open).
    user::ChownForChild(run.path(), uid, gid);

    // 0. Demo: the host makes System V objects of its own, for the sandbox not to see.
    ipc::Demo ipc_demo(getpid(), opt.Demo());  // host objects and observer; removed at the end

    // 1. clone(2) with CLONE_NEWUSER: the user namespace is made first and owns the
    //    others; the child has no ids until the maps are written, then becomes root
    //    of its namespace and follows the recipe of lab 08.
    process::Child child = process::Clone({flags}, [&] {
      user::SetupInChild();  // setresgid/setresuid(0): the maps are there
      if (opt.Demo()) user::ShowInChild();
      uts::SetHostnameInChild(hostname);
      if (opt.Demo()) net::ShowLinksInChild("at first");
      if (network == "veth")
        net::ConfigureInChild(child_if, p2p.child_cidr, p2p.host_addr);  // lo too
      else
        net::SetUpLoopbackInChild();
      if (!pitfall.empty()) rootfs::ShowPitfallInChild(pitfall, run, source);
      rootfs::EnterInChild(run.rootfs(), source);           // lab 06's recipe, one call
      ipc::MountMqueueInChild("/dev/mqueue");               // our IPC namespace's queues
      narrate::Step("sethostname done: my hostname is \"" + uts::Hostname() + "\"");
      if (opt.Demo()) {
        mount::ShowRootInChild();
        net::ShowLinksInChild("once configured");
        if (network == "veth") net::ShowPingFromChild(p2p.host_addr, "the host end");
        ipc_demo.ShowInChild();  // last: it waits until the host has looked
        return 0;
      }
      return process::Exec(opt.command);
    });
    narrate::Step("clone(" + process::CloneFlagsToString(flags | SIGCHLD) +
                  ") gave child " + std::to_string(child.pid()) + "; it waits on the pipe");

    // First of all, the child's id maps (each file can be written only once).
    user::WriteMapsFromParent(child.pid(), uid, gid);
    narrate::Step("wrote /proc/" + std::to_string(child.pid()) + "/uid_map \"" +
                  user::ReadMap(child.pid(), "uid_map") + "\" and gid_map \"" +
                  user::ReadMap(child.pid(), "gid_map") + "\"");

    // 2. The parent prepares while the child waits: a veth pair whose other end is
    //    created in the child's network namespace; our end gets the .1 and goes up.
    net::ScopedLink veth;  // deleted when the lab ends (SIGKILL: see docs/08_net.md)
    if (network == "veth") {
      veth = net::CreateVethFromParent(child.pid(), host_if, child_if);
      net::AddAddress(host_if, p2p.host_cidr);
      net::SetUp(host_if);
      narrate::Step("veth " + host_if + " (" + p2p.host_cidr + ", here) <-> " + child_if +
                    " (" + p2p.child_cidr + ", in the child's namespace)");
    }
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
    ipc_demo.FinishFromParent();
    if (veth.Valid()) {
      veth.Delete();
      narrate::Step("deleted " + host_if + "; its peer went with it");
    }

    // 4. Nothing to unmount: every mount lived in the child's namespace and died
    //    with it. Only the per-run directory remains, and it goes now.
    rootfs::RemoveRunFromParent(run, mounts_before);  // and shows the host unchanged
    return st.ShellCode();
  });
}
