#include "image/registry_client.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/fd.h"
#include "util/file.h"
#include "util/progress.h"

namespace vessel::image::registry_http {

using json = nlohmann::json;

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

std::string base64_encode(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(n < 0 ? 0 : static_cast<size_t>(n));
  return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
  std::string s = trim(in);
  if (s.empty() || s.size() % 4 != 0) return std::nullopt;
  std::string out(s.size() / 4 * 3 + 1, '\0');
  int n =
      EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  if (n < 0) return std::nullopt;
  size_t len = static_cast<size_t>(n);
  for (size_t i = s.size(); i > 0 && s[i - 1] == '='; --i) --len;  // EVP counts the padding
  out.resize(len);
  return out;
}

namespace {

// ---- libcurl -------------------------------------------------------------------------------

struct CurlFree {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
using CurlPtr = std::unique_ptr<CURL, CurlFree>;
struct SlistFree {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using SlistPtr = std::unique_ptr<curl_slist, SlistFree>;
struct CurlStrFree {
  void operator()(char* s) const { curl_free(s); }
};

void curl_init_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) fail("libcurl initialization failed");
  });
}

// One easy handle per thread, reused so connections are kept alive.
CURL* thread_handle() {
  thread_local CurlPtr handle;
  if (!handle) {
    handle.reset(curl_easy_init());
    if (!handle) fail("libcurl: cannot create a handle");
  }
  curl_easy_reset(handle.get());
  return handle.get();
}

struct Transfer {
  CURL* curl;
  Request* req;
  Response* resp;
  bool started = false;
  uint64_t limit = 0, written = 0;
  std::string error;  // set by a callback that aborted the transfer
  UniqueFd upload_fd;
  size_t upload_pos = 0;
};

size_t header_cb(char* data, size_t size, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  std::string_view line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {  // a new response (after a redirect or 100 Continue)
    t->resp->headers.clear();
    t->resp->body.clear();
    t->started = false;
    return size * n;
  }
  auto colon = line.find(':');
  if (colon != std::string_view::npos)
    t->resp->headers[lower(std::string(line.substr(0, colon)))] = trim(line.substr(colon + 1));
  return size * n;
}

size_t write_cb(char* data, size_t size, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  size_t len = size * n;
  long status = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
  t->resp->status = status;
  try {
    if (t->req->out_fd >= 0 && status >= 200 && status < 300) {
      if (!t->started) {
        t->started = true;
        t->limit = t->req->on_body ? t->req->on_body(*t->resp) : 0;
      }
      if (t->limit && t->written + len > t->limit) {
        t->error = "the registry sent more bytes than the descriptor's size";
        return 0;
      }
      write_all(t->req->out_fd, data, len);
      t->written += len;
      if (t->req->on_progress) t->req->on_progress(t->written);
      return len;
    }
    if (t->resp->body.size() + len > t->req->max_body) {
      t->error = "response too large";
      return 0;
    }
    t->resp->body.append(data, len);
  } catch (const std::exception& e) {
    t->error = e.what();
    return 0;
  }
  return len;
}

size_t read_cb(char* buf, size_t size, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  size_t want = size * n;
  if (t->upload_fd) {
    ssize_t r = retry_eintr([&] { return ::read(t->upload_fd.get(), buf, want); });
    if (r < 0) {
      t->error = "read " + t->req->body_file + ": " + std::strerror(errno);
      return CURL_READFUNC_ABORT;
    }
    progress_bytes(static_cast<uint64_t>(r));  // a push's bar (util/progress.h)
    return static_cast<size_t>(r);
  }
  size_t left = t->req->body.size() - t->upload_pos;
  size_t k = std::min(left, want);
  std::memcpy(buf, t->req->body.data() + t->upload_pos, k);
  t->upload_pos += k;
  return k;
}

int xfer_cb(void* ud, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(ud);
  return t->req->cancel && t->req->cancel->load() ? 1 : 0;
}

bool is_tls_error(CURLcode c) {
  switch (c) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
      return true;
    default:
      return false;
  }
}

struct CurlFailure : Error {
  CurlFailure(const std::string& msg, CURLcode c) : Error(msg), code(c) {}
  CURLcode code;
};

// ---- the client ------------------------------------------------------------------------------

// The message a registry put in its error body ({"errors": [{"code", "message"}]}), or the
// start of the body.
std::string registry_message(const Response& r) {
  try {
    json j = json::parse(r.body);
    if (j.contains("errors") && j["errors"].is_array() && !j["errors"].empty()) {
      const json& e = j["errors"][0];
      std::string msg = e.value("message", "");
      std::string code = e.value("code", "");
      if (!msg.empty()) return msg;
      return lower(code);
    }
    if (j.contains("details") && j["details"].is_string()) return j["details"];
  } catch (...) {
  }
  std::string s = trim(r.body.substr(0, 200));
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

}  // namespace

std::string url_escape(const std::string& s) {
  std::unique_ptr<char, CurlStrFree> e(
      curl_easy_escape(nullptr, s.c_str(), static_cast<int>(s.size())));
  if (!e) fail("libcurl: cannot escape a URL parameter");
  return e.get();
}

[[noreturn]] void http_fail(const std::string& what, const Response& r) {
  std::string msg = registry_message(r);
  if (msg.empty()) fail("{}: HTTP {}", what, r.status);
  fail("{}: HTTP {}: {}", what, r.status, msg);
}

Client::Client(const Reference& ref, const RegistryOptions& opts, std::string actions)
    : ref_(ref), opts_(opts), host_(ref.api_host()), actions_(std::move(actions)) {
  curl_init_once();
  if (!opts_.creds.empty()) {
    if (opts_.creds.find(':') == std::string::npos) fail("--creds must be USER:PASSWORD");
    creds_ = opts_.creds;
  } else {
    creds_ = find_credentials(ref_.registry, opts_.authfile);
  }
}

// GET /v2/: which scheme works, and whether the registry wants credentials.
void Client::connect() {
  Request ping;
  ping.url = url("/v2/");
  ping.anonymous = true;
  Response r;
  try {
    r = perform(ping);
  } catch (const CurlFailure& e) {
    if (e.code == CURLE_COULDNT_RESOLVE_HOST || e.code == CURLE_COULDNT_CONNECT ||
        e.code == CURLE_OPERATION_TIMEDOUT)
      throw;
    if (opts_.tls_verify) {
      if (is_tls_error(e.code)) throw;
      fail("{} (if the registry serves plain http, use --tls-verify=false)", e.what());
    }
    scheme_ = "http";
    ping.url = url("/v2/");
    r = perform(ping);
  }
  if (r.status == 401) {
    authenticate(r);
  } else if (r.status == 404) {
    fail("{}: not a registry (GET /v2/ answered 404)", host_);
  } else if (r.status >= 500) {
    http_fail(host_, r);
  }
}

// A request with the current credentials; a 401 is answered once (a new token) and retried.
Response Client::call(Request req) {
  for (int attempt = 0;; ++attempt) {
    std::string auth;
    {
      std::lock_guard lock(mu_);
      auth = auth_;
    }
    Request r = req;
    if (!auth.empty()) r.headers.push_back(auth);
    Response resp = perform(r);
    if (resp.status == 401 && attempt > 0) {
      if (creds_) fail("{}: authentication failed: check the credentials", host_);
      fail("{}: authentication required: give --creds USER:PASSWORD or --authfile FILE", host_);
    }
    if (resp.status != 401) return resp;
    std::lock_guard lock(mu_);
    if (auth_ == auth) authenticate_locked(resp);
  }
}

Response Client::perform(Request& req) {
  CURL* h = thread_handle();
  Response resp;
  Transfer t{h, &req, &resp};
  char errbuf[CURL_ERROR_SIZE] = "";
  std::vector<std::string> hdrs = req.headers;
  curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "vessel/" VESSEL_VERSION);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  if (!opts_.tls_verify) {
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
  if (req.cancel) {
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, xfer_cb);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &t);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  }
  if (req.method == "GET" || req.method == "HEAD") {
    // Blob downloads are often redirected to storage; libcurl drops our Authorization
    // header when the host changes.
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    if (req.method == "HEAD") curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (req.method == "POST") {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
  } else if (req.method == "PUT") {
    uint64_t size = req.body.size();
    if (!req.body_file.empty()) {
      t.upload_fd = open_or_throw(req.body_file, O_RDONLY | O_CLOEXEC);
      struct stat st {};
      if (::fstat(t.upload_fd.get(), &st) < 0) fail_errno("stat {}", req.body_file);
      size = static_cast<uint64_t>(st.st_size);
    }
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(h, CURLOPT_READDATA, &t);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(size));
    hdrs.push_back("Expect:");
  } else {
    fail("unsupported HTTP method {}", req.method);
  }
  SlistPtr list;
  for (const auto& hd : hdrs) {
    curl_slist* l = curl_slist_append(list.get(), hd.c_str());
    if (!l) fail("libcurl: out of memory");
    (void)list.release();
    list.reset(l);
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, list.get());

  CURLcode rc = curl_easy_perform(h);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  resp.status = status;
  if (rc != CURLE_OK) {
    if (!t.error.empty()) fail("{}", t.error);
    if (req.cancel && req.cancel->load()) fail("cancelled");
    std::string detail = errbuf[0] ? std::string(errbuf) : curl_easy_strerror(rc);
    if (rc == CURLE_COULDNT_RESOLVE_HOST) throw CurlFailure("unknown host: " + host_, rc);
    if (rc == CURLE_COULDNT_CONNECT)
      throw CurlFailure("cannot connect to " + host_ + ": " + detail, rc);
    if (is_tls_error(rc) && opts_.tls_verify)
      throw CurlFailure(host_ + ": TLS error (" + detail +
                            "); for a registry that serves plain http or has a self-signed "
                            "certificate, use --tls-verify=false",
                        rc);
    throw CurlFailure(host_ + ": " + detail, rc);
  }
  return resp;
}

void Client::authenticate(const Response& r) {
  std::lock_guard lock(mu_);
  authenticate_locked(r);
}

void Client::authenticate_locked(const Response& r) {
  std::string header = r.header("www-authenticate");
  auto ch = parse_www_authenticate(header);
  if (!ch) fail("{}: unauthorized, and no WWW-Authenticate challenge to answer", host_);
  if (ch->scheme == "basic") {
    if (!creds_)
      fail("{}: authentication required: give --creds USER:PASSWORD or log in (--authfile)", host_);
    auth_ = "Authorization: Basic " + base64_encode(*creds_);
    return;
  }
  if (ch->scheme != "bearer")
    fail("{}: unsupported authentication scheme \"{}\"", host_, ch->scheme);
  std::string realm = ch->params["realm"];
  if (realm.empty()) fail("{}: Bearer challenge without a realm", host_);
  std::string ours = "repository:" + ref_.repository + ":" + actions_;
  std::string url = realm + (realm.find('?') == std::string::npos ? "?" : "&");
  bool first = true;
  auto add = [&](const std::string& k, const std::string& v) {
    url += (first ? "" : "&") + k + "=" + url_escape(v);
    first = false;
  };
  if (!ch->params["service"].empty()) add("service", ch->params["service"]);
  add("scope", ours);
  if (!ch->params["scope"].empty() && ch->params["scope"] != ours)
    add("scope", ch->params["scope"]);
  Request tr;
  tr.url = url;
  tr.anonymous = true;
  if (creds_) tr.headers.push_back("Authorization: Basic " + base64_encode(*creds_));
  Response resp;
  try {
    resp = perform(tr);
  } catch (const Error& e) {
    fail("{}: getting a token from {}: {}", host_, realm, e.what());
  }
  if (resp.status != 200) http_fail(fmt::format("{}: getting a token from {}", host_, realm), resp);
  std::string token;
  try {
    json j = json::parse(resp.body);
    token = j.value("token", "");
    if (token.empty()) token = j.value("access_token", "");
  } catch (const std::exception&) {
  }
  if (token.empty()) fail("{}: the token server {} sent no token", host_, realm);
  auth_ = "Authorization: Bearer " + token;
}

}  // namespace vessel::image::registry_http
