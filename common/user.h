// user — user namespaces and their uid/gid maps: root inside, unprivileged outside.
//
// Teaches: a user namespace gives its first process every capability *over the
// namespaces it owns*, but no power on the host. Which ids exist inside is set once,
// by writing /proc/PID/uid_map and gid_map ("0 65534 1": uid 0 inside is 65534
// outside). Until then the child is "nobody" (overflowuid 65534) with no usable ids,
// so it waits on the sync pipe while its parent writes the maps (the pattern of lab
// 03). An unprivileged writer may map only its own id, and for gid_map must first
// write "deny" to /proc/PID/setgroups (since Linux 3.19, CVE-2014-8989: a process
// could otherwise drop a supplementary group that was denying it access). Each map
// file can be written exactly once; a second write fails with EPERM. Files created
// inside belong, on disk, to the *outside* uid.
// Read: user_namespaces(7) (sections "User and group ID mappings" and "Interaction
// with system calls"), newuidmap(1), subuid(5), setgroups(2), capabilities(7).
//
//   user::CheckUserNamespacesEnabled();
//   process::Child child = process::Clone({CLONE_NEWUSER | ...}, [&] {
//     user::SetupInChild();               // setresgid/setresuid(0): root inside
//     return process::Exec(cmd);
//   });
//   user::WriteMapsFromParent(child.pid(), 65534, 65534);
//   child.Go();
#ifndef NSLAB_COMMON_USER_H_
#define NSLAB_COMMON_USER_H_

#include <sys/types.h>

#include <string>

#include "common/fd.h"

namespace nslab::user {

// Fails with one clear line (UsageError) when this kernel cannot create user
// namespaces for us: /proc/sys/user/max_user_namespaces is 0, or Debian's
// kernel.unprivileged_userns_clone is 0 and we are not root.
void CheckUserNamespacesEnabled();

// One map line: `inside outside count` ("0 65534 1").
std::string MapLine(unsigned inside, unsigned outside, unsigned count = 1);

// Runs in the parent while the child waits: writes /proc/PID/uid_map ("0 uid 1"),
// then "deny" to /proc/PID/setgroups when the writer lacks CAP_SETGID in the parent
// namespace (an unprivileged user), then /proc/PID/gid_map ("0 gid 1"). Errors name
// the file written and the reason (EPERM: written twice, or the id is not ours to map).
void WriteMapsFromParent(pid_t child, uid_t outside_uid, gid_t outside_gid);
// The same for a whole block: "0 uid count" and "0 gid count" (issue 13: a range of
// host ids per container, common/subid.h). Needs root (CAP_SETUID/CAP_SETGID over
// the parent namespace) for count > 1.
void WriteMapsFromParent(pid_t child, uid_t outside_uid, gid_t outside_gid, unsigned count);

// Writes one map file (uid_map or gid_map) of `child`; used by WriteMapsFromParent.
void WriteMapFile(pid_t child, const std::string& file, const std::string& line);
// Writes "deny" (or "allow") to /proc/PID/setgroups. A kernel without the file
// (before 3.19) is fine: ENOENT is ignored, as bubblewrap does.
void WriteSetgroupsFromParent(pid_t child, const std::string& value);

// Runs in the child after the maps are written: setgroups([]) when allowed, then
// setresgid(0,0,0) and setresuid(0,0,0) — become root of the namespace, so that
// files it creates and `id` show uid 0 inside. The id change clears
// PR_SET_PDEATHSIG; it is armed again.
void SetupInChild();

// The outside uid/gid the lab maps root to when --uid/--gid are not given: 65534
// (nobody) when run as root, else the invoking user's own ids (the only ones an
// unprivileged user may map).
uid_t DefaultOutsideUid();
gid_t DefaultOutsideGid();

// Makes `path` (the per-run directory) the outside uid's, so that root inside — who
// is that uid on the host and has no power over host-owned inodes — can walk into
// it and mount the rootfs there. A no-op when not root (it is ours already).
void ChownForChild(const std::string& path, uid_t outside_uid, gid_t outside_gid);

// Per-run state for an unprivileged user: /run/nslab is root's, so when not root
// and NSLAB_RUN_DIR is unset, sets it to $XDG_RUNTIME_DIR/nslab, or /tmp/nslab-UID.
// Returns the base chosen ("" when nothing changed).
std::string UseOwnRunDirIfUnprivileged();

// The first line of /proc/PID/uid_map (or gid_map), spaces squeezed: "0 65534 1".
std::string ReadMap(pid_t pid, const std::string& file = "uid_map");

// --- Lab 09's demo ---

// Run by the child after SetupInChild: who it is inside its user namespace (uid,
// gid, its /proc/self/uid_map) and its effective capabilities — all of them, but
// over the namespaces it owns only.
void ShowInChild();

}  // namespace nslab::user

#endif  // NSLAB_COMMON_USER_H_
