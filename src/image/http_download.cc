#include "image/http_download.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <memory>
#include <mutex>

#include "image/digest.h"
#include "util/error.h"
#include "util/fd.h"
#include "util/file.h"

namespace vessel::image {

namespace {

struct Sink {
  int fd;
  Sha256 hash;
  uint64_t size = 0;
  std::string error;
};

size_t write_cb(char* data, size_t, size_t n, void* ud) {
  auto* s = static_cast<Sink*>(ud);
  try {
    write_all(s->fd, data, n);
  } catch (const Error& e) {
    s->error = e.what();
    return 0;  // libcurl stops with CURLE_WRITE_ERROR
  }
  s->hash.update(data, n);
  s->size += n;
  return n;
}

struct EasyFree {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string url_file_name(const std::string& url) {
  size_t scheme = url.find("://");
  size_t start = scheme == std::string::npos ? 0 : scheme + 3;
  size_t path = url.find('/', start);
  if (path == std::string::npos) return "";
  size_t end = url.find_first_of("?#", path);
  std::string p = url.substr(path, end == std::string::npos ? std::string::npos : end - path);
  std::string base = p.substr(p.rfind('/') + 1);
  std::string out;
  for (size_t i = 0; i < base.size(); ++i) {
    if (base[i] == '%' && i + 2 < base.size() && hex(base[i + 1]) >= 0 && hex(base[i + 2]) >= 0) {
      out += static_cast<char>(hex(base[i + 1]) * 16 + hex(base[i + 2]));
      i += 2;
    } else {
      out += base[i];
    }
  }
  if (out == "." || out == ".." || out.find('/') != std::string::npos ||
      out.find('\0') != std::string::npos)
    return "";
  return out;
}

Download http_download(const std::string& url, const std::string& path) {
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
    fail("{}: only http and https URLs can be downloaded", url);
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) fail("libcurl initialization failed");
  });
  std::unique_ptr<CURL, EasyFree> h(curl_easy_init());
  if (!h) fail("libcurl: cannot create a handle");
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) fail_errno("creating {}", path);
  Sink sink{fd.get(), {}, 0, {}};
  char errbuf[CURL_ERROR_SIZE] = "";
  CURL* c = h.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(c, CURLOPT_FILETIME, 1L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "vessel-build");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  try {
    if (rc != CURLE_OK) {
      if (!sink.error.empty()) fail("{}: {}", url, sink.error);
      fail("{}: {}", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
    }
    if (status < 200 || status > 299) fail("{}: HTTP status {}", url, status);
    if (::fsync(fd.get()) < 0) fail_errno("writing {}", path);
  } catch (...) {
    fd.reset();
    ::unlink(path.c_str());
    throw;
  }
  Download d;
  d.digest = sink.hash.digest();
  d.size = sink.size;
  curl_off_t t = -1;
  if (curl_easy_getinfo(c, CURLINFO_FILETIME_T, &t) == CURLE_OK && t >= 0) d.mtime = t;
  return d;
}

}  // namespace vessel::image
