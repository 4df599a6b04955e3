// etcfiles — the three files every container expects in /etc and no image can
// know: /etc/hosts (its own name and the other containers'), /etc/hostname, and
// /etc/resolv.conf (the host's name servers, minus the ones it cannot reach).
//
// Teaches: the image's /etc/hosts names nobody; the runtime writes these files per
// container, in its state directory, and bind-mounts each over the image's file
// (docker and podman do the same: `findmnt` inside a container lists /etc/hosts as a
// mount). A bind-mounted file is an inode, not a name: to update it (a container
// joins the bridge, the others must learn its name) rewrite it in place — truncate
// and write — never rename a new file over it, or the container keeps the old inode.
// resolv.conf: a name server on 127.0.0.x (systemd-resolved's 127.0.0.53, dnsmasq)
// is the *host's* loopback, which in the container's network namespace is its own
// loopback with nothing listening: such lines are dropped, and when none is left
// Docker's fallback (8.8.8.8, 8.8.4.4) is used. The mount targets are opened inside
// the root with openat2(RESOLVE_IN_ROOT): an image whose /etc/hosts is a symlink to
// "/../../etc/shadow" gets its own file covered, never the host's.
// Read: hosts(5), resolv.conf(5), hostname(5), openat2(2), mount(2) MS_BIND,
// moby's libnetwork/resolvconf (the loopback filter).
//
//   etcfiles::Files f = etcfiles::For("web", "web", "10.88.0.2", peers, ReadFile(etcfiles::HostResolvConfPath()));
//   etcfiles::Write(state::Dir(id), f);
//   etcfiles::BindInChild(state::Dir(id), "/run/nslab/<id>/rootfs");   // before pivot_root
#ifndef NSLAB_COMMON_ETCFILES_H_
#define NSLAB_COMMON_ETCFILES_H_

#include <string>
#include <vector>

namespace nslab::etcfiles {

// Another container on the bridge, for /etc/hosts.
struct Peer {
  std::string ip;  // "10.88.0.3" (a CIDR's prefix is dropped)
  std::vector<std::string> names;
};

// /etc/hosts: localhost lines as Docker writes them, the container's own address
// with its hostname (and its name, when different), then each peer.
std::string Hosts(const std::string& hostname, const std::string& name, const std::string& ip,
                  const std::vector<Peer>& peers);

// /etc/resolv.conf from the host's text: loopback name servers dropped (a comment
// says so), search/options kept; 8.8.8.8 and 8.8.4.4 when no name server is left.
std::string ResolvConf(const std::string& host_text);
// The host's file to start from: /etc/resolv.conf, or systemd-resolved's list of
// upstream servers (/run/systemd/resolve/resolv.conf) when /etc/resolv.conf names
// only its 127.0.0.53 stub.
std::string HostResolvConfPath();

std::string Hostname(const std::string& hostname);

struct Files {
  std::string hosts, hostname, resolv_conf;
};
// All three for a container.
Files For(const std::string& hostname, const std::string& name, const std::string& ip,
          const std::vector<Peer>& peers, const std::string& host_resolv_conf);

// Writes dir/hosts, dir/hostname, dir/resolv.conf, each in place (see above).
void Write(const std::string& dir, const Files& files);
// Truncates and rewrites `path` (created 0644 when absent), keeping its inode.
void WriteInPlace(const std::string& path, const std::string& content);

// Containers on one bridge reach each other by name: when one starts or goes, the
// engine calls this with every running one, and each one's dir/hosts is rewritten in
// place (its own line, then all the others).
struct Member {
  std::string dir;  // its state directory (holding hosts)
  std::string hostname, name, ip;
};
void RefreshHosts(const std::vector<Member>& members);

// In the container's mount namespace, before pivot_root: bind-mounts dir/{hosts,
// hostname,resolv.conf} over root/etc/..., each target resolved inside root
// (openat2 RESOLVE_IN_ROOT) and created as an empty file when absent; /etc is made
// when the image lacks it. Mounting through /proc/self/fd/N (the opened target)
// means the path cannot be swapped between the check and the mount.
void BindInChild(const std::string& dir, const std::string& root);

}  // namespace nslab::etcfiles

#endif  // NSLAB_COMMON_ETCFILES_H_
