// digest — content addresses: "sha256:<64 hex>", computed while bytes stream past.
//
// Teaches: an image is content-addressed. Every blob (manifest, config, layer) is
// named by the sha256 of its bytes, so a name is also a checksum: whoever hands us
// an archive cannot change a layer without changing its name, and two images that
// share a base layer name the same blob and can share it on disk. The digest must
// be checked while the bytes are read, before anything trusts them (the OCI image
// spec, descriptor.md "Digests"). Read: sha256sum(1), nettle's manual (sha2.h),
// https://github.com/opencontainers/image-spec/blob/main/descriptor.md.
//
//   digest::Sha256 h;
//   h.Update(buf, n);  ...
//   if (h.Digest() != "sha256:9f86d0...") throw ...;
//   digest::Hex("sha256:9f86d0...")   // "9f86d0..." (throws when malformed)
#ifndef NSLAB_COMMON_IMAGE_DIGEST_H_
#define NSLAB_COMMON_IMAGE_DIGEST_H_

#include <nettle/sha2.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace nslab::digest {

// A running sha256 (nettle's, linked statically like libarchive's other helpers).
class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t size);
  // "sha256:<64 lowercase hex>" of everything Update saw. Call once.
  std::string Digest();
  uint64_t bytes() const { return bytes_; }

 private:
  sha256_ctx ctx_;
  uint64_t bytes_ = 0;
};

// sha256 of a whole buffer, as "sha256:<hex>".
std::string Of(std::string_view data);

// Is `d` "sha256:" followed by exactly 64 lowercase hex digits? Only that form is
// accepted: a digest becomes a file name in the store, so "sha256:../../etc" must
// never pass (the OCI spec allows other algorithms; we support only sha256).
bool Valid(std::string_view d);

// The 64 hex digits of a valid digest; throws UsageError naming `what` otherwise.
std::string Hex(std::string_view d, std::string_view what = "digest");

// The first 12 hex digits, as docker prints image and layer ids.
std::string Short(std::string_view d);

}  // namespace nslab::digest

#endif  // NSLAB_COMMON_IMAGE_DIGEST_H_
