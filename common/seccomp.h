// seccomp — a system-call filter through libseccomp, modelled on Docker's default
// profile.
//
// Teaches: capabilities decide what root may do; seccomp decides which *system calls*
// the kernel will even look at. A BPF program attached with seccomp(2) runs on every
// syscall entry, sees the syscall number and its six raw arguments (never the memory
// they point to), and answers allow, an errno, or kill. It is inherited by children
// and kept across execve, and it can only be tightened — so it is loaded last, just
// before execve. libseccomp compiles a table of rules into that BPF program, for each
// architecture the process might use (x86_64, and the i386/x32 entry points that
// would otherwise bypass a filter written for one of them).
// Docker's real profile is an allowlist of ~350 calls (default: EPERM); ours is a
// denylist (default: allow) of the calls Docker's profile leaves out for a reason —
// short enough to read in one sitting, each rule with the reason next to it.
// Read: seccomp(2), seccomp_init(3), seccomp_rule_add(3), seccomp_export_pfc(3),
// /proc/PID/status (Seccomp: 2 = filter mode), Docker's "Seccomp security profiles".
//
//   seccomp::Options opts;                  // allow_sys_admin = false
//   seccomp::LoadInChild(opts);     // needs no_new_privs (or CAP_SYS_ADMIN) first
//   keyctl(...) == -1 && errno == EPERM;
#ifndef NSLAB_COMMON_SECCOMP_H_
#define NSLAB_COMMON_SECCOMP_H_

#include <string>
#include <vector>

namespace nslab::seccomp {

struct Options {
  // The profile keeps CAP_SYS_ADMIN (`--cap-add SYS_ADMIN`): as in Docker, the
  // namespace and mount calls are then let through (the capability already allows
  // what they do; refusing them would only break the user's request).
  bool allow_sys_admin = false;
};

// One rule of the filter, as data: what is refused, how, and why.
struct Rule {
  std::string syscall;   // "keyctl"
  int errno_value;       // EPERM, or ENOSYS for clone3
  std::string argument;  // "" = always; else the condition, e.g. "arg0 & CLONE_NEW*"
  std::string reason;    // one line for the docs and `inspect`
};

// The rules for these options, in table order. Syscalls that do not exist on this
// architecture (stime on x86_64) are listed but skipped when loading.
std::vector<Rule> Rules(const Options& opts);

// Runs in the child, as the very last step before execve: loads the filter for
// these options (default action allow). Requires PR_SET_NO_NEW_PRIVS (set by the
// caller, see security::ApplyInChild) or CAP_SYS_ADMIN.
// The filter is not built here: libseccomp turned the table into BPF at build time
// (seccomp_bpfgen, a genrule), so a start only hands the finished program to the
// kernel — building it took ~0.4 ms of every start (bench/README.md). The test
// seccomp_test checks the embedded program is byte for byte what libseccomp builds.
void LoadInChild(const Options& opts);

// The filter as the kernel takes it (struct sock_filter[], as bytes), built now by
// libseccomp from the table (seccomp_export_bpf). The build embeds its output.
std::string ExportBpf(const Options& opts);

// Loads a BPF program (bytes of struct sock_filter[]) with seccomp(2).
void LoadBpfInChild(const std::string& bpf);

// The filter in libseccomp's pseudo-filter-code text (seccomp_export_pfc), for the
// docs: shows what the rule table becomes. Does not load anything.
std::string ExportPfc(const Options& opts);

}  // namespace nslab::seccomp

#endif  // NSLAB_COMMON_SECCOMP_H_
