// archive — what an image archive holds: an OCI image layout (oci-layout, index.json,
// blobs/sha256/...) or a `docker save` tarball (manifest.json + layer tars), read
// into one description: for each image its name, config and layers.
//
// Teaches: an image is a small graph of JSON documents naming each other by digest.
//   OCI:    index.json ──> manifest ──> config (Env, Cmd, ..., rootfs.diff_ids)
//                                  └──> layers [blob digests]
//   docker: manifest.json [{Config: "<file>", RepoTags, Layers: ["<dir>/layer.tar"]}]
// Every document is checked against the digest its parent names before it is parsed,
// so the whole graph is as trustworthy as its root. The archive itself is hostile
// input: it is never unpacked to disk. We read it twice with libarchive — once for
// the small JSON documents (kept in memory), once to stream each layer into the
// store — and resolve the names the JSON gives (and symlinks `docker save` makes
// between identical layers) ourselves, refusing any that leaves the archive.
// Read: the OCI image spec (image-layout.md, image-index.md, manifest.md, config.md),
// moby's image/spec/v1.2.md and image/tarexport (docker save's layout).
//
//   std::vector<image::ArchiveImage> imgs = image::ReadArchive("busybox.tar");
//   image::StreamBlobs("busybox.tar", {imgs[0].layers[0].path}, [&](path, source) {...});
#ifndef NSLAB_COMMON_IMAGE_ARCHIVE_H_
#define NSLAB_COMMON_IMAGE_ARCHIVE_H_

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "common/image/layer.h"

namespace nslab::image {

// The part of the image config (config.md "config") that decides how a container
// runs; the CLI's flags override it (docker run's rules: see Command below).
struct Config {
  std::vector<std::string> env;         // "KEY=value", in order
  std::vector<std::string> entrypoint;  // may be empty
  std::vector<std::string> cmd;         // may be empty
  std::string working_dir;              // "" = /
  std::string user;                     // "" = root; "uid[:gid]" or a name
};

// Parses an image config document: the fields above plus rootfs.diff_ids (in
// order, bottom layer first). Throws UsageError naming `what` on bad JSON.
Config ParseConfig(const std::string& json, std::vector<std::string>* diff_ids,
                   const std::string& what = "config");

// The command a container runs, as `docker run` composes it: an --entrypoint given
// (entrypoint_set) replaces the image's and drops its Cmd; args given replace Cmd;
// the result is entrypoint + cmd.
std::vector<std::string> Command(const Config& config, const std::vector<std::string>& args,
                                 bool entrypoint_set = false,
                                 const std::vector<std::string>& entrypoint = {});

// The environment as docker composes it: the image's Env, then each override
// ("KEY=value" replaces KEY; a bare "KEY" is ignored here, the CLI resolves it).
std::vector<std::string> Environment(const Config& config,
                                     const std::vector<std::string>& overrides);

struct LayerRef {
  std::string path;         // the blob's entry in the archive (symlinks resolved)
  std::string blob_digest;  // what the blob must hash to ("" when the format names none)
  int64_t blob_size = -1;   // what its size must be (-1: not given)
  std::string diff_id;      // what the uncompressed tar must hash to (config's diff_ids)
};

struct ArchiveImage {
  std::string ref;            // "busybox:latest", from the ref.name annotation or RepoTags
  std::string format;         // "oci" or "docker-archive"
  std::string config_digest;  // the image id: sha256 of the config document
  std::string config_json;    // the config document, verified
  Config config;
  std::vector<LayerRef> layers;  // bottom first, as the manifest lists them
};

// Reads the archive's index (first pass). Throws UsageError with one line for
// anything wrong: not an image archive, an entry escaping the archive ("../x",
// "/x", a symlink leaving it), a document whose digest or size lies, a layer or
// config named but absent, a digest that is not sha256:<64 hex>.
std::vector<ArchiveImage> ReadArchive(const std::string& file);

// Second pass: for each entry whose path is in `paths` (as LayerRef::path), calls
// `fn(path, source)` with a source of its bytes; fn must read it to the end.
// Throws UsageError when a path is not found again.
void StreamBlobs(const std::string& file, const std::set<std::string>& paths,
                 const std::function<void(const std::string&, const ByteSource&)>& fn);

}  // namespace nslab::image

#endif  // NSLAB_COMMON_IMAGE_ARCHIVE_H_
