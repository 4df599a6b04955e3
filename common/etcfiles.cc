#include "common/etcfiles.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/openat2.h>  // struct open_how, RESOLVE_*
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sstream>

#include "common/error.h"
#include "common/fd.h"
#include "common/narrate.h"

namespace nslab::etcfiles {
namespace {

std::string StripPrefix(const std::string& cidr) { return cidr.substr(0, cidr.find('/')); }

// A name server the container cannot reach: the host's loopback (127.0.0.0/8, ::1).
bool IsLoopback(const std::string& addr) {
  in_addr a4;
  if (inet_pton(AF_INET, addr.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  in6_addr a6;
  if (inet_pton(AF_INET6, addr.c_str(), &a6) == 1) return IN6_IS_ADDR_LOOPBACK(&a6);
  return false;
}

std::vector<std::string> Words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

int OpenInRoot(int root, const std::string& path, int flags) {
  open_how how{};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  // RESOLVE_IN_ROOT: "/", ".." and absolute symlinks stay inside root, as if root
  // were "/" (a chroot for this one lookup); magic links (/proc/self/...) refused.
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(syscall(SYS_openat2, root, path.c_str(), &how, sizeof how));
}

}  // namespace

std::string Hosts(const std::string& hostname, const std::string& name, const std::string& ip,
                  const std::vector<Peer>& peers) {
  std::string out =
      "127.0.0.1\tlocalhost\n"
      "::1\tlocalhost ip6-localhost ip6-loopback\n"
      "fe00::0\tip6-localnet\n"
      "ff00::0\tip6-mcastprefix\n"
      "ff02::1\tip6-allnodes\n"
      "ff02::2\tip6-allrouters\n";
  if (!ip.empty()) {
    out += StripPrefix(ip) + "\t" + hostname;
    if (!name.empty() && name != hostname) out += " " + name;
    out += "\n";
  }
  for (const auto& p : peers) {
    if (p.ip.empty() || p.names.empty() || StripPrefix(p.ip) == StripPrefix(ip)) continue;
    out += StripPrefix(p.ip) + "\t";
    for (size_t i = 0; i < p.names.size(); ++i) out += (i ? " " : "") + p.names[i];
    out += "\n";
  }
  return out;
}

std::string ResolvConf(const std::string& host_text) {
  std::string out, dropped;
  bool any = false;
  std::istringstream in(host_text);
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> w = Words(line);
    if (w.size() >= 2 && w[0] == "nameserver") {
      if (IsLoopback(w[1])) {
        dropped += (dropped.empty() ? "" : " ") + w[1];
        continue;
      }
      any = true;
    }
    out += line + "\n";
  }
  if (!dropped.empty())
    out = "# nslab: dropped the host's loopback name servers (" + dropped +
          "): unreachable from the container's network namespace\n" + out;
  if (!any) out += "nameserver 8.8.8.8\nnameserver 8.8.4.4\n";  // Docker's fallback
  return out;
}

std::string HostResolvConfPath() {
  const std::string etc = "/etc/resolv.conf", resolved = "/run/systemd/resolve/resolv.conf";
  try {
    std::istringstream in(ReadFile(etc));
    bool only_stub = false;
    for (std::string line; std::getline(in, line);) {
      std::vector<std::string> w = Words(line);
      if (w.size() >= 2 && w[0] == "nameserver") {
        if (w[1] != "127.0.0.53") return etc;
        only_stub = true;
      }
    }
    struct stat st;
    if (only_stub && stat(resolved.c_str(), &st) == 0) return resolved;
  } catch (const std::exception&) {
  }
  return etc;
}

std::string Hostname(const std::string& hostname) { return hostname + "\n"; }

Files For(const std::string& hostname, const std::string& name, const std::string& ip,
          const std::vector<Peer>& peers, const std::string& host_resolv_conf) {
  return {Hosts(hostname, name, ip, peers), Hostname(hostname), ResolvConf(host_resolv_conf)};
}

void WriteInPlace(const std::string& path, const std::string& content) {
  // O_TRUNC on the same inode: a bind mount of it sees the new content.
  UniqueFd fd = Open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0644);
  WriteAll(fd.Get(), content, path);
}

void Write(const std::string& dir, const Files& f) {
  WriteInPlace(dir + "/hosts", f.hosts);
  WriteInPlace(dir + "/hostname", f.hostname);
  WriteInPlace(dir + "/resolv.conf", f.resolv_conf);
}

void RefreshHosts(const std::vector<Member>& members) {
  for (const auto& m : members) {
    std::vector<Peer> peers;
    for (const auto& other : members) {
      if (&other == &m || other.ip.empty()) continue;
      Peer p{other.ip, {other.hostname}};
      if (!other.name.empty() && other.name != other.hostname) p.names.push_back(other.name);
      peers.push_back(p);
    }
    WriteInPlace(m.dir + "/hosts", Hosts(m.hostname, m.name, m.ip, peers));
  }
}

void BindInChild(const std::string& dir, const std::string& root) {
  UniqueFd rootfd = Open(root, O_RDONLY | O_DIRECTORY);
  int etc = OpenInRoot(rootfd.Get(), "etc", O_RDONLY | O_DIRECTORY);
  if (etc < 0 && errno == ENOENT) {
    Check(mkdirat(rootfd.Get(), "etc", 0755), "mkdirat", root + "/etc");
    etc = OpenInRoot(rootfd.Get(), "etc", O_RDONLY | O_DIRECTORY);
  }
  UniqueFd etcfd(Check(etc, "openat2", root + "/etc (RESOLVE_IN_ROOT)"));
  for (const char* file : {"hosts", "hostname", "resolv.conf"}) {
    const std::string shown = root + "/etc/" + file;
    // Resolved inside root: a symlink in the image may lead anywhere in the image,
    // never out of it. Absent: an empty file as the mount point (O_NOFOLLOW: not
    // through a dangling symlink).
    const std::string rel = std::string("etc/") + file;
    int fd = OpenInRoot(rootfd.Get(), rel, O_PATH);
    if (fd < 0 && errno == ENOENT) {
      int made = openat(etcfd.Get(), file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                        0644);
      if (made < 0 && errno == EEXIST)
        throw UsageError("the image's /etc/" + std::string(file) +
                         " is a symlink to nothing in the image: cannot mount over it");
      UniqueFd owned(Check(made, "openat", shown));
      fd = OpenInRoot(rootfd.Get(), rel, O_PATH);
    }
    UniqueFd target(Check(fd, "openat2", shown + " (RESOLVE_IN_ROOT)"));
    struct stat st;
    Check(fstat(target.Get(), &st), "fstat", shown);
    if (!S_ISREG(st.st_mode))
      throw UsageError("the image's /etc/" + std::string(file) +
                       " is not a regular file: cannot mount over it");
    const std::string via = "/proc/self/fd/" + std::to_string(target.Get());
    const std::string source = dir + "/" + file;
    narrate::Syscall("mount", "\"" + source + "\", \"" + shown + "\" (" + via + "), MS_BIND");
    Check(mount(source.c_str(), via.c_str(), nullptr, MS_BIND, nullptr), "mount", shown);
  }
}

}  // namespace nslab::etcfiles
