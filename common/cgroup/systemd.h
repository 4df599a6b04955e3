// cgroup/systemd — ask systemd for a cgroup: a transient scope over D-Bus.
//
// Teaches: on a host where systemd is PID 1, systemd owns the cgroup tree. It
// creates a cgroup for every unit and expects nobody else to write there; a
// process that makes its own cgroups beside systemd's meets the "no internal
// processes" rule of cgroup v2 (its shell's cgroup holds processes, so it cannot
// enable controllers for children) or has its work undone. Container runtimes ask
// instead: runc's and crun's systemd cgroup driver, podman and Docker call
// StartTransientUnit on org.freedesktop.systemd1.Manager for a *scope* — a unit
// made of processes that already exist (PIDs=[the container's init]) — with
// Delegate=yes, systemd's promise to leave the cgroup's inside to us (cgroup
// delegation, Documentation/admin-guide/cgroup-v2.rst). systemd starts a job for
// the unit; JobRemoved says when it is done. The scope ends by itself when its last
// process exits (CollectMode=inactive-or-failed: also after an OOM kill), and
// StopUnit ends it earlier. A user without root asks their own systemd instance,
// on the user bus, as rootless podman does.
//
// libsystemd is reached with dlopen(3), only when this manager is used: 11_container
// is linked statically (its start path pays no dynamic loader), and Debian ships
// libsystemd only as a shared library (docs/10_cgroup.md, "Which manager").
// Read: systemd.scope(5), systemd.resource-control(5) (Delegate=, MemoryMax=,
// TasksMax=, CPUQuota=), org.freedesktop.systemd1(5) (StartTransientUnit,
// JobRemoved), sd_bus_open_system(3), sd-bus(3), https://systemd.io/CGROUP_DELEGATION/.
//
//   systemd::ScopeSpec spec{"nslab-10-4242.scope", systemd::kSlice, "nslab lab 10", pid, limits};
//   systemd::StartScope(systemd::Bus::kSystem, spec);   // waits for the job
//   ... /proc/PID/cgroup reads 0::/nslab.slice/nslab-10-4242.scope
//   systemd::StopUnitIfLoaded(systemd::Bus::kSystem, spec.unit);
#ifndef NSLAB_COMMON_CGROUP_SYSTEMD_H_
#define NSLAB_COMMON_CGROUP_SYSTEMD_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/cgroup.h"

namespace nslab::cgroup::systemd {

// Our slice: every scope of the labs sits in it, /sys/fs/cgroup/nslab.slice/. A
// slice needs no unit file; systemd loads it on first use and drops it when empty.
inline constexpr char kSlice[] = "nslab.slice";

// Is systemd the init of this host? sd_booted(3)'s test: the directory exists only
// while systemd runs as PID 1.
bool Running(const std::string& run_systemd_system = "/run/systemd/system");

// "nslab-10-4242" -> "nslab-10-4242.scope". UsageError for a name systemd would
// refuse (unit names: ASCII letters, digits, ":-_.\", at most 255 bytes).
std::string ScopeUnit(const std::string& name);

// One entry of StartTransientUnit's properties, a(sv): a name and a variant.
struct Property {
  std::string name;
  char type = 's';  // 's' string, 'b' boolean, 't' uint64, 'u' array of uint32 ("au")
  std::string s;
  bool b = false;
  uint64_t t = 0;
  std::vector<uint32_t> au;
  // "Delegate=yes", "PIDs=4242", "MemoryMax=33554432": as systemctl show prints it.
  std::string Describe() const;
};

struct ScopeSpec {
  std::string unit;         // "nslab-10-4242.scope"
  std::string slice = kSlice;
  std::string description;  // shown by systemctl status
  pid_t pid = 0;            // the process the scope is made of (the sandbox's init)
  pid_t keeper = 0;         // a second one, if any (Place's hold_scope)
  Limits limits;
  // OOMPolicy=continue: an OOM kill inside (the demo's hog) must not make systemd
  // stop the whole scope, as DefaultOOMPolicy=stop does for scopes since systemd
  // 253. Older systemd refuses the property; StartScope then asks again without it.
  bool oom_policy_continue = true;
  // Create the slice in the same call, as an auxiliary transient unit with
  // StopWhenUnneeded=yes: systemd itself stops (and then forgets) it when its last
  // scope ends, so no nslab.slice stays behind, and no check-then-stop of ours can
  // race another run's new scope. When the slice exists already (another run's
  // scope is in it), systemd refuses to create it again; StartScope then asks for
  // the scope alone.
  bool create_slice = true;
};

// The properties of the scope, in the order they are sent: Description, Slice,
// Delegate=yes, PIDs, DefaultDependencies=no (no ordering against shutdown
// targets), CollectMode=inactive-or-failed, OOMPolicy=continue (when asked), then
// each limit as the unit property
// systemd turns into the cgroup file: MemoryMax (+ MemorySwapMax=0), TasksMax,
// CPUQuotaPerSecUSec (+ CPUQuotaPeriodUSec=100ms, our CFS period).
std::vector<Property> ScopeProperties(const ScopeSpec& spec);
// The properties of the auxiliary slice (see ScopeSpec::create_slice): Description,
// DefaultDependencies=no, StopWhenUnneeded=yes.
std::vector<Property> SliceProperties();

enum class Bus {
  kSystem,  // systemd as PID 1, /run/dbus/system_bus_socket: root
  kUser,    // the user's own systemd (user@UID.service), $XDG_RUNTIME_DIR/bus
};
// "system bus", "user bus".
std::string BusName(Bus bus);
// The bus a process of this euid asks: root the system instance, anyone else their own.
Bus BusForCaller();

// StartTransientUnit(spec.unit, "fail", ScopeProperties(spec)), then waits for the
// JobRemoved signal of the job it returned. Throws SysError naming the call and
// the D-Bus error (e.g. org.freedesktop.systemd1.UnitExists); a job that ends other
// than "done" is EIO with its result. A missing libsystemd or bus is one error that
// says so.
void StartScope(Bus bus, const ScopeSpec& spec);

// StopUnit(unit, "fail") and waits for its job; a unit that is gone already
// (NoSuchUnit: its last process exited and systemd collected it) is fine.
void StopUnitIfLoaded(Bus bus, const std::string& unit);

// Connects to the bus and asks systemd for its Version; returns "" on success, else
// why not ("libsystemd.so.0 not found", "no user bus at ..."). For 00_doctor.
std::string Probe(Bus bus, std::string* version = nullptr);

}  // namespace nslab::cgroup::systemd

#endif  // NSLAB_COMMON_CGROUP_SYSTEMD_H_
