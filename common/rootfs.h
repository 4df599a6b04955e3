// rootfs — the per-run directory that holds a sandbox's root filesystem, and
// preparing that root filesystem from the busybox image or a directory.
//
// Teaches: each run gets /run/nslab/<lab>-<pid>/ (base overridable with the
// environment variable NSLAB_RUN_DIR, for tests). The host only creates the empty
// directory rootfs/ in it; the child, already in its own private mount namespace,
// mounts a tmpfs there and unpacks the image into it — so the host's mount table
// never changes, even if the lab is killed, and the tmpfs disappears with the
// namespace. The RunDir object removes the directory when it goes out of scope.
// Read: mount_namespaces(7), tmpfs(5), hier(7).
//
//   rootfs::Source src = rootfs::ChooseSource(opt.rootfs, opt.command);  // validates
//   rootfs::RunDir run = rootfs::PrepareRun("06_mount");
//   process::Clone({CLONE_NEWNS | ...}, [&] {
//     mount::MakePrivateInChild();
//     rootfs::PopulateInChild(run.rootfs(), src);  // tmpfs + unpack, or bind DIR
//     ...
//   });
#ifndef NSLAB_COMMON_ROOTFS_H_
#define NSLAB_COMMON_ROOTFS_H_

#include <string>
#include <string_view>
#include <vector>

namespace CLI {
class App;
}  // namespace CLI

namespace nslab::rootfs {

// The lab's flags for this concept: --rootfs DIR (bind-mounted read-write as the
// sandbox's root instead of the built-in image: what it writes stays in DIR) and
// --pitfall NAME (one of PitfallNames()).
void AddFlags(CLI::App& app, std::string& rootfs_dir, std::string& pitfall);

// Where per-run directories go: $NSLAB_RUN_DIR, else /run/nslab.
std::string RunBase();

// Owns a per-run directory: removes it and everything under it when it goes out of
// scope. Removal never crosses into a mount point (nftw FTW_MOUNT|FTW_PHYS), so a
// mount left there by mistake is reported, not emptied. Move-only.
class RunDir {
 public:
  RunDir() = default;
  explicit RunDir(std::string path) : path_(std::move(path)) {}
  RunDir(RunDir&& other) noexcept : path_(other.Release()) {}
  RunDir& operator=(RunDir&& other) noexcept;
  RunDir(const RunDir&) = delete;
  RunDir& operator=(const RunDir&) = delete;
  ~RunDir() { Reset(); }

  const std::string& path() const { return path_; }
  std::string rootfs() const { return path_ + "/rootfs"; }
  // Removes the directory tree now; errors are printed, not thrown.
  void Reset();
  std::string Release();

 private:
  std::string path_;
};

// Creates RunBase()/<lab>-<pid>/ and its empty rootfs/ (mode 0700 / 0755), after
// RemoveStale(lab).
RunDir PrepareRun(std::string_view lab);

// A lab killed with SIGKILL cannot remove its per-run directory. Removes the
// directories RunBase()/<lab>-<pid> (exactly: digits after the dash, no more)
// whose pid no longer exists, narrating each; returns their paths. Leaves alone a
// live pid (or one not ours to signal), anything that is not a directory (a
// symlink is never followed), and a directory that is a mount point or has one
// beneath it: a mount is never removed, nor emptied. Errors are printed, not thrown.
// "Alive" is judged in our PID namespace: labs in different PID namespaces must not
// share a run base (NSLAB_RUN_DIR).
std::vector<std::string> RemoveStale(std::string_view lab);

// What to run as the root filesystem: the busybox image built into the binary (the
// default, both fields empty), an image tarball, or an already unpacked directory
// (--rootfs DIR).
struct Source {
  std::string image_tar;   // unpacked onto a tmpfs (empty: the built-in image)
  std::string rootfs_dir;  // bind-mounted instead
  bool Builtin() const { return image_tar.empty() && rootfs_dir.empty(); }
  std::string Describe() const;
};

// Validates --rootfs DIR (empty: the built-in busybox image, Source{}): after
// lab::ResolvePath it must be absolute, exist, be a directory, and contain the
// command (argv[0], absolute or searched in the usual bin directories); throws
// UsageError saying which of these failed.
Source ChooseSource(const std::string& rootfs_flag, const std::vector<std::string>& command);

// Does root contain `command` (as an absolute path inside it, or in one of
// /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin)? lstat only: an
// absolute symlink inside a rootfs points into that rootfs, not the host.
bool ContainsCommand(const std::string& root, const std::string& command);

// Runs in the child, in a private mount namespace: fills `target` (an empty dir)
// with the source — a tmpfs then the image unpacked (from the binary's own bytes
// for the built-in one: nothing to open, whoever we are now), or a recursive bind
// mount of the directory. target is a mount point afterwards, ready for pivot_root.
void PopulateInChild(const std::string& target, const Source& source);

// The whole recipe of lab 06 for a child already in new PID and mount namespaces:
// make / private, populate root, mount /proc, /dev, /sys (read-only) inside it,
// pivot_root into it, chdir("/"). The labs' mains spell the steps out instead, so
// that each diff shows them; tests and tools that need a root in one call use this.
void EnterInChild(const std::string& root, const Source& source);

// Lab 06's last step, run by the host after the child is reaped: removes the per-run
// directory now, then shows that it is gone and that our mount table is exactly
// `mounts_before` (/proc/self/mountinfo read before the run). There is nothing to
// unmount: every mount lived in the child's mount namespace and died with it.
void RemoveRunFromParent(RunDir& run, const std::string& mounts_before);

// --- Lab 06's --pitfall demo ---

// The names --pitfall accepts: "shared", "not-a-mount-point", "proc-without-pidns".
std::vector<std::string> PitfallNames();
// Run by the child in its new mount namespace, before the usual recipe: makes one
// classic mistake on purpose and lets the kernel's error (or wrong result) show —
// pivot_root with shared mounts (EINVAL), pivot_root into a plain directory (EINVAL).
// Returns only for proc-without-pidns, whose mistake (no CLONE_NEWPID) is the
// caller's flags: the fresh /proc then lists the host's processes.
void ShowPitfallInChild(const std::string& name, const RunDir& run, const Source& source);

}  // namespace nslab::rootfs

#endif  // NSLAB_COMMON_ROOTFS_H_
