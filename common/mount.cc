#include "common/mount.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <sstream>
#include <utility>

#include "common/error.h"
#include "common/fd.h"
#include "common/narrate.h"

namespace nslab::mount {
namespace {

constexpr uint64_t MOUNT_ATTR_NODEV_ = 0x00000004;  // linux/mount.h MOUNT_ATTR_NODEV

std::string Quote(const std::string& s) { return s.empty() ? "NULL" : nslab::Quote(s); }

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 3), nullptr, 8));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

void MakeDir(const std::string& path, mode_t mode) {
  if (mkdir(path.c_str(), mode) < 0 && errno != EEXIST) Check(-1, "mkdir", path);
}

// SECURITY (issue 13, CVE-2021-30465 class): a mount target inside a container's
// root, opened without following any symlink (openat2 RESOLVE_IN_ROOT |
// RESOLVE_NO_SYMLINKS, O_PATH), the directory made first when it is missing. The
// caller mounts on /proc/self/fd/N of the result: a writer racing us on the host can
// swap the name for a symlink before (ELOOP: refused) or after (the mount follows the
// directory, and the fstatfs check after pivot_root finds the wrong filesystem), but
// never make the mount land elsewhere. `what` names the mount in the error.
UniqueFd OpenTarget(const std::string& target, mode_t mode, const std::string& what) {
  const size_t slash = target.rfind('/');
  const std::string dir = slash == 0 ? "/" : target.substr(0, slash);
  const std::string name = target.substr(slash + 1);
  UniqueFd root(Check(open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC), "open", dir));
  open_how how{};
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  for (int attempt = 0;; ++attempt) {
    long fd = syscall(SYS_openat2, root.Get(), name.c_str(), &how, sizeof how);
    if (fd >= 0) return UniqueFd(static_cast<int>(fd));
    if (errno == ELOOP || errno == ENOTDIR)
      throw UsageError("refusing to " + what + " " + nslab::Quote(target) + ": it is a symlink" +
                       (errno == ENOTDIR ? " or not a directory" : ""));
    if (errno == ENOSYS) {  // before Linux 5.6: one component, O_NOFOLLOW
      int raw = openat(root.Get(), name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (raw >= 0) return UniqueFd(raw);
      if (errno == ELOOP || errno == ENOTDIR)
        throw UsageError("refusing to " + what + " " + nslab::Quote(target) + ": it is a symlink");
    }
    if (errno != ENOENT || attempt > 0) Check(-1, "openat2", target);
    // mkdirat(2) never follows a symlink in its last component.
    if (mkdirat(root.Get(), name.c_str(), mode) < 0 && errno != EEXIST) Check(-1, "mkdir", target);
  }
}

std::string FdPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

// What is mounted at target now (reopened: the fd of OpenTarget is the directory
// *under* the new mount) must be the filesystem we mounted.
// Returns an fd on the new mount's root, for what goes inside it.
UniqueFd CheckMountedFs(const std::string& target, long magic, const std::string& what) {
  UniqueFd top = OpenTarget(target, 0755, "check " + what + " at");
  struct statfs sfs;
  Check(fstatfs(top.Get(), &sfs), "fstatfs", target);
  if (sfs.f_type != magic)
    throw UsageError(nslab::Quote(target) + " is not " + what + " after mounting it");
  return top;
}

void MakeSymlink(const std::string& target, const std::string& link) {
  narrate::Syscall("symlink", Quote(target) + ", " + Quote(link));
  Check(symlink(target.c_str(), link.c_str()), "symlink", link);
}

}  // namespace

std::string FlagsToString(unsigned long flags) {
  static const struct {
    unsigned long flag;
    const char* name;
  } kFlags[] = {
      {MS_RDONLY, "MS_RDONLY"},     {MS_NOSUID, "MS_NOSUID"},
      {MS_NODEV, "MS_NODEV"},       {MS_NOEXEC, "MS_NOEXEC"},
      {MS_SYNCHRONOUS, "MS_SYNCHRONOUS"}, {MS_REMOUNT, "MS_REMOUNT"},
      {MS_MANDLOCK, "MS_MANDLOCK"}, {MS_DIRSYNC, "MS_DIRSYNC"},
      {MS_NOATIME, "MS_NOATIME"},   {MS_NODIRATIME, "MS_NODIRATIME"},
      {MS_BIND, "MS_BIND"},         {MS_MOVE, "MS_MOVE"},
      {MS_REC, "MS_REC"},           {MS_SILENT, "MS_SILENT"},
      {MS_UNBINDABLE, "MS_UNBINDABLE"}, {MS_PRIVATE, "MS_PRIVATE"},
      {MS_SLAVE, "MS_SLAVE"},       {MS_SHARED, "MS_SHARED"},
      {MS_RELATIME, "MS_RELATIME"}, {MS_STRICTATIME, "MS_STRICTATIME"},
      {MS_LAZYTIME, "MS_LAZYTIME"},
  };
  std::string out;
  unsigned long rest = flags;
  for (const auto& f : kFlags) {
    if (flags & f.flag) {
      if (!out.empty()) out += "|";
      out += f.name;
      rest &= ~f.flag;
    }
  }
  if (rest != 0) {
    std::ostringstream hex;
    hex << (out.empty() ? "" : "|") << "0x" << std::hex << rest;
    out += hex.str();
  }
  return out.empty() ? "0" : out;
}

void Mount(const std::string& source, const std::string& target, const std::string& fstype,
           unsigned long flags, const std::string& data) {
  narrate::Syscall("mount", Quote(source) + ", " + Quote(target) + ", " + Quote(fstype) +
                                ", " + FlagsToString(flags) +
                                (data.empty() ? "" : ", \"" + data + "\""));
  Check(::mount(source.empty() ? nullptr : source.c_str(), target.c_str(),
                fstype.empty() ? nullptr : fstype.c_str(), flags,
                data.empty() ? nullptr : data.c_str()),
        "mount", target);
}

void Unmount(const std::string& target, int flags) {
  narrate::Syscall("umount2", Quote(target) + (flags & MNT_DETACH ? ", MNT_DETACH" : ", 0"));
  Check(umount2(target.c_str(), flags), "umount2", target);
}

ScopedMount ScopedMount::Make(const std::string& source, const std::string& target,
                              const std::string& fstype, unsigned long flags,
                              const std::string& data) {
  Mount(source, target, fstype, flags, data);
  return ScopedMount(target);
}

ScopedMount& ScopedMount::operator=(ScopedMount&& other) noexcept {
  if (this != &other) {
    Reset();
    target_ = other.Release();
  }
  return *this;
}

void ScopedMount::Reset() {
  if (target_.empty()) return;
  int saved = errno;
  narrate::Syscall("umount2", Quote(target_) + ", MNT_DETACH");
  umount2(target_.c_str(), MNT_DETACH);
  errno = saved;
  target_.clear();
}

std::string ScopedMount::Release() { return std::exchange(target_, std::string()); }

std::vector<MountInfo> ParseMountInfo(const std::string& text) {
  std::vector<MountInfo> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    MountInfo m;
    std::string dev, field;
    if (!(f >> m.id >> m.parent_id >> dev >> m.root >> m.mount_point >> m.options)) continue;
    while (f >> field && field != "-") m.optional += (m.optional.empty() ? "" : " ") + field;
    f >> m.fstype >> m.source >> m.super_options;
    m.root = Unescape(m.root);
    m.mount_point = Unescape(m.mount_point);
    m.source = Unescape(m.source);
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<MountInfo> ReadMountInfo(pid_t pid) {
  return ParseMountInfo(
      ReadFile("/proc/" + (pid == 0 ? std::string("self") : std::to_string(pid)) + "/mountinfo"));
}

std::string Propagation(const std::string& path, pid_t pid) {
  std::string result;
  for (const MountInfo& m : ReadMountInfo(pid)) {
    // The last entry for a path is the one on top (mounts stack).
    if (m.mount_point == path) result = m.optional.empty() ? "private" : m.optional;
  }
  return result;
}

bool IsMountPoint(const std::string& path) {
  char* real = realpath(path.c_str(), nullptr);
  if (real == nullptr) return false;
  std::string p(real);
  free(real);
  for (const MountInfo& m : ReadMountInfo())
    if (m.mount_point == p) return true;
  return false;
}

void MakePrivateInChild() {
  // The child's mount table is a copy of the host's, and on systemd hosts / is
  // "shared": a mount made here would appear on the host too. Make every mount
  // private, recursively, before mounting anything (mount_namespaces(7)).
  Mount("", "/", "", MS_REC | MS_PRIVATE);
}

void PivotRootInChild(const std::string& new_root, bool make_mount_point) {
  // pivot_root(2) needs new_root to be a mount point; a bind mount of a directory
  // onto itself makes any directory one.
  if (make_mount_point && !IsMountPoint(new_root)) Mount(new_root, new_root, "", MS_BIND | MS_REC);
  narrate::Syscall("chdir", Quote(new_root));
  Check(chdir(new_root.c_str()), "chdir", new_root);
  // pivot_root(".", "."): the new root becomes / and the old root is stacked on top
  // of it at the same place, so no put_old directory is needed (runc does this).
  narrate::Syscall("pivot_root", "\".\", \".\"");
  Check(static_cast<int>(syscall(SYS_pivot_root, ".", ".")), "pivot_root", new_root);
  // Detach the old root, which is on top of ".": after this nothing of the host's
  // file tree is reachable from the sandbox. MNT_DETACH because host processes'
  // files keep parts of it busy.
  Unmount(".", MNT_DETACH);
  narrate::Syscall("chdir", "\"/\"");
  Check(chdir("/"), "chdir", "/");
}

void MountProcInChild(const std::string& target) {
  // A rootfs could make /proc a symlink to a host path; mounting "through" it
  // would put procfs (with its writable sysctls) somewhere we did not intend. The
  // target is opened without following symlinks and mounted through its fd.
  UniqueFd at = OpenTarget(target, 0555, "mount proc on");
  // A procfs instance shows the PID namespace of the process that mounts it.
  narrate::Syscall("mount", "\"proc\", " + Quote(target) + " (via " + FdPath(at.Get()) +
                                "), \"proc\", MS_NOSUID|MS_NODEV|MS_NOEXEC");
  Check(::mount("proc", FdPath(at.Get()).c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                nullptr),
        "mount", target);
  CheckMountedFs(target, PROC_SUPER_MAGIC, "procfs");
}

void SetupDevInChild(const std::string& dev_dir) {
  UniqueFd at = OpenTarget(dev_dir, 0755, "set up /dev at");
  // A tmpfs of our own: the host's /dev holds disks and consoles the sandbox must
  // not see. nosuid+noexec: nothing here should be run. nodev (issue 13): a node that
  // root inside makes with mknod(2) (CAP_MKNOD is one of Docker's 14) cannot be
  // opened — `mknod /dev/k c 1 11` would write into the host's kernel log. The nodes
  // bound below are mounts of their own, with the host /dev's flags: they still work.
  Mount("tmpfs", FdPath(at.Get()), "tmpfs", MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_STRICTATIME,
        "mode=755,size=65536k");
  // Everything below goes into the new tmpfs through an fd on it, never by the path
  // (a name swapped for a symlink now would lead onto the host's root).
  UniqueFd top = CheckMountedFs(dev_dir, TMPFS_MAGIC, "the /dev tmpfs");
  const std::string dev = FdPath(top.Get());
  // Device nodes are bind-mounted from the host rather than created with mknod(2):
  // mknod is refused inside a user namespace (lab 09), a bind mount is not
  // (bubblewrap does the same).
  for (const char* name : {"null", "zero", "full", "random", "urandom", "tty"}) {
    std::string host = std::string("/dev/") + name, path = dev + "/" + name;
    UniqueFd placeholder = Open(path, O_WRONLY | O_CREAT | O_EXCL, 0666);
    Mount(host, path, "", MS_BIND);
  }
  // A private devpts instance: ptys of the sandbox are invisible to the host and the
  // host's to us. ptmxmode=0666 makes its own ptmx usable; /dev/ptmx points there.
  MakeDir(dev + "/pts", 0755);
  Mount("devpts", dev + "/pts", "devpts", MS_NOSUID | MS_NOEXEC,
        "newinstance,ptmxmode=0666,mode=620");
  MakeSymlink("pts/ptmx", dev + "/ptmx");
  MakeDir(dev + "/shm", 01777);
  Mount("shm", dev + "/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
        "mode=1777,size=65536k");
  MakeSymlink("/proc/self/fd", dev + "/fd");
  MakeSymlink("/proc/self/fd/0", dev + "/stdin");
  MakeSymlink("/proc/self/fd/1", dev + "/stdout");
  MakeSymlink("/proc/self/fd/2", dev + "/stderr");
}

void MakeNodevInChild(const std::string& target) {
  // mount_setattr(2) (Linux 5.12) sets the flag on the whole subtree in one call;
  // older kernels get a remount of the top mount, keeping the flags it has (a
  // remount that dropped a locked one would fail with EPERM in a user namespace).
  struct MountAttr {
    uint64_t attr_set, attr_clr, propagation, userns_fd;
  } attr = {MOUNT_ATTR_NODEV_, 0, 0, 0};
  narrate::Syscall("mount_setattr", Quote(target) + ", AT_RECURSIVE, MOUNT_ATTR_NODEV");
  if (syscall(SYS_mount_setattr, AT_FDCWD, target.c_str(), AT_RECURSIVE, &attr, sizeof attr) == 0)
    return;
  if (errno != ENOSYS) Check(-1, "mount_setattr", target);
  struct statfs sfs;
  Check(statfs(target.c_str(), &sfs), "statfs", target);
  unsigned long flags = MS_BIND | MS_REMOUNT | MS_NODEV;
  if (sfs.f_flags & ST_NOSUID) flags |= MS_NOSUID;
  if (sfs.f_flags & ST_NOEXEC) flags |= MS_NOEXEC;
  if (sfs.f_flags & ST_RDONLY) flags |= MS_RDONLY;
  Mount("", target, "", flags);
}

void MountSysReadOnlyInChild(const std::string& target) {
  UniqueFd at = OpenTarget(target, 0555, "mount sysfs on");
  const std::string where = FdPath(at.Get());
  // Read-only: /sys holds knobs for the whole machine (Docker mounts it ro too).
  const unsigned long flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
  try {
    Mount("sysfs", where, "sysfs", flags);
  } catch (const SysError& e) {
    // A fresh sysfs needs privilege over the network namespace; under a sandbox
    // whose user namespace does not own it, bind the host's /sys read-only instead.
    if (e.err() != EPERM) throw;
    Mount("/sys", where, "", MS_BIND | MS_REC);
    UniqueFd top = OpenTarget(target, 0555, "mount sysfs on");
    Mount("", FdPath(top.Get()), "", MS_BIND | MS_REMOUNT | flags);
  }
  CheckMountedFs(target, SYSFS_MAGIC, "sysfs");
}

int ShowRootInChild() {
  std::string line;
  for (const auto& name : ListDir("/")) line += name + "  ";
  narrate::Step("ls / (the busybox image, not the host):");
  narrate::Block(line);
  std::string procs;
  for (const auto& name : ListDir("/proc")) {
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    procs += name + "  " + ReadFile("/proc/" + name + "/comm");
  }
  narrate::Step("processes in my /proc (what ps shows):");
  narrate::Block(procs);
  std::vector<narrate::Row> rows;
  for (const auto& m : ReadMountInfo())
    rows.push_back({{m.mount_point, m.fstype, m.optional.empty() ? "private" : m.optional,
                     m.options}});
  narrate::Step("my mount table (/proc/self/mountinfo):");
  narrate::Table({"mount point", "type", "propagation", "options"}, rows);
  return 0;
}

}  // namespace nslab::mount
