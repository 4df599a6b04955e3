// Lab 08 — CLONE_NEWNET: a network stack of the sandbox's own, joined to the host by a veth.
//
// Lab 07 plus one flag and a cable. A new network namespace has only `lo`, down.
// While the child waits on the sync pipe, the parent creates a veth pair whose
// other end is born in the child's namespace, and gives its own end the .1 of a
// /30 taken from --subnet (the pid picks which /30, so parallel runs differ). The
// child brings lo and its end up, takes the .2 and a default route via .1, and can
// ping the host end. Nothing is routed further: no forwarding, no NAT. Every step is
// an rtnetlink message sent through libnl-route-3. The host end is deleted when the
// lab ends; if the lab is SIGKILLed, the kernel deletes it with the child's namespace.
//
//   bazel run //labs:08_net
//   bazel run //labs:08_net -- ip addr                 # lo and nsl<pid>c
//   bazel run //labs:08_net -- --net none -- ip link   # lo only
//
// Read: network_namespaces(7), veth(4), rtnetlink(7), ip-link(8), icmp(7).
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
#include "common/uts.h"

using namespace nslab;

int main(int argc, char** argv) {
  lab::Options opt;
  std::string hostname = "nslab";
  std::string rootfs_dir, pitfall;
  std::string network = "veth";
  std::string subnet = "10.77.0.0/16";
  CLI::App app{"08_net: a sandbox with a network namespace of its own, joined by a veth"};
  lab::AddCommonFlags(app, opt);
  uts::AddFlags(app, hostname);
  rootfs::AddFlags(app, rootfs_dir, pitfall);
  app.add_option("--net", network, "veth: a veth pair to the host; none: only lo")
      ->check(CLI::IsMember({"veth", "none"}))
      ->capture_default_str();
  app.add_option("--subnet", subnet,
                 "IPv4 subnet the run's /30 is taken from (host .1, sandbox .2)")
      ->capture_default_str();
  return lab::Main("08_net", app, argc, argv, opt, [&] {
    lab::RequireRoot("creating namespaces");
    uts::ValidateHostname(hostname);  // a bad name is refused before anything exists
    rootfs::Source source = rootfs::ChooseSource(rootfs_dir, opt.command);  // validated
    // Names and addresses are this run's: parallel runs never collide.
    const std::string host_if = net::HostIfName(getpid()), child_if = net::ChildIfName(getpid());
    net::P2pReservation reserved;  // this run's /30 of --subnet, held until the lab ends
    if (network == "veth")
      reserved = net::ReservePointToPoint(net::Subnet::Parse(subnet), getpid(),
                                          rootfs::RunBase() + "/p2p");
    const net::PointToPoint& p2p = reserved.p2p();
    narrate::Title("08_net: a network stack of its own");
    int flags = CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET;
    if (pitfall == "proc-without-pidns") flags &= ~CLONE_NEWPID;
    const std::string mounts_before = ReadFile("/proc/self/mountinfo");
    rootfs::RunDir run = rootfs::PrepareRun("08_net");  // removed on every way out

    // 0. Demo: the host makes System V objects of its own, for the sandbox not to see.
    ipc::Demo ipc_demo(getpid(), opt.Demo());  // host objects and observer; removed at the end

    // 1. clone(2) with CLONE_NEWNET: the child's network namespace has only lo, down;
    //    the child configures its side first, then follows the recipe of lab 07.
    process::Child child = process::Clone({flags}, [&] {
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
