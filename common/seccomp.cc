// seccomp — see seccomp.h. The rule table is data; BuildFilter turns it into a
// libseccomp context; ExportBpf into the BPF program that the build embeds
// (seccomp_bpfgen.cc) and seccomp_load.cc's LoadInChild hands to the kernel.
#include "common/seccomp.h"

#include <sched.h>      // CLONE_NEW*
#include <seccomp.h>
#include <sys/ioctl.h>  // TIOCSTI, TIOCLINUX
#include <sys/mman.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <memory>

#include "common/error.h"
#include "common/fd.h"
#include "common/narrate.h"

#ifndef TIOCLINUX
#define TIOCLINUX 0x541C
#endif

namespace nslab::seccomp {
namespace {

// How a rule matches its syscall.
enum class Match {
  kAlways,       // every call
  kCloneNewNs,   // clone(flags, ...) with any CLONE_NEW* bit in flags
  kIoctlCmd,     // ioctl(fd, cmd, ...) with (cmd & 0xffffffff) == value
};

struct Spec {
  const char* syscall;
  int err;
  Match match;
  uint64_t value;       // the ioctl command for kIoctlCmd
  bool needs_sys_admin; // refused only when the profile lacks CAP_SYS_ADMIN
  const char* reason;
};

// The namespace flags clone(2) accepts. CLONE_NEWTIME is absent on purpose: its bit
// (0x80) is part of the exit-signal byte for clone(2); only clone3/unshare take it.
constexpr uint64_t kCloneNewFlags[] = {CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,
                                       CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
                                       CLONE_NEWCGROUP};

// The table. Order is the order of the docs; the reason is what a student should
// remember. Docker's default profile omits (so refuses) each of these.
const Spec kSpecs[] = {
    // Kernel keyrings are not namespaced: a container could read or fill the host's.
    {"keyctl", EPERM, Match::kAlways, 0, false,
     "kernel keyrings are not namespaced: keys of the host and other containers"},
    {"add_key", EPERM, Match::kAlways, 0, false, "kernel keyrings are not namespaced"},
    {"request_key", EPERM, Match::kAlways, 0, false, "kernel keyrings are not namespaced"},
    // Loading another kernel or kernel code is a full host takeover.
    {"kexec_load", EPERM, Match::kAlways, 0, false, "would boot a new kernel"},
    {"kexec_file_load", EPERM, Match::kAlways, 0, false, "would boot a new kernel"},
    {"init_module", EPERM, Match::kAlways, 0, false, "loads code into the host kernel"},
    {"finit_module", EPERM, Match::kAlways, 0, false, "loads code into the host kernel"},
    {"delete_module", EPERM, Match::kAlways, 0, false, "unloads host kernel modules"},
    // The "shocker" escape (2014): open_by_handle_at opens any inode of a mounted
    // filesystem by its handle, ignoring the container's root.
    {"open_by_handle_at", EPERM, Match::kAlways, 0, false,
     "opens files by handle outside the root (the 2014 \"shocker\" escape)"},
    // Large kernel attack surfaces, a steady source of privilege-escalation CVEs.
    {"bpf", EPERM, Match::kAlways, 0, false, "loads programs into the kernel"},
    {"perf_event_open", EPERM, Match::kAlways, 0, false,
     "observes the host (and a history of kernel bugs)"},
    {"userfaultfd", EPERM, Match::kAlways, 0, false,
     "lets an exploit pause the kernel mid-copy (race widening)"},
    {"io_uring_setup", EPERM, Match::kAlways, 0, false,
     "io_uring bypasses syscall filtering and had many CVEs"},
    {"io_uring_enter", EPERM, Match::kAlways, 0, false, "io_uring (see io_uring_setup)"},
    {"io_uring_register", EPERM, Match::kAlways, 0, false, "io_uring (see io_uring_setup)"},
    // The runtime has already chosen the root; a second pivot is only for escapes.
    {"pivot_root", EPERM, Match::kAlways, 0, false, "changes the root the runtime set up"},
    // Host-wide effects that no namespace contains.
    {"reboot", EPERM, Match::kAlways, 0, false, "reboots the host (outside a PID namespace)"},
    {"swapon", EPERM, Match::kAlways, 0, false, "host swap configuration"},
    {"swapoff", EPERM, Match::kAlways, 0, false, "host swap configuration"},
    {"acct", EPERM, Match::kAlways, 0, false, "host process accounting"},
    {"settimeofday", EPERM, Match::kAlways, 0, false, "the clock is not namespaced"},
    {"clock_settime", EPERM, Match::kAlways, 0, false, "the clock is not namespaced"},
    {"clock_adjtime", EPERM, Match::kAlways, 0, false, "the clock is not namespaced"},
    {"adjtimex", EPERM, Match::kAlways, 0, false, "the clock is not namespaced"},
    {"stime", EPERM, Match::kAlways, 0, false, "the clock is not namespaced (32-bit only)"},
    {"syslog", EPERM, Match::kAlways, 0, false, "the kernel log shows the host's events"},
    {"iopl", EPERM, Match::kAlways, 0, false, "raw I/O port access"},
    {"ioperm", EPERM, Match::kAlways, 0, false, "raw I/O port access"},
    {"quotactl", EPERM, Match::kAlways, 0, false, "host filesystem quotas"},
    {"lookup_dcookie", EPERM, Match::kAlways, 0, false, "kernel profiling interface"},
    // CVE-2017-5226 (bubblewrap) and its relatives: TIOCSTI pushes characters into a
    // terminal's input queue, so a container sharing the user's tty could type
    // commands into the host shell once it exits. TIOCLINUX can do the same on a
    // virtual console. The command is an `unsigned int` in the kernel but the
    // register is 64 bits: compare only the low 32 bits, or 0x1_00005412 slips past.
    {"ioctl", EPERM, Match::kIoctlCmd, TIOCSTI, false,
     "TIOCSTI types into the terminal (CVE-2017-5226)"},
    {"ioctl", EPERM, Match::kIoctlCmd, TIOCLINUX, false,
     "TIOCLINUX can type into a virtual console"},
    // Without CAP_SYS_ADMIN the kernel already refuses most of these in the host's
    // user namespace — but not after `unshare -U`, which gives a full capability set
    // in a new user namespace: from there mounting cgroup v1 and writing its
    // release_agent was CVE-2022-0492. Refusing the calls closes that door.
    {"mount", EPERM, Match::kAlways, 0, true, "mounting (CVE-2022-0492 after unshare -U)"},
    {"umount2", EPERM, Match::kAlways, 0, true, "unmounting would uncover masked paths"},
    {"umount", EPERM, Match::kAlways, 0, true, "unmounting (32-bit only)"},
    {"unshare", EPERM, Match::kAlways, 0, true,
     "new namespaces: unshare -U gives back every capability inside"},
    {"setns", EPERM, Match::kAlways, 0, true, "joining other namespaces"},
    {"sethostname", EPERM, Match::kAlways, 0, true, "the hostname is the runtime's"},
    {"setdomainname", EPERM, Match::kAlways, 0, true, "the domain name is the runtime's"},
    {"fsopen", EPERM, Match::kAlways, 0, true, "the new mount API does what mount does"},
    {"fsmount", EPERM, Match::kAlways, 0, true, "the new mount API"},
    {"fspick", EPERM, Match::kAlways, 0, true, "the new mount API"},
    {"fsconfig", EPERM, Match::kAlways, 0, true, "the new mount API"},
    {"move_mount", EPERM, Match::kAlways, 0, true, "the new mount API"},
    {"open_tree", EPERM, Match::kAlways, 0, true, "the new mount API"},
    {"mount_setattr", EPERM, Match::kAlways, 0, true, "the new mount API"},
    // clone(2) is how every fork happens, so only its namespace flags are refused.
    // glibc's clone wrapper and fork pass the flags in arg0 on x86_64 and arm64
    // (s390 swaps the first two arguments — one more thing libseccomp can't hide).
    {"clone", EPERM, Match::kCloneNewNs, 0, true, "new namespaces through clone(2)"},
    // clone3 takes its flags in a struct in memory, which seccomp cannot read; so
    // the whole call is answered ENOSYS, "not implemented", and glibc falls back to
    // clone(2), where the flag check above applies. EPERM would make glibc give up.
    {"clone3", ENOSYS, Match::kAlways, 0, true,
     "flags are in memory seccomp cannot read: ENOSYS makes libc fall back to clone"},
};

bool Applies(const Spec& s, const Options& opts) {
  return !(s.needs_sys_admin && opts.allow_sys_admin);
}

struct CtxRelease {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Ctx = std::unique_ptr<void, CtxRelease>;

void CheckScmp(int rc, std::string_view call, std::string_view arg) {
  // libseccomp returns -errno.
  if (rc < 0) CheckErrno(-rc, call, arg);
}

// Adds one libseccomp rule; syscalls unknown to this architecture are skipped.
void AddRule(scmp_filter_ctx ctx, const Spec& s, int nr, unsigned argc,
             const scmp_arg_cmp* args) {
  int rc = seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(s.err), nr, argc, args);
  // A negative nr is a "pseudo syscall": known to libseccomp but absent from the
  // native arch (stime on x86_64). libseccomp adds it for the other arches and may
  // answer -EDOM or -EOPNOTSUPP for the native one; either way nothing to filter.
  if (rc < 0 && nr < 0) return;
  CheckScmp(rc, "seccomp_rule_add", s.syscall);
}

Ctx BuildFilter(const Options& opts) {
  // Default action: allow. Docker's profile is the reverse (default EPERM + an
  // allowlist); see docs/security.md for why this lab teaches the short list.
  Ctx ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (!ctx) throw SysError(ENOMEM, "seccomp_init", "SCMP_ACT_ALLOW");
  // no_new_privs is set by security::ApplyInChild, explicitly, so the lesson shows
  // it; don't let libseccomp set it behind our back.
  CheckScmp(seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0), "seccomp_attr_set",
            "SCMP_FLTATR_CTL_NNP");
  // A 64-bit process can still enter the kernel through the 32-bit syscall table
  // (int 0x80) or the x32 ABI, where the numbers differ. Filter those too; a call
  // from an architecture not in the filter is killed (libseccomp's default
  // SCMP_FLTATR_ACT_BADARCH).
  uint32_t native = seccomp_arch_native();
  std::vector<uint32_t> extra;
  if (native == SCMP_ARCH_X86_64) extra = {SCMP_ARCH_X86, SCMP_ARCH_X32};
  if (native == SCMP_ARCH_AARCH64) extra = {SCMP_ARCH_ARM};
  for (uint32_t arch : extra) {
    int rc = seccomp_arch_add(ctx.get(), arch);
    if (rc != -EEXIST) CheckScmp(rc, "seccomp_arch_add", std::to_string(arch));
  }

  for (const Spec& s : kSpecs) {
    if (!Applies(s, opts)) continue;
    int nr = seccomp_syscall_resolve_name(s.syscall);
    if (nr == __NR_SCMP_ERROR) continue;  // unknown to this libseccomp
    switch (s.match) {
      case Match::kAlways:
        AddRule(ctx.get(), s, nr, 0, nullptr);
        break;
      case Match::kCloneNewNs:
        // One rule per flag; rules on the same syscall are OR-ed. MASKED_EQ(f, f)
        // is "this bit is set" — libseccomp has no "masked != 0".
        for (uint64_t flag : kCloneNewFlags) {
          scmp_arg_cmp cmp = SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag);
          AddRule(ctx.get(), s, nr, 1, &cmp);
        }
        break;
      case Match::kIoctlCmd: {
        scmp_arg_cmp cmp = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffULL, s.value);
        AddRule(ctx.get(), s, nr, 1, &cmp);
        break;
      }
    }
  }
  return ctx;
}

std::string HexValue(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

std::vector<Rule> Rules(const Options& opts) {
  std::vector<Rule> out;
  for (const Spec& s : kSpecs) {
    if (!Applies(s, opts)) continue;
    std::string arg;
    if (s.match == Match::kCloneNewNs) arg = "arg0 & CLONE_NEW* != 0";
    if (s.match == Match::kIoctlCmd)
      arg = std::string("(arg1 & 0xffffffff) == ") +
            (s.value == TIOCSTI ? "TIOCSTI" : "TIOCLINUX") + " (" + HexValue(s.value) + ")";
    out.push_back({s.syscall, s.err, arg, s.reason});
  }
  return out;
}

std::string ExportBpf(const Options& opts) {
  Ctx ctx = BuildFilter(opts);
  UniqueFd mem(Check(memfd_create("nslab-seccomp-bpf", MFD_CLOEXEC), "memfd_create",
                     "nslab-seccomp-bpf"));
  CheckScmp(seccomp_export_bpf(ctx.get(), mem.Get()), "seccomp_export_bpf", "memfd");
  Check(lseek(mem.Get(), 0, SEEK_SET), "lseek", "memfd");
  return ReadAll(mem.Get());
}

void LoadBpfInChild(const std::string& bpf) {
  if (bpf.empty() || bpf.size() % sizeof(sock_filter) != 0)
    throw SysError(EINVAL, "seccomp", "filter of " + std::to_string(bpf.size()) + " bytes");
  sock_fprog prog{};
  prog.len = static_cast<unsigned short>(bpf.size() / sizeof(sock_filter));
  prog.filter = reinterpret_cast<sock_filter*>(const_cast<char*>(bpf.data()));
  narrate::Syscall("seccomp", "SECCOMP_SET_MODE_FILTER, " + std::to_string(prog.len) +
                                  " BPF instructions, default allow");
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
    int err = errno;
    std::string hint = err == EACCES ? "set PR_SET_NO_NEW_PRIVS first (or hold CAP_SYS_ADMIN)"
                                     : HintFor("seccomp", err);
    throw SysError(err, "seccomp", "SECCOMP_SET_MODE_FILTER", hint);
  }
}

std::string ExportPfc(const Options& opts) {
  Ctx ctx = BuildFilter(opts);
  UniqueFd mem(Check(memfd_create("nslab-seccomp-pfc", MFD_CLOEXEC), "memfd_create",
                     "nslab-seccomp-pfc"));
  CheckScmp(seccomp_export_pfc(ctx.get(), mem.Get()), "seccomp_export_pfc", "memfd");
  Check(lseek(mem.Get(), 0, SEEK_SET), "lseek", "memfd");
  return ReadAll(mem.Get());
}

}  // namespace nslab::seccomp
