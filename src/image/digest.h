// Content digests as the OCI image spec writes them: "sha256:<64 lowercase hex>".
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace vessel::image {

// Incremental SHA-256 (OpenSSL EVP); digest() returns "sha256:<hex>".
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t len);
  void update(std::string_view s) { update(s.data(), s.size()); }
  std::string digest();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

std::string sha256_digest(std::string_view data);
std::string sha256_file_digest(const std::string& path);
// True for "sha256:" + 64 lowercase hex digits (the only algorithm we store).
bool is_valid_digest(std::string_view digest);
// "sha256:abc…" -> "abc…"; throws on an invalid digest.
std::string digest_hex(std::string_view digest);

}  // namespace vessel::image
