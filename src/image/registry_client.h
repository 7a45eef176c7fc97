// The registry client of pull and push (registry.cc): one Client per pull or push finds the
// scheme (https, or http when --tls-verify=false and the registry does not speak TLS), answers
// 401 challenges (Bearer token or Basic) and runs requests on a libcurl easy handle per thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "image/reference.h"
#include "image/registry.h"

namespace vessel::image::registry_http {

constexpr uint64_t kMaxManifest = 4 << 20;

struct Response {
  long status = 0;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;                            // unless written to Request::out_fd
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

struct Request {
  std::string method = "GET";  // GET, HEAD, POST, PUT
  std::string url;
  std::vector<std::string> headers;
  std::string body;       // POST/PUT body
  std::string body_file;  // or a PUT body read from this file
  int out_fd = -1;        // a 2xx response body goes here (else into Response::body)
  uint64_t max_body = kMaxManifest;
  // Called before the first byte of a 2xx body is written to out_fd; returns the most bytes
  // the body may have (0: no limit).
  std::function<uint64_t(const Response&)> on_body;
  std::function<void(uint64_t)> on_progress;  // bytes written to out_fd so far
  const std::atomic<bool>* cancel = nullptr;
  bool anonymous = false;  // no Authorization header (token requests carry their own)
};

class Client {
 public:
  // `actions`: the token scope's, "pull" or "pull,push".
  Client(const Reference& ref, const RegistryOptions& opts, std::string actions);

  const std::string& host() const { return host_; }
  std::string url(const std::string& path) const { return scheme_ + "://" + host_ + path; }
  std::string repo_url(const std::string& rest) const {
    return url("/v2/" + ref_.repository + rest);
  }

  // GET /v2/: which scheme works, and whether the registry wants credentials.
  void connect();
  // A request with the current credentials; a 401 is answered once (a new token) and retried.
  Response call(Request req);

 private:
  Response perform(Request& req);
  void authenticate(const Response& r);
  void authenticate_locked(const Response& r);

  Reference ref_;
  RegistryOptions opts_;
  std::string host_;
  std::string actions_;  // "pull" or "pull,push"
  std::string scheme_ = "https";
  std::optional<std::string> creds_;
  std::mutex mu_;
  std::string auth_;  // the Authorization header line, once we have one
};

// "WHAT: HTTP STATUS: the registry's message".
[[noreturn]] void http_fail(const std::string& what, const Response& r);

std::string lower(std::string s);
std::string trim(std::string_view s);
std::string url_escape(const std::string& s);
std::optional<std::string> base64_decode(std::string_view in);

}  // namespace vessel::image::registry_http
