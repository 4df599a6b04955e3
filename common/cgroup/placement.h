// cgroup/placement — where the sandbox's cgroup comes from: the cgroup managers.
//
// Teaches: who may make a cgroup decides how you get one. Container runtimes have
// two "cgroup managers" (runc --systemd-cgroup, crun and podman --cgroup-manager):
//  - systemd: where systemd is PID 1 it owns the tree, so we *ask* it for a transient
//    scope with Delegate=yes (cgroup/systemd.h);
//  - cgroupfs: we mkdir our own cgroup — beneath our own cgroup where that works
//    (always on cgroup v1; on v2 while our cgroup holds no other process), else, as
//    root, at the top of the hierarchy (/sys/fs/cgroup/nslab/<name>), as runc's
//    cgroupfs driver and Docker (/docker/<id>) do (cgroup.h's Create).
// `auto` picks systemd when /run/systemd/system exists on a pure cgroup v2 host,
// cgroupfs otherwise. The choice is made (and every limit checked) before the clone
// by MakePlan; Place is the one call after it, with the child's pid.
// Read: docs/10_cgroup.md "Which manager", runc's docs/systemd.md, podman(1)
// --cgroup-manager, https://systemd.io/CGROUP_DELEGATION/.
//
//   cgroup::Plan plan = cgroup::MakePlan(manager, cgroup::RunCgroupName("10"), limits);
//   narrate::Step(plan.Describe());                // which manager and why
//   ... clone; the child waits ...
//   cgroup::Placement placement = cgroup::Place(plan, child.pid());
//   ... child.Go(); child.Wait(); ShowCounters(placement.cgroup());
//   // ~Placement: kills what is left, removes the cgroup or stops the scope
#ifndef NSLAB_COMMON_CGROUP_PLACEMENT_H_
#define NSLAB_COMMON_CGROUP_PLACEMENT_H_

#include <sys/types.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "common/cgroup.h"
#include "common/cgroup/systemd.h"

namespace nslab::cgroup {

enum class Manager { kAuto, kSystemd, kCgroupfs };
// "auto", "systemd", "cgroupfs".
std::string ManagerName(Manager manager);
// The inverse; UsageError naming the value for anything else.
Manager ParseManager(const std::string& text);

// Adds --cgroup-manager auto|systemd|cgroupfs (auto by default), parsed strictly.
void AddManagerFlag(CLI::App& app, Manager& manager);

// Where to look; tests point these at fake trees.
struct Host {
  std::string sys_fs_cgroup = "/sys/fs/cgroup";
  std::string proc_self_cgroup = "/proc/self/cgroup";
  std::string run_systemd_system = "/run/systemd/system";
  bool as_root = geteuid() == 0;
};

// What MakePlan decided, before anything exists.
struct Plan {
  Manager manager = Manager::kCgroupfs;  // resolved: systemd or cgroupfs
  std::string why;                       // why this manager
  Layout layout;                         // Detect()'s answer
  std::string name;                      // "nslab-10-4242"
  Limits limits;                         // what will be set (defaults dropped, see notes)
  std::vector<std::string> notes;        // a default skipped, for the lab to narrate
  systemd::Bus bus = systemd::Bus::kSystem;  // systemd: whose instance we ask
  std::string unit;                      // systemd: "nslab-10-4242.scope"
  // "systemd (a transient scope nslab-10-4242.scope in nslab.slice, system bus):
  //  systemd is PID 1 ...", "cgroupfs: no systemd here ...".
  std::string Describe() const;
};

// Detects the layout, resolves `wanted` (auto: systemd where /run/systemd/system
// exists and the controllers are on a pure cgroup v2 tree, else cgroupfs), drops a
// default limit whose controller is missing (with a note) and refuses a given one
// (UsageError naming the flag and the layout). No side effects.
Plan MakePlan(Manager wanted, const std::string& name, Limits limits, const Host& host = Host());

// The sandbox's cgroup, from either manager. Move-only. The destructor kills what
// is left inside and removes the cgroup (cgroupfs) or stops the scope (systemd,
// StopUnit, unless systemd collected it already when its last process exited).
class Placement {
 public:
  Placement() = default;
  Placement(Placement&&) noexcept;
  Placement& operator=(Placement&&) noexcept;
  Placement(const Placement&) = delete;
  Placement& operator=(const Placement&) = delete;
  ~Placement();

  bool Empty() const { return cgroup_.nodes().empty() && unit_.empty(); }
  Manager manager() const { return manager_; }
  const std::string& unit() const { return unit_; }  // "" for cgroupfs
  // The directories (one per hierarchy), counters, pids.
  const ScopedCgroup& cgroup() const { return cgroup_; }
  ScopedCgroup& cgroup() { return cgroup_; }
  std::vector<std::string> Dirs() const;
  // For narration and inspect: "systemd: scope nslab-x.scope, /sys/fs/cgroup/
  // nslab.slice/nslab-x.scope (why)" or "cgroupfs: /sys/fs/cgroup/nslab/x (where)".
  std::string Describe() const;

  // Kills what is left, removes the cgroup or stops the scope. Throws on failure.
  void Destroy();
  // Leaves the cgroup (and scope) to live on: the container's shim takes over.
  std::vector<std::string> Release();

 private:
  friend Placement Place(const Plan& plan, pid_t pid, bool hold_scope);
  void EndKeeper();
  Manager manager_ = Manager::kCgroupfs;
  pid_t keeper_ = -1;  // systemd with hold_scope: our child that keeps the scope alive
  systemd::Bus bus_ = systemd::Bus::kSystem;
  std::string unit_;
  std::string why_;
  ScopedCgroup cgroup_;
};

// The one call after the clone, while the child waits: cgroupfs creates the cgroup
// (Create) with the limits and moves `pid` in; systemd starts the scope with
// PIDs=[pid] and the limits as unit properties, waits for the job, then checks that
// the delegated cgroup carries each limit. Throws before returning on any failure,
// having undone what it did.
// systemd ends a scope, and removes its cgroup with every counter in it, the moment
// its last process exits. `hold_scope` (lab 10, which reads the counters after the
// sandbox ended) adds a sleeping child of ours to the scope, killed by Destroy; it
// counts as one task against --pids. Call it from the thread that keeps running
// (the keeper dies with the thread that forked it: PR_SET_PDEATHSIG).
Placement Place(const Plan& plan, pid_t pid, bool hold_scope = false);

}  // namespace nslab::cgroup

#endif  // NSLAB_COMMON_CGROUP_PLACEMENT_H_
