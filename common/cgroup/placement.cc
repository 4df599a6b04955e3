#include "common/cgroup/placement.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <utility>

#include "common/error.h"
#include "common/fd.h"
#include "common/narrate.h"

namespace nslab::cgroup {
namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '/' )) s.pop_back();
  return s;
}

// The words of a file's first line ("" when absent).
std::vector<std::string> Words(const std::string& path) {
  std::vector<std::string> out;
  if (!Exists(path)) return out;
  std::string text = ReadFile(path);
  text = text.substr(0, text.find('\n'));
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// The v2 line of /proc/PID/cgroup: "0::/nslab.slice/nslab-10-4242.scope".
std::string V2PathOf(pid_t pid) {
  const std::string file = "/proc/" + std::to_string(pid) + "/cgroup";
  std::string text = ReadFile(file);
  size_t pos = text.find("0::");
  if (pos == std::string::npos || (pos != 0 && text[pos - 1] != '\n'))
    throw SysError(ENOENT, "read", file, "no cgroup v2 line (0::) in it");
  size_t end = text.find('\n', pos);
  return text.substr(pos + 3, end == std::string::npos ? std::string::npos : end - pos - 3);
}

}  // namespace

std::string ManagerName(Manager manager) {
  switch (manager) {
    case Manager::kAuto: return "auto";
    case Manager::kSystemd: return "systemd";
    case Manager::kCgroupfs: return "cgroupfs";
  }
  return "?";
}

Manager ParseManager(const std::string& text) {
  for (Manager m : {Manager::kAuto, Manager::kSystemd, Manager::kCgroupfs})
    if (text == ManagerName(m)) return m;
  throw UsageError("invalid cgroup manager \"" + text + "\": expected auto, systemd or cgroupfs");
}

void AddManagerFlag(CLI::App& app, Manager& manager) {
  app.add_option_function<std::string>(
         "--cgroup-manager",
         [&manager](const std::string& value) {
           try {
             manager = ParseManager(value);
           } catch (const UsageError& e) {
             throw CLI::ValidationError("--cgroup-manager", e.what());
           }
         },
         "Who makes the cgroup: systemd (a transient scope, asked over D-Bus), cgroupfs "
         "(our own directories) or auto (systemd where it is PID 1 on cgroup v2)")
      ->type_name("auto|systemd|cgroupfs")
      ->multi_option_policy(CLI::MultiOptionPolicy::Throw);
}

std::string Plan::Describe() const {
  if (manager == Manager::kSystemd)
    return "systemd (a transient scope " + unit + " in " + systemd::kSlice + ", " +
           systemd::BusName(bus) + "): " + why;
  return "cgroupfs: " + why;
}

Plan MakePlan(Manager wanted, const std::string& name, Limits limits, const Host& host) {
  Plan plan;
  plan.name = name;
  plan.layout = Detect(host.sys_fs_cgroup, host.proc_self_cgroup, host.as_root);
  const Layout& layout = plan.layout;
  const bool systemd_runs = systemd::Running(host.run_systemd_system);
  // Pure v2: the cgroup2 tree is /sys/fs/cgroup itself and carries every controller
  // found (systemd's v1 and hybrid layouts keep controllers on v1 hierarchies that
  // our scope would not be delegated).
  bool pure_v2 = layout.v2_real_root && Trim(layout.v2_mount) == Trim(host.sys_fs_cgroup);
  for (const auto& h : layout.hierarchies)
    if (h.version == 1) pure_v2 = false;
  const std::string pid1 = "systemd is PID 1 (" + host.run_systemd_system + " exists)";
  switch (wanted) {
    case Manager::kAuto:
      if (systemd_runs && pure_v2) {
        plan.manager = Manager::kSystemd;
        plan.why = pid1 + " and owns the cgroup v2 tree, so we ask it for a cgroup with "
                   "Delegate=yes, as runc, crun and podman do";
      } else {
        plan.manager = Manager::kCgroupfs;
        plan.why = systemd_runs
                       ? pid1 + ", but the controllers are not on a pure cgroup v2 tree (" +
                             ModeName(layout.mode) + "), so we make our own cgroup"
                       : "no systemd here (no " + host.run_systemd_system +
                             "), so we make our own cgroup";
      }
      break;
    case Manager::kSystemd:
      if (!systemd_runs)
        throw UsageError("--cgroup-manager systemd: systemd is not running here (no " +
                         host.run_systemd_system + "); use cgroupfs or auto");
      if (!pure_v2)
        throw UsageError("--cgroup-manager systemd needs a pure cgroup v2 host: " + layout.reason);
      plan.manager = Manager::kSystemd;
      plan.why = "asked for (--cgroup-manager systemd); " + pid1;
      break;
    case Manager::kCgroupfs:
      plan.manager = Manager::kCgroupfs;
      plan.why = "asked for (--cgroup-manager cgroupfs), so we make our own cgroup";
      break;
  }

  Layout offered = layout;  // what the chosen manager can limit
  if (plan.manager == Manager::kSystemd) {
    // systemd enables, down to our scope, whatever controller the kernel offers and
    // a unit property needs (a user's instance: what user@.service delegates).
    plan.bus = host.as_root ? systemd::Bus::kSystem : systemd::Bus::kUser;
    plan.unit = systemd::ScopeUnit(name);
    if (!host.as_root) plan.why += "; not root: the user's own systemd, on the user bus, "
                                   "as rootless podman does";
    Hierarchy h;
    h.version = 2;
    h.mount = layout.v2_mount;
    h.own = "/";
    for (const auto& c : Words(layout.v2_mount + "/cgroup.controllers"))
      if (std::find(Controllers().begin(), Controllers().end(), c) != Controllers().end())
        h.controllers.push_back(c);
    offered.hierarchies = {h};
  }
  plan.notes = DropUnavailableDefaults(limits, offered);
  const struct {
    const char* controller;
    bool wanted;
    const char* flag;
  } kWants[] = {{"memory", limits.memory_bytes.has_value(), "--memory"},
                {"pids", limits.pids.has_value(), "--pids"},
                {"cpu", limits.cpus.has_value(), "--cpus"}};
  for (const auto& w : kWants)
    if (w.wanted && offered.For(w.controller) == nullptr)
      throw UsageError(std::string(w.flag) + " needs the " + w.controller +
                       " controller, which is not available here: " + layout.reason);
  plan.limits = limits;
  return plan;
}

// ---- Placement -----------------------------------------------------------------------

Placement::Placement(Placement&& o) noexcept
    : manager_(o.manager_),
      keeper_(std::exchange(o.keeper_, -1)),
      bus_(o.bus_),
      unit_(std::exchange(o.unit_, {})),
      why_(std::move(o.why_)),
      cgroup_(std::move(o.cgroup_)) {}

Placement& Placement::operator=(Placement&& o) noexcept {
  if (this != &o) {
    Placement previous(std::move(*this));  // its destructor ends our old one
    manager_ = o.manager_;
    keeper_ = std::exchange(o.keeper_, -1);
    bus_ = o.bus_;
    unit_ = std::exchange(o.unit_, {});
    why_ = std::move(o.why_);
    cgroup_ = std::move(o.cgroup_);
  }
  return *this;
}

Placement::~Placement() {
  try {
    Destroy();
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s: warning: %s not fully removed: %s\n", ProgramName().c_str(),
                 unit_.empty() ? "cgroup" : unit_.c_str(), e.what());
  }
}

std::vector<std::string> Placement::Dirs() const {
  std::vector<std::string> out;
  for (const auto& n : cgroup_.nodes()) out.push_back(n.dir);
  return out;
}

std::string Placement::Describe() const {
  std::string dirs;
  for (const auto& d : Dirs()) dirs += (dirs.empty() ? "" : " ") + d;
  if (manager_ == Manager::kSystemd)
    return "systemd: scope " + unit_ + " (" + systemd::BusName(bus_) + "), " + dirs + ": " + why_;
  return "cgroupfs: " + dirs + ": " + cgroup_.where() + " (" + why_ + ")";
}

void Placement::EndKeeper() {
  if (keeper_ <= 0) return;
  kill(keeper_, SIGKILL);
  while (waitpid(keeper_, nullptr, 0) < 0 && errno == EINTR) {
  }
  keeper_ = -1;
}

void Placement::Destroy() {
  // The processes first (cgroup.kill), in both cases; then the directories, or the
  // scope: systemd removes its cgroup when the unit stops. Our keeper is reaped
  // first, so that no zombie of ours is left to wait for.
  EndKeeper();
  std::exception_ptr first;
  try {
    cgroup_.Destroy();
  } catch (...) {
    first = std::current_exception();
  }
  if (!unit_.empty()) {
    const std::string unit = std::exchange(unit_, {});
    try {
      systemd::StopUnitIfLoaded(bus_, unit);
    } catch (...) {
      if (!first) first = std::current_exception();
    }
  }
  if (first) std::rethrow_exception(first);
}

std::vector<std::string> Placement::Release() {
  EndKeeper();  // the scope lives on with its container alone
  unit_.clear();
  return cgroup_.Release();
}

Placement Place(const Plan& plan, pid_t pid, bool hold_scope) {
  Placement p;
  p.manager_ = plan.manager;
  p.why_ = plan.why;
  if (plan.manager == Manager::kCgroupfs) {
    p.cgroup_ = Create(plan.layout, plan.name, plan.limits);
    p.cgroup_.AddProcess(pid);
    return p;
  }
  // systemd: the scope is made of the waiting child. Once the job is done, systemd
  // has moved it into <mount>/nslab.slice/<unit> and written each limit there.
  systemd::ScopeSpec spec;
  spec.unit = plan.unit;
  spec.description = "nslab sandbox " + plan.name;
  spec.pid = pid;
  spec.limits = plan.limits;
  p.bus_ = plan.bus;
  if (hold_scope) {
    const pid_t parent = getpid();
    pid_t keeper = Check(fork(), "fork", "scope keeper");
    if (keeper == 0) {
      // Only async-signal-safe calls here: the parent may have threads.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(0);
      for (;;) pause();
    }
    p.keeper_ = keeper;  // from here ~Placement kills and reaps it
    spec.keeper = keeper;
  }
  systemd::StartScope(plan.bus, spec);
  p.unit_ = plan.unit;  // from here ~Placement stops it
  const std::string dir = plan.layout.v2_mount + V2PathOf(pid);
  std::vector<std::string> controllers = Words(dir + "/cgroup.controllers");
  p.cgroup_ = ScopedCgroup::Adopt(plan.name, {2, dir, controllers}, /*remove_dir=*/false,
                                  "systemd's scope " + plan.unit);
  // Delegate=yes: the cgroup's files are ours to read (and below it, to write).
  // Check that systemd honoured each limit: a user's instance may lack a controller
  // that user@.service was not delegated.
  const Limits& l = plan.limits;
  const struct {
    bool wanted, is_default;
    const char* file;
    const char* flag;
  } kFiles[] = {{l.memory_bytes.has_value(), l.memory_is_default, "memory.max", "--memory"},
                {l.pids.has_value(), l.pids_is_default, "pids.max", "--pids"},
                {l.cpus.has_value(), l.cpus_is_default, "cpu.max", "--cpus"}};
  for (const auto& f : kFiles) {
    if (!f.wanted) continue;
    const std::string file = dir + "/" + f.file;
    if (!Exists(file) && f.is_default) {
      narrate::Step(std::string("no ") + f.file + " in " + dir + ": systemd did not enable "
                    "its controller there, so the default " + f.flag + " is skipped");
      continue;
    }
    if (!Exists(file))
      throw SysError(ENOENT, "open", file,
                     std::string(f.flag) + ": systemd's " + systemd::BusName(plan.bus) +
                         " instance did not enable that controller for " + plan.unit);
    narrate::Step("systemd wrote " + file + ": " + TrimNewlines(ReadFile(file)));
  }
  return p;
}

}  // namespace nslab::cgroup
