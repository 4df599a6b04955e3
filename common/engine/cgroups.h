// engine/cgroups — the OCI spec's linux.cgroupsPath and linux.resources, on cgroup
// v1, v2 and the hybrid hosts that mix them; the freezer for pause and resume.
//
// Teaches: the runtime does not choose where a container's cgroup goes: the manager
// (podman, containerd) passes linux.cgroupsPath. An absolute path is taken from the
// root of every hierarchy, a relative one from the runtime's own cgroup in it
// (config-linux.md "Cgroups path"). On cgroup v1 there is one tree per controller,
// so one container is one directory in each mounted hierarchy (memory, pids, cpu,
// devices, freezer...) and the process must be written into each; cgroup v2 has one
// tree. The runtime creates only the directories that are missing and removes only
// those on delete: a parent made by podman belongs to podman. No cgroupsPath and no
// resources: the container stays in the caller's cgroup (crun's "disabled"
// manager), so nothing is created at all.
// Read: cgroups(7), Documentation/admin-guide/cgroup-v1/{memory,pids,devices,
// freezer-subsystem}.rst, cgroup-v2.rst, the OCI spec's config-linux.md.
//
//   auto nodes = engine::cgroups::Plan(spec.cgroups_path, id);
//   engine::cgroups::Create(nodes);  engine::cgroups::Apply(nodes, spec.resources);
//   engine::cgroups::AddProcess(nodes, pid);  ...  engine::cgroups::Destroy(nodes);
#ifndef NSLAB_COMMON_ENGINE_CGROUPS_H_
#define NSLAB_COMMON_ENGINE_CGROUPS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/engine/spec.h"

namespace nslab::engine::cgroups {

// One directory of the container's cgroup, in one hierarchy.
struct Node {
  int version = 1;
  std::vector<std::string> controllers;  // {"memory"}, {"cpu","cpuacct"}, {} for v2
  std::string dir;                       // /sys/fs/cgroup/memory/a/b
  std::string created;                   // the topmost directory we made ("" = none)
};

// Where the container's cgroup goes in every mounted hierarchy (v1 hierarchies and
// the v2 tree; v2 only when it is the one tree or has controllers on a hybrid host).
// Throws UsageError for a path with ".." or a systemd "slice:prefix:name" path.
std::vector<Node> Plan(const std::string& cgroups_path);

// mkdir -p in each hierarchy, remembering which directories are ours; cpuset's
// cpus/mems copied down on v1 (a new cpuset is empty, and no task could join it).
void Create(std::vector<Node>& nodes);
// Writes the limits; a limit whose controller is missing is an error naming the
// field (linux.resources.memory.limit...).
void Apply(const std::vector<Node>& nodes, const Resources& res);
// pid into every hierarchy's cgroup.procs.
void AddProcess(const std::vector<Node>& nodes, pid_t pid);
// Every pid in the cgroup (union), as the host sees them.
std::vector<pid_t> Pids(const std::vector<Node>& nodes);
// The freezer: v1 freezer.state FROZEN/THAWED, v2 cgroup.freeze 1/0; waits until the
// kernel reports the state reached. Throws UsageError when there is no freezer.
void Freeze(const std::vector<Node>& nodes, bool frozen);
bool Frozen(const std::vector<Node>& nodes);
// Kills what is left (SIGKILL to each pid until none), then removes the directories
// we created, deepest first. Errors are collected and thrown at the end.
void Destroy(const std::vector<Node>& nodes);

// Every mounted hierarchy the caller is in: (mount point, the caller's cgroup
// directory in it), e.g. ("/sys/fs/cgroup/memory", "/sys/fs/cgroup/memory/a/b").
std::vector<std::pair<std::string, std::string>> OwnDirs();

// "v1", "v2", "hybrid", for `features` and errors.
std::string HostMode();

}  // namespace nslab::engine::cgroups

#endif  // NSLAB_COMMON_ENGINE_CGROUPS_H_
