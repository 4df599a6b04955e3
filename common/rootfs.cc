#include "common/rootfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <utility>

#include "common/error.h"
#include "common/fd.h"
#include "common/image.h"
#include "common/lab.h"
#include "common/mount.h"
#include "common/narrate.h"

namespace nslab::rootfs {
namespace {

void MakeDir(const std::string& path, mode_t mode) {
  if (mkdir(path.c_str(), mode) < 0 && errno != EEXIST) Check(-1, "mkdir", path);
}

int RemoveOne(const char* path, const struct stat*, int type, struct FTW*) {
  int r = (type == FTW_DP) ? rmdir(path) : unlink(path);
  if (r < 0 && errno != ENOENT)
    std::fprintf(stderr, "%s: removing \"%s\": %s\n", ProgramName().c_str(), path,
                 std::strerror(errno));
  return 0;  // keep going: remove as much as we can
}

// "<lab>-<digits>" exactly: the pid, else 0.
pid_t PidOfRunDirName(const std::string& name, std::string_view lab) {
  const std::string prefix = std::string(lab) + "-";
  if (name.size() <= prefix.size() || name.size() > prefix.size() + 10 ||
      name.compare(0, prefix.size(), prefix) != 0)
    return 0;
  int64_t pid = 0;
  for (size_t i = prefix.size(); i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return 0;
    pid = pid * 10 + (name[i] - '0');
  }
  if (name[prefix.size()] == '0' || pid > std::numeric_limits<pid_t>::max()) return 0;
  return static_cast<pid_t>(pid);
}

// Is anything mounted at `dir` or beneath it (in our mount namespace)?
bool HasMountAtOrBelow(const std::string& dir) {
  for (const mount::MountInfo& m : mount::ReadMountInfo()) {
    if (m.mount_point == dir ||
        (m.mount_point.size() > dir.size() && m.mount_point.compare(0, dir.size(), dir) == 0 &&
         m.mount_point[dir.size()] == '/'))
      return true;
  }
  return false;
}

}  // namespace

std::vector<std::string> RemoveStale(std::string_view lab) {
  std::vector<std::string> removed;
  const std::string base = RunBase();
  char* real = realpath(base.c_str(), nullptr);
  if (real == nullptr) return removed;  // no base yet: nothing can be stale
  const std::string real_base(real);
  free(real);
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(real_base.c_str()), closedir);
  if (dir == nullptr) return removed;
  std::vector<std::string> names;
  while (dirent* e = readdir(dir.get())) names.emplace_back(e->d_name);
  const int dir_fd = dirfd(dir.get());
  for (const auto& name : names) {
    const pid_t pid = PidOfRunDirName(name, lab);
    if (pid <= 0 || pid == getpid()) continue;
    // Alive (or not ours to signal, EPERM: another user's): leave it alone.
    if (kill(pid, 0) == 0 || errno != ESRCH) continue;
    // AT_SYMLINK_NOFOLLOW: a symlink named like a run directory is not one of ours.
    struct stat st;
    if (fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
      continue;
    const std::string path = real_base + "/" + name;
    // The sandbox's mounts die with its mount namespace; one in *our* namespace
    // was put there by hand, and emptying it could destroy the files it shows.
    if (HasMountAtOrBelow(path)) {
      std::fprintf(stderr, "%s: leaving \"%s\" (of pid %d, gone): something is mounted "
                   "there (findmnt -R %s)\n",
                   ProgramName().c_str(), path.c_str(), pid, path.c_str());
      continue;
    }
    RunDir(path).Reset();  // nftw FTW_PHYS|FTW_MOUNT: no symlink followed, no fs crossed
    struct stat gone;
    if (lstat(path.c_str(), &gone) < 0 && errno == ENOENT) {
      narrate::Step("removed " + path + ", left behind by a " + std::string(lab) + " (pid " +
                    std::to_string(pid) + ") that was killed");
      removed.push_back(path);
    }
  }
  return removed;
}

std::string RunBase() {
  const char* env = std::getenv("NSLAB_RUN_DIR");
  return (env != nullptr && *env != '\0') ? env : "/run/nslab";
}

RunDir& RunDir::operator=(RunDir&& other) noexcept {
  if (this != &other) {
    Reset();
    path_ = other.Release();
  }
  return *this;
}

void RunDir::Reset() {
  if (path_.empty()) return;
  int saved = errno;
  narrate::Syscall("nftw", Quote(path_) + ", FTW_DEPTH|FTW_PHYS|FTW_MOUNT (remove)");
  // FTW_MOUNT: never descend into another filesystem. If a mount were left here
  // (it should not be: the child's mounts live in its own namespace), rmdir of
  // its mount point fails with EBUSY and we say so instead of emptying it.
  nftw(path_.c_str(), RemoveOne, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
  errno = saved;
  path_.clear();
}

std::string RunDir::Release() { return std::exchange(path_, std::string()); }

RunDir PrepareRun(std::string_view lab) {
  const std::string base = RunBase();
  // /run/nslab may not exist yet (tmpfs /run is empty after boot).
  MakeDir(base, 0755);
  RemoveStale(lab);
  std::string path = base + "/" + std::string(lab) + "-" + std::to_string(getpid());
  narrate::Syscall("mkdir", Quote(path) + ", 0700");
  if (mkdir(path.c_str(), 0700) < 0) {
    if (errno != EEXIST) Check(-1, "mkdir", path);
    // Left by an earlier run with our pid that was SIGKILLed: its mounts died
    // with its namespace, so only directories remain. Start afresh.
    RunDir stale(path);
    stale.Reset();
    Check(mkdir(path.c_str(), 0700), "mkdir", path);
  }
  RunDir run(path);
  Check(mkdir(run.rootfs().c_str(), 0755), "mkdir", run.rootfs());
  return run;
}

std::string Source::Describe() const {
  if (!rootfs_dir.empty()) return "directory " + rootfs_dir;
  return "image " + (Builtin() ? std::string(image::kBuiltinBusyboxName)
                               : image_tar.substr(image_tar.rfind('/') + 1));
}

bool ContainsCommand(const std::string& root, const std::string& command) {
  struct stat st;
  if (command.empty()) return false;
  if (command.find('/') != std::string::npos) {
    std::string p = command[0] == '/' ? command : "/" + command;
    return lstat((root + p).c_str(), &st) == 0;
  }
  for (const char* dir :
       {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}) {
    if (lstat((root + dir + "/" + command).c_str(), &st) == 0) return true;
  }
  return false;
}

Source ChooseSource(const std::string& rootfs_flag, const std::vector<std::string>& command) {
  Source src;
  if (rootfs_flag.empty()) return src;  // the built-in image
  std::string dir = lab::ResolvePath(rootfs_flag);
  if (dir.empty() || dir[0] != '/')
    throw UsageError("--rootfs " + Quote(rootfs_flag) + ": give an absolute path (or run it "
                     "with bazel run, which resolves relative ones)");
  struct stat st;
  if (stat(dir.c_str(), &st) < 0)
    throw UsageError("--rootfs " + Quote(dir) + ": " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode)) throw UsageError("--rootfs " + Quote(dir) + ": not a directory");
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (dir == "/")
    throw UsageError("--rootfs /: the host's own root is not a sandbox root filesystem");
  if (!command.empty() && !ContainsCommand(dir, command[0]))
    throw UsageError("--rootfs " + Quote(dir) + ": the command \"" + command[0] +
                     "\" is not in it (looked in /usr/local/sbin /usr/local/bin /usr/sbin "
                     "/usr/bin /sbin /bin)");
  src.rootfs_dir = dir;
  return src;
}

void PopulateInChild(const std::string& target, const Source& source) {
  if (!source.rootfs_dir.empty()) {
    // A recursive bind makes the directory a mount point of our private namespace.
    mount::Mount(source.rootfs_dir, target, "", MS_BIND | MS_REC);
    return;
  }
  // A tmpfs in *our* mount namespace: the host never sees it, and it vanishes with
  // the namespace however the sandbox ends. The image stays untouched.
  mount::Mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755");
  // The built-in image is part of this binary: nothing to open, so it does not
  // matter who we are now (lab 09's child is root of a user namespace, and only an
  // unprivileged uid on the host).
  image::UnpackStats s =
      source.Builtin()
          ? image::Unpack(image::BuiltinBusybox(), image::kBuiltinBusyboxName, target)
          : image::Unpack(source.image_tar, target);
  const std::string name = source.Builtin() ? image::kBuiltinBusyboxName
                                            : source.image_tar.substr(source.image_tar.rfind('/') + 1);
  narrate::Step("unpacked " + name + ": " + std::to_string(s.files) + " files, " +
                std::to_string(s.dirs) + " directories, " + std::to_string(s.symlinks) +
                " symlinks");
}

void EnterInChild(const std::string& root, const Source& source) {
  mount::MakePrivateInChild();
  PopulateInChild(root, source);
  mount::MountProcInChild(root + "/proc");
  mount::SetupDevInChild(root + "/dev");
  mount::MountSysReadOnlyInChild(root + "/sys");
  mount::PivotRootInChild(root);
}

void RemoveRunFromParent(RunDir& run, const std::string& mounts_before) {
  const std::string path = run.path();
  run.Reset();
  struct stat sb;
  narrate::Step(path + (stat(path.c_str(), &sb) < 0 ? " removed" : " still exists?!"));
  narrate::Step(ReadFile("/proc/self/mountinfo") == mounts_before
                    ? "my mount table is exactly what it was before the run"
                    : "my mount table CHANGED during the run?!");
}

void AddFlags(CLI::App& app, std::string& rootfs_dir, std::string& pitfall) {
  app.add_option("--rootfs", rootfs_dir,
                 "Run this unpacked root filesystem instead of the built-in busybox image "
                 "(bind-mounted read-write: what the sandbox writes stays in DIR)");
  app.add_option("--pitfall", pitfall,
                 "Make a classic mistake on purpose, to see the kernel's answer: shared "
                 "(pivot_root with shared mounts: EINVAL), not-a-mount-point (pivot_root "
                 "into a plain directory: EINVAL), proc-without-pidns (a fresh /proc "
                 "without CLONE_NEWPID lists the host's processes)")
      ->check(CLI::IsMember(PitfallNames()));
}

std::vector<std::string> PitfallNames() {
  return {"shared", "not-a-mount-point", "proc-without-pidns"};
}

void ShowPitfallInChild(const std::string& name, const RunDir& run, const Source& source) {
  mount::MakePrivateInChild();
  if (name == "shared") {
    narrate::Step("pitfall: making / shared again (a new peer group, in our namespace only)");
    mount::Mount("", "/", "", MS_REC | MS_SHARED);
    PopulateInChild(run.rootfs(), source);
    mount::PivotRootInChild(run.rootfs());  // EINVAL: the mounts are shared
  } else if (name == "not-a-mount-point") {
    narrate::Step("pitfall: pivot_root into /usr of the unpacked image, a plain directory");
    PopulateInChild(run.rootfs(), source);
    mount::PivotRootInChild(run.rootfs() + "/usr", /*make_mount_point=*/false);  // EINVAL
  } else {
    narrate::Step("pitfall: no CLONE_NEWPID, so the new /proc shows the host's PID namespace");
  }
}

}  // namespace nslab::rootfs
