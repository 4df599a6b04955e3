#include "common/image.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>

#include "common/error.h"
#include "common/fd.h"
#include "common/narrate.h"
#include "images/busybox_embedded.h"

namespace nslab::image {
namespace {

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

using Reader = std::unique_ptr<archive, ArchiveCloser>;

Reader NewReader() {
  Reader in(archive_read_new());
  // Images are tar archives (what `docker export` writes), possibly compressed. Only
  // tar formats are enabled: with every format on, libarchive reads any short text
  // file as an mtree description and "unpacks" it into files named by its words.
  archive_read_support_format_tar(in.get());
  archive_read_support_format_gnutar(in.get());
  archive_read_support_filter_all(in.get());
  return in;
}

// The one extraction loop, whatever the reader reads from: `tar_path` names the
// image in messages.
UnpackStats Extract(archive* in, const std::string& tar_path, const std::string& dest_dir) {
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
  // No archive_write_disk_set_standard_lookup: owners are the numeric ids the image
  // records (as Docker does), not names looked up in the host's passwd and group.

  CwdGuard cwd;
  narrate::Syscall("chdir", Quote(dest_dir));
  Check(chdir(dest_dir.c_str()), "chdir", dest_dir);

  UnpackStats stats;
  for (;;) {
    archive_entry* entry;
    int r = archive_read_next_header(in, &entry);
    if (r == ARCHIVE_EOF) {
      // An empty file is a valid empty tar archive to libarchive, and an image
      // without a single entry is surely a mistake: say so.
      if (stats.entries == 0)
        throw UsageError("image " + Quote(tar_path) + " holds no entries: not an image");
      break;
    }
    if (r < ARCHIVE_WARN)
      throw UsageError("reading image " + Quote(tar_path) + ": " + archive_error_string(in));
    std::string name = archive_entry_pathname(entry) ? archive_entry_pathname(entry) : "";
    if (std::string why = UnsafeName(name); !why.empty())
      throw UsageError("image " + Quote(tar_path) + ": refusing entry " + Quote(name) + " (" + why +
                       ": it would be written outside " + dest_dir + ")");
    const char* hardlink = archive_entry_hardlink(entry);
    if (hardlink != nullptr) {
      if (std::string why = UnsafeName(hardlink); !why.empty())
        throw UsageError("image " + Quote(tar_path) + ": refusing hardlink " + Quote(name) +
                         " -> " + Quote(hardlink) + " (" + why + ")");
    }
    r = archive_write_header(out.get(), entry);
    if (r < ARCHIVE_WARN)
      throw UsageError("image " + Quote(tar_path) + ": refusing entry " + Quote(name) + ": " +
                       archive_error_string(out.get()));
    if (archive_entry_size(entry) > 0 && hardlink == nullptr) {
      const void* buf;
      size_t size;
      la_int64_t offset;
      while ((r = archive_read_data_block(in, &buf, &size, &offset)) == ARCHIVE_OK) {
        if (archive_write_data_block(out.get(), buf, size, offset) < ARCHIVE_WARN)
          throw UsageError("writing " + Quote(name) + ": " + archive_error_string(out.get()));
      }
      if (r < ARCHIVE_WARN)
        throw UsageError("reading " + Quote(name) + ": " + archive_error_string(in));
    }
    if (archive_write_finish_entry(out.get()) < ARCHIVE_WARN)
      throw UsageError("finishing " + Quote(name) + ": " + archive_error_string(out.get()));
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
    throw UsageError("closing " + Quote(dest_dir) + ": " + archive_error_string(out.get()));
  return stats;
}

}  // namespace

std::string_view BuiltinBusybox() {
  return std::string_view(nslab_busybox_tar, nslab_busybox_tar_size);
}

UnpackStats Unpack(const std::string& tar_path, const std::string& dest_dir) {
  Reader in = NewReader();
  narrate::Syscall("archive_read_open_filename", Quote(tar_path));
  if (archive_read_open_filename(in.get(), tar_path.c_str(), 1 << 16) != ARCHIVE_OK)
    throw UsageError("cannot read image " + Quote(tar_path) + ": " +
                     archive_error_string(in.get()));
  return Extract(in.get(), tar_path, dest_dir);
}

UnpackStats Unpack(std::string_view tar, const std::string& name, const std::string& dest_dir) {
  Reader in = NewReader();
  // The bytes are read in place: libarchive copies nothing before it extracts.
  narrate::Syscall("archive_read_open_memory",
                   Quote(name) + " (" + std::to_string(tar.size()) + " bytes in memory)");
  if (archive_read_open_memory(in.get(), tar.data(), tar.size()) != ARCHIVE_OK)
    throw UsageError("cannot read image " + Quote(name) + ": " + archive_error_string(in.get()));
  return Extract(in.get(), name, dest_dir);
}

}  // namespace nslab::image
