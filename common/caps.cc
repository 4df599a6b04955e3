// caps — see caps.h. Capability sets through libcap; the bounding and ambient sets
// through prctl(2), which libcap also wraps (cap_drop_bound, cap_reset_ambient) but
// whose raw form shows the kernel interface.
#include "common/caps.h"

#include <sys/capability.h>
#include <sys/prctl.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <memory>
#include <sstream>

#include "common/error.h"
#include "common/fd.h"
#include "common/narrate.h"

namespace nslab::caps {
namespace {

constexpr CapSet Bit(int cap) { return CapSet{1} << cap; }

int MaxBits() {
  // cap_max_bits() asks the running kernel (cap_last_cap + 1), not libcap's tables:
  // a capability newer than the kernel cannot be dropped or raised.
  int n = static_cast<int>(cap_max_bits());
  return std::clamp(n, 1, 64);
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

struct CapFree {
  void operator()(void* p) const { cap_free(p); }
};

}  // namespace

CapSet DockerDefault() {
  // The list from moby's oci/caps/defaults.go, in the order Docker prints it. Each
  // is something ordinary programs expect of root: chown files, bypass file modes,
  // keep setgid bits, own files, create device nodes (still gated by the device
  // cgroup), raw sockets for ping, change uid/gid (su, nginx workers), set file
  // capabilities, drop capabilities, bind ports < 1024, chroot, kill other users'
  // processes in the container, write to the audit log.
  return Bit(CAP_CHOWN) | Bit(CAP_DAC_OVERRIDE) | Bit(CAP_FSETID) | Bit(CAP_FOWNER) |
         Bit(CAP_MKNOD) | Bit(CAP_NET_RAW) | Bit(CAP_SETGID) | Bit(CAP_SETUID) |
         Bit(CAP_SETFCAP) | Bit(CAP_SETPCAP) | Bit(CAP_NET_BIND_SERVICE) |
         Bit(CAP_SYS_CHROOT) | Bit(CAP_KILL) | Bit(CAP_AUDIT_WRITE);
}

CapSet All() {
  int n = MaxBits();
  return n >= 64 ? ~CapSet{0} : Bit(n) - 1;
}

bool IsAll(const std::string& name) { return Upper(name) == "ALL"; }

int Parse(const std::string& name) {
  std::string lower;
  for (char c : name) {
    // Only letters and '_': cap_from_name would also take "12" or "cap_chown=ep".
    if (!std::isalpha(static_cast<unsigned char>(c)) && c != '_')
      throw UsageError("unknown capability " + Quote(name));
    lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (lower.rfind("cap_", 0) != 0) lower = "cap_" + lower;
  cap_value_t value;
  if (lower == "cap_" || cap_from_name(lower.c_str(), &value) != 0 || value < 0 ||
      value >= MaxBits())
    throw UsageError("unknown capability \"" + name +
                     "\" (see capabilities(7); e.g. NET_ADMIN or CAP_NET_ADMIN)");
  return value;
}

CapSet Resolve(const std::vector<std::string>& cap_add,
               const std::vector<std::string>& cap_drop) {
  bool add_all = false, drop_all = false;
  CapSet add = 0, drop = 0;
  for (const auto& n : cap_add) {
    if (IsAll(n)) add_all = true; else add |= Bit(Parse(n));
  }
  for (const auto& n : cap_drop) {
    if (IsAll(n)) drop_all = true; else drop |= Bit(Parse(n));
  }
  if (add_all) return All() & ~drop;
  if (drop_all) return add;
  return ((DockerDefault() & ~drop) | add) & All();
}

std::vector<std::string> Names(CapSet set) {
  std::vector<std::string> out;
  for (int cap = 0; cap < 64; ++cap) {
    if (!(set & Bit(cap))) continue;
    std::unique_ptr<char, CapFree> name(cap_to_name(cap));
    // libcap prints numbers for capabilities newer than itself.
    out.push_back(name ? Upper(name.get()) : "CAP_" + std::to_string(cap));
  }
  return out;
}

bool Has(CapSet set, int cap) { return cap >= 0 && cap < 64 && (set & Bit(cap)); }

void ApplyInChild(CapSet set) {
  const int max = MaxBits();
  ProcCaps now = ReadFromProc();

  // 1. The bounding set first: dropping from it needs CAP_SETPCAP in the effective
  //    set, which step 3 may take away. A capability dropped here can never come
  //    back, for this process or anything it execs — for uid 0 the bounding set is
  //    what execve hands out (capabilities(7), "Transformation of capabilities").
  narrate::Syscall("prctl", "PR_CAPBSET_DROP, every capability outside " + Hex(set));
  for (int cap = 0; cap < max; ++cap) {
    if (set & Bit(cap)) continue;
    if (!(now.bounding & Bit(cap))) continue;  // already gone (nested container)
    Check(prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "prctl", "PR_CAPBSET_DROP");
  }

  // 2. Ambient capabilities survive execve even for a non-root user; a container
  //    starts with none (the kernel may lack PR_CAP_AMBIENT before 4.3: EINVAL).
  narrate::Syscall("prctl", "PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL");
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1 && errno != EINVAL)
    Check(-1, "prctl", "PR_CAP_AMBIENT_CLEAR_ALL");

  // 3. Permitted and effective to the set (a process can only lower its permitted
  //    set, hence the intersection), inheritable empty so nothing is passed on
  //    through file inheritable bits.
  CapSet keep = set & now.permitted;
  std::unique_ptr<_cap_struct, CapFree> caps(cap_init());  // all three sets empty
  CheckPtr(caps.get(), "cap_init");
  std::vector<cap_value_t> values;
  for (int cap = 0; cap < max; ++cap)
    if (keep & Bit(cap)) values.push_back(cap);
  if (!values.empty()) {
    Check(cap_set_flag(caps.get(), CAP_PERMITTED, static_cast<int>(values.size()),
                       values.data(), CAP_SET),
          "cap_set_flag", "CAP_PERMITTED");
    Check(cap_set_flag(caps.get(), CAP_EFFECTIVE, static_cast<int>(values.size()),
                       values.data(), CAP_SET),
          "cap_set_flag", "CAP_EFFECTIVE");
  }
  narrate::Syscall("capset", "effective=permitted=" + Hex(keep) + ", inheritable=0");
  Check(cap_set_proc(caps.get()), "cap_set_proc", Hex(keep));
}

ProcCaps ReadFromProc(const std::string& pid) {
  const std::string path = "/proc/" + pid + "/status";
  std::istringstream in(ReadFile(path));
  ProcCaps out;
  int found = 0;
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    CapSet* field = key == "CapInh"   ? &out.inheritable
                    : key == "CapPrm" ? &out.permitted
                    : key == "CapEff" ? &out.effective
                    : key == "CapBnd" ? &out.bounding
                    : key == "CapAmb" ? &out.ambient
                                      : nullptr;
    if (!field) continue;
    *field = std::stoull(line.substr(colon + 1), nullptr, 16);
    ++found;
  }
  if (found < 4) throw std::runtime_error(path + ": no Cap* lines");
  return out;
}

std::string Hex(CapSet set) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(set));
  return buf;
}

}  // namespace nslab::caps
