// caps — Linux capabilities through libcap: naming them, Docker's default set, and
// reducing a process to a set before execve.
//
// Teaches: "root" is not one privilege but ~41 capabilities, and a namespace does not
// remove any of them. A process carries five sets: bounding (the most it can ever
// have, also across execve), permitted, effective (what the kernel checks now),
// inheritable and ambient (what survives execve for a non-root user). When uid 0 runs
// execve, its new permitted and effective sets become the bounding set, so the
// bounding set is the one that limits a container's root; Docker keeps 14 capabilities
// in it (no SYS_ADMIN, SYS_MODULE, SYS_PTRACE, NET_ADMIN, DAC_READ_SEARCH...).
// Read: capabilities(7), cap_from_name(3), cap_set_proc(3), prctl(2) PR_CAPBSET_DROP
// and PR_CAP_AMBIENT, /proc/PID/status (CapBnd, CapEff...), capsh(1) --decode.
//
//   uint64_t set = caps::Resolve({"NET_ADMIN"}, {"MKNOD"});  // default + add - drop
//   caps::ApplyInChild(set);            // bounding = permitted = effective = set
//   caps::Names(set);                   // {"CAP_AUDIT_WRITE", "CAP_CHOWN", ...}
#ifndef NSLAB_COMMON_CAPS_H_
#define NSLAB_COMMON_CAPS_H_

#include <cstdint>
#include <string>
#include <vector>

namespace nslab::caps {

// A set of capabilities as a bit mask: bit N is capability N (CAP_CHOWN = bit 0), the
// encoding of CapEff: in /proc/PID/status.
using CapSet = uint64_t;

// Docker's default 14: CHOWN, DAC_OVERRIDE, FSETID, FOWNER, MKNOD, NET_RAW, SETGID,
// SETUID, SETFCAP, SETPCAP, NET_BIND_SERVICE, SYS_CHROOT, KILL, AUDIT_WRITE
// (= 0x00000000a80425fb).
CapSet DockerDefault();

// Every capability this kernel knows (0 .. CAP_LAST_CAP, read from
// /proc/sys/kernel/cap_last_cap through libcap's cap_max_bits()).
CapSet All();

// The number of a capability name: "NET_ADMIN", "CAP_NET_ADMIN", "net_admin" all give
// CAP_NET_ADMIN. Throws UsageError for a name the kernel does not know (also "ALL":
// that is a keyword of Resolve, not a capability).
int Parse(const std::string& name);

// True for "ALL" in any case.
bool IsAll(const std::string& name);

// Docker's rule (moby's TweakCapabilities): cap_add containing ALL → every capability
// except those in cap_drop; else cap_drop containing ALL → only cap_add; else the
// default set minus cap_drop plus cap_add. Throws UsageError for unknown names.
CapSet Resolve(const std::vector<std::string>& cap_add,
               const std::vector<std::string>& cap_drop);

// "CAP_CHOWN" etc. for each bit set, in capability-number order.
std::vector<std::string> Names(CapSet set);

bool Has(CapSet set, int cap);

// Runs in the child before execve (needs CAP_SETPCAP for the bounding set):
//   1. PR_CAPBSET_DROP every capability outside `set` (irreversible, inherited);
//   2. clears the ambient set (PR_CAP_AMBIENT_CLEAR_ALL);
//   3. cap_set_proc: effective = permitted = set ∩ current permitted, inheritable
//      empty.
void ApplyInChild(CapSet set);

// The masks the kernel reports for a process: fields CapInh, CapPrm, CapEff, CapBnd,
// CapAmb of /proc/<pid>/status ("self" for the caller). Throws if unreadable.
struct ProcCaps {
  CapSet inheritable = 0, permitted = 0, effective = 0, bounding = 0, ambient = 0;
};
ProcCaps ReadFromProc(const std::string& pid = "self");

// "00000000a80425fb", the format of /proc/PID/status (capsh --decode=0x... reads it).
std::string Hex(CapSet set);

}  // namespace nslab::caps

#endif  // NSLAB_COMMON_CAPS_H_
