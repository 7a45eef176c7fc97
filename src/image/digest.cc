#include "image/digest.h"

#include <fcntl.h>
#include <openssl/evp.h>

#include "util/error.h"
#include "util/file.h"

namespace vessel::image {

struct Sha256::Ctx {
  EVP_MD_CTX* md = nullptr;
  ~Ctx() {
    if (md) EVP_MD_CTX_free(md);
  }
};

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  if (!ctx_->md || EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr) != 1)
    fail("sha256: cannot initialise OpenSSL digest");
}

Sha256::~Sha256() = default;

void Sha256::update(const void* data, size_t len) {
  if (len == 0) return;
  if (EVP_DigestUpdate(ctx_->md, data, len) != 1) fail("sha256: digest update failed");
}

std::string Sha256::digest() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_->md, out, &len) != 1) fail("sha256: digest final failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s = "sha256:";
  for (unsigned int i = 0; i < len; ++i) {
    s += kHex[out[i] >> 4];
    s += kHex[out[i] & 0xf];
  }
  // Ready for another message.
  EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr);
  return s;
}

std::string sha256_digest(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.digest();
}

std::string sha256_file_digest(const std::string& path) {
  UniqueFd fd = open_or_throw(path, O_RDONLY);
  Sha256 h;
  std::string buf(1 << 16, '\0');
  for (;;) {
    ssize_t n = retry_eintr([&] { return ::read(fd.get(), buf.data(), buf.size()); });
    if (n < 0) fail_errno("read {}", path);
    if (n == 0) break;
    h.update(buf.data(), static_cast<size_t>(n));
  }
  return h.digest();
}

bool is_valid_digest(std::string_view digest) {
  constexpr std::string_view kPrefix = "sha256:";
  if (digest.size() != kPrefix.size() + 64 || digest.substr(0, kPrefix.size()) != kPrefix)
    return false;
  for (char c : digest.substr(kPrefix.size()))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string digest_hex(std::string_view digest) {
  if (!is_valid_digest(digest)) fail("invalid digest \"{}\" (want sha256:<64 hex>)", digest);
  return std::string(digest.substr(7));
}

}  // namespace vessel::image
