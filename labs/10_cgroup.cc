// Lab 10 — cgroups: memory, process and CPU limits, and CLONE_NEWCGROUP.
//
// Lab 09 plus a cgroup and one more namespace. Namespaces change what the sandbox
// sees; a cgroup limits what it uses. Before the clone the lab finds where the
// memory, pids and cpu controllers live (cgroup v2, or v1 hierarchies as on many
// hosts still), creates a cgroup for the sandbox beneath its own (the path in
// /proc/self/cgroup: never anywhere else) and writes the limits into it. While the
// child waits on the sync pipe, the parent writes the child's pid into cgroup.procs;
// after go, the child unshares a cgroup namespace, rooted at the cgroup it is now in,
// so /proc/self/cgroup inside reads "/". The demo pushes against each limit: a
// bounded fork bomb, a memory hog, a CPU spinner; the host then reads what the kernel
// counted. The cgroup is removed when the lab ends — also after an OOM kill, a
// SIGKILL of the sandbox or Ctrl-C.
//
//   bazel run //labs:10_cgroup
//   bazel run //labs:10_cgroup -- cat /proc/self/cgroup       # every line ends in :/
//   bazel run //labs:10_cgroup -- --memory 16M -- dd if=/dev/zero of=/dev/null bs=64M count=1
//
// Read: cgroups(7), cgroup_namespaces(7), Documentation/admin-guide/cgroup-v2.rst,
// Documentation/admin-guide/cgroup-v1/memory.rst, Documentation/scheduler/sched-bwc.rst.
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <string>

#include "common/cgroup.h"
#include "common/cgroup/placement.h"
#include "common/cgroup/view.h"
#include "common/error.h"
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
  cgroup::Limits limits;
  cgroup::Manager manager = cgroup::Manager::kAuto;
  CLI::App app{"10_cgroup: a sandbox with memory, pids and cpu limits and a cgroup namespace"};
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
  cgroup::AddLimitFlags(app, limits);  // --memory, --pids, --cpus: strict, once each
  cgroup::AddManagerFlag(app, manager);  // --cgroup-manager auto|systemd|cgroupfs
  return lab::Main("10_cgroup", app, argc, argv, opt, [&] {
    user::CheckUserNamespacesEnabled();  // no root needed: the user namespace is the key
    uts::ValidateHostname(hostname);  // a bad name is refused before anything exists
    // Defaults small enough for the demo to reach each limit at once, large enough for
    // a shell and its pipelines (docs/10_cgroup.md).
    // Only the user's own limits are required: a default whose controller is missing
    // is skipped with a note.
    cgroup::SetDefaults(limits, int64_t{64} << 20, 32, 0.5);
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
    narrate::Title("10_cgroup: limits, and a cgroup namespace");
    int flags = CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET |
                CLONE_NEWUSER;
    if (pitfall == "proc-without-pidns") flags &= ~CLONE_NEWPID;
    const std::string mounts_before = ReadFile("/proc/self/mountinfo");
    user::UseOwnRunDirIfUnprivileged();  // /run/nslab is root's
    rootfs::RunDir run = rootfs::PrepareRun("10_cgroup");  // removed on every way out
    // Root inside is uid `uid` on the host, with no power over host-owned files: the
    // run directory becomes its (the image is inside this binary, nothing to open).
    user::ChownForChild(run.path(), uid, gid);

    // 0. Demo: the host makes System V objects of its own, for the sandbox not to see.
    ipc::Demo ipc_demo(getpid(), opt.Demo());  // host objects and observer; removed at the end

    // 0b. The cgroup: where do memory, pids and cpu live (v2, v1 or both), where is
    //     our own cgroup in each, and who makes the sandbox's: systemd (a scope) or we
    //     (cgroupfs)? Decided, and each limit checked, before the clone; the cgroup is
    //     placed after it (2b) and destroyed after the child is reaped — ~Placement
    //     kills what is left inside and removes it, however the child ended.
    cgroup::Plan plan = cgroup::MakePlan(manager, cgroup::RunCgroupName("10"), limits);
    narrate::Step(cgroup::ModeName(plan.layout.mode) + ": " + plan.layout.reason);
    narrate::Step("cgroup manager " + plan.Describe());
    for (const auto& note : plan.notes) narrate::Step(note);
    for (const auto& dir : cgroup::RemoveStale(plan.layout, "nslab-10-"))
      narrate::Step("removed " + dir + ", left behind by a 10_cgroup that was SIGKILLed");
    narrate::Step("limits: " + plan.limits.Describe());
    cgroup::Placement placement;  // before the child: it is reaped before the cgroup goes
    const unsigned long host_cgroup_ns = ns::Read(getpid())["cgroup"];

    // 1. clone(2) with CLONE_NEWUSER: the user namespace is made first and owns the
    //    others; the child has no ids until the maps are written, then becomes root
    //    of its namespace and follows the recipe of lab 08.
    process::Child child = process::Clone({flags}, [&] {
      // First thing after go: the parent has moved us into the cgroup, so the new
      // cgroup namespace is rooted there and /proc/self/cgroup reads "/" (not
      // CLONE_NEWCGROUP in `flags`: that would root it at the lab's own cgroup).
      cgroup::UnshareInChild();
      user::SetupInChild();  // setresgid/setresuid(0): the maps are there
      if (opt.Demo()) user::ShowInChild();
      uts::SetHostnameInChild(hostname);
      if (opt.Demo()) net::ShowLinksInChild("at first");
      if (network == "veth")
        net::ConfigureInChild(child_if, p2p.child_cidr, p2p.host_addr);  // lo too
      else
        net::SetUpLoopbackInChild();
      if (!pitfall.empty()) rootfs::ShowPitfallInChild(pitfall, run, source);
      mount::MakePrivateInChild();                          // nothing leaks to the host
      rootfs::PopulateInChild(run.rootfs(), source);        // tmpfs + busybox image
      mount::MountProcInChild(run.rootfs() + "/proc");      // our PID namespace's /proc
      mount::SetupDevInChild(run.rootfs() + "/dev");        // null, zero, tty, pts...
      mount::MountSysReadOnlyInChild(run.rootfs() + "/sys");
      cgroup::MountViewInChild(run.rootfs() + "/sys/fs/cgroup", plan.layout);  // ours, ro
      mount::PivotRootInChild(run.rootfs());                // / is now the rootfs
      ipc::MountMqueueInChild("/dev/mqueue");               // our IPC namespace's queues
      narrate::Step("sethostname done: my hostname is \"" + uts::Hostname() + "\"");
      if (opt.Demo()) {
        mount::ShowRootInChild();
        net::ShowLinksInChild("once configured");
        if (network == "veth") net::ShowPingFromChild(p2p.host_addr, "the host end");
        cgroup::ShowLimitsInChild(plan.limits, host_cgroup_ns);
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
    // 2b. Move the child into its cgroup while it waits: all it execs or forks from
    //     now on is counted and limited. Only after go does it unshare its cgroup
    //     namespace, whose root is the cgroup it is in at that moment.
    placement = cgroup::Place(plan, child.pid(), /*hold_scope=*/true);  // counters after the end
    narrate::Step("cgroup " + placement.Describe());
    narrate::Step("child " + std::to_string(child.pid()) + " is in its cgroup; /proc/" +
                  std::to_string(child.pid()) + "/cgroup (the host's view) reads:");
    // The child may be killed from outside while it waits (a test, a user's kill): a
    // zombie keeps its pid but no namespaces, so reading them fails with ESRCH. That is
    // not our error: say so, and let Go() and Wait() tell how the child ended.
    try {
      narrate::Block(TrimNewlines(ReadFile("/proc/" + std::to_string(child.pid()) + "/cgroup")));
      narrate::Table(ns::TableHeader({"host", "child"}),
                     ns::TableRows({ns::Read(getpid()), ns::Read(child.pid())}));
      narrate::Step("NSpid in /proc/" + std::to_string(child.pid()) + "/status: " +
                    pid::NsPidsString(child.pid()) + " (its pid here, then inside)");
    } catch (const SysError& e) {
      if (e.err() != ESRCH && e.err() != ENOENT) throw;
      narrate::Step("child " + std::to_string(child.pid()) +
                    " ended before go (killed from outside?): " + e.what());
    }
    narrate::Step("root filesystem: " + source.Describe() + ", in " + run.rootfs());
    narrate::Step("the marked rows are the child's own; now writing the go byte");

    // 3. Let the child go; its setup error, if any, is thrown here.
    child.Go();
    process::ExitStatus st = child.Wait();
    narrate::Step("child " + st.Describe());
    if (opt.Demo() || narrate::Verbose()) cgroup::ShowCounters(placement.cgroup());  // then ~ScopedCgroup: rmdir
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
