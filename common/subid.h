// subid — a range of host ids of its own for each --user container, from /etc/subuid
// and /etc/subgid, as Docker's userns-remap and podman allocate them.
//
// Teaches: mapping every container's root to the host's shared `nobody` (65534) makes
// all of them — and every host process that runs as nobody — the same user to the
// kernel: any of them may signal or ptrace the others. subuid(5) and subgid(5) hand a
// user ranges of host ids that no account uses ("nslab:100000:655360"); root, which
// may write any map, takes one block of 65536 ids per container from the range of
// the user `nslab` (or `root`), so no two containers, and no host account, share an
// id. A block is reserved by creating a file named after its first host uid with
// O_EXCL under /run/nslab/userns (as the network addresses are), released when the
// container ends. An unprivileged user cannot write such maps itself: newuidmap(1)
// and newgidmap(1) (setuid root, package uidmap) write them for it after checking
// its own /etc/subuid line — what podman's rootless mode runs from the parent while
// the child waits.
// Read: user_namespaces(7), subuid(5), subgid(5), newuidmap(1), Docker's
// "Isolate containers with a user namespace" (userns-remap).
//
//   if (auto block = subid::Reserve(subid::StateDir(), id))   // nullopt: no entry
//     user::WriteMapsFromParent(pid, block->uid, block->gid, block->count);
//   ...
//   subid::Release(subid::StateDir(), id);                    // when it has ended
#ifndef NSLAB_COMMON_SUBID_H_
#define NSLAB_COMMON_SUBID_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace nslab::subid {

inline constexpr uint32_t kIdsPerContainer = 65536;

struct Range {
  uint32_t start = 0, count = 0;
};

// $NSLAB_SUBUID / $NSLAB_SUBGID (for tests: the host's files are never edited), else
// /etc/subuid and /etc/subgid.
std::string SubUidPath();
std::string SubGidPath();
// Where reservations live: /run/nslab/userns (host-wide, whatever NSLAB_STATE_DIR).
std::string StateDir();

// The first "NAME:START:COUNT" line of a subuid(5)-format text whose name is one of
// `names` (in the order of `names`); nullopt when none.
std::optional<Range> Parse(const std::string& text, const std::vector<std::string>& names);

// One container's block: uid/gid maps "0 uid count" and "0 gid count".
struct Block {
  uint32_t uid = 0, gid = 0, count = kIdsPerContainer;
};

// Reserves a free block of the `nslab` (else `root`) ranges for container id, or
// nullopt when neither file has such a line (the caller falls back to 65534 and
// says so). A reservation whose container's state directory is gone is stale and
// taken over. Throws ExitCodeError(125) when every block is in use.
std::optional<Block> Reserve(const std::string& dir, const std::string& id,
                             const std::string& state_base);
// The block reserved for id, if any.
std::optional<Block> Find(const std::string& dir, const std::string& id);
// Removes id's reservation (idempotent; errors ignored: it runs from cleanup).
void Release(const std::string& dir, const std::string& id);

}  // namespace nslab::subid

#endif  // NSLAB_COMMON_SUBID_H_
