// nat — outbound NAT and published ports for the bridge's containers, with nftables
// through its library (libnftables), in a table of our own: `table ip nslab`.
//
// Teaches: a container on the bridge has a private address (10.88.0.x) that nothing
// beyond the host can answer. Two translations, both in netfilter's nat hooks, make
// it a client and a server of the world:
//  - masquerade (postrouting): a packet from the bridge's subnet leaving by any other
//    interface gets the outgoing interface's address as its source; conntrack
//    remembers the mapping and undoes it on the replies;
//  - DNAT (prerouting for packets arriving, output for the host's own): a packet to
//    a local address and a published port gets the container's address and port as
//    its destination: `-p 8080:80`.
// Everything lives in one table, so one call (`delete table ip nslab`) removes it
// all, and the host's other rules are never touched: nftables tables are
// independent, each base chain sees every packet. Rules of a container carry the
// comment "nslab:<id>" and are found again by it (the ruleset listed as JSON, with
// handles). The table exists while a container needs it: each one holds an owner
// file in the state directory, and the last to release deletes the table (under
// flock(2), so a start and an rm never race).
// Published on 127.0.0.1: the host's own connection to 127.0.0.1:8080 is DNATed to
// 10.88.0.x, but the kernel refuses to route a packet whose source is 127.0.0.1 out
// of a non-loopback interface — unless `route_localnet` is set on that interface.
// We set it on our bridge only (a sysctl of our own interface, gone with it) and
// masquerade 127.0.0.0/8 leaving by the bridge, so the container answers the
// bridge's address rather than its own loopback. Docker does the same with
// userland-proxy=false; its default, a docker-proxy process per port, costs a
// process per port and hides the client's address, which is why we chose the rules.
// Read: nft(8) ("NAT STATEMENTS", "FIB EXPRESSIONS"), libnftables(3),
// libnftables-json(5), ip-sysctl.rst (route_localnet, ip_forward), conntrack(8).
//
//   nat::Network n;                                   // nslab, nslab0, 10.88.0.0/16
//   nat::Acquire(n, id);                              // the table, if first
//   nat::Publish(n, id, {nat::ParsePublish("8080:80")}, "10.88.0.2");
//   nat::Release(n, id);                              // its rules; the table, if last
#ifndef NSLAB_COMMON_NAT_H_
#define NSLAB_COMMON_NAT_H_

#include <cstdint>
#include <string>
#include <vector>

namespace nslab::nat {

struct Network {
  std::string table = "nslab";
  std::string bridge = "nslab0";
  std::string subnet = "10.88.0.0/16";
  std::string state_dir = "/run/nslab/nat";  // owner files and the lock
};

// -p [IP:]HOSTPORT:CONTAINERPORT[/tcp|/udp]
struct PortMapping {
  std::string host_ip;  // "" = every local address
  uint16_t host_port = 0;
  uint16_t container_port = 0;
  std::string proto = "tcp";
  std::string ToString() const;  // back to the -p form
};
// Throws UsageError naming the spec and what is wrong in it.
PortMapping ParsePublish(const std::string& spec);

// The nft commands (text, one transaction) that create the table: the nat base
// chains, the jump to `publish` for local destinations, masquerade of the subnet
// leaving by any other interface, and of 127.0.0.0/8 leaving by the bridge.
std::string TableCommands(const Network& n);
// The rule that publishes one mapping of container `id` to `container_ip`.
std::string PublishCommand(const Network& n, const std::string& id, const PortMapping& p,
                           const std::string& container_ip);

// Runs nft commands through libnftables in the caller's network namespace; returns
// its output (JSON when json). Throws std::runtime_error with nft's first error line:
//   nft "add rule ip nslab publish ...": Error: Could not process rule: No such file...
std::string RunNft(const std::string& commands, bool json = false);

bool TableExists(const Network& n);
// One call removes every rule of ours: `delete table ip nslab` (nothing when absent).
void RemoveTable(const Network& n);

// Container `id` needs NAT: records it and creates the table when absent.
void Acquire(const Network& n, const std::string& id);
// Removes `id`'s published ports and its record; deletes the table when no other
// container holds one. Idempotent (rm -f runs it whatever the state).
void Release(const Network& n, const std::string& id);
// The containers holding the table.
std::vector<std::string> Owners(const Network& n);

// Adds `id`'s DNAT rules, in one transaction (all or none). A mapping reachable on
// 127.0.0.1 sets route_localnet on the bridge (see above).
void Publish(const Network& n, const std::string& id, const std::vector<PortMapping>& ports,
             const std::string& container_ip);
// Deletes every rule commented "nslab:<id>"; returns how many.
int Unpublish(const Network& n, const std::string& id);

// Is IPv4 forwarding on in this network namespace? Outbound NAT needs it; we never
// change a host sysctl, so the engine says what to run instead.
bool ForwardingEnabled();

}  // namespace nslab::nat

#endif  // NSLAB_COMMON_NAT_H_
