// layer — one image layer: a tar stream (often gzip'd) unpacked into a directory that
// overlayfs can stack, with its two digests checked on the way.
//
// Teaches: a layer is a *diff*: files it adds or changes, plus markers for what it
// deletes. A tar file cannot say "this file is gone", so the OCI image spec
// (layer.md "Whiteouts") borrows aufs's convention: an entry ".wh.NAME" means
// "NAME of the layers below is deleted", and ".wh..wh..opq" in a directory means
// "nothing of the layers below shows through here". overlayfs has its own markers
// for the same two ideas (Documentation/filesystems/overlayfs.rst "whiteouts and
// opaque directories"): a character device with device number 0/0 in place of the
// deleted name, and the xattr trusted.overlay.opaque=y on an opaque directory. So
// unpacking translates one convention into the other, and the kernel does the rest
// when the layers are mounted as lowerdirs.
//
// Two digests guard a layer: the manifest names the blob as stored (compressed),
// the config's rootfs.diff_ids name the uncompressed tar. Both are computed while
// the bytes stream through libarchive (a raw reader that decompresses, feeding a tar
// reader), so nothing is trusted before it is checked — the caller compares them and
// throws the directory away on a mismatch. Whiteouts are names too: "../.wh.x" or
// "/.wh.x" would delete outside the layer, and are refused like any escaping entry.
// Read: tar(5), libarchive's archive_read_open(3), mknod(2), setxattr(2),
// https://github.com/opencontainers/image-spec/blob/main/layer.md.
//
//   image::LayerStats s = image::UnpackLayer(read, "sha256:ab...", "/var/lib/nslab/layers/.tmp-x/diff");
//   if (s.diff_id != want) ...   // the caller decides, then renames the directory into place
#ifndef NSLAB_COMMON_IMAGE_LAYER_H_
#define NSLAB_COMMON_IMAGE_LAYER_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>

namespace nslab::image {

// Where the layer's bytes come from: sets *buf and returns how many bytes it points
// to, 0 at the end, -1 on error (with *error set). It must not throw (it is called
// from inside libarchive, which is C).
using ByteSource = std::function<ssize_t(const void** buf, std::string* error)>;

struct LayerStats {
  std::string blob_digest;  // sha256 of the bytes as read (compressed, as stored)
  std::string diff_id;      // sha256 of the uncompressed tar
  uint64_t blob_size = 0;   // bytes read from the source
  uint64_t size = 0;        // bytes of regular files unpacked
  uint64_t entries = 0, whiteouts = 0, opaques = 0;
};

// Reads the whole layer from `source` (any compression libarchive knows) and, when
// dest_dir is not empty, unpacks it there (dest_dir must exist, empty): ".wh.NAME"
// becomes a 0/0 character device NAME, ".wh..wh..opq" the xattr
// trusted.overlay.opaque=y on its directory; other ".wh..wh.*" (aufs bookkeeping)
// are skipped; trusted.* xattrs in the layer itself are dropped (only we may mark
// whiteouts). With dest_dir empty it only computes the digests (a layer the store
// has already). `name` stands for the layer in messages. Throws UsageError naming the
// entry for an entry or whiteout that escapes (absolute, "..", through a symlink).
LayerStats UnpackLayer(const ByteSource& source, const std::string& name,
                       const std::string& dest_dir);

// The same from a file (tests, and the docs' script).
LayerStats UnpackLayerFile(const std::string& path, const std::string& dest_dir);

// Why an entry name may not be written beneath a root: "" when it is safe.
std::string UnsafeEntryName(const std::string& name);

}  // namespace nslab::image

#endif  // NSLAB_COMMON_IMAGE_LAYER_H_
