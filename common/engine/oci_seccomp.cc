// engine/oci_seccomp — the OCI spec's linux.seccomp section compiled with libseccomp.
//
// Teaches: the spec describes a filter as data — a default action, the
// architectures, and rules (syscall names, an action, argument comparisons) — and
// the runtime compiles it into the BPF program the kernel runs on each syscall
// (common/seccomp.h explains the mechanism with nslab's own rule table). Names
// libseccomp does not know on this architecture are skipped, as runc and crun do:
// profiles list syscalls of every architecture. A rule whose action equals the
// default is redundant and skipped too (libseccomp refuses it).
// Read: seccomp_init(3), seccomp_rule_add(3), seccomp_arch_add(3),
// seccomp_attr_set(3), the spec's config-linux.md "Seccomp".
#include <seccomp.h>

#include <cerrno>
#include <map>

#include "common/engine/init.h"
#include "common/error.h"
#include "common/narrate.h"

namespace nslab::engine {
namespace {

uint32_t Action(const std::string& name, std::optional<unsigned> errno_ret,
                const std::string& field) {
  unsigned e = errno_ret.value_or(EPERM);
  if (name == "SCMP_ACT_KILL" || name == "SCMP_ACT_KILL_THREAD") return SCMP_ACT_KILL_THREAD;
  if (name == "SCMP_ACT_KILL_PROCESS") return SCMP_ACT_KILL_PROCESS;
  if (name == "SCMP_ACT_TRAP") return SCMP_ACT_TRAP;
  if (name == "SCMP_ACT_ERRNO") return SCMP_ACT_ERRNO(e);
  if (name == "SCMP_ACT_TRACE") return SCMP_ACT_TRACE(e);
  if (name == "SCMP_ACT_ALLOW") return SCMP_ACT_ALLOW;
  if (name == "SCMP_ACT_LOG") return SCMP_ACT_LOG;
  if (name == "SCMP_ACT_NOTIFY")
    throw UsageError("config.json: " + field + " SCMP_ACT_NOTIFY is not supported");
  throw UsageError("config.json: " + field + " \"" + name + "\" is no seccomp action");
}

scmp_compare Op(const std::string& op, const std::string& field) {
  static const std::map<std::string, scmp_compare> kOps = {
      {"SCMP_CMP_NE", SCMP_CMP_NE}, {"SCMP_CMP_LT", SCMP_CMP_LT},
      {"SCMP_CMP_LE", SCMP_CMP_LE}, {"SCMP_CMP_EQ", SCMP_CMP_EQ},
      {"SCMP_CMP_GE", SCMP_CMP_GE}, {"SCMP_CMP_GT", SCMP_CMP_GT},
      {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ}};
  auto it = kOps.find(op);
  if (it == kOps.end())
    throw UsageError("config.json: " + field + " \"" + op + "\" is no seccomp operator");
  return it->second;
}

uint32_t Arch(const std::string& name) {
  // "SCMP_ARCH_X86_64" -> "x86_64", as seccomp_arch_resolve_name spells them.
  std::string s = name.rfind("SCMP_ARCH_", 0) == 0 ? name.substr(10) : name;
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  uint32_t a = seccomp_arch_resolve_name(s.c_str());
  if (a == 0)
    throw UsageError("config.json: linux.seccomp.architectures \"" + name +
                     "\" is unknown to libseccomp");
  return a;
}

// Builds the filter; loads it when `load`.
void Build(const Seccomp& sc, bool load) {
  const uint32_t def = Action(sc.default_action, sc.default_errno_ret, "linux.seccomp.defaultAction");
  scmp_filter_ctx ctx = seccomp_init(def);
  if (ctx == nullptr) throw UsageError("seccomp_init: libseccomp refused the default action");
  struct Release {
    scmp_filter_ctx c;
    ~Release() { seccomp_release(c); }
  } release{ctx};
  for (const auto& a : sc.architectures) {
    int r = seccomp_arch_add(ctx, Arch(a));
    if (r < 0 && r != -EEXIST) CheckErrno(-r, "seccomp_arch_add", a);
  }
  for (const auto& f : sc.flags) {
    int r = 0;
    if (f == "SECCOMP_FILTER_FLAG_TSYNC") {
      r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
    } else if (f == "SECCOMP_FILTER_FLAG_LOG") {
      r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1);
    } else if (f == "SECCOMP_FILTER_FLAG_SPEC_ALLOW") {
      r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_SSB, 1);
    } else {
      throw UsageError("config.json: linux.seccomp.flags \"" + f + "\" is not supported");
    }
    if (r < 0) CheckErrno(-r, "seccomp_attr_set", f);
  }
  for (size_t i = 0; i < sc.syscalls.size(); ++i) {
    const auto& call = sc.syscalls[i];
    const std::string field = "linux.seccomp.syscalls[" + std::to_string(i) + "]";
    const uint32_t act = Action(call.action, call.errno_ret, field + ".action");
    std::vector<scmp_arg_cmp> cmps;
    bool repeated = false;
    for (size_t k = 0; k < call.args.size(); ++k) {
      const auto& a = call.args[k];
      cmps.push_back(SCMP_CMP64(a.index, Op(a.op, field + ".args[" + std::to_string(k) + "].op"),
                                a.value, a.value_two));
      for (size_t m = 0; m < k; ++m)
        if (call.args[m].index == a.index) repeated = true;
    }
    if (act == def) continue;  // redundant: libseccomp refuses it
    for (const auto& name : call.names) {
      int nr = seccomp_syscall_resolve_name(name.c_str());
      if (nr == __NR_SCMP_ERROR) continue;  // not a syscall of these architectures
      if (!repeated) {
        int r = seccomp_rule_add_array(ctx, act, nr, static_cast<unsigned>(cmps.size()),
                                       cmps.empty() ? nullptr : cmps.data());
        if (r < 0) CheckErrno(-r, "seccomp_rule_add", field + " " + name);
      } else {
        // The same argument compared twice: libseccomp wants one rule per comparison
        // (they are alternatives, as runc adds them).
        for (const auto& c : cmps) {
          int r = seccomp_rule_add_array(ctx, act, nr, 1, &c);
          if (r < 0) CheckErrno(-r, "seccomp_rule_add", field + " " + name);
        }
      }
    }
  }
  if (load) {
    narrate::Syscall("seccomp_load", std::to_string(sc.syscalls.size()) + " rules from config.json");
    int r = seccomp_load(ctx);
    if (r < 0) CheckErrno(-r, "seccomp_load", "linux.seccomp");
  }
}

}  // namespace

void LoadSeccompInChild(const Seccomp& sc) { Build(sc, true); }
void ValidateSeccomp(const Seccomp& sc) { Build(sc, false); }

}  // namespace nslab::engine
