// store — the image store: unpacked root filesystems under /var/lib/nslab/images/,
// the built-in busybox image unpacked once, and imported tarballs.
//
// Teaches: unpacking an image for every container would make each start cost a
// whole tarball. Runtimes unpack once into a store and give each container a
// copy-on-write view: an overlayfs whose lower layer is the pristine image and whose
// upper layer (per container) receives every change. Filling the store must be
// atomic — two CLIs starting the first container at once must not see half an
// image — so an image is unpacked into a temporary directory beside its final place
// and rename(2)d into it; the loser of a race finds the directory there and throws
// its copy away.
// Read: rename(2), overlayfs (Documentation/filesystems/overlayfs.rst), tar(5),
// containers-storage.conf(5) for how podman lays out its store.
//
//   std::string lower = store::Rootfs("busybox");   // unpacks the built-in image once
//   store::Import("/tmp/alpine.tar", "alpine");
//   for (auto& i : store::List()) ...
#ifndef NSLAB_COMMON_STORE_H_
#define NSLAB_COMMON_STORE_H_

#include <cstdint>
#include <string>
#include <vector>

namespace nslab::store {

// $NSLAB_IMAGE_DIR, else /var/lib/nslab for root; for other users
// $XDG_DATA_HOME/nslab, ~/.local/share/nslab, else /tmp/nslab-images-UID.
std::string Base();
// Base()/images/<name>.
std::string ImageDir(const std::string& name);

// The name of the image built into the binary (//images:busybox).
inline constexpr const char* kBuiltin = "busybox";

// Image names: 1-63 characters of [a-z0-9_.-], starting with a letter or digit
// (optionally followed by ":tag", which is dropped). Throws UsageError.
std::string NormalizeName(const std::string& name);

struct Image {
  std::string name;
  std::string source;   // "builtin" or the imported tarball's path
  int64_t created = 0;  // unix seconds
  uint64_t size = 0;    // bytes of the unpacked rootfs (apparent size)
  uint64_t files = 0;   // entries unpacked
};

// The rootfs directory of image `name`, for the overlay's lowerdir. The built-in
// busybox image is unpacked on first use; any other name must have been imported,
// else ExitCodeError(125, "no such image: NAME").
std::string Rootfs(const std::string& name);

// Unpacks tar_path (image::Unpack: refuses entries that escape the root) as image
// `name`, atomically. Throws UsageError when the name exists already.
Image Import(const std::string& tar_path, const std::string& name);

// Every image in the store, by name.
std::vector<Image> List();

// Removes an image from the store (not used by containers: they keep a mount of it).
void Remove(const std::string& name);

// SECURITY (issue 13): makes Base() and Base()/images mode 0700 (creating them, or
// tightening a store made before), so that no host user reaches an image's setuid
// files or device nodes by path. Called by Rootfs and Import.
void LockDown();

// "1.2MB"-style size (powers of 1000, as docker images prints).
std::string HumanSize(uint64_t bytes);

}  // namespace nslab::store

#endif  // NSLAB_COMMON_STORE_H_
