#include "common/overlay.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <sstream>

#include "common/error.h"
#include "common/fd.h"
#include "common/image.h"
#include "common/lab.h"
#include "common/mount.h"

namespace nslab::overlay {

namespace {

void MakeDir(const std::string& path, mode_t mode) {
  narrate::Syscall("mkdir", "\"" + path + "\"");
  Check(mkdir(path.c_str(), mode), "mkdir", path);
}

void CreateFile(const std::string& path, std::string_view text) {
  UniqueFd f = Open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
  WriteAll(f.Get(), text, path);
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

off_t SizeOf(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

// The opaque mark: trusted.* xattrs when overlay runs with the host's privileges,
// user.* when it was mounted inside a user namespace (the "userxattr" option).
bool IsOpaque(const std::string& dir) {
  char v[4] = {};
  for (const char* name : {"trusted.overlay.opaque", "user.overlay.opaque"}) {
    ssize_t n = lgetxattr(dir.c_str(), name, v, sizeof v - 1);
    if (n > 0 && v[0] == 'y') return true;
  }
  return false;
}

// The first lower layer (top first) that has `rel`, or "".
std::string LowerWith(const Layers& l, const std::string& rel) {
  for (const auto& lower : l.lowers)
    if (Exists(lower + "/" + rel)) return lower;
  return "";
}

// nftw has no user pointer: the scan in progress.
const Layers* g_layers = nullptr;
std::vector<UpperEntry>* g_entries = nullptr;

int Visit(const char* path, const struct stat* st, int type, struct FTW*) {
  std::string rel = std::string(path).substr(g_layers->upper.size());
  if (rel.empty()) return 0;  // upper itself
  rel = rel.substr(1);
  UpperEntry e;
  e.path = rel;
  const std::string lower = LowerWith(*g_layers, rel);
  if (S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0)) {
    e.kind = UpperEntry::kWhiteout;
    e.detail = lower.empty() ? "hides nothing now" : "hides " + rel + " of a lower layer";
  } else if (type == FTW_D || type == FTW_DNR) {
    if (IsOpaque(path)) {
      e.kind = UpperEntry::kOpaqueDir;
      e.detail = "opaque: hides everything below it in the lowers";
    } else {
      e.kind = UpperEntry::kDir;
      e.detail = lower.empty() ? "new" : "copied up (a parent of a change)";
    }
  } else if (S_ISREG(st->st_mode) || S_ISLNK(st->st_mode)) {
    if (lower.empty()) {
      e.kind = UpperEntry::kNew;
      e.detail = std::to_string(st->st_size) + " bytes, in no lower layer";
    } else {
      e.kind = UpperEntry::kCopiedUp;
      e.detail = std::to_string(SizeOf(lower + "/" + rel)) + " bytes in the lower, " +
                 std::to_string(st->st_size) + " in upper";
    }
  }
  g_entries->push_back(e);
  return 0;
}

}  // namespace

std::string MountOptions(const Layers& layers) {
  auto check = [](const std::string& dir) {
    if (dir.find_first_of(",:") != std::string::npos)
      throw UsageError("\"" + dir + "\": an overlay layer's path cannot hold ',' or ':' "
                       "(they separate mount options and lower layers)");
    return dir;
  };
  std::string lowers;
  for (const auto& l : layers.lowers) lowers += (lowers.empty() ? "" : ":") + check(l);
  return "lowerdir=" + lowers + ",upperdir=" + check(layers.upper) +
         ",workdir=" + check(layers.work);
}

Layers PrepareFromParent(const rootfs::RunDir& run, const rootfs::Source& source,
                         const std::vector<std::string>& extra) {
  Layers l;
  // --lower directories first: they lie on top of the lab's layer and the image.
  for (const auto& dir : extra) {
    const std::string abs = lab::ResolvePath(dir);
    struct stat st;
    if (stat(abs.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      throw UsageError("--lower \"" + dir + "\": not a directory");
    l.lowers.push_back(abs);
  }
  // The lab's own small layer: one file, to show that a lower on top wins.
  const std::string layer = run.path() + "/layer";
  MakeDir(layer, 0755);
  MakeDir(layer + "/etc", 0755);
  CreateFile(layer + "/etc/motd", "this file comes from the lab's top lower layer\n");
  l.lowers.push_back(layer);
  if (!source.rootfs_dir.empty()) {
    l.lowers.push_back(source.rootfs_dir);  // only ever read: the overlay writes to upper
  } else {
    const std::string lower = run.path() + "/lower";
    MakeDir(lower, 0755);
    image::UnpackStats s =
        source.Builtin() ? image::Unpack(image::BuiltinBusybox(), image::kBuiltinBusyboxName, lower)
                         : image::Unpack(source.image_tar, lower);
    narrate::Step("unpacked the image into " + lower + " (the lowest layer): " +
                  std::to_string(s.files) + " files, " + std::to_string(s.dirs) +
                  " directories, " + std::to_string(s.symlinks) + " symlinks");
    l.lowers.push_back(lower);
  }
  l.upper = run.path() + "/upper";
  l.work = run.path() + "/work";
  MakeDir(l.upper, 0755);
  MakeDir(l.work, 0755);
  MountOptions(l);  // a bad path fails now, before the clone
  return l;
}

bool InInitialUserNamespace() {
  // The initial user namespace maps every id onto itself: "0 0 4294967295".
  std::istringstream in(ReadFile("/proc/self/uid_map"));
  unsigned long inside = 1, outside = 1, count = 0;
  in >> inside >> outside >> count;
  return inside == 0 && outside == 0 && count == 4294967295UL;
}

void MountInChild(const Layers& layers, const std::string& target) {
  std::string options = MountOptions(layers);
  // Inside a user namespace the kernel will not let overlay set trusted.* xattrs
  // (they need CAP_SYS_ADMIN on the host): opaque directories and copied-up
  // metadata would fail with EIO. "userxattr" makes it use user.overlay.* instead.
  if (!InInitialUserNamespace()) options += ",userxattr";
  mount::Mount("overlay", target, "overlay", 0, options);
}

std::vector<UpperEntry> ScanUpper(const Layers& layers) {
  std::vector<UpperEntry> entries;
  g_layers = &layers;
  g_entries = &entries;
  // FTW_PHYS: never follow a symlink out of upper.
  if (nftw(layers.upper.c_str(), Visit, 16, FTW_PHYS) != 0) Check(-1, "nftw", layers.upper);
  g_layers = nullptr;
  g_entries = nullptr;
  std::sort(entries.begin(), entries.end(),
            [](const UpperEntry& a, const UpperEntry& b) { return a.path < b.path; });
  return entries;
}

std::string KindName(UpperEntry::Kind kind) {
  switch (kind) {
    case UpperEntry::kDir: return "directory";
    case UpperEntry::kOpaqueDir: return "opaque directory";
    case UpperEntry::kCopiedUp: return "copied up";
    case UpperEntry::kNew: return "new file";
    case UpperEntry::kWhiteout: return "whiteout (char 0,0)";
    case UpperEntry::kOther: break;
  }
  return "other";
}

std::vector<narrate::Row> UpperRows(const std::vector<UpperEntry>& entries) {
  std::vector<narrate::Row> rows;
  for (const auto& e : entries)
    rows.push_back({{e.path, KindName(e.kind), e.detail},
                    e.kind == UpperEntry::kWhiteout || e.kind == UpperEntry::kOpaqueDir});
  return rows;
}

int DemoChangesInChild() {
  // A write to a lower file: the kernel copies the whole file up first.
  {
    narrate::Syscall("open", "\"/etc/hosts\", O_WRONLY|O_APPEND");
    UniqueFd f = Open("/etc/hosts", O_WRONLY | O_APPEND);
    WriteAll(f.Get(), "10.0.0.1 written-in-the-sandbox\n", "/etc/hosts");
  }
  narrate::Step("appended a line to /etc/hosts (a file of the image)");
  // A delete of a lower file: upper gets a whiteout of the same name.
  narrate::Syscall("unlink", "\"/bin/ed\"");
  Check(unlink("/bin/ed"), "unlink", "/bin/ed");
  narrate::Step("removed /bin/ed: ls finds " +
                std::string(access("/bin/ed", F_OK) == 0 ? "it still?!" : "nothing"));
  // A lower directory removed and made again: opaque, so the lower's content under
  // it cannot shine through.
  narrate::Syscall("rmdir", "\"/home\"; mkdir(\"/home\")");
  Check(rmdir("/home"), "rmdir", "/home");
  Check(mkdir("/home", 0755), "mkdir", "/home");
  CreateFile("/root/notes", "a file the sandbox made\n");
  narrate::Step("made /home again and a new file /root/notes");
  narrate::Step("/etc/motd (from the top lower): " + TrimNewlines(ReadFile("/etc/motd")));
  return 0;
}

}  // namespace nslab::overlay
