// cgroup — control groups: limits on memory, process count and CPU time for the
// sandbox, nested beneath the caller's own cgroup, on cgroup v2 or v1.
//
// Teaches: namespaces decide what a process can *see*; cgroups decide how much it
// can *use*. A cgroup is a directory in a cgroup filesystem: mkdir creates one,
// writing a pid into its cgroup.procs moves a process in (its future children
// follow), writing into files like memory.max sets a limit, reading files like
// memory.events shows what the kernel did about it, and rmdir removes it once it
// holds no process. Two generations exist:
//  - cgroup v2: one "unified" tree at /sys/fs/cgroup (or /sys/fs/cgroup/unified on
//    a hybrid host); a cgroup's children may use a controller only once it is
//    listed in the cgroup's cgroup.subtree_control;
//  - cgroup v1: one tree per controller (/sys/fs/cgroup/memory, .../pids, .../cpu),
//    with older file names (memory.limit_in_bytes, cpu.cfs_quota_us).
// A controller is bound to one of the two at a time; /proc/self/cgroup says where
// this process sits in each tree ("4:memory:/a/b" is v1, "0::/a/b" is v2). We
// create our cgroup beneath that path only: a process may manage the subtree it
// was given (delegation), not its neighbours'.
// Read: cgroups(7), cgroup_namespaces(7), Documentation/admin-guide/cgroup-v2.rst,
// Documentation/admin-guide/cgroup-v1/{memory,pids}.rst, sched-bwc.rst (CPU quota).
//
//   cgroup::Limits limits{cgroup::ParseMemory("64M"), cgroup::ParsePids("32"),
//                         cgroup::ParseCpus("0.5")};
//   cgroup::Layout layout = cgroup::Detect();   // layout.reason says v1 or v2, and why
//   cgroup::ScopedCgroup cg = cgroup::Create(layout, "nslab-10-4242", limits);
//   cg.AddProcess(child.pid());                 // before the child execs
//   child.Go();                                 // the child unshares CLONE_NEWCGROUP
//   child.Wait();
//   cg.Memory().oom_kill;                       // ~ScopedCgroup kills what is left, rmdirs
#ifndef NSLAB_COMMON_CGROUP_H_
#define NSLAB_COMMON_CGROUP_H_

#include <sys/types.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nslab::cgroup {

// ---- Limits and their flags ---------------------------------------------------

struct Limits {
  std::optional<int64_t> memory_bytes;  // memory.max / memory.limit_in_bytes
  std::optional<int64_t> pids;          // pids.max
  std::optional<double> cpus;           // cpu.max / cpu.cfs_quota_us, in CPUs (0.5 = half of one)
  // Set by a lab's defaults, not by the user (SetDefaults): where its controller is
  // missing such a limit is dropped with a note (DropUnavailableDefaults) instead of
  // making the user's command fail.
  bool memory_is_default = false, pids_is_default = false, cpus_is_default = false;
  bool Empty() const { return !memory_bytes && !pids && !cpus; }
  // "memory 64M, pids 32, cpus 0.5" ("no limits" when empty).
  std::string Describe() const;
};

// Strict parsers: the whole text must be a valid value, else UsageError naming it.
// Memory: digits with an optional suffix K, M, G, T (powers of 1024, any case),
// at least 1M ("64M", "1g", "1048576"). Not "", "-1", "banana", "1.5G", overflow.
int64_t ParseMemory(std::string_view text);
// Pids: a whole number from 1 to 4194304 (the kernel's PID_MAX_LIMIT).
int64_t ParsePids(std::string_view text);
// Cpus: a decimal number of CPUs from 0.01 to 1024 ("0.5", "2", "1.25").
double ParseCpus(std::string_view text);

// The CFS period we use (100 ms, the kernel's default) and the quota for `cpus`.
inline constexpr int64_t kCpuPeriodUsec = 100000;
int64_t CpuQuotaUsec(double cpus);

// "64M" for 67108864, "1536K" for 1572864: the largest unit that divides exactly.
std::string FormatBytes(int64_t bytes);

// Fills each limit the user did not give with the lab's default, marked as one.
void SetDefaults(Limits& limits, int64_t memory_bytes, int64_t pids, double cpus);

// Adds --memory, --pids and --cpus to a lab's flags, each parsed strictly while the
// command line is parsed (before anything is created); a flag given twice is an error.
void AddLimitFlags(CLI::App& app, Limits& limits);

// ---- Where the controllers are: Detect ------------------------------------------

// The controllers this module uses, in this order.
const std::vector<std::string>& Controllers();  // memory, pids, cpu

// One cgroup tree (a mounted hierarchy) and where the caller sits in it.
struct Hierarchy {
  int version = 2;                       // 1 or 2
  std::string mount;                     // "/sys/fs/cgroup/memory", "/sys/fs/cgroup"
  std::string own;                       // caller's cgroup in it: "/user.slice/x.scope" or "/"
  std::vector<std::string> controllers;  // which of Controllers() it provides
  // v1: the hierarchy's controller list as /proc/self/cgroup names it, which is
  // also its mount option ("memory", "cpu,cpuacct").
  std::string v1_options;
  // v2, as root: controllers the kernel offers (the root's cgroup.controllers) that
  // were not enabled down to our cgroup; Create enables them on the way down.
  std::vector<std::string> enable_down;
  // mount + own: the directory beneath which we may create ours.
  std::string OwnDir() const;
};

enum class Mode {
  kNone,    // none of the controllers is usable
  kV2,      // all usable controllers are on the unified (v2) tree
  kV1,      // all usable controllers are bound to v1 hierarchies
  kHybrid,  // some on v2, some on v1
};
// "cgroup v2", "cgroup v1", "hybrid (v1 and v2)", "none".
std::string ModeName(Mode mode);

struct Layout {
  Mode mode = Mode::kNone;
  std::vector<Hierarchy> hierarchies;  // the ones that carry a needed controller
  std::vector<std::string> missing;    // controllers found nowhere
  std::string v2_mount;                // the cgroup2 mount, "" if none
  // The cgroup2 mount shows the real root of the hierarchy (it has no cgroup.type
  // file; a cgroup namespace's root does), so a cgroup at its top is possible.
  bool v2_real_root = false;
  // One or two sentences the lab prints: which layout and why, e.g.
  // "memory, pids and cpu are bound to cgroup v1 hierarchies; the cgroup2 mount at
  //  /sys/fs/cgroup/unified offers only hugetlb, so this lab uses cgroup v1".
  std::string reason;
  // The hierarchy providing `controller`, or nullptr.
  const Hierarchy* For(std::string_view controller) const;
};

// Drops each default limit (Limits::*_is_default) whose controller `layout` lacks;
// returns one note per dropped limit, for the lab to narrate ("no cpu limit: the cpu
// controller is not available here (...)"). A limit the user gave is kept, and
// Create refuses it with a clear error.
std::vector<std::string> DropUnavailableDefaults(Limits& limits, const Layout& layout);

// Reads the caller's place in each hierarchy from proc_self_cgroup and looks the
// controllers up under sys_fs_cgroup: a "N:ctrl,...:/path" line binds ctrl to a v1
// hierarchy mounted at sys_fs_cgroup/ctrl; the "0::/path" line and a cgroup2 mount at
// sys_fs_cgroup (pure v2) or sys_fs_cgroup/unified (hybrid host) give the v2 tree,
// whose usable controllers are listed in the caller's cgroup.controllers. Throws
// SysError when proc_self_cgroup cannot be read. Both paths are parameters so that
// tests can point them at fake trees (tests/data/cgroup/).
// As root (`as_root`), a controller the kernel offers at the top but nobody enabled
// down to our cgroup counts as usable (Hierarchy::enable_down).
Layout Detect(const std::string& sys_fs_cgroup = "/sys/fs/cgroup",
              const std::string& proc_self_cgroup = "/proc/self/cgroup",
              bool as_root = geteuid() == 0);

// ---- A cgroup of our own: Create and ScopedCgroup ---------------------------------

// What the kernel counted. Fields a layout does not provide stay 0.
struct MemoryCounters {
  int64_t max = 0;       // usage hit the limit: v2 memory.events "max", v1 memory.failcnt
                         // + memory.memsw.failcnt
  int64_t oom = 0;       // v2 memory.events "oom" (v1: memory.oom_control under_oom)
  int64_t oom_kill = 0;  // processes the OOM killer killed here: v2 memory.events
                         // "oom_kill", v1 memory.oom_control "oom_kill"
  int64_t peak = 0;      // v2 memory.peak, v1 memory.max_usage_in_bytes
};
struct PidsCounters {
  int64_t max = 0;      // fork/clone refused by pids.max: pids.events "max"
  int64_t current = 0;  // pids.current
  int64_t peak = 0;     // pids.peak (newer kernels)
};
struct CpuCounters {
  int64_t nr_periods = 0;      // CFS periods in which the cgroup ran
  int64_t nr_throttled = 0;    // periods in which it used up its quota and was stopped
  int64_t throttled_usec = 0;  // time spent stopped: v2 throttled_usec, v1 throttled_time/1000
  int64_t usage_usec = 0;      // v2 cpu.stat usage_usec, v1 cpuacct is not used (0)
};

// Where Create may put the cgroup on cgroup v2.
struct CreateOptions {
  // When our own cgroup cannot have children with controllers (it holds other
  // processes: the "no internal processes" rule) and we are root on the real root
  // of the hierarchy: a cgroup at the top instead, <v2 mount>/<top>/<name>, as
  // runc's cgroupfs driver (/sys/fs/cgroup/<path>) and Docker (/docker/<id>) do.
  bool allow_top_level = true;
  std::string top = "nslab";
  bool as_root = geteuid() == 0;  // tests pretend either way
};

// A cgroup we created, in each hierarchy of a Layout. Move-only. The destructor
// kills every process still inside (v2 cgroup.kill, else SIGKILL to each pid in
// cgroup.procs, repeated until none is left), waits for the cgroup to empty and
// removes the directories — also after the sandbox was OOM-killed or killed from
// outside. Errors in the destructor are swallowed; call Destroy() to see them.
class ScopedCgroup {
 public:
  struct Node {
    int version = 2;
    std::string dir;                       // the cgroup's directory
    std::vector<std::string> controllers;  // controllers used through it
  };

  ScopedCgroup() = default;
  ScopedCgroup(ScopedCgroup&& other) noexcept;
  ScopedCgroup& operator=(ScopedCgroup&& other) noexcept;
  ScopedCgroup(const ScopedCgroup&) = delete;
  ScopedCgroup& operator=(const ScopedCgroup&) = delete;
  ~ScopedCgroup();

  const std::string& name() const { return name_; }
  const std::vector<Node>& nodes() const { return nodes_; }
  // The directory providing `controller` ("" if none).
  std::string DirFor(std::string_view controller) const;

  // Moves pid (and, from then on, every child it forks) into the cgroup, in every
  // hierarchy: writes it to each cgroup.procs. Call before the process execs.
  void AddProcess(pid_t pid);
  // The pids in the cgroup (union over the hierarchies), as the caller sees them.
  std::vector<pid_t> Pids() const;

  MemoryCounters Memory() const;
  PidsCounters PidsEvents() const;
  CpuCounters Cpu() const;
  // Brief spellings used by the labs' narration.
  MemoryCounters MemoryEvents() const { return Memory(); }
  CpuCounters CpuStats() const { return Cpu(); }

  // Kills what is left, waits for the cgroup to empty, removes the directories
  // (deepest first). Throws SysError on failure. Idempotent.
  void Destroy();
  // Gives up ownership: the destructor will leave the cgroup alone. Returns its
  // directories.
  std::vector<std::string> Release();

  // Where the cgroup is and why: "beneath our own cgroup /sys/fs/cgroup/memory/x" or
  // "at the top of the hierarchy, /sys/fs/cgroup/nslab: ...". Set by Create.
  const std::string& where() const { return where_; }
  bool top_level() const { return top_level_; }

  // A cgroup made by someone else (a systemd scope) that we use through its
  // directory: counters, AddProcess, and Destroy kills what is left inside; the
  // directory itself is removed only when `remove_dir` (systemd removes its own).
  static ScopedCgroup Adopt(const std::string& name, Node node, bool remove_dir,
                            std::string where);

 private:
  friend ScopedCgroup Create(const Layout&, const std::string&, const Limits&,
                             const CreateOptions&);
  friend std::vector<std::string> RemoveStale(const Layout&, std::string_view);
  std::string name_;
  std::vector<Node> nodes_;
  bool remove_dirs_ = true;
  // cgroup v2 only, what Create did to make room: each (cgroup, controller) it
  // enabled in a cgroup.subtree_control on the way down, the leaf it moved this
  // process into (beneath v2_parent_, our own cgroup), and the parents it made at
  // the top (/sys/fs/cgroup/nslab); Destroy undoes all of it, deepest first.
  std::vector<std::pair<std::string, std::string>> enabled_;
  std::string v2_parent_;
  std::string lab_leaf_;
  std::vector<std::string> made_parents_;
  std::string where_;
  bool top_level_ = false;
};


// Creates cgroup `name` beneath the caller's own cgroup in every hierarchy of
// `layout` and writes `limits` into it:
//   v2: enables the controllers in our cgroup's cgroup.subtree_control if needed,
//       memory.max (+ memory.swap.max 0), pids.max, cpu.max "QUOTA 100000";
//   v1: memory.limit_in_bytes (+ memory.memsw.limit_in_bytes when swap is
//       accounted), pids.max, cpu.cfs_period_us and cpu.cfs_quota_us.
// A limit whose controller is missing is a UsageError before anything is created.
// If a step fails, what was created is removed again before the error is thrown.
//   v2, our cgroup holding other processes (a login shell's scope, a getty's
//       service): as root, a cgroup at the top of the hierarchy instead (see
//       CreateOptions), enabling the controllers in each cgroup.subtree_control on
//       the way down; ScopedCgroup::where() says which and why.
ScopedCgroup Create(const Layout& layout, const std::string& name, const Limits& limits,
                    const CreateOptions& options = CreateOptions());

// "nslab-10-4242": a cgroup name unique to this run.
std::string RunCgroupName(std::string_view lab);

// A lab killed with SIGKILL cannot clean up: its sandbox normally dies with it (the
// child's PR_SET_PDEATHSIG), but the cgroup stays. Beneath our own cgroup in each
// hierarchy, finds the cgroups named `prefix<pid>` (and `prefix<pid>-lab`) whose pid
// no longer exists, kills what is still inside (a sandbox that outlived its lab) and
// removes them; returns the directories removed. Never touches a cgroup whose lab
// is alive. Looks also at the top of a v2 hierarchy (CreateOptions::top), where
// Create puts cgroups when our own cgroup cannot have children.
std::vector<std::string> RemoveStale(const Layout& layout, std::string_view prefix);

// Runs in the child, after the parent moved it into its cgroup (AddProcess) and
// said go: unshare(CLONE_NEWCGROUP) makes the cgroup the child is in *now* the root
// of its view, so /proc/self/cgroup inside reads "/" (cgroup_namespaces(7)).
// Passing CLONE_NEWCGROUP to clone instead would root the view at the cgroup the
// child was cloned in — the lab's own — and the later move would show up inside as
// "/nslab-10-4242": the sandbox would see, above its cgroup, the one it must not
// touch (and, with cgroupfs mounted, could try to move itself back into it).
void UnshareInChild();

// ---- Lab 10's demo: push against each limit, then read the counters ------------------

// Run in the sandbox: a fork bomb, bounded — `tries` forks as fast as possible, each
// child only waits; narrates how many the kernel refused (pids.max: EAGAIN), then
// kills and reaps them all. Returns the number refused.
int ForkBombInChild(int tries);
// Run in the sandbox: a forked hog touches 1M after 1M, up to `cap_mb`, reporting
// each one; narrates how far it got and how it ended (SIGKILL: the OOM killer).
// Returns the megabytes touched.
int MemoryHogInChild(int cap_mb);
// Run in the sandbox: a forked spinner burns `cpu_ms` of CPU time and measures the
// wall time that took (longer than cpu_ms under a CPU quota). Returns that wall
// time in ms, -1 if the spinner did not report.
int64_t CpuSpinInChild(int cpu_ms);
// Run in the sandbox after UnshareInChild: its cgroup namespace (the host's is
// `host_cgroup_ns`) and /proc/self/cgroup, then each limit pushed: the fork bomb, the
// hog and the spinner, sized from `limits` to reach them. Every loop is bounded, so
// it ends (and the host stays responsive) even without limits.
void ShowLimitsInChild(const Limits& limits, unsigned long host_cgroup_ns);
// Run by the host after the sandbox has ended: what the kernel counted in cg's files
// (pids.events, memory.events or v1's oom_control/failcnt, cpu.stat), as a table
// whose non-zero rows are marked.
void ShowCounters(const ScopedCgroup& cg);

// For tests against a fake cgroupfs made of plain directories: the kernel fills a
// new cgroup directory with control files and empties it on rmdir; a fake cannot.
// `after_mkdir(dir)` is called after each mkdir and `before_rmdir(dir)` before each
// rmdir; `kill_process(pid)`, when set, replaces kill(pid, SIGKILL) during cleanup
// (so that pids written into a fake cgroup.procs never reach real processes). Pass
// an empty FakeKernel to restore the real behaviour.
struct FakeKernel {
  std::function<void(const std::string& dir)> after_mkdir;
  std::function<void(const std::string& dir)> before_rmdir;
  std::function<void(pid_t pid)> kill_process;
};
void SetFakeKernelForTesting(FakeKernel fake);

}  // namespace nslab::cgroup

#endif  // NSLAB_COMMON_CGROUP_H_
