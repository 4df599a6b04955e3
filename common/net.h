// net — network links, addresses and routes through rtnetlink (libnl-route-3), for a
// sandbox in its own network namespace.
//
// Teaches: a new network namespace has one interface, `lo`, and it is down. To reach
// the sandbox, create a veth pair (veth(4): two interfaces joined like a cable), move
// one end into the child's namespace by its pid (IFLA_NET_NS_PID), give both ends an
// address on a small subnet, bring them up and add a default route inside. Every step
// is one rtnetlink message (rtnetlink(7)); `ip link`, `ip addr` and `ip route` send
// the same messages. A network namespace dies with its last process; its veth end is
// then destroyed by the kernel, and a veth's peer goes with it — so the host end
// vanishes even when the lab is killed with SIGKILL.
// Read: network_namespaces(7), veth(4), rtnetlink(7), ip-link(8), ip-address(8),
// https://www.infradead.org/~tgr/libnl/doc/route.html
//
//   net::ScopedLink host = net::CreateVethFromParent(child.pid(), "nsl42h", "nsl42c");
//   net::AddAddress("nsl42h", "10.77.0.1/30");
//   net::SetUp("nsl42h");
//   child.Go();   // the child then calls:
//   net::ConfigureInChild("nsl42c", "10.77.0.2/30", "10.77.0.1");
#ifndef NSLAB_COMMON_NET_H_
#define NSLAB_COMMON_NET_H_

#include <sys/types.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace nslab::net {

// A failed rtnetlink operation. The message names the operation, the interface and
// libnl's reason: `rtnl_link_add "nsl42h": Object exists (libnl)`. err() is libnl's
// NLE_* code (positive), not an errno.
class NetlinkError : public std::runtime_error {
 public:
  NetlinkError(int nl_err, const std::string& op, const std::string& ifname,
               const std::string& hint = {});
  int err() const { return err_; }

 private:
  int err_;
};

// A link in the caller's network namespace, deleted (RTM_DELLINK) on scope exit.
// Deleting one end of a veth pair deletes both. Move-only; Release() keeps it.
class ScopedLink {
 public:
  ScopedLink() = default;
  explicit ScopedLink(std::string name) : name_(std::move(name)) {}
  ScopedLink(ScopedLink&& other) noexcept : name_(other.Release()) {}
  ScopedLink& operator=(ScopedLink&& other) noexcept;
  ScopedLink(const ScopedLink&) = delete;
  ScopedLink& operator=(const ScopedLink&) = delete;
  ~ScopedLink();

  const std::string& name() const { return name_; }
  bool Valid() const { return !name_.empty(); }
  std::string Release();
  // Deletes now; a link already gone (its namespace died) is not an error.
  void Delete();

 private:
  std::string name_;
};

// Interface names are at most 15 characters (IFNAMSIZ - 1). Throws UsageError.
void CheckIfName(const std::string& name);
// Per-run names: "nsl<pid>h" (host end) and "nsl<pid>c" (child end).
std::string HostIfName(pid_t lab_pid);
std::string ChildIfName(pid_t lab_pid);

// Creates the veth pair host_if <-> child_if with child_if created directly in the
// network namespace of process `child` (it must already be in a new one).
ScopedLink CreateVethFromParent(pid_t child, const std::string& host_if,
                                const std::string& child_if);
// Adds an IPv4 address in CIDR form ("10.77.0.1/30") to an interface.
void AddAddress(const std::string& ifname, const std::string& cidr);
// Sets IFF_UP.
void SetUp(const std::string& ifname);
// Adds a default route via `gateway` ("10.77.0.1").
void AddDefaultRoute(const std::string& gateway);

// Runs in the child, in its new network namespace: `lo` up (127.0.0.1 then works).
void SetUpLoopbackInChild();
// Runs in the child: lo up, address on child_if, child_if up, default route via
// gateway (skipped when gateway is empty).
void ConfigureInChild(const std::string& child_if, const std::string& cidr,
                      const std::string& gateway);

struct LinkInfo {
  int index;
  std::string name;
  unsigned flags;  // IFF_*
  bool Up() const;
  std::string FlagsText() const;  // "UP,LOOPBACK,RUNNING" (like ip link's <...>)
  std::vector<std::string> addresses;  // IPv4 CIDRs
  int master_index = 0;                // the bridge it is enslaved to, 0 if none
};
// Links (with their IPv4 addresses) of the caller's network namespace, by index.
std::vector<LinkInfo> ListLinks();
bool LinkExists(const std::string& name);

// --- Addresses ---
// An IPv4 subnet: "10.77.0.0/16".
struct Subnet {
  uint32_t base;  // host byte order
  int prefix;
  static Subnet Parse(const std::string& cidr);  // throws UsageError
  std::string ToString() const;
};
std::string Ipv4ToString(uint32_t addr);  // host byte order in

// The per-run point-to-point link of lab 08: the /30 number (pid mod the number of
// /30s in the subnet) inside `subnet`; .1 is the host end, .2 the child end.
struct PointToPoint {
  std::string host_cidr;   // "10.77.16.1/30"
  std::string child_cidr;  // "10.77.16.2/30"
  std::string host_addr;   // "10.77.16.1", the child's gateway
  std::string child_addr;  // "10.77.16.2"
};
PointToPoint PointToPointFor(const Subnet& subnet, pid_t pid);

// A /30 reserved for one run, so that concurrent runs never share one: a file per
// /30 in `state_dir`, created with O_EXCL (the kernel arbitrates races) and holding
// the owner's pid. Files whose pid is gone (a lab killed with SIGKILL) are removed
// first — "gone" as seen from the caller's PID namespace, so runs in different PID
// namespaces must not share a state_dir; the search starts at the pid's own /30 and
// wraps around. The file is removed
// when the reservation ends. When every /30 is held by a live run, throws an error
// saying the subnet is exhausted.
class P2pReservation {
 public:
  P2pReservation() = default;
  P2pReservation(P2pReservation&& other) noexcept;
  P2pReservation& operator=(P2pReservation&& other) noexcept;
  ~P2pReservation();
  const PointToPoint& p2p() const { return p2p_; }

 private:
  friend P2pReservation ReservePointToPoint(const Subnet&, pid_t, const std::string&);
  PointToPoint p2p_;
  std::string file_;  // empty: nothing to release
  std::string dir_;
};
P2pReservation ReservePointToPoint(const Subnet& subnet, pid_t owner,
                                   const std::string& state_dir);

// --- The bridge of lab 11 ---
// Creates bridge `name` with address `cidr` ("10.88.0.1/16") and brings it up; an
// existing bridge is left as it is (idempotent, safe when run concurrently).
void EnsureBridge(const std::string& name, const std::string& cidr);
// Enslaves host_if to the bridge and brings it up.
void AttachToBridge(const std::string& host_if, const std::string& bridge);

// Collision-free addresses on the bridge's subnet: each allocation is a file
// `<state_dir>/<a.b.c.d>` created with O_EXCL (the kernel arbitrates races), holding
// the owner's text. The network address, the gateway (.1) and broadcast are never
// given out. Returns the address in CIDR form with the subnet's prefix ("10.88.0.2/16").
// Released by deleting the file (ReleaseAddress). State dir default: /run/nslab/net.
std::string AllocateAddress(const std::string& state_dir, const std::string& subnet,
                            const std::string& owner);
void ReleaseAddress(const std::string& state_dir, const std::string& cidr);

// --- Lab 08's demo ---

// Run by the child: the links of its network namespace, with state, flags and IPv4
// addresses, as a table headed "links in my network namespace <when>:".
void ShowLinksInChild(const std::string& when);
// Run by the child: ping(8) -c1 -W5 `addr` from the sandbox's root filesystem, its
// output on our stdout; returns ping's shell code (0: an answer came back). busybox
// ping opens a raw ICMP socket, which needs CAP_NET_RAW: root inside has it over its
// own network namespace.
int PingFromChild(const std::string& addr);
// PingFromChild, narrated: "ping -c1 ADDR (<who>):", ping's output, then whether
// <who> answered.
void ShowPingFromChild(const std::string& addr, const std::string& who);

}  // namespace nslab::net

#endif  // NSLAB_COMMON_NET_H_
