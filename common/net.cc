#include "common/net.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <utility>

#include "common/error.h"
#include "common/fd.h"
#include "common/narrate.h"
#include "common/process.h"

namespace nslab::net {
namespace {

std::string HintForNl(int err) {
  switch (err) {
    case NLE_PERM:
      return "needs CAP_NET_ADMIN over this network namespace: run as root (from inside "
             "a user namespace only the sandbox's own namespace can be configured)";
    case NLE_EXIST:
      return "it exists already: a leftover from an earlier run? (ip link del NAME)";
    case NLE_OBJ_NOTFOUND:
    case NLE_NODEV:
      return "no such interface in this network namespace";
    case NLE_NOADDR:
      return "address not usable here";
    default:
      return "";
  }
}

std::string Format(int nl_err, const std::string& op, const std::string& ifname,
                   const std::string& hint) {
  std::string msg = op;
  if (!ifname.empty()) msg += " \"" + ifname + "\"";
  msg += ": ";
  msg += nl_geterror(nl_err);
  msg += " (libnl)";
  std::string h = hint.empty() ? HintForNl(nl_err) : hint;
  if (!h.empty()) msg += " (hint: " + h + ")";
  return msg;
}

// libnl returns 0 or a negative NLE_* code.
void CheckNl(int ret, const std::string& op, const std::string& ifname,
             const std::string& hint = {}) {
  if (ret < 0) throw NetlinkError(-ret, op, ifname, hint);
}

// A connected NETLINK_ROUTE socket. A netlink socket talks to the network namespace
// its creator was in when it was made: the child opens its own after clone.
class Socket {
 public:
  Socket() : sk_(nl_socket_alloc()) {
    if (sk_ == nullptr) throw NetlinkError(NLE_NOMEM, "nl_socket_alloc", "");
    int ret = nl_connect(sk_, NETLINK_ROUTE);
    if (ret < 0) {
      nl_socket_free(sk_);
      throw NetlinkError(-ret, "nl_connect", "NETLINK_ROUTE");
    }
  }
  ~Socket() { nl_socket_free(sk_); }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  nl_sock* get() const { return sk_; }

 private:
  nl_sock* sk_;
};

struct LinkPut {
  void operator()(rtnl_link* l) const { rtnl_link_put(l); }
};
using Link = std::unique_ptr<rtnl_link, LinkPut>;
struct AddrPut {
  void operator()(nl_addr* a) const { nl_addr_put(a); }
};
using Addr = std::unique_ptr<nl_addr, AddrPut>;

Link GetLink(const Socket& sk, const std::string& name, const std::string& op) {
  rtnl_link* link = nullptr;
  CheckNl(rtnl_link_get_kernel(sk.get(), 0, name.c_str(), &link), op, name);
  return Link(link);
}

Addr ParseAddr(const std::string& text, const std::string& op, const std::string& ifname) {
  nl_addr* a = nullptr;
  int ret = nl_addr_parse(text.c_str(), AF_INET, &a);
  if (ret < 0) throw UsageError(op + " \"" + ifname + "\": not an IPv4 address: \"" + text + "\"");
  return Addr(a);
}

uint32_t ParseIpv4(const std::string& text) {
  in_addr a;
  if (inet_pton(AF_INET, text.c_str(), &a) != 1)
    throw UsageError("not an IPv4 address: \"" + text + "\"");
  return ntohl(a.s_addr);
}

}  // namespace

NetlinkError::NetlinkError(int nl_err, const std::string& op, const std::string& ifname,
                           const std::string& hint)
    : std::runtime_error(Format(nl_err, op, ifname, hint)), err_(nl_err) {}

ScopedLink& ScopedLink::operator=(ScopedLink&& other) noexcept {
  if (this != &other) {
    ScopedLink old(std::move(*this));
    name_ = other.Release();
  }
  return *this;
}

ScopedLink::~ScopedLink() {
  if (!Valid()) return;
  try {
    Delete();
  } catch (const std::exception& e) {
    // From a destructor: say it, never throw.
    ReportError(e);
  }
}

std::string ScopedLink::Release() { return std::exchange(name_, std::string()); }

void ScopedLink::Delete() {
  if (!Valid()) return;
  std::string name = Release();
  Socket sk;
  Link link(rtnl_link_alloc());
  rtnl_link_set_name(link.get(), name.c_str());
  narrate::Syscall("rtnl_link_delete", "\"" + name + "\" (RTM_DELLINK)");
  int ret = rtnl_link_delete(sk.get(), link.get());
  // Gone already: the child's namespace died and took the pair with it.
  if (ret == -NLE_OBJ_NOTFOUND || ret == -NLE_NODEV) return;
  CheckNl(ret, "rtnl_link_delete", name);
}

void CheckIfName(const std::string& name) {
  if (name.empty() || name.size() > IFNAMSIZ - 1)
    throw UsageError("interface name \"" + name + "\" must be 1 to " +
                     std::to_string(IFNAMSIZ - 1) + " characters (IFNAMSIZ)");
  for (char c : name)
    if (c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n')
      throw UsageError("interface name \"" + name + "\" may not contain '/', ':' or spaces");
}

std::string HostIfName(pid_t lab_pid) { return "nsl" + std::to_string(lab_pid) + "h"; }
std::string ChildIfName(pid_t lab_pid) { return "nsl" + std::to_string(lab_pid) + "c"; }

ScopedLink CreateVethFromParent(pid_t child, const std::string& host_if,
                                const std::string& child_if) {
  CheckIfName(host_if);
  CheckIfName(child_if);
  Socket sk;
  // One RTM_NEWLINK creates both ends; IFLA_NET_NS_PID on the peer makes the kernel
  // create that end directly in the network namespace of process `child`.
  Link veth(rtnl_link_veth_alloc());
  if (!veth) throw NetlinkError(NLE_NOMEM, "rtnl_link_veth_alloc", host_if);
  rtnl_link_set_name(veth.get(), host_if.c_str());
  rtnl_link* peer = rtnl_link_veth_get_peer(veth.get());
  rtnl_link_set_name(peer, child_if.c_str());
  rtnl_link_set_ns_pid(peer, child);
  rtnl_link_put(peer);  // get_peer took a reference
  narrate::Syscall("rtnl_link_add", "veth \"" + host_if + "\" peer \"" + child_if +
                                        "\" netns pid " + std::to_string(child) +
                                        " (RTM_NEWLINK, NLM_F_CREATE|NLM_F_EXCL)");
  CheckNl(rtnl_link_add(sk.get(), veth.get(), NLM_F_CREATE | NLM_F_EXCL),
          "rtnl_link_add veth", host_if);
  return ScopedLink(host_if);
}

void AddAddress(const std::string& ifname, const std::string& cidr) {
  Socket sk;
  Link link = GetLink(sk, ifname, "rtnl_addr_add");
  Addr local = ParseAddr(cidr, "rtnl_addr_add", ifname);
  rtnl_addr* addr = rtnl_addr_alloc();
  rtnl_addr_set_ifindex(addr, rtnl_link_get_ifindex(link.get()));
  rtnl_addr_set_local(addr, local.get());  // the prefix length comes with it
  narrate::Syscall("rtnl_addr_add", "\"" + ifname + "\" " + cidr + " (RTM_NEWADDR)");
  int ret = rtnl_addr_add(sk.get(), addr, 0);
  rtnl_addr_put(addr);
  CheckNl(ret, "rtnl_addr_add " + cidr, ifname);
}

void SetUp(const std::string& ifname) {
  Socket sk;
  Link orig = GetLink(sk, ifname, "rtnl_link_change");
  Link change(rtnl_link_alloc());
  rtnl_link_set_flags(change.get(), IFF_UP);
  narrate::Syscall("rtnl_link_change", "\"" + ifname + "\" IFF_UP (RTM_NEWLINK)");
  CheckNl(rtnl_link_change(sk.get(), orig.get(), change.get(), 0), "rtnl_link_change up",
          ifname);
}

void AddDefaultRoute(const std::string& gateway) {
  Socket sk;
  Addr gw = ParseAddr(gateway, "rtnl_route_add", "default");
  Addr dst = ParseAddr("0.0.0.0/0", "rtnl_route_add", "default");
  rtnl_route* route = rtnl_route_alloc();
  rtnl_route_set_family(route, AF_INET);
  rtnl_route_set_table(route, RT_TABLE_MAIN);
  rtnl_route_set_protocol(route, RTPROT_STATIC);
  rtnl_route_set_scope(route, RT_SCOPE_UNIVERSE);
  rtnl_route_set_type(route, RTN_UNICAST);
  rtnl_route_set_dst(route, dst.get());
  rtnl_nexthop* nh = rtnl_route_nh_alloc();
  rtnl_route_nh_set_gateway(nh, gw.get());
  rtnl_route_add_nexthop(route, nh);  // the route owns nh now
  narrate::Syscall("rtnl_route_add", "default via " + gateway + " (RTM_NEWROUTE)");
  int ret = rtnl_route_add(sk.get(), route, NLM_F_CREATE | NLM_F_EXCL);
  rtnl_route_put(route);
  CheckNl(ret, "rtnl_route_add default via " + gateway, "",
          ret == -NLE_EXIST ? "" : "the gateway must be on the subnet of an interface that is up");
}

void SetUpLoopbackInChild() {
  // A new network namespace's lo exists but is down: even 127.0.0.1 is unreachable.
  SetUp("lo");
}

void ConfigureInChild(const std::string& child_if, const std::string& cidr,
                      const std::string& gateway) {
  SetUpLoopbackInChild();
  AddAddress(child_if, cidr);
  SetUp(child_if);
  if (!gateway.empty()) AddDefaultRoute(gateway);
}

bool LinkInfo::Up() const { return (flags & IFF_UP) != 0; }

std::string LinkInfo::FlagsText() const {
  static const struct {
    unsigned flag;
    const char* name;
  } kFlags[] = {{IFF_BROADCAST, "BROADCAST"}, {IFF_POINTOPOINT, "POINTOPOINT"},
                {IFF_LOOPBACK, "LOOPBACK"},   {IFF_MULTICAST, "MULTICAST"},
                {IFF_UP, "UP"},               {IFF_LOWER_UP, "LOWER_UP"}};
  std::string out;
  for (const auto& f : kFlags) {
    if (flags & f.flag) {
      if (!out.empty()) out += ",";
      out += f.name;
    }
  }
  return out.empty() ? "DOWN" : out;
}

std::vector<LinkInfo> ListLinks() {
  Socket sk;
  nl_cache* links = nullptr;
  CheckNl(rtnl_link_alloc_cache(sk.get(), AF_UNSPEC, &links), "rtnl_link_alloc_cache", "");
  nl_cache* addrs = nullptr;
  int ret = rtnl_addr_alloc_cache(sk.get(), &addrs);
  if (ret < 0) {
    nl_cache_free(links);
    CheckNl(ret, "rtnl_addr_alloc_cache", "");
  }
  std::vector<LinkInfo> out;
  for (nl_object* o = nl_cache_get_first(links); o; o = nl_cache_get_next(o)) {
    auto* l = reinterpret_cast<rtnl_link*>(o);
    LinkInfo info{rtnl_link_get_ifindex(l), rtnl_link_get_name(l), rtnl_link_get_flags(l),
                  {}, rtnl_link_get_master(l)};
    for (nl_object* a = nl_cache_get_first(addrs); a; a = nl_cache_get_next(a)) {
      auto* ad = reinterpret_cast<rtnl_addr*>(a);
      if (rtnl_addr_get_family(ad) != AF_INET || rtnl_addr_get_ifindex(ad) != info.index)
        continue;
      char buf[64];
      info.addresses.push_back(nl_addr2str(rtnl_addr_get_local(ad), buf, sizeof buf));
    }
    out.push_back(std::move(info));
  }
  nl_cache_free(addrs);
  nl_cache_free(links);
  return out;
}

bool LinkExists(const std::string& name) {
  Socket sk;
  rtnl_link* link = nullptr;
  int ret = rtnl_link_get_kernel(sk.get(), 0, name.c_str(), &link);
  if (ret == -NLE_OBJ_NOTFOUND || ret == -NLE_NODEV) return false;
  CheckNl(ret, "rtnl_link_get_kernel", name);
  rtnl_link_put(link);
  return true;
}

Subnet Subnet::Parse(const std::string& cidr) {
  size_t slash = cidr.find('/');
  if (slash == std::string::npos)
    throw UsageError("subnet \"" + cidr + "\" must be in CIDR form, e.g. 10.77.0.0/16");
  Subnet s;
  s.base = ParseIpv4(cidr.substr(0, slash));
  std::string p = cidr.substr(slash + 1);
  if (p.empty() || p.size() > 2 || p.find_first_not_of("0123456789") != std::string::npos)
    throw UsageError("subnet \"" + cidr + "\": bad prefix length");
  s.prefix = std::stoi(p);
  if (s.prefix < 8 || s.prefix > 30)
    throw UsageError("subnet \"" + cidr + "\": prefix must be /8 to /30");
  uint32_t mask = s.prefix == 0 ? 0 : ~0u << (32 - s.prefix);
  if ((s.base & ~mask) != 0)
    throw UsageError("subnet \"" + cidr + "\" has host bits set; did you mean " +
                     Ipv4ToString(s.base & mask) + "/" + p + "?");
  return s;
}

std::string Subnet::ToString() const { return Ipv4ToString(base) + "/" + std::to_string(prefix); }

std::string Ipv4ToString(uint32_t addr) {
  in_addr a{htonl(addr)};
  char buf[INET_ADDRSTRLEN];
  return inet_ntop(AF_INET, &a, buf, sizeof buf);
}

PointToPoint PointToPointFor(const Subnet& subnet, pid_t pid) {
  // A /30 has four addresses: network, host end (.1), child end (.2), broadcast.
  const uint32_t count = 1u << (30 - subnet.prefix);
  const uint32_t net = subnet.base + (static_cast<uint32_t>(pid) % count) * 4;
  PointToPoint p;
  p.host_addr = Ipv4ToString(net + 1);
  p.child_addr = Ipv4ToString(net + 2);
  p.host_cidr = p.host_addr + "/30";
  p.child_cidr = p.child_addr + "/30";
  return p;
}

namespace {

// mkdir -p: the parents are ours to create (/run/nslab, then the state dir).
void MakeDirs(const std::string& path) {
  for (size_t pos = 1; pos != std::string::npos;) {
    pos = path.find('/', pos + 1);
    std::string dir = path.substr(0, pos);
    if (mkdir(dir.c_str(), 0755) < 0 && errno != EEXIST) Check(-1, "mkdir", dir);
  }
}

// open(O_CREAT|O_EXCL) of `path` in `dir`: -1 with errno EEXIST when it exists. The
// last run to release an allocation removes the directory, possibly between our
// mkdir and our open: then the directory is made again and the open retried.
int CreateExclusive(const std::string& dir, const std::string& path) {
  for (int attempt = 0;; ++attempt) {
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0 || errno != ENOENT || attempt == 3) return fd;
    MakeDirs(dir);
  }
}

// Takes the /30 file at `path` for `owner`: true when it is ours now. A file left by
// a run that no longer exists is removed and taken over.
bool TakeP2pFile(const std::string& dir, const std::string& path, pid_t owner) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    int fd = CreateExclusive(dir, path);
    if (fd >= 0) {
      UniqueFd owned(fd);
      WriteAll(fd, std::to_string(owner) + "\n", path);
      return true;
    }
    if (errno != EEXIST) Check(-1, "open", path);
    std::string holder;
    try {
      holder = ReadFile(path);
    } catch (const SysError&) {
      continue;  // released meanwhile: try again
    }
    pid_t pid = static_cast<pid_t>(std::atoi(holder.c_str()));
    if (pid > 0 && (kill(pid, 0) == 0 || errno != ESRCH)) return false;  // alive
    unlink(path.c_str());  // stale: its run was killed before it could release it
  }
  return false;
}

}  // namespace

P2pReservation::P2pReservation(P2pReservation&& other) noexcept
    : p2p_(std::move(other.p2p_)),
      file_(std::exchange(other.file_, "")),
      dir_(std::move(other.dir_)) {}

P2pReservation& P2pReservation::operator=(P2pReservation&& other) noexcept {
  if (this != &other) {
    P2pReservation previous(std::move(*this));  // releases what we held
    p2p_ = std::move(other.p2p_);
    file_ = std::exchange(other.file_, "");
    dir_ = std::move(other.dir_);
  }
  return *this;
}

P2pReservation::~P2pReservation() {
  if (file_.empty()) return;
  unlink(file_.c_str());
  rmdir(dir_.c_str());  // only when no other run holds a /30 (ENOTEMPTY otherwise)
}

P2pReservation ReservePointToPoint(const Subnet& subnet, pid_t owner,
                                   const std::string& state_dir) {
  MakeDirs(state_dir);
  // Reservations of runs killed with SIGKILL (they could not release theirs) are
  // removed first, whichever /30 they hold, so none accumulate.
  if (DIR* d = opendir(state_dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      const std::string file = state_dir + "/" + e->d_name;
      std::string holder;
      try {
        holder = ReadFile(file);
      } catch (const SysError&) {
        continue;  // released meanwhile
      }
      pid_t pid = static_cast<pid_t>(std::atoi(holder.c_str()));
      if (pid > 0 && kill(pid, 0) < 0 && errno == ESRCH) unlink(file.c_str());
    }
    closedir(d);
  }
  const uint32_t count = 1u << (30 - subnet.prefix);
  const uint32_t first = static_cast<uint32_t>(owner) % count;
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t n = (first + i) % count;
    const std::string file = state_dir + "/" + Ipv4ToString(subnet.base + n * 4);
    if (!TakeP2pFile(state_dir, file, owner)) continue;
    P2pReservation r;
    r.p2p_ = PointToPointFor(subnet, static_cast<pid_t>(n));  // the n-th /30
    r.file_ = file;
    r.dir_ = state_dir;
    return r;
  }
  rmdir(state_dir.c_str());  // leave no empty directory of ours behind
  throw std::runtime_error("subnet " + subnet.ToString() + " is exhausted: each of its " +
                           std::to_string(count) +
                           " /30s is held by a running lab (see " + state_dir +
                           "); give a larger --subnet");
}

void EnsureBridge(const std::string& name, const std::string& cidr) {
  CheckIfName(name);
  Socket sk;
  Link bridge(rtnl_link_bridge_alloc());
  rtnl_link_set_name(bridge.get(), name.c_str());
  narrate::Syscall("rtnl_link_add", "bridge \"" + name + "\" (RTM_NEWLINK)");
  int ret = rtnl_link_add(sk.get(), bridge.get(), NLM_F_CREATE | NLM_F_EXCL);
  if (ret == -NLE_EXIST) {
    // Someone (an earlier run, or a concurrent one) made it: it must be a bridge.
    Link existing = GetLink(sk, name, "EnsureBridge");
    if (!rtnl_link_is_bridge(existing.get()))
      throw UsageError("interface \"" + name + "\" exists but is not a bridge");
  } else {
    CheckNl(ret, "rtnl_link_add bridge", name);
  }
  try {
    AddAddress(name, cidr);
  } catch (const NetlinkError& e) {
    if (e.err() != NLE_EXIST) throw;  // the address is there already: fine
  }
  SetUp(name);
}

void AttachToBridge(const std::string& host_if, const std::string& bridge) {
  Socket sk;
  Link master = GetLink(sk, bridge, "rtnl_link_enslave");
  Link slave = GetLink(sk, host_if, "rtnl_link_enslave");
  narrate::Syscall("rtnl_link_enslave", "\"" + host_if + "\" master \"" + bridge + "\"");
  CheckNl(rtnl_link_enslave(sk.get(), master.get(), slave.get()),
          "rtnl_link_enslave to " + bridge, host_if);
  SetUp(host_if);
}

std::string AllocateAddress(const std::string& state_dir, const std::string& subnet,
                            const std::string& owner) {
  Subnet s = Subnet::Parse(subnet);
  MakeDirs(state_dir);
  const uint32_t size = 1u << (32 - s.prefix);
  // .0 is the network, .1 the bridge (gateway), the last the broadcast address.
  for (uint32_t host = 2; host + 1 < size; ++host) {
    std::string addr = Ipv4ToString(s.base + host);
    std::string path = state_dir + "/" + addr;
    // O_EXCL: of two concurrent allocations of the same address, exactly one wins.
    int fd = CreateExclusive(state_dir, path);
    if (fd < 0) {
      if (errno == EEXIST) continue;
      Check(-1, "open", path);
    }
    UniqueFd owned(fd);
    WriteAll(fd, owner + "\n", path);
    return addr + "/" + std::to_string(s.prefix);
  }
  throw UsageError("no free address left in " + subnet + " (see " + state_dir + ")");
}

void ReleaseAddress(const std::string& state_dir, const std::string& cidr) {
  std::string path = state_dir + "/" + cidr.substr(0, cidr.find('/'));
  if (unlink(path.c_str()) < 0 && errno != ENOENT) Check(-1, "unlink", path);
  rmdir(state_dir.c_str());  // the last address out removes the directory (else ENOTEMPTY)
}

void ShowLinksInChild(const std::string& when) {
  std::vector<narrate::Row> rows;
  for (const LinkInfo& l : ListLinks()) {
    std::string addrs;
    for (const auto& a : l.addresses) addrs += (addrs.empty() ? "" : " ") + a;
    rows.push_back({{l.name, l.Up() ? "UP" : "DOWN", l.FlagsText(), addrs}});
  }
  narrate::Step("links in my network namespace " + when + ":");
  narrate::Table({"link", "state", "flags", "ipv4"}, rows);
}

int PingFromChild(const std::string& addr) {
  std::fflush(stdout);
  pid_t pid = Check(fork(), "fork", "ping");
  if (pid == 0) process::RunInChild([&] { return process::Exec({"ping", "-c1", "-W5", addr}); });
  return process::WaitPid(pid).ShellCode();
}

void ShowPingFromChild(const std::string& addr, const std::string& who) {
  narrate::Step("ping -c1 " + addr + " (" + who + "):");
  narrate::Step(PingFromChild(addr) == 0 ? who + " answered" : "no answer from " + who);
}

}  // namespace nslab::net
