// security — see security.h. The facade: which layers apply to a profile, in which
// order, and the masked-path mounts done without trusting the rootfs.
#include "common/security.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>  // CAP_SYS_ADMIN
#include <linux/magic.h>       // PROC_SUPER_MAGIC
#include <linux/openat2.h>     // struct open_how, RESOLVE_*
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/caps.h"
#include "common/error.h"
#include "common/fd.h"
#include "common/narrate.h"
#include "common/seccomp.h"

namespace nslab::security {
namespace {

// Docker's default masked paths (moby's oci/defaults.go). Each leaks host state or
// reaches host hardware: kcore is the host's memory as an ELF core file, keys lists
// kernel keys, timer_list/sched_debug show every host process's timers and tasks,
// interrupts and latency_stats are side channels, acpi/asound/scsi drive devices,
// /sys/firmware holds firmware tables (and EFI variables), powercap the RAPL energy
// counters (a power side channel, CVE-2020-8694).
const char* const kMaskedPaths[] = {
    "/proc/acpi",       "/proc/asound",      "/proc/interrupts",
    "/proc/kcore",      "/proc/keys",        "/proc/latency_stats",
    "/proc/sched_debug", "/proc/scsi",       "/proc/timer_list",
    "/proc/timer_stats", "/sys/firmware",    "/sys/devices/virtual/powercap",
};

// Readable but not writable: /proc/sys is every sysctl, /proc/sysrq-trigger can
// crash or reboot the host, /proc/irq sets interrupt affinity, /proc/bus and /proc/fs
// expose device and filesystem controls.
const char* const kReadOnlyPaths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

std::string FdPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

// Opens `path` (absolute, inside the current root) as an O_PATH fd without following
// any symlink, so a symlink planted in the image cannot send the mount outside the
// root. openat2(2) does it in one call (Linux 5.6); older kernels get the same
// guarantee by walking one component at a time with O_NOFOLLOW.
// Returns an invalid fd when the path does not exist.
UniqueFd OpenNoFollow(const std::string& path) {
  open_how how{};
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  // RESOLVE_IN_ROOT treats dirfd as the root ("/.." stays there, absolute symlinks
  // resolve inside it); with AT_FDCWD it would be the cwd, so pass "/" explicitly.
  UniqueFd root(Check(open("/", O_PATH | O_DIRECTORY | O_CLOEXEC), "open", "/"));
  long fd = syscall(SYS_openat2, root.Get(), path.c_str(), &how, sizeof how);
  if (fd >= 0) return UniqueFd(static_cast<int>(fd));
  if (errno == ENOENT) return UniqueFd();
  if (errno == ELOOP)
    throw SysError(ELOOP, "openat2", path,
                   "a symlink in the container's path: refused, it could point out of "
                   "the root (CVE-2021-30465)");
  if (errno != ENOSYS && errno != EPERM)  // EPERM: an old seccomp filter around us
    Check(-1, "openat2", path);

  UniqueFd dir = std::move(root);
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string part = path.substr(start, end - start);
    start = end + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") throw SysError(EINVAL, "open", path, "\"..\" refused in a mount target");
    int next = openat(dir.Get(), part.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (next == -1 && errno == ENOENT) return UniqueFd();
    UniqueFd n(Check(next, "openat", path));
    struct stat st;
    Check(fstat(n.Get(), &st), "fstat", path);
    if (S_ISLNK(st.st_mode))
      throw SysError(ELOOP, "openat", path, "a symlink in the container's path: refused");
    dir = std::move(n);
  }
  return dir;
}

bool IsDir(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
}

// The flags a read-only remount must keep. In a user namespace the kernel locks
// nosuid/nodev/noexec/atime flags of mounts it inherited (MNT_LOCK_*): a remount that
// would clear one fails with EPERM. So read them and pass them on.
unsigned long LockedFlags(int fd) {
  struct statvfs sv;
  Check(fstatvfs(fd, &sv), "fstatvfs", FdPath(fd));
  unsigned long flags = 0;
  if (sv.f_flag & ST_NOSUID) flags |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) flags |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
  if (sv.f_flag & ST_NOATIME) flags |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME) flags |= MS_RELATIME;
  return flags;
}

// The container's /dev/null, checked to be the null device (1,3). CVE-2025-31133:
// runc bound the rootfs's /dev/null over masked paths; an image whose /dev/null was
// a symlink to /proc/sys/kernel/core_pattern got that file bound writable instead.
UniqueFd OpenDevNull() {
  UniqueFd fd = OpenNoFollow("/dev/null");
  if (!fd) throw SysError(ENOENT, "open", "/dev/null", "the container needs /dev/null to mask paths");
  struct stat st;
  Check(fstat(fd.Get(), &st), "fstat", "/dev/null");
  if (!S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3))
    throw SysError(EPERM, "open", "/dev/null",
                   "not the null character device (1,3): refusing to bind it over masked "
                   "paths (CVE-2025-31133)");
  return fd;
}

void MaskOne(const std::string& path, int null_fd) {
  UniqueFd target = OpenNoFollow(path);
  if (!target) return;  // not on this kernel (latency_stats, timer_stats...)
  const std::string where = FdPath(target.Get());
  if (IsDir(target.Get())) {
    // A directory is hidden under an empty read-only tmpfs.
    narrate::Syscall("mount", "\"tmpfs\", \"" + path + "\", \"tmpfs\", MS_RDONLY");
    Check(mount("tmpfs", where.c_str(), "tmpfs",
                MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0555,size=4k"),
          "mount", path);
  } else {
    // A file is hidden by binding /dev/null over it: reads give EOF, writes vanish.
    narrate::Syscall("mount", "\"/dev/null\", \"" + path + "\", MS_BIND");
    Check(mount(FdPath(null_fd).c_str(), where.c_str(), nullptr, MS_BIND, nullptr),
          "mount", path);
  }
}

void ReadOnlyOne(const std::string& path) {
  UniqueFd target = OpenNoFollow(path);
  if (!target) return;
  // A bind mount of the path onto itself gives it its own mount, whose flags can
  // then be changed without touching the rest of /proc.
  std::string where = FdPath(target.Get());
  narrate::Syscall("mount", "\"" + path + "\", \"" + path + "\", MS_BIND|MS_REC");
  Check(mount(where.c_str(), where.c_str(), nullptr, MS_BIND | MS_REC, nullptr), "mount",
        path);
  // The old fd still points at the mount *underneath*; reopen to get the new one.
  UniqueFd top = OpenNoFollow(path);
  if (!top) throw SysError(ENOENT, "open", path, "vanished after the bind mount");
  where = FdPath(top.Get());
  narrate::Syscall("mount", "\"" + path + "\", MS_REMOUNT|MS_BIND|MS_RDONLY");
  Check(mount(nullptr, where.c_str(), nullptr,
              MS_REMOUNT | MS_BIND | MS_RDONLY | LockedFlags(top.Get()), nullptr),
        "mount", path + " (read-only remount)");
}

caps::CapSet CapsFor(const Profile& p) {
  return p.privileged ? caps::All() : caps::Resolve(p.cap_add, p.cap_drop);
}

}  // namespace

void ValidateProfile(const Profile& profile) {
  // Resolve parses every name and throws UsageError on the first unknown one — also
  // with --privileged, where the names would be ignored: a typo is still a typo.
  caps::Resolve(profile.cap_add, profile.cap_drop);
}

void CheckProcInChild() {
  // O_NOFOLLOW: if /proc is a symlink, open fails with ELOOP instead of following it.
  int raw = open("/proc", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (raw == -1 && (errno == ELOOP || errno == ENOTDIR))
    throw SysError(errno, "open", "/proc",
                   "/proc in the rootfs is not a real directory: refused (CVE-2019-16884)");
  UniqueFd proc(Check(raw, "open", "/proc"));
  struct statfs sf;
  Check(fstatfs(proc.Get(), &sf), "fstatfs", "/proc");
  if (sf.f_type != PROC_SUPER_MAGIC)
    throw SysError(EINVAL, "statfs", "/proc",
                   "no procfs mounted on /proc: refusing to mask paths on something else "
                   "(CVE-2019-16884)");
}

void CheckSysInChild() {
  int raw = open("/sys", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (raw == -1 && (errno == ELOOP || errno == ENOTDIR))
    throw SysError(errno, "open", "/sys",
                   "/sys in the rootfs is not a real directory: refused (CVE-2021-30465)");
  UniqueFd sys(Check(raw, "open", "/sys"));
  struct statfs sf;
  Check(fstatfs(sys.Get(), &sf), "fstatfs", "/sys");
  if (sf.f_type != SYSFS_MAGIC)
    throw SysError(EINVAL, "statfs", "/sys",
                   "no sysfs mounted on /sys (was it swapped while the container started?): "
                   "refusing to run without it and its masks (CVE-2021-30465)");
}

void MaskPathsInChild(const Profile& profile) {
  // SECURITY (issue 13): the filesystems the masks live on are checked to be the ones
  // the engine mounted (the engine calls CheckSysInChild too, just before); only then
  // does a missing mask target mean "this kernel has no such file" (a fresh procfs
  // and sysfs show what the kernel has), not "the rootfs was swapped under us" —
  // which fails the start, never skips a mask.
  CheckProcInChild();
  if (profile.privileged) return;
  UniqueFd null_fd = OpenDevNull();
  for (const char* path : kMaskedPaths) {
    try {
      MaskOne(path, null_fd.Get());
    } catch (...) {
      Rethrow(std::string("masking ") + path);
    }
  }
  for (const char* path : kReadOnlyPaths) {
    try {
      ReadOnlyOne(path);
    } catch (...) {
      Rethrow(std::string("making ") + path + " read-only");
    }
  }
}

void ApplyInChild(const Profile& profile) {
  if (profile.privileged) return;
  const caps::CapSet set = CapsFor(profile);
  // 1. Capabilities, while we still hold CAP_SETPCAP to shrink the bounding set.
  caps::ApplyInChild(set);
  // 2. no_new_privs: from now on execve cannot raise privileges — setuid/setgid
  //    bits and file capabilities are ignored. It is also what lets a process
  //    without CAP_SYS_ADMIN install a seccomp filter (seccomp(2)).
  narrate::Syscall("prctl", "PR_SET_NO_NEW_PRIVS, 1");
  Check(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl", "PR_SET_NO_NEW_PRIVS");
  // 3. The filter last: it refuses calls (prctl is fine, but mount, unshare... are
  //    not) that a runtime might still make, and can never be removed.
  seccomp::Options opts;
  opts.allow_sys_admin = caps::Has(set, CAP_SYS_ADMIN);
  seccomp::LoadInChild(opts);
}

void CloseExtraFdsInChild() {
  narrate::Syscall("close_range", "3, ~0U, CLOSE_RANGE_CLOEXEC");
  if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  if (errno != ENOSYS && errno != EINVAL) Check(-1, "close_range", "3");
  // Before Linux 5.11: mark each open fd by hand. Collect first, then mark: the
  // directory stream has an fd of its own.
  DIR* dir = CheckPtr(opendir("/proc/self/fd"), "opendir", "/proc/self/fd");
  std::vector<int> fds;
  const int own = dirfd(dir);
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    int fd = std::atoi(e->d_name);
    if (fd >= 3 && fd != own) fds.push_back(fd);
  }
  closedir(dir);
  for (int fd : fds) {
    int flags = fcntl(fd, F_GETFD);
    if (flags != -1) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
  }
}

void VerifyCwdInChild() {
  // glibc's getcwd fails with ENOENT when the kernel reports the cwd as
  // "(unreachable)/..." — a directory outside our root, as when the cwd was set to
  // a leaked host fd (runc's fix for CVE-2024-21626 does this same check).
  char buf[PATH_MAX];
  errno = 0;
  if (getcwd(buf, sizeof buf) == nullptr || buf[0] != '/')
    throw SysError(errno ? errno : ENOENT, "getcwd", "",
                   "the working directory is outside the container's root: refused "
                   "(CVE-2024-21626)");
}

void ReexecFromSealedCopy(char** argv) {
  static const char kMarker[] = "NSLAB_SEALED_EXE";
  if (std::getenv(kMarker) != nullptr) {
    unsetenv(kMarker);  // not for the container's command
    return;
  }
  UniqueFd exe = Open("/proc/self/exe", O_RDONLY);
  struct stat st;
  Check(fstat(exe.Get(), &st), "fstat", "/proc/self/exe");
  narrate::Syscall("memfd_create", "\"nslab-sealed-exe\", MFD_CLOEXEC|MFD_ALLOW_SEALING");
  UniqueFd copy(Check(static_cast<int>(syscall(SYS_memfd_create, "nslab-sealed-exe",
                                               MFD_CLOEXEC | MFD_ALLOW_SEALING)),
                      "memfd_create", "nslab-sealed-exe"));
  for (off_t done = 0; done < st.st_size;) {
    ssize_t n = sendfile(copy.Get(), exe.Get(), nullptr, static_cast<size_t>(st.st_size - done));
    if (n < 0 && errno == EINTR) continue;
    Check(n, "sendfile", "/proc/self/exe -> memfd");
    if (n == 0) break;
    done += n;
  }
  // No more writes, no resizing, and no removing of these seals: the copy is final.
  Check(fcntl(copy.Get(), F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE),
        "fcntl", "F_ADD_SEALS");
  setenv(kMarker, "1", 1);
  narrate::Syscall("fexecve", "sealed memfd copy of /proc/self/exe");
  fexecve(copy.Get(), argv, environ);
  int err = errno;
  unsetenv(kMarker);
  throw SysError(err, "fexecve", "sealed copy of /proc/self/exe");
}

void SetNonDumpableInChild() {
  narrate::Syscall("prctl", "PR_SET_DUMPABLE, 0");
  Check(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl", "PR_SET_DUMPABLE");
}

std::vector<std::string> EffectiveCapabilities(const Profile& profile) {
  if (profile.privileged) return {};
  return caps::Names(CapsFor(profile));
}

std::vector<std::string> Describe(const Profile& profile) {
  std::vector<std::string> out;
  out.push_back(std::string("privileged: ") + (profile.privileged ? "yes" : "no"));
  caps::CapSet set = CapsFor(profile);
  std::string line = "capabilities:";
  if (profile.privileged) {
    line += " all";
  } else {
    for (const auto& n : caps::Names(set)) line += " " + n;
  }
  line += " (" + std::to_string(__builtin_popcountll(set)) + ")";
  out.push_back(line);
  out.push_back(std::string("no_new_privs: ") + (profile.privileged ? "off" : "on"));
  if (profile.privileged) {
    out.push_back("seccomp: off");
    out.push_back("masked paths: none, read-only paths: none");
  } else {
    seccomp::Options opts;
    opts.allow_sys_admin = caps::Has(set, CAP_SYS_ADMIN);
    size_t rules = seccomp::Rules(opts).size();
    out.push_back("seccomp: filter, " + std::to_string(rules) +
                  " rules, default allow (docker-like)");
    std::string masked = "masked paths:", ro = "read-only paths:";
    for (const char* p : kMaskedPaths) masked += std::string(" ") + p;
    for (const char* p : kReadOnlyPaths) ro += std::string(" ") + p;
    out.push_back(masked);
    out.push_back(ro);
  }
  out.push_back("fds >= 3: closed at execve");
  return out;
}

}  // namespace nslab::security
