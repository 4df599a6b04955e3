#include "common/image.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <vector>

#include "common/error.h"
#include "common/fd.h"
#include "common/narrate.h"

namespace nslab::image {
namespace {

bool IsFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// Why a name may not be written by an unpacker running as root: "" when safe.
std::string UnsafeName(const std::string& name) {
  if (name.empty()) return "empty name";
  if (name[0] == '/') return "absolute path";
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string::npos) end = name.size();
    if (name.compare(start, end - start, "..") == 0) return "\"..\" component";
    start = end + 1;
  }
  return "";
}

struct ArchiveCloser {
  void operator()(archive* a) const {
    archive_read_free(a);  // also frees write_disk handles (same function since 3.0)
  }
};
struct WriterCloser {
  void operator()(archive* a) const { archive_write_free(a); }
};

// The working directory, restored on scope exit (libarchive extracts relative to it).
class CwdGuard {
 public:
  CwdGuard() : fd_(Open(".", O_RDONLY | O_DIRECTORY)) {}
  ~CwdGuard() { (void)!fchdir(fd_.Get()); }

 private:
  UniqueFd fd_;
};

}  // namespace

std::string BuiltinBusyboxTar() {
  const std::string rel = "nslab/images/busybox.tar";
  std::vector<std::string> tried;
  auto try_path = [&](const std::string& p) {
    tried.push_back(p);
    return IsFile(p);
  };
  for (const char* var : {"RUNFILES_DIR", "TEST_SRCDIR"}) {
    const char* dir = std::getenv(var);
    if (dir != nullptr && *dir != '\0' && try_path(std::string(dir) + "/" + rel))
      return tried.back();
  }
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    if (try_path(std::string(exe) + ".runfiles/" + rel)) return tried.back();
    // A binary inside bazel-bin/labs/ (scripts/capture_docs puts it on PATH): its
    // sibling package images/ holds the tarball.
    std::string dir(exe);
    dir = dir.substr(0, dir.rfind('/'));
    if (try_path(dir.substr(0, dir.rfind('/')) + "/images/busybox.tar")) return tried.back();
  }
  if (try_path("bazel-bin/images/busybox.tar")) return tried.back();
  std::string where;
  for (const auto& t : tried) where += "\n  " + t;
  throw UsageError("the busybox image (images/busybox.tar) was not found; build it with "
                   "`bazel build //images:busybox` or pass --rootfs DIR. Looked in:" + where);
}

UnpackStats Unpack(const std::string& tar_path, const std::string& dest_dir) {
  std::unique_ptr<archive, ArchiveCloser> in(archive_read_new());
  archive_read_support_format_all(in.get());
  archive_read_support_filter_all(in.get());
  narrate::Syscall("archive_read_open_filename", "\"" + tar_path + "\"");
  if (archive_read_open_filename(in.get(), tar_path.c_str(), 1 << 16) != ARCHIVE_OK)
    throw UsageError("cannot read image \"" + tar_path + "\": " +
                     archive_error_string(in.get()));

  std::unique_ptr<archive, WriterCloser> out(archive_write_disk_new());
  // PERM/OWNER/TIME: the image decides modes (setuid, 1777 on /tmp), owners and
  // times, as `tar --same-owner -p` does as root. The three SECURE flags are the
  // defence against a hostile tarball writing outside dest_dir:
  //  NODOTDOT         refuses "../x" and "a/../../x" (and hardlinks to such names);
  //  NOABSOLUTEPATHS  refuses "/etc/shadow" instead of silently stripping the "/";
  //  SECURE_SYMLINKS  refuses to write through a symlink an earlier entry made
  //                   ("link -> /etc" then "link/cron.d/x").
  // We check names ourselves first as well, to name the entry in a clear message.
  archive_write_disk_set_options(
      out.get(), ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_TIME |
                     ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                     ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS);
  archive_write_disk_set_standard_lookup(out.get());

  CwdGuard cwd;
  narrate::Syscall("chdir", "\"" + dest_dir + "\"");
  Check(chdir(dest_dir.c_str()), "chdir", dest_dir);

  UnpackStats stats;
  for (;;) {
    archive_entry* entry;
    int r = archive_read_next_header(in.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN)
      throw UsageError("reading image \"" + tar_path + "\": " + archive_error_string(in.get()));
    std::string name = archive_entry_pathname(entry) ? archive_entry_pathname(entry) : "";
    if (std::string why = UnsafeName(name); !why.empty())
      throw UsageError("image \"" + tar_path + "\": refusing entry \"" + name + "\" (" + why +
                       ": it would be written outside " + dest_dir + ")");
    const char* hardlink = archive_entry_hardlink(entry);
    if (hardlink != nullptr) {
      if (std::string why = UnsafeName(hardlink); !why.empty())
        throw UsageError("image \"" + tar_path + "\": refusing hardlink \"" + name +
                         "\" -> \"" + hardlink + "\" (" + why + ")");
    }
    r = archive_write_header(out.get(), entry);
    if (r < ARCHIVE_WARN)
      throw UsageError("image \"" + tar_path + "\": refusing entry \"" + name + "\": " +
                       archive_error_string(out.get()));
    if (archive_entry_size(entry) > 0 && hardlink == nullptr) {
      const void* buf;
      size_t size;
      la_int64_t offset;
      while ((r = archive_read_data_block(in.get(), &buf, &size, &offset)) == ARCHIVE_OK) {
        if (archive_write_data_block(out.get(), buf, size, offset) < ARCHIVE_WARN)
          throw UsageError("writing \"" + name + "\": " + archive_error_string(out.get()));
      }
      if (r < ARCHIVE_WARN)
        throw UsageError("reading \"" + name + "\": " + archive_error_string(in.get()));
    }
    if (archive_write_finish_entry(out.get()) < ARCHIVE_WARN)
      throw UsageError("finishing \"" + name + "\": " + archive_error_string(out.get()));
    ++stats.entries;
    if (hardlink != nullptr) {
      ++stats.hardlinks;
    } else {
      switch (archive_entry_filetype(entry)) {
        case AE_IFDIR: ++stats.dirs; break;
        case AE_IFLNK: ++stats.symlinks; break;
        case AE_IFREG: ++stats.files; break;
        default: break;
      }
    }
  }
  // Directory modes and times are fixed up at close (after their contents exist).
  if (archive_write_close(out.get()) < ARCHIVE_WARN)
    throw UsageError("closing \"" + dest_dir + "\": " + archive_error_string(out.get()));
  return stats;
}

}  // namespace nslab::image
