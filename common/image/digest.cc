#include "common/image/digest.h"

#include "common/error.h"

namespace nslab::digest {

Sha256::Sha256() { sha256_init(&ctx_); }

void Sha256::Update(const void* data, size_t size) {
  sha256_update(&ctx_, size, static_cast<const uint8_t*>(data));
  bytes_ += size;
}

std::string Sha256::Digest() {
  uint8_t raw[SHA256_DIGEST_SIZE];
  sha256_digest(&ctx_, sizeof raw, raw);
  static const char kHex[] = "0123456789abcdef";
  std::string out = "sha256:";
  for (uint8_t b : raw) {
    out += kHex[b >> 4];
    out += kHex[b & 0xf];
  }
  return out;
}

std::string Of(std::string_view data) {
  Sha256 h;
  h.Update(data.data(), data.size());
  return h.Digest();
}

bool Valid(std::string_view d) {
  constexpr std::string_view kPrefix = "sha256:";
  if (d.size() != kPrefix.size() + 64 || d.substr(0, kPrefix.size()) != kPrefix) return false;
  for (char c : d.substr(kPrefix.size()))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string Hex(std::string_view d, std::string_view what) {
  if (!Valid(d))
    throw UsageError(std::string(what) + " \"" + std::string(d) +
                     "\": not a sha256 digest (sha256: and 64 lowercase hex digits)");
  return std::string(d.substr(7));
}

std::string Short(std::string_view d) {
  std::string_view hex = d.substr(0, 7) == "sha256:" ? d.substr(7) : d;
  return std::string(hex.substr(0, 12));
}

}  // namespace nslab::digest
