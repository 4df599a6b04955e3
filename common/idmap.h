// idmap — id maps of several ranges, the /etc/subuid allocation that lets an
// unprivileged user write them through newuidmap(1), and a non-root user inside.
//
// Teaches: a uid_map holds up to 340 lines "inside outside count" (lab 09 wrote one
// of one id). A process with CAP_SETUID in the parent namespace (root) may map any
// host ids: "0 100000 65536" gives the container 65536 users, none of them a host
// user (what podman and docker's userns-remap do). An unprivileged user may map only
// their own id — unless /etc/subuid grants them a range ("alice:100000:65536"), which
// the setuid helpers newuidmap/newgidmap check before writing the map for them.
// Inside, the runtime sets the container up as root of the namespace, then becomes
// the image's user (docker's -u): setgroups, setresgid, setresuid, in that order —
// after setuid to a non-zero id every capability is gone (capabilities(7)).
// Read: user_namespaces(7) "User and group ID mappings", newuidmap(1), subuid(5),
// setresuid(2), setgroups(2), capabilities(7).
//
//   idmap::Map uids = idmap::ParseMap({"0:100000:1000", "1000:65534:1"}, "--uid-map");
//   idmap::WriteFromParent(child.pid(), uids, gids);    // one write(2) per file
//   idmap::BecomeUserInChild({1000, 1000});              // after the setup, before exec
#ifndef NSLAB_COMMON_IDMAP_H_
#define NSLAB_COMMON_IDMAP_H_

#include <sys/types.h>

#include <string>
#include <vector>

namespace nslab::idmap {

struct Range {
  unsigned long inside = 0, outside = 0, count = 0;
};
using Map = std::vector<Range>;

// Parses "INSIDE:OUTSIDE:COUNT" items. Throws UsageError naming `flag` and the item
// when one is malformed, has count 0, overflows 32 bits, or overlaps another item
// inside or outside (the kernel would refuse with EINVAL), or when there are more
// than 340 items.
Map ParseMap(const std::vector<std::string>& items, const std::string& flag);
// The map file's text: one "inside outside count" line per range.
std::string Render(const Map& map);
// The outside id of `inside`, or -1 when the map does not cover it.
long long Outside(const Map& map, unsigned long inside);

// Writes the child's uid_map and gid_map, each in one write(2), as root (the
// writer needs CAP_SETUID/CAP_SETGID in the parent namespace to map other ids).
void WriteFromParent(pid_t child, const Map& uids, const Map& gids);

// /etc/subuid lines "name-or-uid:start:count" (subuid(5)) that belong to `user`
// (its name or its uid in decimal).
Map SubidRanges(const std::string& file_text, const std::string& user, uid_t uid);
// Is every outside range of `map` within the ranges allocated (or the user's own id)?
bool Covered(const Map& map, const Map& allocated, unsigned long own_id);
// Writes both maps with newuidmap/newgidmap instead, after checking /etc/subuid and
// /etc/subgid cover them; when they do not, throws UsageError saying which file
// lacks what (the lab never edits those files).
void WriteWithHelpersFromParent(pid_t child, const Map& uids, const Map& gids);

// docker's -u UID[:GID]. Throws UsageError naming --user.
struct User {
  uid_t uid = 0;
  gid_t gid = 0;
};
User ParseUser(const std::string& text);
// Throws UsageError unless both maps cover id 0 (the setup runs as root inside) and
// the user's uid and gid.
void CheckCovers(const Map& uids, const Map& gids, const User& user);
// In the child, after setting up as root of the namespace: setgroups(0, NULL),
// setresgid, setresuid — in that order (after setresuid we could not change the
// gid any more). Re-arms PR_SET_PDEATHSIG, which an id change clears.
void BecomeUserInChild(const User& user);

// Lab 09a's demo, in the child after BecomeUserInChild: its ids inside and its
// effective capabilities (none left for a non-root user).
void ShowInChild();

// The child's "Uid:" and "Gid:" lines of /proc/PID/status (real, effective, saved,
// fs), as the host sees them: "Uid: 101000 101000 101000 101000".
std::string HostIds(pid_t pid);

}  // namespace nslab::idmap

#endif  // NSLAB_COMMON_IDMAP_H_
