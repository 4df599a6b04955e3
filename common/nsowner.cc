// nsowner — the ioctl_ns(2) requests, and the ownership tree built from them.
// Read: ioctl_ns(2), user_namespaces(7).
#include "common/nsowner.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <functional>
#include <set>

#include "common/error.h"

namespace nslab::nsowner {

const std::vector<std::string> kKinds = {"user", "uts", "pid", "mnt"};

namespace {

std::string FdArg(int fd) { return "fd " + std::to_string(fd); }

std::string Pids(const std::vector<pid_t>& pids) {
  if (pids.empty()) return "";
  std::string s = pids.size() == 1 ? " (pid " : " (pids ";
  for (size_t i = 0; i < pids.size(); ++i) s += (i ? " " : "") + std::to_string(pids[i]);
  return s + ")";
}

}  // namespace

std::string Name(const std::string& kind, ino_t ino) {
  return kind + ":[" + std::to_string(ino) + "]";
}

UniqueFd OpenNs(pid_t pid, const std::string& kind) {
  // The /proc/PID/ns/KIND link opens the namespace itself (an nsfs inode), not a
  // file: holding the fd keeps the namespace alive even after the process exits.
  const std::string path = "/proc/" + std::to_string(pid) + "/ns/" + kind;
  return UniqueFd(Check(open(path.c_str(), O_RDONLY | O_CLOEXEC), "open", path));
}

ino_t Inode(int ns_fd) {
  struct stat st;
  Check(fstat(ns_fd, &st), "fstat", FdArg(ns_fd));
  return st.st_ino;
}

std::string Type(int ns_fd) {
  // NS_GET_NSTYPE answers with the CLONE_NEW* flag of the kind (Linux 4.11).
  const int t = Check(ioctl(ns_fd, NS_GET_NSTYPE), "ioctl", "NS_GET_NSTYPE");
  switch (t) {
    case CLONE_NEWUSER: return "user";
    case CLONE_NEWUTS: return "uts";
    case CLONE_NEWPID: return "pid";
    case CLONE_NEWNS: return "mnt";
    case CLONE_NEWNET: return "net";
    case CLONE_NEWIPC: return "ipc";
    case CLONE_NEWCGROUP: return "cgroup";
#ifdef CLONE_NEWTIME
    case CLONE_NEWTIME: return "time";
#endif
  }
  return "type " + std::to_string(t);
}

UniqueFd Owner(int ns_fd) {
  // A new fd of the owning user namespace (Linux 4.9): the one whose capabilities
  // govern this namespace (sethostname in a uts ns needs CAP_SYS_ADMIN *there*).
  const int fd = ioctl(ns_fd, NS_GET_USERNS);
  // EPERM: the owner is above our own user namespace (a sandbox's uts namespace made
  // by its creator's user namespace): out of our view, as for NS_GET_PARENT.
  if (fd < 0 && errno == EPERM) return UniqueFd();
  return UniqueFd(Check(fd, "ioctl", "NS_GET_USERNS"));
}

UniqueFd Parent(int ns_fd) {
  const int fd = ioctl(ns_fd, NS_GET_PARENT);
  // EPERM is the top of our view, not an error: the kernel does not let a process
  // climb above its own user namespace's ancestors it cannot see.
  if (fd < 0 && errno == EPERM) return UniqueFd();
  return UniqueFd(Check(fd, "ioctl", "NS_GET_PARENT"));
}

uid_t OwnerUid(int userns_fd) {
  uid_t uid = 0;
  Check(ioctl(userns_fd, NS_GET_OWNER_UID, &uid), "ioctl", "NS_GET_OWNER_UID");
  return uid;
}

std::map<std::string, Ns> Collect(const std::vector<pid_t>& pids) {
  std::map<std::string, Ns> out;
  // A user namespace and its parents, up to the top we can see.
  std::function<ino_t(UniqueFd)> add_user = [&](UniqueFd fd) -> ino_t {
    const ino_t ino = Inode(fd.Get());
    const std::string key = Name("user", ino);
    if (out.count(key)) return ino;
    Ns& ns = out[key];
    ns.kind = "user";
    ns.ino = ino;
    ns.owner_uid = OwnerUid(fd.Get());
    UniqueFd parent = Parent(fd.Get());
    const ino_t up = parent.Valid() ? add_user(std::move(parent)) : 0;
    ns.owner = up;  // std::map keeps references valid while the recursion inserts
    return ino;
  };
  for (pid_t pid : pids) {
    for (const std::string& kind : kKinds) {
      UniqueFd fd = OpenNs(pid, kind);
      const std::string type = Type(fd.Get());
      if (type != kind)
        throw SysError(EINVAL, "ioctl", "NS_GET_NSTYPE of /proc/" + std::to_string(pid) +
                                           "/ns/" + kind + " says " + type);
      const ino_t ino = Inode(fd.Get());
      if (kind == "user") {
        add_user(std::move(fd));
      } else if (!out.count(Name(kind, ino))) {
        Ns& ns = out[Name(kind, ino)];
        ns.kind = kind;
        ns.ino = ino;
        UniqueFd owner = Owner(fd.Get());
        ns.owner = owner.Valid() ? add_user(std::move(owner)) : 0;
      }
      out[Name(kind, ino)].pids.push_back(pid);
    }
  }
  return out;
}

std::string RenderTree(const std::map<std::string, Ns>& nss) {
  std::set<ino_t> users;
  for (const auto& [key, ns] : nss)
    if (ns.kind == "user") users.insert(ns.ino);
  std::string out;
  std::function<void(const Ns&, int)> show = [&](const Ns& u, int depth) {
    const std::string pad(2 * depth, ' ');
    out += pad + Name("user", u.ino) + " owner uid " + std::to_string(u.owner_uid) +
           (u.owner == 0 ? ", top" : "") + Pids(u.pids) + "\n";
    for (const std::string& kind : kKinds) {
      if (kind == "user") continue;
      for (const auto& [key, ns] : nss)
        if (ns.kind == kind && ns.owner == u.ino)
          out += pad + "  owns " + key + Pids(ns.pids) + "\n";
    }
    for (const auto& [key, ns] : nss)
      if (ns.kind == "user" && ns.owner == u.ino) show(ns, depth + 1);
  };
  for (const auto& [key, ns] : nss)
    if (ns.kind == "user" && (ns.owner == 0 || !users.count(ns.owner))) show(ns, 0);
  for (const auto& [key, ns] : nss)
    if (ns.kind != "user" && ns.owner == 0)
      out += key + " owned by a user namespace above our view" + Pids(ns.pids) + "\n";
  return out;
}

}  // namespace nslab::nsowner
