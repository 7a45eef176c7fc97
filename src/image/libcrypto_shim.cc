// OpenSSL's libcrypto, loaded on first use: vessel needs it only for SHA-256 (image digests)
// and base64 (registry credentials), yet linking it made every `vessel` command, `vessel run`
// included, load and relocate it (about 1-2 ms of CPU in the dynamic loader per process). These
// definitions stand in for the eight functions vessel calls and forward to libcrypto.so.3,
// opened with dlopen the first time one is called (as libcurl_shim.cc and libarchive_shim.cc
// do). The executable does not export them, so libcrypto's own calls stay inside libcrypto.
#include <dlfcn.h>
#include <openssl/evp.h>

#include "util/dynamic_library.h"
#include "util/error.h"

namespace {

constexpr const char* kSoname = "libcrypto.so.3";

void* library() {
  // Thread-safe once; a failure throws, and the next call tries again.
  static void* lib = vessel::open_library("OpenSSL's libcrypto", kSoname, "for SHA-256");
  return lib;
}

template <typename F>
F fn(const char* name) {
  return reinterpret_cast<F>(vessel::library_symbol(library(), kSoname, name));
}

}  // namespace

extern "C" EVP_MD_CTX* EVP_MD_CTX_new() {
  static const auto f = fn<decltype(&EVP_MD_CTX_new)>("EVP_MD_CTX_new");
  return f();
}
extern "C" void EVP_MD_CTX_free(EVP_MD_CTX* ctx) {
  static const auto f = fn<decltype(&EVP_MD_CTX_free)>("EVP_MD_CTX_free");
  f(ctx);
}
extern "C" const EVP_MD* EVP_sha256() {
  static const auto f = fn<decltype(&EVP_sha256)>("EVP_sha256");
  return f();
}
extern "C" int EVP_DigestInit_ex(EVP_MD_CTX* ctx, const EVP_MD* type, ENGINE* impl) {
  static const auto f = fn<decltype(&EVP_DigestInit_ex)>("EVP_DigestInit_ex");
  return f(ctx, type, impl);
}
extern "C" int EVP_DigestUpdate(EVP_MD_CTX* ctx, const void* d, size_t cnt) {
  static const auto f = fn<decltype(&EVP_DigestUpdate)>("EVP_DigestUpdate");
  return f(ctx, d, cnt);
}
extern "C" int EVP_DigestFinal_ex(EVP_MD_CTX* ctx, unsigned char* md, unsigned int* s) {
  static const auto f = fn<decltype(&EVP_DigestFinal_ex)>("EVP_DigestFinal_ex");
  return f(ctx, md, s);
}
extern "C" int EVP_EncodeBlock(unsigned char* t, const unsigned char* f_, int n) {
  static const auto f = fn<decltype(&EVP_EncodeBlock)>("EVP_EncodeBlock");
  return f(t, f_, n);
}
extern "C" int EVP_DecodeBlock(unsigned char* t, const unsigned char* f_, int n) {
  static const auto f = fn<decltype(&EVP_DecodeBlock)>("EVP_DecodeBlock");
  return f(t, f_, n);
}
