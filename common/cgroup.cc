#include "common/cgroup.h"

#include <dirent.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include "common/error.h"
#include "common/fd.h"
#include "common/narrate.h"
#include "common/process.h"

namespace nslab::cgroup {
namespace {

FakeKernel& Fake() {
  static FakeKernel fake;
  return fake;
}

// ---- small helpers ----------------------------------------------------------------

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

std::string Join(const std::string& dir, std::string_view name) {
  std::string out = dir;
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  while (!name.empty() && name.front() == '/') name.remove_prefix(1);
  if (name.empty()) return out;
  if (out.empty() || out.back() != '/') out += '/';
  out += name;
  return out;
}

std::vector<std::string> Split(std::string_view text, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(sep, start);
    if (end == std::string_view::npos) end = text.size();
    if (end > start) out.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// The words of a file's first line: "memory pids cpu\n" -> {memory, pids, cpu}.
std::vector<std::string> FirstLineWords(const std::string& text) {
  return Split(text.substr(0, text.find('\n')), ' ');
}

bool Contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// "memory", "memory and pids", "memory, pids and cpu".
std::string ListText(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += i + 1 == items.size() ? " and " : ", ";
    out += items[i];
  }
  return out;
}

// The value after `key` in "key value" lines (memory.events, cpu.stat, pids.events,
// memory.oom_control); 0 when the key is absent.
int64_t KeyValue(const std::string& text, std::string_view key) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto words = Split(line, ' ');
    if (words.size() == 2 && words[0] == key) {
      try {
        return std::stoll(words[1]);
      } catch (const std::exception&) {
        return 0;
      }
    }
  }
  return 0;
}

// A file holding one number ("max" counts as 0); 0 when absent.
int64_t ReadNumber(const std::string& path) {
  if (!Exists(path)) return 0;
  std::string text = ReadFile(path);
  try {
    return std::stoll(text);
  } catch (const std::exception&) {
    return 0;
  }
}

std::string ReadIfExists(const std::string& path) {
  return Exists(path) ? ReadFile(path) : std::string();
}

// Writes a control file, narrated with -v as the write(2) it is.
void WriteControl(const std::string& path, const std::string& value) {
  narrate::Syscall("write", "\"" + path + "\", \"" + value + "\"");
  WriteFile(path, value);
}

int64_t NowMs(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

int64_t MonotonicMs() { return NowMs(CLOCK_MONOTONIC); }

void SleepMs(int ms) {
  timespec ts{0, static_cast<long>(ms) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

// How long cleanup waits for killed processes to leave the cgroup before giving up.
constexpr int64_t kEmptyTimeoutMs = 10000;

[[noreturn]] void BadValue(std::string_view what, std::string_view text,
                           std::string_view expected) {
  throw UsageError("invalid " + std::string(what) + " \"" + std::string(text) +
                   "\": " + std::string(expected));
}

// Digits only, into a non-negative int64; false when empty, not digits, or overflow.
bool ParseDigits(std::string_view text, int64_t* out) {
  if (text.empty()) return false;
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, c - '0', &v))
      return false;
  }
  *out = v;
  return true;
}

std::string HintForMkdir(int err, const std::string& parent) {
  switch (err) {
    case EACCES:
    case EPERM:
      return "creating a cgroup needs write access to " + parent +
             ": run as root, or in a cgroup delegated to you";
    case EROFS:
      return "the cgroup filesystem is mounted read-only here: in Bazel's test sandbox "
             "(tag the test no-sandbox) or in a container";
    case EEXIST:
      return "a cgroup of that name exists already: a run with the same pid left it behind; "
             "rmdir it";
    case ENOENT:
      return "our own cgroup " + parent + " does not exist: is /proc/self/cgroup from "
             "another cgroup namespace than the mount?";
    default:
      return "";
  }
}

std::vector<pid_t> ReadPids(const std::string& procs_file) {
  std::vector<pid_t> out;
  std::string text;
  try {
    text = ReadFile(procs_file);
  } catch (const SysError& e) {
    if (e.err() == ENOENT || e.err() == ENODEV) return out;  // removed already
    throw;
  }
  for (const auto& line : Split(text, '\n')) {
    int64_t v;
    if (ParseDigits(line, &v) && v > 0) out.push_back(static_cast<pid_t>(v));
  }
  return out;
}

// rmdir, retried while the kernel still counts a dying process in the cgroup
// (EBUSY) for a bounded time. ENOENT: gone already, fine.
void RemoveDir(const std::string& dir) {
  if (Fake().before_rmdir) Fake().before_rmdir(dir);
  const int64_t deadline = MonotonicMs() + kEmptyTimeoutMs;
  for (;;) {
    narrate::Syscall("rmdir", "\"" + dir + "\"");
    if (rmdir(dir.c_str()) == 0) return;
    int err = errno;
    if (err == ENOENT) return;
    if (err != EBUSY || MonotonicMs() > deadline)
      throw SysError(err, "rmdir", dir,
                     err == EBUSY ? "a process or a child cgroup is still inside" : "");
    SleepMs(5);
  }
}

}  // namespace

// ---- Limits --------------------------------------------------------------------------

std::string FormatBytes(int64_t bytes) {
  static const char* kUnits[] = {"", "K", "M", "G", "T"};
  int unit = 0;
  while (unit < 4 && bytes != 0 && bytes % 1024 == 0) {
    bytes /= 1024;
    ++unit;
  }
  return std::to_string(bytes) + kUnits[unit];
}

std::string Limits::Describe() const {
  std::vector<std::string> parts;
  if (memory_bytes) parts.push_back("memory " + FormatBytes(*memory_bytes));
  if (pids) parts.push_back("pids " + std::to_string(*pids));
  if (cpus) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "cpus %g", *cpus);
    parts.push_back(buf);
  }
  if (parts.empty()) return "no limits";
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

int64_t ParseMemory(std::string_view text) {
  constexpr const char* kExpected =
      "expected a size such as 64M, 512K, 1G or a number of bytes, at least 1M";
  std::string_view digits = text;
  int64_t unit = 1;
  if (!digits.empty()) {
    switch (digits.back()) {
      case 'k': case 'K': unit = int64_t{1} << 10; break;
      case 'm': case 'M': unit = int64_t{1} << 20; break;
      case 'g': case 'G': unit = int64_t{1} << 30; break;
      case 't': case 'T': unit = int64_t{1} << 40; break;
      default: break;
    }
    if (unit != 1) digits.remove_suffix(1);
  }
  int64_t n, bytes;
  if (!ParseDigits(digits, &n)) BadValue("memory limit", text, kExpected);
  if (__builtin_mul_overflow(n, unit, &bytes))
    BadValue("memory limit", text, "too large: the most is 8191P");
  if (bytes < (int64_t{1} << 20))
    BadValue("memory limit", text,
             "below 1M the sandbox could not even start its first program");
  return bytes;
}

int64_t ParsePids(std::string_view text) {
  constexpr int64_t kPidMaxLimit = 4194304;  // PID_MAX_LIMIT on 64-bit kernels
  int64_t n;
  if (!ParseDigits(text, &n))
    BadValue("pids limit", text, "expected a whole number of processes, such as 32");
  if (n < 1 || n > kPidMaxLimit)
    BadValue("pids limit", text,
             "must be from 1 (the sandbox's first process counts) to 4194304");
  return n;
}

double ParseCpus(std::string_view text) {
  constexpr const char* kExpected =
      "expected a number of CPUs such as 0.5, 1 or 1.25, from 0.01 to 1024";
  size_t dot = text.find('.');
  std::string_view whole = text.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  int64_t w, f = 0;
  if (whole.size() > 4 || !ParseDigits(whole, &w)) BadValue("cpus limit", text, kExpected);
  if (dot != std::string_view::npos && (frac.size() > 6 || !ParseDigits(frac, &f)))
    BadValue("cpus limit", text, kExpected);
  double cpus = static_cast<double>(w) + static_cast<double>(f) / std::pow(10.0, frac.size());
  if (cpus < 0.01 || cpus > 1024) BadValue("cpus limit", text, kExpected);
  return cpus;
}

int64_t CpuQuotaUsec(double cpus) {
  // The kernel refuses quotas under 1 ms; 0.01 CPU is exactly that.
  return std::max<int64_t>(1000, std::llround(cpus * kCpuPeriodUsec));
}

void SetDefaults(Limits& limits, int64_t memory_bytes, int64_t pids, double cpus) {
  if (!limits.memory_bytes) {
    limits.memory_bytes = memory_bytes;
    limits.memory_is_default = true;
  }
  if (!limits.pids) {
    limits.pids = pids;
    limits.pids_is_default = true;
  }
  if (!limits.cpus) {
    limits.cpus = cpus;
    limits.cpus_is_default = true;
  }
}

std::vector<std::string> DropUnavailableDefaults(Limits& limits, const Layout& layout) {
  std::vector<std::string> notes;
  auto drop = [&](const char* controller, bool is_default, auto& field, const char* flag) {
    if (!field || !is_default || layout.For(controller) != nullptr) return;
    field.reset();
    notes.push_back(std::string("no ") + controller + " limit: the " + controller +
                    " controller is not available here, so the default is skipped (" + flag +
                    " would be refused)");
  };
  drop("memory", limits.memory_is_default, limits.memory_bytes, "--memory");
  drop("pids", limits.pids_is_default, limits.pids, "--pids");
  drop("cpu", limits.cpus_is_default, limits.cpus, "--cpus");
  return notes;
}

void AddLimitFlags(CLI::App& app, Limits& limits) {
  // Each value is parsed strictly as the command line is read, so that a bad value
  // stops the lab before any namespace or cgroup exists. CLI11's Throw policy makes
  // a flag given twice an error instead of silently keeping one of the values.
  auto add = [&app](const char* name, const char* type, const char* help, auto parse,
                    auto* field) {
    app.add_option_function<std::string>(
           name,
           [name, parse, field](const std::string& value) {
             try {
               *field = parse(value);
             } catch (const UsageError& e) {
               throw CLI::ValidationError(name, e.what());
             }
           },
           help)
        ->type_name(type)
        ->multi_option_policy(CLI::MultiOptionPolicy::Throw);
  };
  add("--memory", "SIZE",
      "Memory limit for the sandbox (64M, 1G...): past it the kernel's OOM killer "
      "kills a process inside",
      ParseMemory, &limits.memory_bytes);
  add("--pids", "N",
      "Most processes (and threads) the sandbox may have at once: fork fails past it",
      ParsePids, &limits.pids);
  add("--cpus", "CPUS",
      "CPU time per 100 ms period, in CPUs (0.5 = 50 ms): the sandbox is throttled past it",
      ParseCpus, &limits.cpus);
}

// ---- Detect ----------------------------------------------------------------------------

const std::vector<std::string>& Controllers() {
  static const std::vector<std::string> kControllers = {"memory", "pids", "cpu"};
  return kControllers;
}

std::string Hierarchy::OwnDir() const { return Join(mount, own); }

std::string ModeName(Mode mode) {
  switch (mode) {
    case Mode::kV2: return "cgroup v2";
    case Mode::kV1: return "cgroup v1";
    case Mode::kHybrid: return "hybrid (v1 and v2)";
    case Mode::kNone: break;
  }
  return "none";
}

const Hierarchy* Layout::For(std::string_view controller) const {
  for (const auto& h : hierarchies)
    if (Contains(h.controllers, controller)) return &h;
  return nullptr;
}

Layout Detect(const std::string& sys_fs_cgroup, const std::string& proc_self_cgroup,
              bool as_root) {
  // /proc/self/cgroup: "hierarchy-ID:controller-list:cgroup-path" per line. A v1
  // hierarchy has a nonzero ID and its controllers; the v2 line is "0::/path".
  struct V1Line {
    std::vector<std::string> controllers;
    std::string path;
  };
  std::vector<V1Line> v1;
  std::optional<std::string> v2_path;
  for (const auto& line : Split(ReadFile(proc_self_cgroup), '\n')) {
    size_t a = line.find(':');
    size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string id = line.substr(0, a), list = line.substr(a + 1, b - a - 1),
                path = line.substr(b + 1);
    if (id == "0" && list.empty()) {
      v2_path = path;
    } else {
      v1.push_back({Split(list, ','), path});
    }
  }

  Layout layout;
  // Where cgroup2 is mounted: /sys/fs/cgroup itself on a pure v2 host, or
  // /sys/fs/cgroup/unified on a hybrid one (systemd's layout for v1 controllers).
  for (const char* sub : {"", "unified"}) {
    std::string m = Join(sys_fs_cgroup, sub);
    if (Exists(Join(m, "cgroup.controllers"))) {
      layout.v2_mount = m;
      break;
    }
  }
  std::vector<std::string> v2_offers;  // what our v2 cgroup may hand to its children
  std::vector<std::string> root_offers;  // what the kernel offers at the top
  if (!layout.v2_mount.empty() && v2_path) {
    std::string f = Join(Join(layout.v2_mount, *v2_path), "cgroup.controllers");
    if (Exists(f)) v2_offers = FirstLineWords(ReadFile(f));
    // Only the real root of the hierarchy lacks cgroup.type (cgroup-v2.rst); the
    // root of a cgroup namespace, or a container's mount, has one.
    layout.v2_real_root = !Exists(Join(layout.v2_mount, "cgroup.type"));
    if (layout.v2_real_root)
      root_offers = FirstLineWords(ReadIfExists(Join(layout.v2_mount, "cgroup.controllers")));
  }
  std::vector<std::string> enabled_down;  // for the reason

  std::vector<std::string> on_v1, on_v2, unmounted;
  std::vector<std::string> v1_mounts;
  std::vector<const V1Line*> hierarchy_line;  // per hierarchy: its v1 line (v2: null)
  for (const auto& c : Controllers()) {
    const V1Line* bound = nullptr;
    for (const auto& l : v1)
      if (Contains(l.controllers, c)) bound = &l;
    if (bound != nullptr) {
      // Bound to a v1 hierarchy: it cannot be used on v2 at the same time. It is
      // mounted at /sys/fs/cgroup/<controller> (or at the co-mounted list's name,
      // "cpu,cpuacct", which systemd links "cpu" to).
      std::string joined;
      for (const auto& x : bound->controllers) joined += (joined.empty() ? "" : ",") + x;
      std::string mount;
      for (const std::string& cand : {Join(sys_fs_cgroup, c), Join(sys_fs_cgroup, joined)})
        if (mount.empty() && Exists(Join(cand, "cgroup.procs"))) mount = cand;
      if (mount.empty()) {
        unmounted.push_back(c);
        layout.missing.push_back(c);
        continue;
      }
      // One hierarchy per /proc/self/cgroup line: co-mounted controllers share it
      // even when reached through different links.
      Hierarchy* h = nullptr;
      for (size_t i = 0; i < layout.hierarchies.size(); ++i)
        if (hierarchy_line[i] == bound) h = &layout.hierarchies[i];
      if (h == nullptr) {
        layout.hierarchies.push_back({1, mount, bound->path, {}, joined, {}});
        hierarchy_line.push_back(bound);
        h = &layout.hierarchies.back();
        v1_mounts.push_back(mount);
      }
      h->controllers.push_back(c);
      on_v1.push_back(c);
    } else if (Contains(v2_offers, c) || (as_root && Contains(root_offers, c))) {
      // Offered to our cgroup, or (root) offered by the kernel and not yet enabled
      // on the way down to us: Create enables it, parent by parent.
      Hierarchy* h = nullptr;
      for (auto& x : layout.hierarchies)
        if (x.version == 2) h = &x;
      if (h == nullptr) {
        layout.hierarchies.push_back({2, layout.v2_mount, *v2_path, {}, "", {}});
        hierarchy_line.push_back(nullptr);
        h = &layout.hierarchies.back();
      }
      h->controllers.push_back(c);
      if (!Contains(v2_offers, c)) {
        h->enable_down.push_back(c);
        enabled_down.push_back(c);
      }
      on_v2.push_back(c);
    } else {
      layout.missing.push_back(c);
    }
  }

  if (!on_v1.empty() && !on_v2.empty()) layout.mode = Mode::kHybrid;
  else if (!on_v1.empty()) layout.mode = Mode::kV1;
  else if (!on_v2.empty()) layout.mode = Mode::kV2;

  // The reason, in the order a student would check it.
  std::vector<std::string> parts;
  if (!on_v2.empty()) {
    const Hierarchy* h = layout.For(on_v2[0]);
    parts.push_back(ListText(on_v2) + (on_v2.size() == 1 ? " is" : " are") +
                    " offered by the cgroup v2 tree at " + layout.v2_mount +
                    " (listed in " + Join(h->OwnDir(), "cgroup.controllers") + ")");
    if (!enabled_down.empty())
      parts.push_back(ListText(enabled_down) + " (offered by the kernel in " +
                      Join(layout.v2_mount, "cgroup.controllers") +
                      " but not enabled down to our cgroup) will be enabled on the way down");
  }
  if (!on_v1.empty()) {
    std::string mounts;
    for (const auto& m : v1_mounts) mounts += (mounts.empty() ? "" : ", ") + m;
    const char* bound = on_v1.size() == 1 ? " is bound to a cgroup v1 hierarchy ("
                                          : " are bound to cgroup v1 hierarchies (";
    parts.push_back(ListText(on_v1) + bound + mounts + ")");
    if (!layout.v2_mount.empty()) {
      std::string offers = v2_offers.empty() ? "no controller" : "only " + ListText(v2_offers);
      parts.push_back("the cgroup2 mount at " + layout.v2_mount + " offers " + offers +
                      " — a controller lives in one version at a time");
    }
  }
  if (!unmounted.empty())
    parts.push_back(ListText(unmounted) + " is bound to a v1 hierarchy that is not mounted under " +
                    sys_fs_cgroup);
  std::vector<std::string> absent;
  for (const auto& c : layout.missing)
    if (!Contains(unmounted, c)) absent.push_back(c);
  if (!absent.empty())
    parts.push_back(ListText(absent) + " is in no v1 hierarchy and not offered by " +
                    (layout.v2_mount.empty() ? std::string("a cgroup2 mount (none found)")
                                             : "the cgroup2 tree at " + layout.v2_mount));
  std::string reason;
  for (const auto& p : parts) reason += (reason.empty() ? "" : "; ") + p;
  switch (layout.mode) {
    case Mode::kV2: reason += ", so this lab uses cgroup v2"; break;
    case Mode::kV1: reason += ", so this lab uses cgroup v1"; break;
    case Mode::kHybrid: reason += ", so this lab uses both (hybrid)"; break;
    case Mode::kNone: reason += ", so this lab cannot set any limit"; break;
  }
  layout.reason = reason;
  return layout;
}

// ---- ScopedCgroup ------------------------------------------------------------------------

ScopedCgroup::ScopedCgroup(ScopedCgroup&& other) noexcept
    : name_(std::move(other.name_)),
      nodes_(std::exchange(other.nodes_, {})),
      remove_dirs_(other.remove_dirs_),
      enabled_(std::exchange(other.enabled_, {})),
      v2_parent_(std::exchange(other.v2_parent_, {})),
      lab_leaf_(std::exchange(other.lab_leaf_, {})),
      made_parents_(std::exchange(other.made_parents_, {})),
      where_(std::move(other.where_)),
      top_level_(other.top_level_) {}

ScopedCgroup& ScopedCgroup::operator=(ScopedCgroup&& other) noexcept {
  if (this != &other) {
    ScopedCgroup previous(std::move(*this));  // its destructor removes our old cgroup
    name_ = std::move(other.name_);
    nodes_ = std::exchange(other.nodes_, {});
    remove_dirs_ = other.remove_dirs_;
    enabled_ = std::exchange(other.enabled_, {});
    v2_parent_ = std::exchange(other.v2_parent_, {});
    lab_leaf_ = std::exchange(other.lab_leaf_, {});
    made_parents_ = std::exchange(other.made_parents_, {});
    where_ = std::move(other.where_);
    top_level_ = other.top_level_;
  }
  return *this;
}

ScopedCgroup::~ScopedCgroup() {
  int saved = errno;
  try {
    Destroy();
  } catch (const std::exception& e) {
    // A destructor cannot throw; say what is left behind instead of hiding it.
    std::fflush(stdout);
    std::fprintf(stderr, "%s: warning: cgroup %s not fully removed: %s\n",
                 ProgramName().c_str(), name_.c_str(), e.what());
  }
  errno = saved;
}

std::string ScopedCgroup::DirFor(std::string_view controller) const {
  for (const auto& n : nodes_)
    if (Contains(n.controllers, controller)) return n.dir;
  return "";
}

void ScopedCgroup::AddProcess(pid_t pid) {
  // Writing a pid to cgroup.procs moves the whole process (all its threads); what
  // it forks afterwards is born in the same cgroup. It has to happen while the child
  // still waits on the sync pipe: once it has exec'd, anything it forked early would
  // have escaped the limits.
  for (const auto& n : nodes_) {
    std::string procs = Join(n.dir, "cgroup.procs");
    try {
      WriteControl(procs, std::to_string(pid));
    } catch (const SysError& e) {
      if (e.err() == ESRCH) throw SysError(e, "process " + std::to_string(pid) + " is gone");
      throw;
    }
  }
}

std::vector<pid_t> ScopedCgroup::Pids() const {
  std::set<pid_t> all;
  for (const auto& n : nodes_)
    for (pid_t p : ReadPids(Join(n.dir, "cgroup.procs"))) all.insert(p);
  return {all.begin(), all.end()};
}

MemoryCounters ScopedCgroup::Memory() const {
  MemoryCounters m;
  for (const auto& n : nodes_) {
    if (!Contains(n.controllers, "memory")) continue;
    if (n.version == 2) {
      std::string ev = ReadIfExists(Join(n.dir, "memory.events"));
      m.max = KeyValue(ev, "max");
      m.oom = KeyValue(ev, "oom");
      m.oom_kill = KeyValue(ev, "oom_kill");
      m.peak = ReadNumber(Join(n.dir, "memory.peak"));
    } else {
      // With memsw limited too, the kernel charges memory+swap first, and a refusal
      // counts in memory.memsw.failcnt instead of memory.failcnt: add both.
      m.max = ReadNumber(Join(n.dir, "memory.failcnt")) +
              ReadNumber(Join(n.dir, "memory.memsw.failcnt"));
      std::string oc = ReadIfExists(Join(n.dir, "memory.oom_control"));
      m.oom = KeyValue(oc, "under_oom");
      m.oom_kill = KeyValue(oc, "oom_kill");
      m.peak = ReadNumber(Join(n.dir, "memory.max_usage_in_bytes"));
    }
  }
  return m;
}

PidsCounters ScopedCgroup::PidsEvents() const {
  PidsCounters p;
  std::string dir = DirFor("pids");
  if (dir.empty()) return p;
  p.max = KeyValue(ReadIfExists(Join(dir, "pids.events")), "max");
  p.current = ReadNumber(Join(dir, "pids.current"));
  p.peak = ReadNumber(Join(dir, "pids.peak"));
  return p;
}

CpuCounters ScopedCgroup::Cpu() const {
  CpuCounters c;
  for (const auto& n : nodes_) {
    if (!Contains(n.controllers, "cpu")) continue;
    std::string st = ReadIfExists(Join(n.dir, "cpu.stat"));
    c.nr_periods = KeyValue(st, "nr_periods");
    c.nr_throttled = KeyValue(st, "nr_throttled");
    if (n.version == 2) {
      c.throttled_usec = KeyValue(st, "throttled_usec");
      c.usage_usec = KeyValue(st, "usage_usec");
    } else {
      c.throttled_usec = KeyValue(st, "throttled_time") / 1000;  // v1 counts nanoseconds
    }
  }
  return c;
}

void ScopedCgroup::Destroy() {
  if (nodes_.empty() && lab_leaf_.empty() && enabled_.empty() && made_parents_.empty()) return;
  std::optional<SysError> first_error;
  auto keep = [&](const SysError& e) {
    if (!first_error) first_error = e;
  };

  // 1. Kill what is left. cgroup v2 (Linux 5.14+) has cgroup.kill: one write and the
  //    kernel kills every process in the subtree, even one forking in a loop. v1 has
  //    no such file: SIGKILL each pid listed in cgroup.procs, and again for any that
  //    a fork bomb made in between, until the list stays empty.
  bool kernel_kill = false;
  bool self_inside = false;
  try {
    std::vector<pid_t> inside = Pids();
    self_inside = std::find(inside.begin(), inside.end(), getpid()) != inside.end();
  } catch (const SysError&) {
  }
  for (const auto& n : nodes_) {
    std::string kill_file = Join(n.dir, "cgroup.kill");
    if (n.version == 2 && !self_inside && Exists(kill_file)) {
      try {
        WriteControl(kill_file, "1");
        kernel_kill = true;
      } catch (const SysError& e) {
        // Gone between the check and the write: systemd removes a scope's cgroup as
        // soon as it is empty (ENOENT), and a cgroup being removed refuses writes
        // (ENODEV). Nothing is left to kill then.
        if (e.err() != ENOENT && e.err() != ENODEV) keep(e);
      }
    }
  }
  const int64_t deadline = MonotonicMs() + kEmptyTimeoutMs;
  for (;;) {
    std::vector<pid_t> left;
    try {
      left = Pids();
    } catch (const SysError& e) {
      keep(e);
      break;
    }
    if (left.empty()) break;
    if (std::find(left.begin(), left.end(), getpid()) != left.end()) {
      // Never kill ourselves: a caller that moved itself in must move out first.
      keep(SysError(EBUSY, "rmdir", name_, "this process itself is inside the cgroup"));
      break;
    }
    if (MonotonicMs() > deadline) {
      keep(SysError(EBUSY, "kill", name_, "processes keep appearing in the cgroup"));
      break;
    }
    for (pid_t p : left) {
      if (Fake().kill_process) {
        Fake().kill_process(p);  // a test's fake kernel: the pid "dies"
      } else if (!kernel_kill) {
        narrate::Syscall("kill", std::to_string(p) + ", SIGKILL");
        kill(p, SIGKILL);
      }
    }
    // Dying takes the kernel a moment (exit, then leaving the cgroup); v1 offers no
    // notification for "empty" short of a release agent, so poll briefly.
    SleepMs(5);
  }

  // 2. Remove the directories. Only empty cgroups can be removed; rmdir ignores the
  //    control files in them (they are not real files).
  for (auto it = nodes_.rbegin(); remove_dirs_ && it != nodes_.rend(); ++it) {
    try {
      RemoveDir(it->dir);
    } catch (const SysError& e) {
      keep(e);
    }
  }
  nodes_.clear();

  // 3. v2 only: undo what Create did to make room (see Create), deepest first. A
  //    controller another cgroup still uses below cannot be disabled (EBUSY), and a
  //    parent at the top that another run still uses cannot be removed: both are
  //    theirs now, and they stay.
  for (auto it = made_parents_.rbegin(); it != made_parents_.rend(); ++it) {
    if (Fake().before_rmdir) Fake().before_rmdir(*it);
    narrate::Syscall("rmdir", "\"" + *it + "\"");
    if (rmdir(it->c_str()) < 0 && errno != EBUSY && errno != ENOTEMPTY && errno != ENOENT)
      keep(SysError(errno, "rmdir", *it));
  }
  made_parents_.clear();
  for (auto it = enabled_.rbegin(); it != enabled_.rend(); ++it) {
    const std::string file = Join(it->first, "cgroup.subtree_control");
    if (!Exists(file)) continue;  // in a parent removed above
    try {
      WriteControl(file, "-" + it->second);
    } catch (const SysError& e) {
      if (e.err() != EBUSY) keep(e);
    }
  }
  enabled_.clear();
  if (!lab_leaf_.empty()) {
    try {
      WriteControl(Join(v2_parent_, "cgroup.procs"), std::to_string(getpid()));
      RemoveDir(lab_leaf_);
    } catch (const SysError& e) {
      keep(e);
    }
    lab_leaf_.clear();
  }
  if (first_error) throw *first_error;
}

std::vector<std::string> ScopedCgroup::Release() {
  std::vector<std::string> dirs;
  for (const auto& n : nodes_) dirs.push_back(n.dir);
  nodes_.clear();
  enabled_.clear();
  lab_leaf_.clear();
  made_parents_.clear();
  return dirs;
}

ScopedCgroup ScopedCgroup::Adopt(const std::string& name, Node node, bool remove_dir,
                                 std::string where) {
  ScopedCgroup cg;
  cg.name_ = name;
  cg.nodes_.push_back(std::move(node));
  cg.remove_dirs_ = remove_dir;
  cg.where_ = std::move(where);
  return cg;
}

// ---- Create -----------------------------------------------------------------------------

namespace {

// mkdir one cgroup directory; the kernel fills it with control files.
void MakeCgroupDir(const std::string& parent, const std::string& dir) {
  narrate::Syscall("mkdir", "\"" + dir + "\", 0755");
  if (mkdir(dir.c_str(), 0755) < 0) {
    int err = errno;
    throw SysError(err, "mkdir", dir, HintForMkdir(err, parent));
  }
  if (Fake().after_mkdir) Fake().after_mkdir(dir);
}

}  // namespace

ScopedCgroup Create(const Layout& layout, const std::string& name, const Limits& limits,
                    const CreateOptions& options) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos)
    throw UsageError("invalid cgroup name \"" + name + "\": one path component expected");
  // Refuse a limit we cannot enforce before anything exists.
  const struct {
    const char* controller;
    bool wanted;
    const char* flag;
  } kWants[] = {{"memory", limits.memory_bytes.has_value(), "--memory"},
                {"pids", limits.pids.has_value(), "--pids"},
                {"cpu", limits.cpus.has_value(), "--cpus"}};
  for (const auto& w : kWants)
    if (w.wanted && layout.For(w.controller) == nullptr)
      throw UsageError(std::string(w.flag) + " needs the " + w.controller +
                       " controller, which is not available here: " + layout.reason);
  if (layout.hierarchies.empty())
    throw UsageError("no cgroup controller is available: " + layout.reason);

  ScopedCgroup cg;  // if anything below throws, its destructor removes what exists
  cg.name_ = name;
  // "+memory" into dir's cgroup.subtree_control for each controller not there yet,
  // remembered so that Destroy can undo it.
  auto enable = [&cg](const std::string& dir, const std::vector<std::string>& controllers) {
    const std::string file = Join(dir, "cgroup.subtree_control");
    std::vector<std::string> on = FirstLineWords(ReadIfExists(file));
    for (const auto& c : controllers) {
      if (Contains(on, c)) continue;
      WriteControl(file, "+" + c);
      cg.enabled_.emplace_back(dir, c);
    }
  };
  // The processes in a v2 cgroup; none for the real root, which the "no internal
  // processes" rule exempts (it is the one without a cgroup.type file).
  auto processes = [](const std::string& dir) {
    return Exists(Join(dir, "cgroup.type")) ? ReadPids(Join(dir, "cgroup.procs"))
                                            : std::vector<pid_t>();
  };
  std::vector<std::string> wheres;
  for (const Hierarchy& h : layout.hierarchies) {
    const std::string own = h.OwnDir();
    std::string parent = own;
    if (h.version == 2) {
      // cgroup v2: a child cgroup gets a controller's files (memory.max...) only when
      // its parent lists the controller in cgroup.subtree_control. And a non-root
      // cgroup may do that only while it holds no process itself (the "no internal
      // process" rule). If our cgroup holds nothing but this lab (as in a fresh
      // `systemd-run --scope -p Delegate=yes`), we step aside into a leaf of our own
      // first — still beneath our cgroup — and undo all of it on Destroy.
      std::vector<std::string> on =
          FirstLineWords(ReadIfExists(Join(own, "cgroup.subtree_control")));
      std::vector<std::string> needed;
      for (const auto& c : h.controllers)
        if (!Contains(on, c)) needed.push_back(c);
      std::vector<pid_t> inside;
      if (!needed.empty()) inside = processes(own);
      const bool alone = inside.size() == 1 && inside[0] == getpid();
      bool nested = inside.empty() || alone;
      std::string busy = own + " holds " + std::to_string(inside.size()) +
                         " processes (your shell among them)";
      // A controller the kernel offers but that nobody enabled down to our cgroup
      // (systemd enables only what its units ask for): root enables it in each
      // ancestor, top first. A populated ancestor refuses (EBUSY) as ours would.
      if (nested && !h.enable_down.empty()) {
        std::vector<std::string> parts = Split(h.own, '/');
        std::string dir = h.mount;
        try {
          for (size_t i = 0; i < parts.size(); ++i) {
            if (!processes(dir).empty())
              throw SysError(EBUSY, "write", Join(dir, "cgroup.subtree_control"));
            enable(dir, h.enable_down);
            dir = Join(dir, parts[i]);
          }
        } catch (const SysError& e) {
          if (e.err() != EBUSY) throw;
          nested = false;
          busy = dir + " (above our cgroup) holds processes";
        }
      }
      if (nested) {
        if (alone) {
          cg.v2_parent_ = own;
          cg.lab_leaf_ = Join(own, name + "-lab");
          MakeCgroupDir(own, cg.lab_leaf_);
          WriteControl(Join(cg.lab_leaf_, "cgroup.procs"), std::to_string(getpid()));
        }
        enable(own, needed);
        wheres.push_back("beneath our own cgroup " + own);
      } else if (options.allow_top_level && options.as_root && layout.v2_real_root &&
                 own != Join(h.mount, "")) {
        // Our cgroup cannot have children with controllers. As root we may use the
        // top of the hierarchy, as runc's cgroupfs driver and Docker (/docker/<id>)
        // do: <mount>/nslab/<name>, enabling the controllers on the way down (the
        // real root is exempt from the rule, and nslab/ holds no process).
        const std::string top = Join(h.mount, options.top);
        enable(h.mount, h.controllers);
        narrate::Syscall("mkdir", "\"" + top + "\", 0755");
        if (mkdir(top.c_str(), 0755) == 0) {
          if (Fake().after_mkdir) Fake().after_mkdir(top);
        } else if (errno != EEXIST) {
          int err = errno;
          throw SysError(err, "mkdir", top, HintForMkdir(err, h.mount));
        }
        cg.made_parents_.push_back(top);  // removed on Destroy unless another run is in it
        enable(top, h.controllers);
        parent = top;
        cg.top_level_ = true;
        wheres.push_back("at the top of the hierarchy, " + top + ": " + busy +
                         ", and cgroup v2 lets a cgroup enable controllers for its children "
                         "only while it holds no process");
      } else {
        throw SysError(EBUSY, "write", Join(own, "cgroup.subtree_control"),
                       "cgroup v2 lets a cgroup enable controllers for its children only "
                       "while it holds no process, and " + busy +
                       (options.as_root ? std::string()
                                        : ": as root nslab would use a cgroup at the top") +
                       "; on a systemd host use --cgroup-manager systemd (the default "
                       "there), or start the lab alone in a delegated cgroup, e.g. "
                       "`systemd-run --scope -p Delegate=yes 10_cgroup`");
      }
    } else {
      wheres.push_back("beneath our own cgroup " + own);
    }
    std::string dir = Join(parent, name);
    MakeCgroupDir(parent, dir);
    cg.nodes_.push_back({h.version, dir, h.controllers});
  }
  bool all_nested = true;
  for (const auto& w : wheres)
    if (w.rfind("beneath our own cgroup", 0) != 0) all_nested = false;
  if (all_nested && wheres.size() > 1) {
    cg.where_ = "beneath our own cgroup in each hierarchy (the paths in /proc/self/cgroup)";
  } else {
    for (const auto& w : wheres) cg.where_ += (cg.where_.empty() ? "" : "; ") + w;
  }

  // The limits, each in the file of the version that carries its controller.
  if (limits.memory_bytes) {
    const Hierarchy* h = layout.For("memory");
    std::string dir = cg.DirFor("memory"), bytes = std::to_string(*limits.memory_bytes);
    if (h->version == 2) {
      WriteControl(Join(dir, "memory.max"), bytes);
      // Without this the kernel would swap the sandbox out instead of OOM-killing it
      // (where swap exists and is accounted).
      if (Exists(Join(dir, "memory.swap.max"))) WriteControl(Join(dir, "memory.swap.max"), "0");
    } else {
      WriteControl(Join(dir, "memory.limit_in_bytes"), bytes);
      // memsw = memory + swap; equal to the memory limit means no swap. It must be
      // written after memory.limit_in_bytes (memsw may never be below it).
      if (Exists(Join(dir, "memory.memsw.limit_in_bytes")))
        WriteControl(Join(dir, "memory.memsw.limit_in_bytes"), bytes);
    }
  }
  if (limits.pids) WriteControl(Join(cg.DirFor("pids"), "pids.max"), std::to_string(*limits.pids));
  if (limits.cpus) {
    const Hierarchy* h = layout.For("cpu");
    std::string dir = cg.DirFor("cpu"), quota = std::to_string(CpuQuotaUsec(*limits.cpus)),
                period = std::to_string(kCpuPeriodUsec);
    // CFS bandwidth control: in each period the cgroup may run for `quota` µs (summed
    // over all CPUs), then it is throttled until the next period begins.
    if (h->version == 2) {
      WriteControl(Join(dir, "cpu.max"), quota + " " + period);
    } else {
      WriteControl(Join(dir, "cpu.cfs_period_us"), period);
      WriteControl(Join(dir, "cpu.cfs_quota_us"), quota);
    }
  }
  return cg;
}

std::vector<std::string> RemoveStale(const Layout& layout, std::string_view prefix) {
  std::vector<std::string> removed;
  std::vector<std::pair<int, std::string>> places;  // (version, directory)
  for (const Hierarchy& h : layout.hierarchies) {
    places.emplace_back(h.version, h.OwnDir());
    if (h.version == 2 && layout.v2_real_root)
      places.emplace_back(h.version, Join(h.mount, CreateOptions().top));
  }
  for (const auto& [version, own] : places) {
    DIR* dir = opendir(own.c_str());
    if (dir == nullptr) continue;
    std::vector<std::string> names;
    while (dirent* e = readdir(dir)) names.emplace_back(e->d_name);
    closedir(dir);
    for (const auto& name : names) {
      if (name.compare(0, prefix.size(), prefix) != 0) continue;
      std::string_view rest(name);
      rest.remove_prefix(prefix.size());
      if (rest.size() > 4 && rest.substr(rest.size() - 4) == "-lab") rest.remove_suffix(4);
      int64_t pid;
      if (!ParseDigits(rest, &pid) || pid <= 0 || pid > std::numeric_limits<pid_t>::max())
        continue;
      // Alive (or not ours to signal, EPERM): leave it alone.
      if (kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
      // Its lab is gone. Anything still inside is a sandbox that outlived it (one
      // whose PR_SET_PDEATHSIG was lost, say): stop it as its lab would have, then
      // remove the cgroup — the same steps as ~ScopedCgroup.
      const std::string path = Join(own, name);
      ScopedCgroup stale;
      stale.name_ = name;
      stale.nodes_.push_back({version, path, {}});
      try {
        stale.Destroy();
        removed.push_back(path);
      } catch (const SysError&) {
        // Cannot be removed (permissions?): leave it for a human to look at.
      }
    }
  }
  return removed;
}

std::string RunCgroupName(std::string_view lab) {
  return "nslab-" + std::string(lab) + "-" + std::to_string(getpid());
}

void UnshareInChild() {
  narrate::Syscall("unshare", "CLONE_NEWCGROUP");
  Check(unshare(CLONE_NEWCGROUP), "unshare", "CLONE_NEWCGROUP");
}

void SetFakeKernelForTesting(FakeKernel fake) { Fake() = std::move(fake); }

int ForkBombInChild(int tries) {
  std::vector<pid_t> kids;
  int refused = 0, first_errno = 0;
  for (int i = 0; i < tries; ++i) {
    pid_t kid = fork();
    if (kid == 0) {
      pause();
      _exit(0);
    }
    if (kid < 0) {
      if (first_errno == 0) first_errno = errno;
      ++refused;
      continue;
    }
    kids.push_back(kid);
  }
  narrate::Step("fork bomb: " + std::to_string(tries) + " forks: " +
                std::to_string(kids.size()) + " succeeded, " + std::to_string(refused) +
                " refused" +
                (refused ? std::string(" with ") + strerrorname_np(first_errno) + " (" +
                               std::strerror(first_errno) + ")"
                         : std::string()));
  for (pid_t kid : kids) kill(kid, SIGKILL);
  for (pid_t kid : kids) process::WaitPid(kid);
  return refused;
}

int MemoryHogInChild(int cap_mb) {
  Pipe progress = MakePipe();
  std::fflush(stdout);
  pid_t hog = Check(fork(), "fork", "memory hog");
  if (hog == 0) process::RunInChild([&] {
    progress.read.Reset();
    for (int mb = 1; mb <= cap_mb; ++mb) {
      char* p = static_cast<char*>(std::malloc(1 << 20));
      if (p == nullptr) return 1;
      std::memset(p, 0xa5, 1 << 20);  // touching the pages is what charges them
      WriteAll(progress.write.Get(), ".");
    }
    return 0;
  });
  progress.write.Reset();
  size_t touched = ReadAll(progress.read.Get()).size();
  process::ExitStatus st = process::WaitPid(hog);
  narrate::Step("memory hog: touched " + std::to_string(touched) + "M of " +
                std::to_string(cap_mb) + "M, then " + st.Describe() +
                (st.signal == SIGKILL ? ": the OOM killer" : ""));
  return static_cast<int>(touched);
}

int64_t CpuSpinInChild(int cpu_ms) {
  Pipe result = MakePipe();
  std::fflush(stdout);
  pid_t spinner = Check(fork(), "fork", "cpu spinner");
  if (spinner == 0) process::RunInChild([&] {
    const int64_t start = NowMs(CLOCK_MONOTONIC);
    while (NowMs(CLOCK_PROCESS_CPUTIME_ID) < cpu_ms) {
    }
    WriteAll(result.write.Get(), std::to_string(NowMs(CLOCK_MONOTONIC) - start));
    return 0;
  });
  result.write.Reset();
  std::string wall = ReadAll(result.read.Get());
  process::WaitPid(spinner);
  narrate::Step("cpu spinner: " + std::to_string(cpu_ms) + " ms of CPU took " + wall +
                " ms of wall time");
  return wall.empty() ? -1 : std::stoll(wall);
}

void ShowLimitsInChild(const Limits& limits, unsigned long host_cgroup_ns) {
  // The nsfs inode of our cgroup namespace: the number `readlink /proc/self/ns/cgroup`
  // shows in brackets.
  struct stat ns;
  Check(stat("/proc/self/ns/cgroup", &ns), "stat", "/proc/self/ns/cgroup");
  narrate::Step("cgroup namespace " + std::to_string(ns.st_ino) + " (the host's is " +
                std::to_string(host_cgroup_ns) + "); /proc/self/cgroup reads:");
  narrate::Block(TrimNewlines(ReadFile("/proc/self/cgroup")));
  ForkBombInChild(static_cast<int>(std::min<int64_t>(2 * limits.pids.value_or(32), 256)));
  MemoryHogInChild(static_cast<int>(
      std::min<int64_t>(4 * (limits.memory_bytes.value_or(int64_t{64} << 20) >> 20), 1024)));
  CpuSpinInChild(300);
}

void ShowCounters(const ScopedCgroup& cg) {
  MemoryCounters m = cg.MemoryEvents();
  PidsCounters p = cg.PidsEvents();
  CpuCounters c = cg.CpuStats();
  auto v2 = [&](const char* controller) {
    for (const auto& n : cg.nodes())
      for (const auto& ctl : n.controllers)
        if (ctl == controller) return n.version == 2;
    return false;
  };
  const bool mem2 = v2("memory"), cpu2 = v2("cpu");
  narrate::Step("what the kernel counted in " + cg.name() + ":");
  narrate::Table(
      {"controller", "file", "counter", "value"},
      {{{"pids", "pids.events", "max", std::to_string(p.max)}, p.max > 0},
       {{"memory", mem2 ? "memory.events" : "memory.oom_control", "oom_kill",
         std::to_string(m.oom_kill)},
        m.oom_kill > 0},
       {{"memory", mem2 ? "memory.events" : "memory.failcnt+memsw.failcnt",
         mem2 ? "max" : "failcnt", std::to_string(m.max)},
        m.max > 0},
       {{"cpu", "cpu.stat", "nr_throttled", std::to_string(c.nr_throttled)}, c.nr_throttled > 0},
       {{"cpu", "cpu.stat", cpu2 ? "throttled_usec" : "throttled_time/1000",
         std::to_string(c.throttled_usec)},
        c.throttled_usec > 0}});
}

}  // namespace nslab::cgroup
