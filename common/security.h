// security — the hardening a container gets by default, and `--privileged` to turn it off.
//
// Teaches: namespaces hide things; they do not take power away. A root process in a
// container still holds every capability, can load a kernel module, open a file by
// handle outside its root (the "shocker" escape), push characters into the host's
// terminal with TIOCSTI, or reach the host through a leaked fd. Runtimes therefore add
// layers, each motivated by a real escape:
//   1. capabilities   — bounding/effective/permitted reduced to Docker's default 14
//                       (common/caps.h, libcap), inheritable and ambient empty;
//   2. no_new_privs   — execve can never gain privileges again (setuid bits, file caps);
//   3. seccomp        — a syscall filter modelled on Docker's default profile
//                       (common/seccomp.h, libseccomp), loaded last;
//   4. masked paths   — /dev/null bound over /proc/kcore & co., /proc/sys & co. read-only;
//   5. no leaked fds  — every fd >= 3 closed before execve (CVE-2024-21626).
// This file is the facade the container engine calls; each mechanism lives in its own
// module. Read: capabilities(7), prctl(2) PR_SET_NO_NEW_PRIVS, seccomp(2),
// seccomp_rule_add(3), proc(5), close_range(2), openat2(2); docs/security.md.
//
//   security::Profile profile;                    // --cap-add NET_ADMIN:
//   profile.cap_add = {"NET_ADMIN"};
//   security::ValidateProfile(profile);           // in the CLI, before anything exists
//   ...                                           // in the container's init:
//   security::MaskPathsInChild(profile);          // after /proc and /sys are mounted
//   security::CloseExtraFdsInChild();
//   security::ApplyInChild(profile);              // the very last step
//   return process::Exec(command);
#ifndef NSLAB_COMMON_SECURITY_H_
#define NSLAB_COMMON_SECURITY_H_

#include <string>
#include <vector>

namespace nslab::security {

// What the user asked for on the command line (`--privileged`, `--cap-add`,
// `--cap-drop`). Names are capability names as Docker spells them: "NET_ADMIN",
// "CAP_NET_ADMIN", "net_admin" and "ALL" are all accepted.
struct Profile {
  bool privileged = false;
  std::vector<std::string> cap_add, cap_drop;
};

// Throws UsageError for an unknown capability name ("unknown capability "FOO"").
// Call in the CLI before anything (state dir, cgroup, namespace) is created.
void ValidateProfile(const Profile& profile);

// Runs in the container's init, inside the new root, after /proc and /sys are
// mounted there (paths are taken relative to "/"). Binds /dev/null over masked
// files, an empty read-only tmpfs over masked directories, and remounts
// /proc/{bus,fs,irq,sys,sysrq-trigger} read-only. Every target is opened with
// openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS) (falling back to O_PATH|O_NOFOLLOW)
// and mounted through /proc/self/fd/N, so a symlink planted in the rootfs cannot
// redirect a mount onto the host (CVE-2019-16884, CVE-2021-30465, CVE-2025-31133).
// Paths that do not exist on this kernel are skipped. Does nothing when privileged.
void MaskPathsInChild(const Profile& profile);

// Runs in the child as the last step before execve: capabilities (bounding set,
// then effective = permitted = the profile's set, inheritable and ambient empty),
// PR_SET_NO_NEW_PRIVS, then the seccomp filter (last, because it forbids calls the
// earlier steps need). Privileged: nothing — every capability, no no_new_privs, no
// filter — as `docker run --privileged` (the rule: --privileged turns the
// hardening off, so the diff in docs/security.md shows each layer).
void ApplyInChild(const Profile& profile);

// Runs in the child just before execve: makes every fd >= 3 close-on-exec
// (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC), falling back to walking /proc/self/fd),
// so no host fd reaches the command (CVE-2024-21626). Marking instead of closing keeps
// process::Clone's error pipe working until the execve itself: an exec failure is
// still reported, and the kernel closes everything at the moment of execve.
// Also for privileged containers (a leaked fd is a bug, not a privilege).
void CloseExtraFdsInChild();

// Runs in the child after chdir to the working directory: throws unless getcwd(3)
// names a path inside the current root. A cwd inherited from an fd of the host
// (cwd /proc/self/fd/N, CVE-2024-21626) is "unreachable" and refused.
void VerifyCwdInChild();

// For `exec`: PR_SET_DUMPABLE 0 before joining the container's namespaces, so that
// processes already inside cannot ptrace it or open its /proc/PID/{fd,exe,mem}
// (which still lead to the host) while it joins; execve makes it dumpable again
// (runc's nsexec does the same; CVE-2019-5736 and CVE-2016-9962).
void SetNonDumpableInChild();

// For `exec` into a --privileged container, whose processes hold CAP_SYS_PTRACE and so
// pass the ptrace check that non-dumpable relies on: they could open our
// /proc/PID/exe while we join them — our binary on the host — and write to it once
// we exit (CVE-2019-5736). Before anything else, the CLI therefore re-executes itself
// from a copy in a sealed memfd (memfd_create(2) with F_SEAL_WRITE and friends, as
// runc's cloned_binary.c does): /proc/PID/exe then leads to that sealed copy, which
// nobody can write. Returns at once when already running from the copy; otherwise
// never returns (fexecve) or throws SysError.
void ReexecFromSealedCopy(char** argv);

// Runs in the child after /proc is mounted in the new root: throws unless "/proc" is
// a real directory (not a symlink) with a procfs mounted on it (statfs
// PROC_SUPER_MAGIC) — CVE-2019-16884 made runc's /proc land elsewhere through a
// symlink in the image. MaskPathsInChild calls it first.
void CheckProcInChild();

// The same for "/sys" and sysfs (SYSFS_MAGIC): a /sys swapped for a symlink or
// another directory by a writer racing the start (CVE-2021-30465 style) fails it.
// The engine calls it before MaskPathsInChild, so a mask is never skipped for a
// /sys that vanished.
void CheckSysInChild();

// The effective capability names for a profile, in capability-number order
// ("CAP_CHOWN", ...); empty means "all" when privileged (see Describe).
std::vector<std::string> EffectiveCapabilities(const Profile& profile);

// Human-readable lines for `inspect` and the docs:
//   privileged: no
//   capabilities: CAP_CHOWN CAP_DAC_OVERRIDE ... CAP_SETFCAP (14)
//   no_new_privs: on
//   seccomp: filter, 48 rules, default allow (docker-like)
//   masked paths: /proc/acpi /proc/asound ...
//   read-only paths: /proc/bus /proc/fs /proc/irq /proc/sys /proc/sysrq-trigger
//   fds >= 3: closed at execve
std::vector<std::string> Describe(const Profile& profile);

}  // namespace nslab::security

#endif  // NSLAB_COMMON_SECURITY_H_
