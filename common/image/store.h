// store — layered images in the image store: load, list, remove, and the overlay
// lowerdir string a container's root is mounted from.
//
// Teaches: content addressing pays off on disk. Each layer is unpacked once, into
// <store>/layers/<diff_id hex>/diff, whatever image or archive brought it; an image
// is only a small record naming its config and its layers, bottom first:
//   <store>/images/<name>/image.json   {"id", "layers": [diff_id...], "config": ...}
//   <store>/images/<name>/config.json  the config document, byte for byte (its digest is the id)
//   <store>/layers/<hex>/diff/         the unpacked layer (whiteouts as 0/0 devices)
//   <store>/layers/<hex>/layer.json    its sizes
// Two images sharing a base share its directory, and overlayfs stacks the layers at
// mount time: lowerdir=<top>:...:<bottom> (the leftmost wins, so the top layer
// first). Nothing is copied per container; the container's writes go to its own
// upperdir. Removing an image removes the layers no other image names (a reference
// count kept by scanning the image records, not a counter that a crash could skew).
// Loading is atomic per layer and per image (a temporary directory renamed into
// place), serialised by flock(2) on <store>/layers/.lock. Ctrl-C (SIGINT, SIGTERM,
// SIGHUP) during a load turns into an error at the next chunk, so the load removes
// what it made and exits 128+N; whatever a SIGKILLed load left (.tmp-*) is removed
// by the next load or rmi under the same lock.
// Read: overlayfs.rst ("Multiple lower layers", "whiteouts and opaque directories"),
// flock(2), rename(2), containers-storage's overlay driver (layers/<id>/diff).
//
//   image::Load("busybox-oci.tar", "");                // every image in the archive
//   image::Resolved r = image::Resolve("busybox");      // r.lowerdir, r.config
//   mount("overlay", root, "overlay", 0, "lowerdir=" + r.lowerdir + ",upperdir=...");
//   image::Remove("busybox");                           // and its unshared layers
#ifndef NSLAB_COMMON_IMAGE_STORE_H_
#define NSLAB_COMMON_IMAGE_STORE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/image/archive.h"

namespace nslab::image {

// <store>/layers and one layer's directory (store::Base(): /var/lib/nslab for root,
// $NSLAB_IMAGE_DIR in tests).
std::string LayersDir();
std::string LayerDir(const std::string& diff_id);  // .../layers/<hex>; the tree is in diff/

struct Layer {
  std::string diff_id;
  uint64_t size = 0;     // bytes of regular files
  uint64_t entries = 0;  // tar entries, whiteouts included
  int used_by = 0;       // how many images in the store name it
};

struct StoredImage {
  std::string name, id;  // id: the config digest
  std::string source, format, ref;
  int64_t created = 0;   // unix seconds, when loaded
  std::vector<Layer> layers;  // bottom first
  uint64_t size = 0;     // sum of the layers
  Config config;
};

// Loads every image of an OCI layout or docker-save archive. `name` (optional)
// names the image: required when the archive's image carries no reference, and
// choosing one when it holds several. Names follow store::NormalizeName (the tag is
// dropped: one image per name). Verifies every document and layer while reading;
// on any error (UsageError: one line, the CLI's exit 125) leaves nothing new in the
// store. Refuses a name that exists already.
std::vector<StoredImage> Load(const std::string& file, const std::string& name = "");

// Every layered image, by name (flat images from `import` are store::List's).
std::vector<StoredImage> List();

// Is `name` a layered image in the store?
bool Exists(const std::string& name);

// What a container needs to run the image: the overlay lowerdir string (top layer
// first, ':'-separated, every directory checked to exist) and the config. Throws
// ExitCodeError(125, "no such image: NAME").
struct Resolved {
  std::string name, id;
  std::string lowerdir;
  std::vector<std::string> layer_dirs;  // top first, as in lowerdir
  Config config;
};
Resolved Resolve(const std::string& name);

// Removes the image and each of its layers no other image uses; returns the layers
// removed (diff_ids). Refuses (UsageError) an image a container record names,
// unless force: those containers' roots would lose their lower layers.
std::vector<std::string> Remove(const std::string& name, bool force = false);

// The `images` table: one line per image, then its layers indented, top first.
std::string RenderList(const std::vector<StoredImage>& images);

}  // namespace nslab::image

#endif  // NSLAB_COMMON_IMAGE_STORE_H_
