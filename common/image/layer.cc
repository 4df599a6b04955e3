#include "common/image/layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/fd.h"
#include "common/image/digest.h"
#include "common/narrate.h"

namespace nslab::image {
namespace {

constexpr const char kWhiteoutPrefix[] = ".wh.";
constexpr const char kOpaqueMarker[] = ".wh..wh..opq";
constexpr const char kOpaqueXattr[] = "trusted.overlay.opaque";

struct ReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct WriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
using Reader = std::unique_ptr<archive, ReadFree>;
using Writer = std::unique_ptr<archive, WriteFree>;

// The outer reader: the blob as stored, decompressed by whichever filter bids
// (gzip, zstd, none...) and handed on as one "raw" entry. It hashes what it reads:
// that is the blob digest the manifest names.
struct BlobCtx {
  const ByteSource* source;
  digest::Sha256 hash;
  std::string error;
  bool eof = false;
};
la_ssize_t BlobRead(archive* a, void* p, const void** buf) {
  auto* c = static_cast<BlobCtx*>(p);
  if (c->eof) return 0;
  ssize_t n;
  try {
    n = (*c->source)(buf, &c->error);
  } catch (const std::exception& e) {
    c->error = e.what();
    n = -1;
  }
  if (n < 0) {
    archive_set_error(a, EIO, "%s", c->error.c_str());
    return -1;
  }
  if (n == 0) c->eof = true;
  c->hash.Update(*buf, static_cast<size_t>(n));
  return n;
}

// The inner reader parses the tar from the outer one's decompressed bytes and
// hashes them: that is the diff_id the config names.
struct TarCtx {
  archive* raw;
  digest::Sha256 hash;
  char buf[1 << 16];
};
la_ssize_t TarRead(archive* a, void* p, const void** buf) {
  auto* c = static_cast<TarCtx*>(p);
  la_ssize_t n = archive_read_data(c->raw, c->buf, sizeof c->buf);
  if (n < 0) {
    const char* why = archive_error_string(c->raw);
    archive_set_error(a, archive_errno(c->raw), "%s",
                      why != nullptr ? why : "the compressed stream is corrupt");
    return -1;
  }
  c->hash.Update(c->buf, static_cast<size_t>(n));
  *buf = c->buf;
  return n;
}

// The working directory, restored on scope exit (libarchive extracts relative to it).
class CwdGuard {
 public:
  CwdGuard() : fd_(Open(".", O_RDONLY | O_DIRECTORY)) {}
  ~CwdGuard() { (void)!fchdir(fd_.Get()); }

 private:
  UniqueFd fd_;
};

std::vector<std::string> Components(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string c = path.substr(start, end - start);
    if (!c.empty() && c != ".") out.push_back(c);
    start = end + 1;
  }
  return out;
}

// Opens the directory `rel` beneath root one component at a time with O_NOFOLLOW,
// creating missing ones (a layer may delete /etc/x without listing etc/): a symlink
// anywhere on the way is refused, so a whiteout can never land outside the layer —
// the same rule libarchive's SECURE_SYMLINKS applies to ordinary entries.
UniqueFd OpenDirBeneath(int root, const std::vector<std::string>& rel, const std::string& entry,
                        const std::string& layer) {
  UniqueFd dir(Check(fcntl(root, F_DUPFD_CLOEXEC, 0), "fcntl", "F_DUPFD_CLOEXEC"));
  for (const auto& c : rel) {
    int fd = openat(dir.Get(), c.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
      Check(mkdirat(dir.Get(), c.c_str(), 0755), "mkdirat", c);
      fd = openat(dir.Get(), c.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0 && (errno == ELOOP || errno == ENOTDIR))
      throw UsageError("layer " + layer + ": refusing whiteout \"" + entry + "\" (\"" + c +
                       "\" on its path is not a directory: a symlink would lead outside)");
    dir.Reset(Check(fd, "openat", c));
  }
  return dir;
}

// The overlayfs form of the two OCI markers, made beneath the layer's root.
void Whiteout(int root, const std::string& entry, const std::string& layer, LayerStats* stats) {
  std::vector<std::string> parts = Components(entry);
  std::string base = parts.back();
  parts.pop_back();
  if (base == kOpaqueMarker) {
    // "Nothing below shows through this directory": the xattr overlayfs reads on a
    // lower directory. trusted.* needs CAP_SYS_ADMIN (in the initial user namespace).
    UniqueFd dir = OpenDirBeneath(root, parts, entry, layer);
    narrate::Syscall("fsetxattr", "\"" + (parts.empty() ? "." : entry) + "\", \"" +
                                      kOpaqueXattr + "\", \"y\"");
    Check(fsetxattr(dir.Get(), kOpaqueXattr, "y", 1, 0), "fsetxattr",
          std::string(kOpaqueXattr) + " on " + entry);
    ++stats->opaques;
    return;
  }
  if (base.rfind(kOpaqueMarker, 0) == 0 || base.rfind(".wh..wh.", 0) == 0)
    return;  // aufs's own bookkeeping (.wh..wh.plnk, .wh..wh.aufs): no meaning here
  std::string target = base.substr(sizeof kWhiteoutPrefix - 1);
  if (target.empty() || target == "." || target == ".." || target.find('/') != std::string::npos)
    throw UsageError("layer " + layer + ": refusing whiteout \"" + entry + "\" (it names no file)");
  UniqueFd dir = OpenDirBeneath(root, parts, entry, layer);
  // "NAME of the layers below is deleted": a character device 0/0 named NAME.
  // mknod(2) of this one device needs no CAP_MKNOD (Linux 5.8, for overlayfs).
  narrate::Syscall("mknodat", "\"" + entry + "\" -> S_IFCHR 0/0 \"" + target + "\"");
  if (mknodat(dir.Get(), target.c_str(), S_IFCHR | 0000, makedev(0, 0)) < 0) {
    if (errno == EEXIST)
      throw UsageError("layer " + layer + ": whiteout \"" + entry + "\" deletes \"" + target +
                       "\", which the same layer creates");
    Check(-1, "mknodat", entry);
  }
  ++stats->whiteouts;
}

// Drops trusted.* xattrs carried by the layer: trusted.overlay.* would let a layer
// mark its own whiteouts, opaque dirs or redirects, and only we decide those.
void DropTrustedXattrs(archive_entry* entry) {
  std::vector<std::pair<std::string, std::string>> keep;
  bool dropped = false;
  const char* name;
  const void* value;
  size_t size;
  archive_entry_xattr_reset(entry);
  while (archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK) {
    if (std::strncmp(name, "trusted.", 8) == 0) {
      dropped = true;
    } else {
      keep.emplace_back(name, std::string(static_cast<const char*>(value), size));
    }
  }
  if (!dropped) return;
  archive_entry_xattr_clear(entry);
  for (const auto& [n, v] : keep) archive_entry_xattr_add_entry(entry, n.c_str(), v.data(), v.size());
}

std::string ReaderError(archive* a, const std::string& fallback) {
  const char* s = archive_error_string(a);
  return s != nullptr ? s : fallback;
}

}  // namespace

std::string UnsafeEntryName(const std::string& name) {
  if (name.empty()) return "empty name";
  if (name[0] == '/') return "absolute path";
  for (const auto& c : Components(name))
    if (c == "..") return "\"..\" component";
  return "";
}

LayerStats UnpackLayer(const ByteSource& source, const std::string& name,
                       const std::string& dest_dir) {
  LayerStats stats;
  BlobCtx blob{&source, {}, {}, false};
  Reader raw(archive_read_new());
  archive_read_support_filter_all(raw.get());
  archive_read_support_format_raw(raw.get());
  if (archive_read_open(raw.get(), &blob, nullptr, BlobRead, nullptr) != ARCHIVE_OK)
    throw UsageError("layer " + name + ": " + ReaderError(raw.get(), "cannot read"));
  archive_entry* entry;
  int r = archive_read_next_header(raw.get(), &entry);
  if (r == ARCHIVE_EOF) throw UsageError("layer " + name + ": empty (not a tar stream)");
  if (r < ARCHIVE_WARN)
    throw UsageError("layer " + name + ": " + ReaderError(raw.get(), "cannot read"));

  auto tar_ctx = std::make_unique<TarCtx>();
  tar_ctx->raw = raw.get();
  if (!dest_dir.empty()) {
    Reader tar(archive_read_new());
    archive_read_support_format_tar(tar.get());
    archive_read_support_format_gnutar(tar.get());
    if (archive_read_open(tar.get(), tar_ctx.get(), nullptr, TarRead, nullptr) != ARCHIVE_OK)
      throw UsageError("layer " + name + ": " + ReaderError(tar.get(), "not a tar stream"));

    Writer out(archive_write_disk_new());
    // As image::Unpack: modes, owners, times as the layer says; the SECURE flags
    // refuse "..", absolute names and writing through a symlink an earlier entry
    // made. XATTR keeps security.capability (ping's cap_net_raw) and friends.
    archive_write_disk_set_options(
        out.get(), ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_TIME |
                       ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                       ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                       ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS);
    archive_write_disk_set_standard_lookup(out.get());
    UniqueFd root = Open(dest_dir, O_RDONLY | O_DIRECTORY);
    CwdGuard cwd;
    Check(fchdir(root.Get()), "chdir", dest_dir);

    for (;;) {
      r = archive_read_next_header(tar.get(), &entry);
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_WARN)
        throw UsageError("layer " + name + ": " + ReaderError(tar.get(), "bad tar header"));
      std::string path = archive_entry_pathname(entry) ? archive_entry_pathname(entry) : "";
      if (std::string why = UnsafeEntryName(path); !why.empty())
        throw UsageError("layer " + name + ": refusing entry \"" + path + "\" (" + why +
                         ": it would be written outside the layer)");
      ++stats.entries;
      std::vector<std::string> parts = Components(path);
      if (!parts.empty() && parts.back().rfind(kWhiteoutPrefix, 0) == 0) {
        Whiteout(root.Get(), path, name, &stats);
        continue;  // a marker has no data to write
      }
      const char* hardlink = archive_entry_hardlink(entry);
      if (hardlink != nullptr) {
        if (std::string why = UnsafeEntryName(hardlink); !why.empty())
          throw UsageError("layer " + name + ": refusing hardlink \"" + path + "\" -> \"" +
                           hardlink + "\" (" + why + ")");
      }
      DropTrustedXattrs(entry);
      r = archive_write_header(out.get(), entry);
      if (r < ARCHIVE_WARN)
        throw UsageError("layer " + name + ": refusing entry \"" + path + "\": " +
                         ReaderError(out.get(), "cannot write"));
      if (archive_entry_size(entry) > 0 && hardlink == nullptr) {
        const void* buf;
        size_t size;
        la_int64_t offset;
        while ((r = archive_read_data_block(tar.get(), &buf, &size, &offset)) == ARCHIVE_OK) {
          if (archive_write_data_block(out.get(), buf, size, offset) < ARCHIVE_WARN)
            throw UsageError("layer " + name + ": writing \"" + path + "\": " +
                             ReaderError(out.get(), "cannot write"));
        }
        if (r < ARCHIVE_WARN)
          throw UsageError("layer " + name + ": reading \"" + path + "\": " +
                           ReaderError(tar.get(), "cannot read"));
        if (archive_entry_filetype(entry) == AE_IFREG)
          stats.size += static_cast<uint64_t>(archive_entry_size(entry));
      }
      if (archive_write_finish_entry(out.get()) < ARCHIVE_WARN)
        throw UsageError("layer " + name + ": finishing \"" + path + "\": " +
                         ReaderError(out.get(), "cannot write"));
    }
    if (archive_write_close(out.get()) < ARCHIVE_WARN)
      throw UsageError("layer " + name + ": closing: " + ReaderError(out.get(), "cannot write"));
  }
  // The digests cover every byte, also the tar's end blocks and anything after: read
  // the rest of both streams through their hashes.
  for (;;) {
    la_ssize_t n = archive_read_data(raw.get(), tar_ctx->buf, sizeof tar_ctx->buf);
    if (n < 0) throw UsageError("layer " + name + ": " + ReaderError(raw.get(), "cannot read"));
    if (n == 0) break;
    tar_ctx->hash.Update(tar_ctx->buf, static_cast<size_t>(n));
  }
  const void* rest;
  while (!blob.eof) {
    ssize_t n = source(&rest, &blob.error);
    if (n < 0) throw UsageError("layer " + name + ": " + blob.error);
    if (n == 0) break;
    blob.hash.Update(rest, static_cast<size_t>(n));
  }
  stats.blob_size = blob.hash.bytes();
  stats.blob_digest = blob.hash.Digest();
  stats.diff_id = tar_ctx->hash.Digest();
  return stats;
}

LayerStats UnpackLayerFile(const std::string& path, const std::string& dest_dir) {
  UniqueFd fd = Open(path, O_RDONLY);
  std::vector<char> buf(1 << 16);
  ByteSource source = [&](const void** out, std::string* error) -> ssize_t {
    ssize_t n;
    do {
      n = read(fd.Get(), buf.data(), buf.size());
    } while (n < 0 && errno == EINTR);
    if (n < 0) *error = "read \"" + path + "\": " + std::strerror(errno);
    *out = buf.data();
    return n;
  };
  return UnpackLayer(source, path, dest_dir);
}

}  // namespace nslab::image
