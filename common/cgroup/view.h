// cgroup/view — the sandbox sees its own cgroup at /sys/fs/cgroup, read-only.
//
// Teaches: a cgroup namespace changes what /proc/self/cgroup says; a cgroup
// filesystem mounted *inside* it shows only the subtree rooted at the namespace's
// root, the sandbox's own cgroup (cgroup_namespaces(7): "the root of the mount is
// the cgroup namespace root"). That is how, under Docker, `cat
// /sys/fs/cgroup/memory.max` tells a process its own limit. On cgroup v2 one cgroup2
// mount does it; on v1 a small tmpfs holds one directory per hierarchy ("memory",
// "pids", "cpu,cpuacct" with "cpu" and "cpuacct" links to it), each a cgroup mount
// of that hierarchy, as Docker lays out /sys/fs/cgroup. Everything is read-only
// (MS_RDONLY): the sandbox reads its limits and counters but cannot raise a limit,
// create a child cgroup or move itself elsewhere.
// Read: cgroup_namespaces(7), mount(2), Documentation/admin-guide/cgroup-v2.rst
// ("Namespace"), runc's libcontainer/rootfs_linux.go (mountCgroupV1/V2).
//
//   cgroup::UnshareInChild();                      // the ns root is our cgroup now
//   mount::MountSysReadOnlyInChild(root + "/sys");
//   cgroup::MountViewInChild(root + "/sys/fs/cgroup", plan.layout);
#ifndef NSLAB_COMMON_CGROUP_VIEW_H_
#define NSLAB_COMMON_CGROUP_VIEW_H_

#include <string>

#include "common/cgroup.h"

namespace nslab::cgroup {

// Runs in the child after UnshareInChild (a mount made before would show the
// parent's cgroup) and after /sys is mounted: mounts, read-only at `target`, the
// child's own cgroup in every hierarchy of `layout` — cgroup2 at target (pure v2) or
// at target/unified (hybrid), and each v1 hierarchy at target/<its controllers>
// beneath a read-only tmpfs. Throws SysError naming the mount that failed.
void MountViewInChild(const std::string& target, const Layout& layout);

}  // namespace nslab::cgroup

#endif  // NSLAB_COMMON_CGROUP_VIEW_H_
