#include "common/nat.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <nftables/libnftables.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "common/error.h"
#include "common/fd.h"
#include "common/narrate.h"
#include "common/net.h"

namespace nslab::nat {
namespace {

// Names go into nft commands and file names: only a safe alphabet.
void CheckWord(const std::string& what, const std::string& s) {
  bool ok = !s.empty() && s.size() <= 64 &&
            std::all_of(s.begin(), s.end(), [](char c) {
              return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '_' || c == '-' || c == '.';
            });
  if (!ok) throw UsageError(what + " \"" + s + "\": use 1-64 of [A-Za-z0-9_.-]");
}

bool IsIpv4(const std::string& s) {
  in_addr a;
  return inet_pton(AF_INET, s.c_str(), &a) == 1;
}

uint16_t ParsePort(const std::string& spec, const std::string& s) {
  if (s.empty() || s.size() > 5 || !std::all_of(s.begin(), s.end(), ::isdigit))
    throw UsageError("-p \"" + spec + "\": \"" + s + "\" is not a port (1-65535)");
  unsigned long v = std::stoul(s);
  if (v < 1 || v > 65535)
    throw UsageError("-p \"" + spec + "\": \"" + s + "\" is not a port (1-65535)");
  return static_cast<uint16_t>(v);
}

void MakeDir(const std::string& path) {
  for (size_t pos = 1;; ++pos) {
    pos = path.find('/', pos);
    std::string part = path.substr(0, pos);
    if (mkdir(part.c_str(), 0755) < 0 && errno != EEXIST) Check(-1, "mkdir", part);
    if (pos == std::string::npos) break;
  }
}

// The state directory's lock: table creation and removal against concurrent CLIs.
UniqueFd Lock(const Network& n) {
  MakeDir(n.state_dir);
  UniqueFd fd = Open(n.state_dir + "/.lock", O_RDWR | O_CREAT, 0600);
  Check(flock(fd.Get(), LOCK_EX), "flock", n.state_dir + "/.lock");
  return fd;
}

void Validate(const Network& n) {
  CheckWord("nft table", n.table);
  net::CheckIfName(n.bridge);
  CheckWord("bridge", n.bridge);
  net::Subnet::Parse(n.subnet);
}

struct CtxFree {
  void operator()(nft_ctx* c) const { nft_ctx_free(c); }
};

std::string FirstLine(const std::string& s) {
  size_t start = s.find_first_not_of("\n");
  if (start == std::string::npos) return "";
  return s.substr(start, s.find('\n', start) - start);
}

}  // namespace

std::string PortMapping::ToString() const {
  return (host_ip.empty() ? "" : host_ip + ":") + std::to_string(host_port) + ":" +
         std::to_string(container_port) + "/" + proto;
}

PortMapping ParsePublish(const std::string& spec) {
  PortMapping p;
  std::string rest = spec;
  size_t slash = rest.find('/');
  if (slash != std::string::npos) {
    p.proto = rest.substr(slash + 1);
    rest.erase(slash);
    if (p.proto != "tcp" && p.proto != "udp")
      throw UsageError("-p \"" + spec + "\": protocol \"" + p.proto + "\": use tcp or udp");
  }
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t colon; (colon = rest.find(':', start)) != std::string::npos; start = colon + 1)
    parts.push_back(rest.substr(start, colon - start));
  parts.push_back(rest.substr(start));
  if (parts.size() < 2 || parts.size() > 3)
    throw UsageError("-p \"" + spec + "\": use [IP:]HOSTPORT:CONTAINERPORT[/udp]");
  if (parts.size() == 3) {
    p.host_ip = parts[0];
    if (!IsIpv4(p.host_ip))
      throw UsageError("-p \"" + spec + "\": \"" + p.host_ip + "\" is not an IPv4 address");
    parts.erase(parts.begin());
  }
  p.host_port = ParsePort(spec, parts[0]);
  p.container_port = ParsePort(spec, parts[1]);
  return p;
}

std::string TableCommands(const Network& n) {
  Validate(n);
  const std::string t = "ip " + n.table;
  const std::string br = "\"" + n.bridge + "\"";
  return "add table " + t + "\n" +
         // dstnat: rewrite the destination before routing decides where it goes.
         "add chain " + t + " prerouting { type nat hook prerouting priority dstnat; policy accept; }\n" +
         "add chain " + t + " output { type nat hook output priority -100; policy accept; }\n" +
         "add chain " + t + " postrouting { type nat hook postrouting priority srcnat; policy accept; }\n" +
         "add chain " + t + " publish\n" +
         // Only packets to one of this host's own addresses are candidates for -p.
         "add rule " + t + " prerouting fib daddr type local jump publish\n" +
         "add rule " + t + " output fib daddr type local jump publish\n" +
         // Out to the world: the containers' source becomes the host's.
         "add rule " + t + " postrouting ip saddr " + n.subnet + " oifname != " + br +
         " masquerade\n" +
         // The host's own 127.0.0.1:PORT, DNATed to a container: answerable only from
         // the bridge's address (see route_localnet in nat.h).
         "add rule " + t + " postrouting ip saddr 127.0.0.0/8 oifname " + br + " masquerade\n" +
         // A container reaching a published port of the host (hairpin): without this
         // the answer would come straight from the other container, unrecognised.
         "add rule " + t + " postrouting ip saddr " + n.subnet + " oifname " + br +
         " ct status dnat masquerade\n";
}

std::string PublishCommand(const Network& n, const std::string& id, const PortMapping& p,
                           const std::string& container_ip) {
  Validate(n);
  CheckWord("container id", id);
  if (!IsIpv4(container_ip))
    throw UsageError("container address \"" + container_ip + "\" is not IPv4");
  if (!p.host_ip.empty() && !IsIpv4(p.host_ip))
    throw UsageError("-p \"" + p.ToString() + "\": not an IPv4 address");
  if (p.proto != "tcp" && p.proto != "udp") throw UsageError("-p: use tcp or udp");
  return "add rule ip " + n.table + " publish " +
         (p.host_ip.empty() ? "" : "ip daddr " + p.host_ip + " ") + p.proto + " dport " +
         std::to_string(p.host_port) + " dnat to " + container_ip + ":" +
         std::to_string(p.container_port) + " comment \"nslab:" + id + "\"\n";
}

std::string RunNft(const std::string& commands, bool json) {
  narrate::Syscall("nft_run_cmd_from_buffer", "\"" + FirstLine(commands) + "...\"");
  std::unique_ptr<nft_ctx, CtxFree> ctx(nft_ctx_new(NFT_CTX_DEFAULT));
  if (!ctx) throw std::runtime_error("nft_ctx_new: out of memory");
  nft_ctx_buffer_output(ctx.get());
  nft_ctx_buffer_error(ctx.get());
  if (json) nft_ctx_output_set_flags(ctx.get(), NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_HANDLE);
  int rc = nft_run_cmd_from_buffer(ctx.get(), commands.c_str());
  const char* out = nft_ctx_get_output_buffer(ctx.get());
  const char* err = nft_ctx_get_error_buffer(ctx.get());
  if (rc != 0) {
    std::string why = FirstLine(err != nullptr ? err : "");
    if (why.empty()) why = "failed";
    if (why.find("Operation not permitted") != std::string::npos)
      why += " (hint: needs CAP_NET_ADMIN: run with sudo)";
    throw std::runtime_error("nft \"" + FirstLine(commands) + "\": " + why);
  }
  return out != nullptr ? out : "";
}

bool TableExists(const Network& n) {
  CheckWord("nft table", n.table);
  nlohmann::json j = nlohmann::json::parse(RunNft("list tables ip", true));
  for (const auto& item : j.at("nftables"))
    if (item.contains("table") && item["table"].value("name", "") == n.table) return true;
  return false;
}

void RemoveTable(const Network& n) {
  if (TableExists(n)) RunNft("delete table ip " + n.table + "\n");
}

std::vector<std::string> Owners(const Network& n) {
  std::vector<std::string> out;
  struct stat st;
  if (stat(n.state_dir.c_str(), &st) < 0) return out;
  for (const auto& name : ListDir(n.state_dir))
    if (name[0] != '.') out.push_back(name);
  return out;
}

void Acquire(const Network& n, const std::string& id) {
  Validate(n);
  CheckWord("container id", id);
  UniqueFd lock = Lock(n);
  const std::string owner = n.state_dir + "/" + id;
  { UniqueFd f = Open(owner, O_WRONLY | O_CREAT, 0644); }
  try {
    if (!TableExists(n)) {
      narrate::Step("nft: table ip " + n.table + " (masquerade " + n.subnet + ", -p chains)");
      RunNft(TableCommands(n));
    }
  } catch (...) {
    unlink(owner.c_str());
    throw;
  }
}

void Release(const Network& n, const std::string& id) {
  Validate(n);
  CheckWord("container id", id);
  UniqueFd lock = Lock(n);
  Unpublish(n, id);
  unlink((n.state_dir + "/" + id).c_str());
  if (Owners(n).empty()) {
    narrate::Step("nft: delete table ip " + n.table + " (the last container is gone)");
    RemoveTable(n);
  }
}

void Publish(const Network& n, const std::string& id, const std::vector<PortMapping>& ports,
             const std::string& container_ip) {
  if (ports.empty()) return;
  std::string commands;
  bool loopback = false;
  for (const auto& p : ports) {
    commands += PublishCommand(n, id, p, container_ip);
    loopback |= p.host_ip.empty() || p.host_ip.rfind("127.", 0) == 0;
  }
  RunNft(commands);  // one transaction: every mapping or none
  if (loopback) {
    // The sysctl of our own bridge, not the host's: see nat.h.
    const std::string sysctl = "/proc/sys/net/ipv4/conf/" + n.bridge + "/route_localnet";
    narrate::Syscall("write", "\"" + sysctl + "\", \"1\"");
    try {
      WriteFile(sysctl, "1");
    } catch (...) {
      Unpublish(n, id);
      throw;
    }
  }
}

int Unpublish(const Network& n, const std::string& id) {
  CheckWord("container id", id);
  if (!TableExists(n)) return 0;
  nlohmann::json j =
      nlohmann::json::parse(RunNft("list chain ip " + n.table + " publish", true));
  std::string commands;
  int count = 0;
  for (const auto& item : j.at("nftables")) {
    if (!item.contains("rule")) continue;
    const auto& rule = item["rule"];
    if (rule.value("comment", "") != "nslab:" + id) continue;
    commands += "delete rule ip " + n.table + " publish handle " +
                std::to_string(rule.at("handle").get<int64_t>()) + "\n";
    ++count;
  }
  if (count > 0) RunNft(commands);
  return count;
}

bool ForwardingEnabled() {
  try {
    return TrimNewlines(ReadFile("/proc/sys/net/ipv4/ip_forward")) == "1";
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace nslab::nat
