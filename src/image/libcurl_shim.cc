// libcurl, loaded on first use. Only pull and push talk to registries, but linking libcurl made
// every `vessel` command (and so every `vessel run`) load it and its ~25 libraries (GnuTLS,
// Kerberos, LDAP, SASL, libssh2, ICU, ...): 46 shared objects and ~10 ms of CPU per start
// before anything else. These definitions stand in for libcurl's functions (registry.cc calls
// them as usual) and forward to libcurl.so.4, opened with dlopen the first time one is called.
// The executable does not export them, so libcurl's own internal calls stay inside libcurl.
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <dlfcn.h>

#include <cstdarg>
#include <type_traits>

#include "util/dynamic_library.h"
#include "util/error.h"

namespace {

struct Curl {
  void* lib = nullptr;
  CURLcode (*global_init)(long) = nullptr;
  CURL* (*easy_init)() = nullptr;
  CURLcode (*easy_setopt)(CURL*, CURLoption, ...) = nullptr;
  CURLcode (*easy_perform)(CURL*) = nullptr;
  void (*easy_cleanup)(CURL*) = nullptr;
  void (*easy_reset)(CURL*) = nullptr;
  CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...) = nullptr;
  const char* (*easy_strerror)(CURLcode) = nullptr;
  char* (*easy_escape)(CURL*, const char*, int) = nullptr;
  void (*free)(void*) = nullptr;
  curl_slist* (*slist_append)(curl_slist*, const char*) = nullptr;
  void (*slist_free_all)(curl_slist*) = nullptr;
};

Curl load() {
  Curl c;
  c.lib = vessel::open_library("libcurl", "libcurl.so.4", "to talk to registries");
  auto sym = [&](auto& fn, const char* name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(
        vessel::library_symbol(c.lib, "libcurl.so.4", name));
  };
  sym(c.global_init, "curl_global_init");
  sym(c.easy_init, "curl_easy_init");
  sym(c.easy_setopt, "curl_easy_setopt");
  sym(c.easy_perform, "curl_easy_perform");
  sym(c.easy_cleanup, "curl_easy_cleanup");
  sym(c.easy_reset, "curl_easy_reset");
  sym(c.easy_getinfo, "curl_easy_getinfo");
  sym(c.easy_strerror, "curl_easy_strerror");
  sym(c.easy_escape, "curl_easy_escape");
  sym(c.free, "curl_free");
  sym(c.slist_append, "curl_slist_append");
  sym(c.slist_free_all, "curl_slist_free_all");
  return c;
}

const Curl& curl() {
  static const Curl c = load();  // thread-safe once; a failure throws and is retried next call
  return c;
}

}  // namespace

extern "C" {

CURLcode curl_global_init(long flags) { return curl().global_init(flags); }
CURL* curl_easy_init() { return curl().easy_init(); }
CURLcode curl_easy_perform(CURL* h) { return curl().easy_perform(h); }
void curl_easy_cleanup(CURL* h) { curl().easy_cleanup(h); }
void curl_easy_reset(CURL* h) { curl().easy_reset(h); }
const char* curl_easy_strerror(CURLcode code) { return curl().easy_strerror(code); }
char* curl_easy_escape(CURL* h, const char* s, int n) { return curl().easy_escape(h, s, n); }
void curl_free(void* p) { curl().free(p); }
curl_slist* curl_slist_append(curl_slist* l, const char* s) { return curl().slist_append(l, s); }
void curl_slist_free_all(curl_slist* l) { curl().slist_free_all(l); }

// The option number says what the one variadic argument is (curl.h, CURLOPTTYPE_*).
CURLcode curl_easy_setopt(CURL* h, CURLoption opt, ...) {
  va_list ap;
  va_start(ap, opt);
  CURLcode r;
  if (opt < CURLOPTTYPE_OBJECTPOINT)
    r = curl().easy_setopt(h, opt, va_arg(ap, long));
  else if (opt >= CURLOPTTYPE_OFF_T && opt < CURLOPTTYPE_BLOB)
    r = curl().easy_setopt(h, opt, va_arg(ap, curl_off_t));
  else  // object, function and blob pointers
    r = curl().easy_setopt(h, opt, va_arg(ap, void*));
  va_end(ap);
  return r;
}

// Every CURLINFO takes a pointer to where the value goes.
CURLcode curl_easy_getinfo(CURL* h, CURLINFO info, ...) {
  va_list ap;
  va_start(ap, info);
  void* out = va_arg(ap, void*);
  va_end(ap);
  return curl().easy_getinfo(h, info, out);
}

}  // extern "C"
