#include "common/cgroup/systemd.h"

#include <dlfcn.h>
#include <systemd/sd-bus.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>

#include "common/error.h"
#include "common/narrate.h"

namespace nslab::cgroup::systemd {
namespace {

constexpr char kDestination[] = "org.freedesktop.systemd1";
constexpr char kPath[] = "/org/freedesktop/systemd1";
constexpr char kManager[] = "org.freedesktop.systemd1.Manager";
// How long we wait for systemd to finish a job (it is a few ms; a hung systemd
// must not hang the lab forever).
constexpr uint64_t kJobTimeoutUsec = 30 * 1000000ull;

// ---- libsystemd, loaded on first use ------------------------------------------------

// The sd-bus functions we call, listed once and looked up in libsystemd.so.0 with
// dlsym (the Api struct and Lib() expand the list). The types come from
// <systemd/sd-bus.h> (libsystemd-dev); nothing is linked against it, so a lab that
// never asks systemd never loads it.
#define NSLAB_SD_FUNCTIONS(X) \
  X(sd_bus_new) \
  X(sd_bus_set_address) \
  X(sd_bus_start) \
  X(sd_bus_open_system) \
  X(sd_bus_open_user) \
  X(sd_bus_flush_close_unref) \
  X(sd_bus_message_new_method_call) \
  X(sd_bus_message_append) \
  X(sd_bus_message_append_array) \
  X(sd_bus_message_open_container) \
  X(sd_bus_message_close_container) \
  X(sd_bus_message_read) \
  X(sd_bus_message_unref) \
  X(sd_bus_call) \
  X(sd_bus_call_method) \
  X(sd_bus_get_property_string) \
  X(sd_bus_match_signal) \
  X(sd_bus_slot_unref) \
  X(sd_bus_process) \
  X(sd_bus_wait) \
  X(sd_bus_error_free)

struct Api {
  std::string error;  // why it could not be loaded ("" = loaded)
#define NSLAB_SD_FN(name) decltype(&::name) name = nullptr;
  NSLAB_SD_FUNCTIONS(NSLAB_SD_FN)
#undef NSLAB_SD_FN
};

const Api& Lib() {
  static const Api api = [] {
    Api a;
    narrate::Syscall("dlopen", "\"libsystemd.so.0\", RTLD_NOW | RTLD_LOCAL");
    void* h = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) {
      const char* e = dlerror();
      a.error = std::string("dlopen \"libsystemd.so.0\": ") + (e ? e : "failed") +
                " (Debian's package libsystemd0)";
      return a;
    }
#define NSLAB_SD_FN(name)                                                          \
  a.name = reinterpret_cast<decltype(a.name)>(dlsym(h, #name));                    \
  if (a.name == nullptr && a.error.empty())                                        \
    a.error = "dlsym \"" #name "\": not in libsystemd.so.0 (systemd older than 246?)";
    NSLAB_SD_FUNCTIONS(NSLAB_SD_FN)
#undef NSLAB_SD_FN
    return a;
  }();
  return api;
}

const Api& Need() {
  const Api& a = Lib();
  if (!a.error.empty())
    throw UsageError(a.error + ": the systemd cgroup manager needs libsystemd; "
                     "use --cgroup-manager cgroupfs");
  return a;
}

// sd-bus returns -errno; the D-Bus error (name + message) says more.
[[noreturn]] void Fail(int r, const std::string& call, const std::string& arg,
                       sd_bus_error* error, std::string hint = {}) {
  std::string detail;
  if (error != nullptr && error->name != nullptr) {
    detail = error->name;
    if (error->message != nullptr) detail += std::string(": ") + error->message;
  }
  if (error != nullptr) Lib().sd_bus_error_free(error);
  if (!detail.empty()) hint = hint.empty() ? detail : detail + "; " + hint;
  throw SysError(-r, call, arg, hint);
}

struct BusCloser {
  void operator()(sd_bus* b) const { Lib().sd_bus_flush_close_unref(b); }
};
using BusPtr = std::unique_ptr<sd_bus, BusCloser>;
struct MessageUnref {
  void operator()(sd_bus_message* m) const { Lib().sd_bus_message_unref(m); }
};
using MessagePtr = std::unique_ptr<sd_bus_message, MessageUnref>;
struct SlotUnref {
  void operator()(sd_bus_slot* s) const { Lib().sd_bus_slot_unref(s); }
};
using SlotPtr = std::unique_ptr<sd_bus_slot, SlotUnref>;

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

std::string RuntimeDir() {
  const char* x = std::getenv("XDG_RUNTIME_DIR");
  return x != nullptr && *x != '\0' ? x : "/run/user/" + std::to_string(geteuid());
}

// The connection systemctl makes: systemd's own private socket first (no D-Bus
// daemon between us; root's is /run/systemd/private, a user manager's
// $XDG_RUNTIME_DIR/systemd/private), else the bus through dbus-daemon.
BusPtr Connect(Bus which) {
  const Api& a = Need();
  const std::string priv = which == Bus::kSystem ? "/run/systemd/private"
                                                 : RuntimeDir() + "/systemd/private";
  if (Exists(priv)) {
    sd_bus* b = nullptr;
    int r = a.sd_bus_new(&b);
    if (r < 0) Fail(r, "sd_bus_new", priv, nullptr);
    BusPtr bus(b);
    const std::string address = "unix:path=" + priv;
    r = a.sd_bus_set_address(b, address.c_str());
    if (r < 0) Fail(r, "sd_bus_set_address", address, nullptr);
    narrate::Syscall("connect", "\"" + priv + "\" (systemd's private D-Bus socket)");
    r = a.sd_bus_start(b);
    if (r >= 0) return bus;
    // Not ours to use (EACCES) or stale: try the shared bus below.
  }
  sd_bus* b = nullptr;
  int r;
  if (which == Bus::kSystem) {
    narrate::Syscall("sd_bus_open_system", "");
    r = a.sd_bus_open_system(&b);
  } else {
    narrate::Syscall("sd_bus_open_user", "");
    r = a.sd_bus_open_user(&b);
  }
  if (r < 0) {
    if (which == Bus::kUser)
      Fail(r, "sd_bus_open_user", RuntimeDir() + "/bus", nullptr,
           "no systemd user instance for uid " + std::to_string(geteuid()) +
               " (neither " + priv + " nor the user bus): limits without root need "
               "`loginctl enable-linger`, a login session, or a delegated cgroup");
    Fail(r, "sd_bus_open_system", "/run/dbus/system_bus_socket", nullptr,
         "systemd's bus is unreachable: use --cgroup-manager cgroupfs");
  }
  return BusPtr(b);
}

// Collects JobRemoved signals (id, job path, unit, result) until ours is seen.
struct JobWatch {
  std::string job;     // the path StartTransientUnit/StopUnit returned ("" until then)
  std::vector<std::pair<std::string, std::string>> removed;  // (job path, result)
};

int OnJobRemoved(sd_bus_message* m, void* userdata, sd_bus_error*) {
  auto* w = static_cast<JobWatch*>(userdata);
  uint32_t id;
  const char *path = nullptr, *unit = nullptr, *result = nullptr;
  if (Lib().sd_bus_message_read(m, "uoss", &id, &path, &unit, &result) >= 0)
    w->removed.emplace_back(path, result);
  return 0;
}

SlotPtr WatchJobs(sd_bus* bus, JobWatch* w) {
  const Api& a = Lib();
  sd_bus_slot* slot = nullptr;
  // No sender: on systemd's private socket there is no bus daemon to name one.
  int r = a.sd_bus_match_signal(bus, &slot, nullptr, kPath, kManager, "JobRemoved",
                                OnJobRemoved, w);
  if (r < 0) Fail(r, "sd_bus_match_signal", "JobRemoved", nullptr);
  // On the shared bus systemd sends Manager signals only while a client is
  // subscribed; the subscription ends with our connection.
  sd_bus_error error = SD_BUS_ERROR_NULL;
  a.sd_bus_call_method(bus, kDestination, kPath, kManager, "Subscribe", &error, nullptr, "");
  a.sd_bus_error_free(&error);
  return SlotPtr(slot);
}

uint64_t NowUsec() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

// Processes the bus until JobRemoved for w.job arrived; returns its result
// ("done", "failed", "canceled", "timeout", "dependency", "skipped").
std::string WaitForJob(sd_bus* bus, JobWatch& w, const std::string& unit) {
  const Api& a = Lib();
  const uint64_t deadline = NowUsec() + kJobTimeoutUsec;
  for (;;) {
    for (const auto& [path, result] : w.removed)
      if (path == w.job) return result;
    int r = a.sd_bus_process(bus, nullptr);
    if (r < 0) Fail(r, "sd_bus_process", unit, nullptr);
    if (r > 0) continue;  // handled a message: look again before waiting
    uint64_t now = NowUsec();
    if (now >= deadline)
      throw SysError(ETIMEDOUT, "JobRemoved", w.job, "systemd did not finish the job for " + unit);
    r = a.sd_bus_wait(bus, deadline - now);
    if (r < 0 && r != -EINTR) Fail(r, "sd_bus_wait", unit, nullptr);
  }
}

void AppendProperty(sd_bus_message* m, const Property& p) {
  const Api& a = Lib();
  auto check = [&](int r) {
    if (r < 0) Fail(r, "sd_bus_message_append", p.name, nullptr);
  };
  check(a.sd_bus_message_open_container(m, 'r', "sv"));
  check(a.sd_bus_message_append(m, "s", p.name.c_str()));
  switch (p.type) {
    case 's': check(a.sd_bus_message_append(m, "v", "s", p.s.c_str())); break;
    case 'b': check(a.sd_bus_message_append(m, "v", "b", static_cast<int>(p.b))); break;
    case 't': check(a.sd_bus_message_append(m, "v", "t", p.t)); break;
    case 'u':
      check(a.sd_bus_message_open_container(m, 'v', "au"));
      check(a.sd_bus_message_append_array(m, 'u', p.au.data(), p.au.size() * sizeof(uint32_t)));
      check(a.sd_bus_message_close_container(m));
      break;
    default: throw UsageError("property " + p.name + ": unknown type");
  }
  check(a.sd_bus_message_close_container(m));
}

}  // namespace

bool Running(const std::string& run_systemd_system) {
  struct stat st;
  return lstat(run_systemd_system.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string ScopeUnit(const std::string& name) {
  if (name.empty() || name.size() > 255 - 6)
    throw UsageError("invalid unit name \"" + name + "\": 1 to 249 characters expected");
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || std::strchr(":-_.\\", c) != nullptr))
      throw UsageError("invalid unit name \"" + name + "\": systemd allows only letters, "
                       "digits and :-_.\\");
  return name + ".scope";
}

std::string Property::Describe() const {
  std::string v;
  switch (type) {
    case 's': v = s; break;
    case 'b': v = b ? "yes" : "no"; break;
    case 't': v = std::to_string(t); break;
    case 'u':
      for (uint32_t x : au) v += (v.empty() ? "" : " ") + std::to_string(x);
      break;
  }
  return name + "=" + v;
}

std::vector<Property> ScopeProperties(const ScopeSpec& spec) {
  auto str = [](const char* n, std::string v) {
    Property p;
    p.name = n;
    p.type = 's';
    p.s = std::move(v);
    return p;
  };
  auto boolean = [](const char* n, bool v) {
    Property p;
    p.name = n;
    p.type = 'b';
    p.b = v;
    return p;
  };
  auto u64 = [](const char* n, uint64_t v) {
    Property p;
    p.name = n;
    p.type = 't';
    p.t = v;
    return p;
  };
  std::vector<Property> out;
  out.push_back(str("Description", spec.description.empty() ? spec.unit : spec.description));
  out.push_back(str("Slice", spec.slice));
  // The cgroup's inside is ours: systemd enables the controllers for it and does
  // not touch what we write below it (runc and podman ask the same).
  out.push_back(boolean("Delegate", true));
  Property pids;
  pids.name = "PIDs";
  pids.type = 'u';
  pids.au = {static_cast<uint32_t>(spec.pid)};
  if (spec.keeper > 0) pids.au.push_back(static_cast<uint32_t>(spec.keeper));
  out.push_back(pids);
  // A scope of ours is no part of boot or shutdown ordering.
  out.push_back(boolean("DefaultDependencies", false));
  // Also a scope that failed (its init OOM-killed) is unloaded at once, so
  // nothing stays in `systemctl list-units 'nslab-*'`.
  out.push_back(str("CollectMode", "inactive-or-failed"));
  if (spec.oom_policy_continue) out.push_back(str("OOMPolicy", "continue"));
  if (spec.limits.memory_bytes) {
    out.push_back(u64("MemoryMax", static_cast<uint64_t>(*spec.limits.memory_bytes)));
    out.push_back(u64("MemorySwapMax", 0));  // OOM-kill, do not swap the sandbox out
  }
  if (spec.limits.pids) out.push_back(u64("TasksMax", static_cast<uint64_t>(*spec.limits.pids)));
  if (spec.limits.cpus) {
    // systemd's CPUQuota=50% is CPUQuotaPerSecUSec=500000 on the bus; with our 100 ms
    // period systemd writes cpu.max "50000 100000", as we would.
    out.push_back(u64("CPUQuotaPerSecUSec",
                      static_cast<uint64_t>(CpuQuotaUsec(*spec.limits.cpus)) * 1000000 /
                          kCpuPeriodUsec));
    out.push_back(u64("CPUQuotaPeriodUSec", kCpuPeriodUsec));
  }
  return out;
}

std::vector<Property> SliceProperties() {
  std::vector<Property> out(3);
  out[0].name = "Description";
  out[0].type = 's';
  out[0].s = "nslab sandboxes";
  out[1].name = "DefaultDependencies";  // no part of boot or shutdown ordering
  out[1].type = 'b';
  out[1].b = false;
  // Stopped by systemd when no active unit needs it any more: the last scope in it
  // has ended. A transient unit that is stopped is then unloaded.
  out[2].name = "StopWhenUnneeded";
  out[2].type = 'b';
  out[2].b = true;
  return out;
}

std::string BusName(Bus bus) { return bus == Bus::kSystem ? "system bus" : "user bus"; }

Bus BusForCaller() { return geteuid() == 0 ? Bus::kSystem : Bus::kUser; }

namespace {

void StartScopeOnce(Bus which, const ScopeSpec& spec) {
  const Api& a = Need();
  BusPtr bus = Connect(which);
  JobWatch watch;
  SlotPtr slot = WatchJobs(bus.get(), &watch);  // before the call: the job may end first

  sd_bus_message* raw = nullptr;
  int r = a.sd_bus_message_new_method_call(bus.get(), &raw, kDestination, kPath, kManager,
                                           "StartTransientUnit");
  if (r < 0) Fail(r, "sd_bus_message_new_method_call", "StartTransientUnit", nullptr);
  MessagePtr m(raw);
  // "fail": refuse if a unit of that name is already queued or running.
  r = a.sd_bus_message_append(m.get(), "ss", spec.unit.c_str(), "fail");
  if (r < 0) Fail(r, "sd_bus_message_append", spec.unit, nullptr);
  r = a.sd_bus_message_open_container(m.get(), 'a', "(sv)");
  if (r < 0) Fail(r, "sd_bus_message_open_container", "a(sv)", nullptr);
  std::string shown;
  for (const Property& p : ScopeProperties(spec)) {
    AppendProperty(m.get(), p);
    shown += (shown.empty() ? "" : " ") + p.Describe();
  }
  r = a.sd_bus_message_close_container(m.get());
  if (r < 0) Fail(r, "sd_bus_message_close_container", "a(sv)", nullptr);
  // The auxiliary units, created in the same transaction: our slice, or none.
  auto check = [&](int rc, const char* what) {
    if (rc < 0) Fail(rc, "sd_bus_message_append", what, nullptr);
  };
  check(a.sd_bus_message_open_container(m.get(), 'a', "(sa(sv))"), "a(sa(sv))");
  std::string aux;
  if (spec.create_slice) {
    check(a.sd_bus_message_open_container(m.get(), 'r', "sa(sv)"), "(sa(sv))");
    check(a.sd_bus_message_append(m.get(), "s", spec.slice.c_str()), "aux unit name");
    check(a.sd_bus_message_open_container(m.get(), 'a', "(sv)"), "a(sv)");
    for (const Property& p : SliceProperties()) {
      AppendProperty(m.get(), p);
      aux += (aux.empty() ? "" : " ") + p.Describe();
    }
    check(a.sd_bus_message_close_container(m.get()), "a(sv)");
    check(a.sd_bus_message_close_container(m.get()), "(sa(sv))");
    aux = ", aux [\"" + spec.slice + "\" [" + aux + "]]";
  }
  check(a.sd_bus_message_close_container(m.get()), "a(sa(sv))");

  narrate::Syscall("StartTransientUnit", "\"" + spec.unit + "\", \"fail\", [" + shown + "]" +
                                             aux + " (" + BusName(which) + ")");
  sd_bus_error error = SD_BUS_ERROR_NULL;
  sd_bus_message* reply = nullptr;
  r = a.sd_bus_call(bus.get(), m.get(), 0, &error, &reply);
  if (r < 0)
    Fail(r, "StartTransientUnit", spec.unit, &error,
         r == -EACCES || r == -EPERM ? "asking the system instance needs root; a user asks "
                                       "their own (the user bus)"
                                     : "");
  MessagePtr reply_owner(reply);
  const char* job = nullptr;
  r = a.sd_bus_message_read(reply, "o", &job);
  if (r < 0) Fail(r, "sd_bus_message_read", "StartTransientUnit reply", nullptr);
  watch.job = job;
  const std::string result = WaitForJob(bus.get(), watch, spec.unit);
  narrate::Syscall("JobRemoved", watch.job + " " + spec.unit + " \"" + result + "\"");
  if (result != "done")
    throw SysError(EIO, "StartTransientUnit", spec.unit,
                   "systemd's job ended \"" + result + "\" (see `journalctl -u " + spec.unit + "`)");
}

// With our slice created alongside; without, where it exists already (systemd:
// "org.freedesktop.systemd1.UnitExists: Unit nslab.slice already exists.").
void StartScopeInSlice(Bus which, const ScopeSpec& spec) {
  if (!spec.create_slice) return StartScopeOnce(which, spec);
  try {
    StartScopeOnce(which, spec);
  } catch (const SysError& e) {
    if (e.hint().find("UnitExists") == std::string::npos ||
        e.hint().find(spec.slice) == std::string::npos)
      throw;
    narrate::Step(spec.slice + " exists already (another run's scope is in it): asking for "
                  "the scope alone");
    ScopeSpec alone = spec;
    alone.create_slice = false;
    StartScopeOnce(which, alone);
  }
}

}  // namespace

void StartScope(Bus which, const ScopeSpec& spec) {
  try {
    StartScopeInSlice(which, spec);
  } catch (const SysError& e) {
    // systemd before 253: "Cannot set property OOMPolicy, or unknown property."
    if (!spec.oom_policy_continue || e.hint().find("OOMPolicy") == std::string::npos) throw;
    narrate::Step("this systemd knows no OOMPolicy for scopes (before 253): asking without it");
    ScopeSpec older = spec;
    older.oom_policy_continue = false;
    StartScopeInSlice(which, older);
  }
}

void StopUnitIfLoaded(Bus which, const std::string& unit) {
  const Api& a = Need();
  BusPtr bus = Connect(which);
  JobWatch watch;
  SlotPtr slot = WatchJobs(bus.get(), &watch);
  narrate::Syscall("StopUnit", "\"" + unit + "\", \"fail\" (" + BusName(which) + ")");
  sd_bus_error error = SD_BUS_ERROR_NULL;
  sd_bus_message* reply = nullptr;
  int r = a.sd_bus_call_method(bus.get(), kDestination, kPath, kManager, "StopUnit", &error,
                               &reply, "ss", unit.c_str(), "fail");
  if (r < 0) {
    // Gone already: its last process exited and systemd collected the scope.
    if (error.name != nullptr &&
        std::strcmp(error.name, "org.freedesktop.systemd1.NoSuchUnit") == 0) {
      a.sd_bus_error_free(&error);
      return;
    }
    Fail(r, "StopUnit", unit, &error);
  }
  MessagePtr reply_owner(reply);
  const char* job = nullptr;
  r = a.sd_bus_message_read(reply, "o", &job);
  if (r < 0) Fail(r, "sd_bus_message_read", "StopUnit reply", nullptr);
  watch.job = job;
  WaitForJob(bus.get(), watch, unit);
}

std::string Probe(Bus which, std::string* version) {
  if (!Lib().error.empty()) return Lib().error;
  try {
    BusPtr bus = Connect(which);
    sd_bus_error error = SD_BUS_ERROR_NULL;
    char* v = nullptr;
    int r = Lib().sd_bus_get_property_string(bus.get(), kDestination, kPath, kManager, "Version",
                                             &error, &v);
    if (r < 0) Fail(r, "Get", "org.freedesktop.systemd1.Manager.Version", &error);
    if (version != nullptr) *version = v;
    std::free(v);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace nslab::cgroup::systemd
