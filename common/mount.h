// mount — the mount namespace: mounts of the sandbox's own, a root filesystem
// entered with pivot_root(2), and the pseudo filesystems a program expects.
//
// Teaches: CLONE_NEWNS gives the child a *copy* of the parent's mount table. On
// systemd hosts / is a shared mount, so without MS_REC|MS_PRIVATE on / the child's
// mounts would propagate back to the host (mount_namespaces(7)). pivot_root(2)
// swaps the root mount for new_root, which must itself be a mount point; the old
// root is then detached so nothing of the host remains reachable (chroot(2) only
// changes the path lookup start and is escapable, which is why runtimes use
// pivot_root). A fresh procfs shows only the new PID namespace; /dev gets a tmpfs
// with a few safe devices; /sys is read-only.
// Read: mount_namespaces(7), mount(2), umount(2), pivot_root(2), proc(5), pts(4).
//
//   mount::MakePrivateInChild();                        // nothing leaks to the host
//   mount::MountProcInChild(root + "/proc");
//   mount::SetupDevInChild(root + "/dev");
//   mount::MountSysReadOnlyInChild(root + "/sys");
//   mount::PivotRootInChild(root);                      // now / is the rootfs
#ifndef NSLAB_COMMON_MOUNT_H_
#define NSLAB_COMMON_MOUNT_H_

#include <sys/types.h>

#include <string>
#include <vector>

namespace nslab::mount {

// "MS_BIND|MS_REC|MS_RDONLY": mount(2) flags as text, for the -v narration.
std::string FlagsToString(unsigned long flags);

// mount(2), narrated with -v ("> mount("proc", "/x/proc", "proc", MS_NOSUID|...)"),
// throwing SysError naming the target.
void Mount(const std::string& source, const std::string& target, const std::string& fstype,
           unsigned long flags, const std::string& data = "");
// umount2(2), narrated, throwing SysError naming the target.
void Unmount(const std::string& target, int flags = 0);

// Owns a mount point: umount2(target, MNT_DETACH) when it goes out of scope (lazy,
// so a busy mount still leaves the namespace). Move-only; Release() hands it off.
class ScopedMount {
 public:
  ScopedMount() = default;
  explicit ScopedMount(std::string target) : target_(std::move(target)) {}
  // Mounts and returns the owner of the new mount.
  static ScopedMount Make(const std::string& source, const std::string& target,
                          const std::string& fstype, unsigned long flags,
                          const std::string& data = "");
  ScopedMount(ScopedMount&& other) noexcept : target_(other.Release()) {}
  ScopedMount& operator=(ScopedMount&& other) noexcept;
  ScopedMount(const ScopedMount&) = delete;
  ScopedMount& operator=(const ScopedMount&) = delete;
  ~ScopedMount() { Reset(); }

  const std::string& target() const { return target_; }
  bool Valid() const { return !target_.empty(); }
  // Unmounts now (MNT_DETACH); errors are ignored: it runs from destructors.
  void Reset();
  // Gives up ownership: the mount stays.
  std::string Release();

 private:
  std::string target_;
};

// One line of /proc/PID/mountinfo (proc(5)).
struct MountInfo {
  int id = 0, parent_id = 0;
  std::string root;         // field 4: the part of the source fs mounted here
  std::string mount_point;  // field 5
  std::string options;      // field 6: per-mount options (rw,nosuid,...)
  std::string optional;     // shared:N master:N ... ("" = private)
  std::string fstype, source, super_options;
};
// Parses /proc/PID/mountinfo ("self" when pid is 0).
std::vector<MountInfo> ReadMountInfo(pid_t pid = 0);
std::vector<MountInfo> ParseMountInfo(const std::string& text);
// "shared:1", "private", ... for the mount whose mount point is exactly `path`.
std::string Propagation(const std::string& path, pid_t pid = 0);
// Is `path` a mount point in our namespace (its own entry in mountinfo)?
bool IsMountPoint(const std::string& path);

// Runs in a child with a new mount namespace: mount("", "/", MS_REC|MS_PRIVATE) so
// that no mount made from now on propagates to the host, nor a host mount to us.
void MakePrivateInChild();

// Makes new_root the root of the calling process's mount namespace:
//  - bind-mounts new_root onto itself when it is not a mount point (pivot_root
//    needs one);
//  - chdir(new_root); pivot_root(".", ".") stacks the old root on top of the new
//    one (no put_old directory needed, as runc does);
//  - umount2(".", MNT_DETACH) drops the old root, chdir("/").
// Never chroot. The caller's mount namespace must be private (MakePrivateInChild),
// or pivot_root fails with EINVAL. make_mount_point = false skips the bind mount
// (lab 06's --pitfall not-a-mount-point shows the EINVAL that follows).
void PivotRootInChild(const std::string& new_root, bool make_mount_point = true);

// Mounts a fresh procfs at target (nosuid,nodev,noexec) and checks with statfs(2)
// that it is procfs. Refuses a target that is a symlink (a hostile rootfs could
// point /proc anywhere on the host: CVE-2019-19921 class). Needs a new PID
// namespace to be useful: otherwise it shows the host's processes.
void MountProcInChild(const std::string& target);

// A minimal /dev at dev_dir: a tmpfs (mode 755), the devices null, zero, full,
// random, urandom and tty bind-mounted from the host's /dev (works inside a user
// namespace too, where mknod(2) is refused), a private devpts instance
// (newinstance,ptmxmode=0666,mode=620) at pts with /dev/ptmx -> pts/ptmx, a tmpfs at
// shm (1777), and the usual symlinks fd, stdin, stdout, stderr -> /proc/self/fd.
// Must run before PivotRootInChild (it binds from the host's /dev).
void SetupDevInChild(const std::string& dev_dir);

// Makes target and every mount beneath it nodev (mount_setattr(2) AT_RECURSIVE,
// MOUNT_ATTR_NODEV; a remount of the top one on kernels before 5.12): device nodes
// there cannot be opened, whoever made them (issue 13: --rootfs, CAP_MKNOD).
void MakeNodevInChild(const std::string& target);

// Mounts sysfs read-only at target. When the kernel refuses a fresh sysfs
// (EPERM: our network namespace belongs to another user namespace, e.g. under a
// sandbox), falls back to a read-only bind of the host's /sys.
void MountSysReadOnlyInChild(const std::string& target);

// --- Lab 06's demo ---

// Run by the sandbox after pivot_root: what it now sees — `ls /`, the processes of
// its own /proc (what ps shows) and its mount table with each mount's propagation.
int ShowRootInChild();

}  // namespace nslab::mount

#endif  // NSLAB_COMMON_MOUNT_H_
