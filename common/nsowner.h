// nsowner — who owns which namespace: the ioctl_ns(2) requests on /proc/PID/ns/* fds.
//
// Every namespace that is not a user namespace is owned by one user namespace (the
// one its creator was in); every user namespace but the initial one has a parent and
// an owner uid (the creator's euid). The kernel answers these questions through
// ioctl(2) on a namespace fd: NS_GET_USERNS and NS_GET_PARENT return a new fd of the
// owning / parent namespace, NS_GET_NSTYPE its CLONE_NEW* kind, NS_GET_OWNER_UID the
// owner's uid as the caller's user namespace sees it. lsns's ONS and PNS columns are
// the same ioctls.
//
//   UniqueFd fd = nsowner::OpenNs(pid, "uts");
//   ino_t owner = nsowner::Inode(nsowner::Owner(fd.Get()).Get());  // its user ns
//   std::string tree = nsowner::RenderTree(nsowner::Collect({getpid(), pid}));
//
// Read: ioctl_ns(2), user_namespaces(7), namespaces(7), lsns(8).
#ifndef NSLAB_COMMON_NSOWNER_H_
#define NSLAB_COMMON_NSOWNER_H_

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "common/fd.h"

namespace nslab::nsowner {

// The kinds Collect looks at, user first.
extern const std::vector<std::string> kKinds;  // user, uts, pid, mnt

// open(2) of /proc/PID/ns/KIND, O_RDONLY (a namespace fd is all the ioctls need).
UniqueFd OpenNs(pid_t pid, const std::string& kind);
// fstat(2): the namespace's inode number, as in `stat -L /proc/PID/ns/KIND`.
ino_t Inode(int ns_fd);
// NS_GET_NSTYPE: "user", "uts", "pid", "mnt", "net", "ipc", "cgroup", "time".
std::string Type(int ns_fd);
// NS_GET_USERNS: an fd of the user namespace that owns the namespace (on a user
// namespace fd: its parent, as NS_GET_PARENT says), or an invalid fd when that is
// above the caller's own user namespace (EPERM).
UniqueFd Owner(int ns_fd);
// NS_GET_PARENT of a user (or pid) namespace: its parent, or an invalid fd at the top
// of what the caller may see (EPERM: the initial namespace, or a parent outside the
// caller's own user namespace, as under Bazel's sandbox).
UniqueFd Parent(int ns_fd);
// NS_GET_OWNER_UID of a user namespace: the creator's euid, in the caller's terms
// (65534, the overflow uid, if the caller's namespace does not map it).
uid_t OwnerUid(int userns_fd);

// One namespace some process is in.
struct Ns {
  std::string kind;       // "uts"
  ino_t ino = 0;
  ino_t owner = 0;        // the owning user namespace (user ns: its parent); 0: out of view
  uid_t owner_uid = 0;    // user namespaces only: NS_GET_OWNER_UID
  std::vector<pid_t> pids;  // which of the pids asked about are in it
};

// Reads kKinds of every pid, and the chain of parents of their user namespaces up to
// the top the caller can see. Keyed by "kind:[ino]", the way /proc/PID/ns links read.
std::map<std::string, Ns> Collect(const std::vector<pid_t>& pids);

// The ownership tree: each user namespace, indented under its parent, with its owner
// uid, the pids in it, and the namespaces of other kinds it owns:
//   user:[4026531837] owner uid 0, top (pids 10)
//     owns uts:[4026531838] (pids 10)
//     user:[4026532712] owner uid 0 (pids 11)
//       owns uts:[4026532713] (pids 11)
std::string RenderTree(const std::map<std::string, Ns>& nss);

// "user:[4026531837]".
std::string Name(const std::string& kind, ino_t ino);

}  // namespace nslab::nsowner

#endif  // NSLAB_COMMON_NSOWNER_H_
