// propagation — mount propagation beyond "make it private": peer groups, slaves,
// and a volume (a bind mount of a host directory) in each mode.
//
// Teaches: every mount has a propagation type (mount_namespaces(7), "Shared
// subtrees"). A *shared* mount is in a peer group (mountinfo's "shared:N"): a mount
// or unmount under any member happens under all of them, in every mount namespace
// they are in. A *slave* ("master:N") receives the events of its master's group but
// sends none back. A *private* mount does neither; an *unbindable* one is private and
// cannot be bind-mounted either. A copy of a shared mount made by CLONE_NEWNS or a
// bind mount joins the same peer group. So a container's volume — a host directory
// bind-mounted into its root — sees what the host mounts under it later when it is
// shared or slave (docker -v SRC:DST:rslave), and the host sees the container's
// mounts there only when it is shared (docker's rshared).
// Read: mount_namespaces(7), Documentation/filesystems/sharedsubtree.rst, mount(2).
//
//   propagation::MakeVolumeFromParent(run + "/vol", "");      // shared:N
//   process::Clone({CLONE_NEWNS | ...}, [&] {
//     propagation::BindVolumeInChild(run + "/vol", root + "/data", mode);
//   });
#ifndef NSLAB_COMMON_PROPAGATION_H_
#define NSLAB_COMMON_PROPAGATION_H_

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

namespace nslab::propagation {

enum class Mode { kShared, kSlave, kPrivate, kUnbindable };
// "shared" "slave" "private" "unbindable"; ParseMode throws UsageError otherwise.
Mode ParseMode(const std::string& name);
std::string Name(Mode mode);
std::vector<std::string> Names();
// MS_SHARED, MS_SLAVE, MS_PRIVATE, MS_UNBINDABLE.
unsigned long FlagOf(Mode mode);

// mount("", path, NULL, FlagOf(mode)): changes only the propagation of the mount
// at path (not those below it).
void Set(const std::string& path, Mode mode);

// The lab's "host" side, in the lab's own private mount namespace: at dir, a tmpfs
// (or, with source, a bind of that host directory), then made shared: a new peer
// group. Runs in the parent, after unshare(CLONE_NEWNS) and making / private.
void MakeVolumeFromParent(const std::string& dir, const std::string& source);

// In the child, before pivot_root: bind-mounts volume (a shared mount, so the bind
// joins its peer group) onto target (created), then gives it `mode`. The child's
// other mounts must be private already (the lab's own namespace is).
void BindVolumeInChild(const std::string& volume, const std::string& target, Mode mode);

// What propagation would do, in words: does a mount the host makes under the
// volume appear inside, and does one made inside appear on the host?
bool HostMountsReachInside(Mode mode);
bool InsideMountsReachHost(Mode mode);

// Step 0 of lab 06b: unshare(CLONE_NEWNS) and make every mount private, in the lab
// itself: its namespace plays "the host", and whatever it mounts dies with it.
void MakeOwnHostNamespace();

// Lab 06b's demo: the host side (a helper forked in the lab's namespace) and the
// sandbox take turns over two pipes. The host mounts a tmpfs at VOLUME/from-host;
// the sandbox looks for it at /data/from-host, mounts one at /data/from-inside; the
// host looks for that at VOLUME/from-inside. Each says what it saw.
class Demo {
 public:
  explicit Demo(std::string volume);
  Demo(const Demo&) = delete;
  Demo& operator=(const Demo&) = delete;
  ~Demo();
  // After the clone: forks the host side, then closes the lab's copies of the pipes
  // (so that either side sees EOF when the other dies).
  void StartHostSide();
  // In the sandbox, after pivot_root, with the volume at /data.
  void ShowInChild();
  // Reaps the host side.
  void FinishFromParent();

 private:
  std::string volume_;
  int to_host_[2] = {-1, -1};
  int to_child_[2] = {-1, -1};
  pid_t host_side_ = -1;
};

// Is there a mount at exactly `path` in pid's mount table (0: ours)?
bool HasMountAt(const std::string& path, pid_t pid = 0);

}  // namespace nslab::propagation

#endif  // NSLAB_COMMON_PROPAGATION_H_
