// nslab-net — the network helper of lab 11: outbound NAT and published ports in
// nftables (common/nat), and a container's /etc files (common/etcfiles).
//
// Why a binary of its own: 11_container is linked statically (issue 9), and Debian
// ships libnftables (and libmnl under libnftnl) only as shared libraries. So the
// engine execs this small dynamic program for the nftables steps, as podman execs
// netavark and containerd its CNI plugins — a program of ours speaking to the kernel
// through nftables' library, never `nft` through a shell. It acts in the network
// namespace it runs in (nftables is per namespace), which is how the tests and
// docs/11_network.md run it inside namespaces of their own.
//
//   nslab-net nat-up ID                  # the table (if first) + ID's owner record
//   nslab-net publish ID 10.88.0.2 8080:80 127.0.0.1:5353:53/udp
//   nslab-net show                       # table ip nslab, as nft prints it
//   nslab-net nat-down ID                # ID's rules; the table with the last owner
//   nslab-net etc HOSTNAME NAME IP [PEER=IP...]   # hosts + resolv.conf, printed
//
// Read: common/nat.h, common/etcfiles.h, nft(8), netavark's README.
#include <CLI/CLI.hpp>
#include <iostream>

#include "common/error.h"
#include "common/etcfiles.h"
#include "common/fd.h"
#include "common/lab.h"
#include "common/nat.h"
#include "common/narrate.h"

using namespace nslab;

int main(int argc, char** argv) {
  SetProgramName("nslab-net");
  CLI::App app{"nslab-net: nftables NAT, published ports and /etc files for lab 11's bridge"};
  app.require_subcommand(1, 1);
  nat::Network n;
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "Narrate each nftables transaction");
  app.add_option("--bridge", n.bridge, "The containers' bridge")->capture_default_str();
  app.add_option("--subnet", n.subnet, "The bridge's subnet")->capture_default_str();
  app.add_option("--table", n.table, "Our nftables table (family ip)")->capture_default_str();
  app.add_option("--state-dir", n.state_dir, "Owner records and the lock")->capture_default_str();

  std::string id, ip;
  std::vector<std::string> specs, peers;
  auto* up = app.add_subcommand("nat-up", "Container ID needs NAT: the table, if absent");
  up->add_option("id", id, "Container id")->required();
  auto* down = app.add_subcommand("nat-down", "Container ID is gone: its rules; the table if last");
  down->add_option("id", id, "Container id")->required();
  auto* publish = app.add_subcommand("publish", "DNAT rules: ID CONTAINER_IP [IP:]HP:CP[/udp]...");
  publish->add_option("id", id, "Container id")->required();
  publish->add_option("ip", ip, "The container's address")->required();
  publish->add_option("ports", specs, "-p specs")->required();
  auto* unpublish = app.add_subcommand("unpublish", "Remove container ID's DNAT rules");
  unpublish->add_option("id", id, "Container id")->required();
  auto* show = app.add_subcommand("show", "Print our table as nft lists it");
  std::string hostname, name;
  auto* etc = app.add_subcommand("etc", "Print /etc/hosts and /etc/resolv.conf for a container");
  etc->add_option("hostname", hostname, "Its hostname")->required();
  etc->add_option("name", name, "Its name")->required();
  etc->add_option("ip", ip, "Its address")->required();
  etc->add_option("peers", peers, "Other containers: NAME=IP");

  if (std::optional<int> code = lab::Parse(app, argc, argv, 125)) return *code;
  narrate::Configure(false, verbose);
  try {
    if (*up) nat::Acquire(n, id);
    if (*down) nat::Release(n, id);
    if (*publish) {
      std::vector<nat::PortMapping> ports;
      for (const auto& s : specs) ports.push_back(nat::ParsePublish(s));  // all checked first
      nat::Publish(n, id, ports, ip);
      if (!nat::ForwardingEnabled())
        std::cerr << "nslab-net: note: net.ipv4.ip_forward is 0 here: only the host itself "
                     "reaches published ports (sysctl -w net.ipv4.ip_forward=1)\n";
    }
    if (*unpublish) std::cout << nat::Unpublish(n, id) << " rule(s) removed\n";
    if (*show && nat::TableExists(n)) std::cout << nat::RunNft("list table ip " + n.table + "\n");
    if (*etc) {
      std::vector<etcfiles::Peer> list;
      for (const auto& p : peers) {
        size_t eq = p.find('=');
        if (eq == std::string::npos) throw UsageError("peer \"" + p + "\": use NAME=IP");
        list.push_back({p.substr(eq + 1), {p.substr(0, eq)}});
      }
      etcfiles::Files f = etcfiles::For(hostname, name, ip, list,
                                        ReadFile(etcfiles::HostResolvConfPath()));
      std::cout << "# /etc/hosts\n" << f.hosts << "# /etc/resolv.conf (from "
                << etcfiles::HostResolvConfPath() << ")\n" << f.resolv_conf;
    }
    return 0;
  } catch (const std::exception& e) {
    return ReportError(e, 125);
  }
}
