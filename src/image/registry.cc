// The distribution API client. One Client per pull or push: it finds the scheme (https, or
// http when --tls-verify=false and the registry does not speak TLS), answers 401 challenges
// (Bearer token or Basic), and runs requests on a libcurl easy handle per thread. Layers are
// downloaded by a few threads into <store>/tmp/pull-<hex>.partial files that survive an
// interruption: the next pull asks for the rest with a Range request and the whole file is
// hashed before BlobStore::adopt_file moves it into place.
#include "image/registry.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "image/digest.h"
#include "image/media_types.h"
#include "image/platform.h"
#include "util/error.h"
#include "util/fd.h"
#include "util/file.h"
#include "util/progress.h"

namespace vessel::image {

namespace {

using json = nlohmann::json;

constexpr uint64_t kMaxManifest = 4 << 20;
constexpr uint64_t kMaxConfig = 16 << 20;

const char* host_arch() { return host_architecture(); }

bool is_index_type(const std::string& mt) { return mt == kOciIndex || mt == kDockerList; }
bool is_manifest_type(const std::string& mt) { return mt == kOciManifest || mt == kDockerManifest; }

// A layer media type as OCI names it ("" = not a layer we know).
std::string oci_layer_type(const std::string& mt) {
  static const std::map<std::string, std::string> kTypes = {
      {"application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tar"},
      {"application/vnd.oci.image.layer.v1.tar+gzip",
       "application/vnd.oci.image.layer.v1.tar+gzip"},
      {"application/vnd.oci.image.layer.v1.tar+zstd",
       "application/vnd.oci.image.layer.v1.tar+zstd"},
      {"application/vnd.docker.image.rootfs.diff.tar", "application/vnd.oci.image.layer.v1.tar"},
      {"application/vnd.docker.image.rootfs.diff.tar.gzip",
       "application/vnd.oci.image.layer.v1.tar+gzip"},
      {"application/vnd.docker.image.rootfs.diff.tar.zstd",
       "application/vnd.oci.image.layer.v1.tar+zstd"},
  };
  auto it = kTypes.find(mt);
  return it == kTypes.end() ? "" : it->second;
}

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

// "sha256:0123456789ab" for messages.
std::string short_digest(const std::string& d) { return d.size() > 19 ? d.substr(0, 19) : d; }

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

std::string url_escape(const std::string& s) {
  std::unique_ptr<char, CurlStrFree> e(
      curl_easy_escape(nullptr, s.c_str(), static_cast<int>(s.size())));
  if (!e) fail("libcurl: cannot escape a URL parameter");
  return e.get();
}

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

[[noreturn]] void http_fail(const std::string& what, const Response& r) {
  std::string msg = registry_message(r);
  if (msg.empty()) fail("{}: HTTP {}", what, r.status);
  fail("{}: HTTP {}: {}", what, r.status, msg);
}

class Client {
 public:
  Client(const Reference& ref, const RegistryOptions& opts, std::string actions)
      : ref_(ref), opts_(opts), host_(ref.api_host()), actions_(std::move(actions)) {
    curl_init_once();
    if (!opts_.creds.empty()) {
      if (opts_.creds.find(':') == std::string::npos) fail("--creds must be USER:PASSWORD");
      creds_ = opts_.creds;
    } else {
      creds_ = find_credentials(ref_.registry, opts_.authfile);
    }
  }

  const std::string& host() const { return host_; }
  std::string url(const std::string& path) const { return scheme_ + "://" + host_ + path; }
  std::string repo_url(const std::string& rest) const {
    return url("/v2/" + ref_.repository + rest);
  }

  // GET /v2/: which scheme works, and whether the registry wants credentials.
  void connect() {
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
  Response call(Request req) {
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

 private:
  Response perform(Request& req) {
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

  void authenticate(const Response& r) {
    std::lock_guard lock(mu_);
    authenticate_locked(r);
  }

  void authenticate_locked(const Response& r) {
    std::string header = r.header("www-authenticate");
    auto ch = parse_www_authenticate(header);
    if (!ch) fail("{}: unauthorized, and no WWW-Authenticate challenge to answer", host_);
    if (ch->scheme == "basic") {
      if (!creds_)
        fail("{}: authentication required: give --creds USER:PASSWORD or log in (--authfile)",
             host_);
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
    if (resp.status != 200)
      http_fail(fmt::format("{}: getting a token from {}", host_, realm), resp);
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

  Reference ref_;
  RegistryOptions opts_;
  std::string host_;
  std::string actions_;  // "pull" or "pull,push"
  std::string scheme_ = "https";
  std::optional<std::string> creds_;
  std::mutex mu_;
  std::string auth_;  // the Authorization header line, once we have one
};

// ---- progress --------------------------------------------------------------------------------

void note(const RegistryOptions& opts, const std::string& line) {
  if (opts.quiet) return;
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

// ---- pull ------------------------------------------------------------------------------------

struct Fetched {
  std::string body;
  std::string media_type;
  std::string digest;
};

Fetched fetch_manifest(Client& c, const std::string& ref, const std::string& expected,
                       const std::string& display) {
  Request req;
  req.url = c.repo_url("/manifests/" + ref);
  req.headers = {
      fmt::format("Accept: {}, {}, {}, {}", kOciIndex, kOciManifest, kDockerList, kDockerManifest)};
  Response r = c.call(req);
  if (r.status == 404) fail("manifest unknown: {}", display);
  if (r.status == 401 || r.status == 403) http_fail(display + ": access denied", r);
  if (r.status != 200) http_fail("manifest " + display, r);
  Fetched f;
  f.body = std::move(r.body);
  f.digest = sha256_digest(f.body);
  if (!expected.empty() && f.digest != expected)
    fail("manifest {}: digest mismatch, content is {}", expected, f.digest);
  std::string ct = r.header("content-type");
  f.media_type = trim(ct.substr(0, ct.find(';')));
  if (!is_index_type(f.media_type) && !is_manifest_type(f.media_type)) {
    try {
      json j = json::parse(f.body);
      if (j.contains("mediaType") && j["mediaType"].is_string()) f.media_type = j["mediaType"];
    } catch (const std::exception&) {
      fail("manifest {}: not JSON", display);
    }
  }
  return f;
}

json parse_json(const std::string& text, const std::string& what) {
  try {
    return json::parse(text);
  } catch (const std::exception& e) {
    fail("{}: invalid JSON: {}", what, e.what());
  }
}

// The manifest for linux/<host arch> in an index.
std::string pick_manifest(const json& index, const std::string& display) {
  if (!index.contains("manifests") || !index["manifests"].is_array())
    fail("{}: index has no manifests", display);
  const json* only = nullptr;
  size_t candidates = 0;
  for (const json& d : index["manifests"]) {
    std::string mt = d.value("mediaType", "");
    if (!is_manifest_type(mt) && !is_index_type(mt)) continue;
    ++candidates;
    only = &d;
    if (!d.contains("platform") || !d["platform"].is_object()) continue;
    const json& p = d["platform"];
    if (p.value("os", "") == "linux" && p.value("architecture", "") == host_arch())
      return d.value("digest", "");
  }
  if (candidates == 1 && !(*only).contains("platform")) return only->value("digest", "");
  fail("{}: no image for linux/{} in the index", display, host_arch());
}

// A write that failed for lack of space (the store's filesystem is full, or a quota).
bool no_space(const std::string& what) {
  return what.find(std::strerror(ENOSPC)) != std::string::npos ||
         what.find(std::strerror(EDQUOT)) != std::string::npos;
}

class BlobFetcher {
 public:
  BlobFetcher(Client& c, BlobStore& blobs, Progress& progress, std::atomic<bool>& cancel)
      : c_(c), blobs_(blobs), progress_(progress), cancel_(cancel) {}

  // Downloads a blob (or the rest of it) and moves it into the store verified.
  void fetch(size_t line, const std::string& digest, uint64_t size) {
    if (blobs_.claim(digest)) {
      progress_.finish(line, "skipped: already exists");
      return;
    }
    std::string partial = blobs_.tmp_dir() + "/pull-" + digest_hex(digest) + ".partial";
    UniqueFd fd = open_or_throw(partial, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    // Another pull of the same blob: wait for it, then the blob may be there.
    if (retry_eintr([&] { return ::flock(fd.get(), LOCK_EX); }) < 0) fail_errno("lock {}", partial);
    if (blobs_.has(digest)) {
      ::unlink(partial.c_str());
      progress_.finish(line, "skipped: already exists");
      return;
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0) fail_errno("stat {}", partial);
    uint64_t have = static_cast<uint64_t>(st.st_size);
    if (size && have > size) have = 0;
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (have == 0 && ::ftruncate(fd.get(), 0) < 0) fail_errno("truncate {}", partial);
      if (size && have == size) break;  // complete: only the hash is left to check
      if (::lseek(fd.get(), static_cast<off_t>(have), SEEK_SET) < 0) fail_errno("seek {}", partial);
      Request req;
      req.url = c_.repo_url("/blobs/" + digest);
      if (have > 0) req.headers.push_back(fmt::format("Range: bytes={}-", have));
      req.out_fd = fd.get();
      req.cancel = &cancel_;
      uint64_t base = have;
      req.on_body = [&, partial](const Response& r) -> uint64_t {
        if (r.status == 206) {
          std::string cr = r.header("content-range");
          if (cr.rfind(fmt::format("bytes {}-", have), 0) != 0)
            fail("blob {}: unexpected Content-Range \"{}\"", digest, cr);
        } else if (have > 0) {  // 200: the whole blob again
          if (::ftruncate(fd.get(), 0) < 0 || ::lseek(fd.get(), 0, SEEK_SET) < 0)
            fail_errno("truncate {}", partial);
          base = 0;
        }
        return size ? size - base : 0;
      };
      req.on_progress = [&](uint64_t n) { progress_.update(line, base + n, size); };
      Response r;
      try {
        r = c_.call(req);
      } catch (const Error& e) {
        if (cancel_.load()) throw;
        // Out of space: a partial download could not be finished anyway; give the space back.
        if (no_space(e.what())) {
          ::unlink(partial.c_str());
          fail("blob {}: {}", short_digest(digest), e.what());
        }
        fail("blob {}: {} (run the pull again to resume)", short_digest(digest), e.what());
      }
      if (r.status == 416 && have > 0) {  // the range is wrong after all: start over
        have = 0;
        continue;
      }
      if (r.status == 404) fail("blob unknown: {}", digest);
      if (r.status != 200 && r.status != 206) http_fail("blob " + digest, r);
      break;
    }
    if (::fstat(fd.get(), &st) < 0) fail_errno("stat {}", partial);
    if (size && static_cast<uint64_t>(st.st_size) != size)
      fail("blob {}: short download ({} of {} bytes; run the pull again to resume)", digest,
           st.st_size, size);
    try {
      blobs_.adopt_file(partial, digest);
    } catch (const Error&) {
      ::unlink(partial.c_str());  // a corrupt download is not worth resuming
      throw;
    }
    progress_.finish(line, "done");
  }

  // A small blob (a config) into memory, verified, then stored.
  void fetch_small(const std::string& digest) {
    if (blobs_.claim(digest)) return;
    Request req;
    req.url = c_.repo_url("/blobs/" + digest);
    req.max_body = kMaxConfig;
    Response r = c_.call(req);
    if (r.status == 404) fail("blob unknown: {}", digest);
    if (r.status != 200) http_fail("blob " + digest, r);
    std::string got = sha256_digest(r.body);
    if (got != digest) fail("blob {}: digest mismatch, content is {}", digest, got);
    blobs_.put(r.body);
  }

 private:
  Client& c_;
  BlobStore& blobs_;
  Progress& progress_;
  std::atomic<bool>& cancel_;
};

}  // namespace

std::optional<AuthChallenge> parse_www_authenticate(std::string_view h) {
  size_t i = 0;
  auto skip_ws = [&] {
    while (i < h.size() && (h[i] == ' ' || h[i] == '\t')) ++i;
  };
  auto token = [&] {
    size_t s = i;
    while (i < h.size() && h[i] != ' ' && h[i] != '\t' && h[i] != '=' && h[i] != ',') ++i;
    return std::string(h.substr(s, i - s));
  };
  skip_ws();
  AuthChallenge ch;
  ch.scheme = lower(token());
  if (ch.scheme.empty()) return std::nullopt;
  while (true) {
    skip_ws();
    while (i < h.size() && (h[i] == ',' || h[i] == ' ' || h[i] == '\t')) ++i;
    if (i >= h.size()) break;
    std::string key = lower(token());
    skip_ws();
    if (i >= h.size() || h[i] != '=') {
      if (key.empty()) return std::nullopt;
      // A second challenge ("…, Basic realm=…") or a token68: stop at this one.
      break;
    }
    ++i;
    skip_ws();
    std::string value;
    if (i < h.size() && h[i] == '"') {
      ++i;
      bool closed = false;
      while (i < h.size()) {
        char c = h[i++];
        if (c == '\\' && i < h.size()) {
          value += h[i++];
        } else if (c == '"') {
          closed = true;
          break;
        } else {
          value += c;
        }
      }
      if (!closed) return std::nullopt;
    } else {
      size_t st = i;
      while (i < h.size() && h[i] != ',' && h[i] != ' ' && h[i] != '\t') ++i;
      value = std::string(h.substr(st, i - st));
    }
    if (key.empty()) return std::nullopt;
    ch.params[key] = value;
  }
  return ch;
}

std::optional<std::string> find_credentials(const std::string& host, const std::string& authfile) {
  std::vector<std::string> files;
  if (!authfile.empty()) {
    if (!path_exists(authfile)) fail("auth file {}: no such file", authfile);
    files.push_back(authfile);
  } else {
    if (const char* e = std::getenv("REGISTRY_AUTH_FILE"); e && *e) files.push_back(e);
    if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x && *x)
      files.push_back(std::string(x) + "/containers/auth.json");
    std::string home;
    if (const char* hm = std::getenv("HOME"); hm && *hm) {
      home = hm;
    } else if (struct passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_dir) {
      home = pw->pw_dir;
    }
    if (!home.empty()) files.push_back(home + "/.docker/config.json");
  }
  std::vector<std::string> names = {host};
  if (host == "docker.io")
    names = {"docker.io", "index.docker.io", "registry-1.docker.io", "index.docker.io/v1"};
  for (const auto& f : files) {
    if (!path_exists(f)) continue;
    json j = parse_json(read_file(f), "auth file " + f);
    if (!j.is_object() || !j.contains("auths") || !j["auths"].is_object()) continue;
    for (const auto& [key, entry] : j["auths"].items()) {
      std::string k = key;
      for (const char* p : {"https://", "http://"})
        if (k.rfind(p, 0) == 0) k = k.substr(std::strlen(p));
      while (!k.empty() && k.back() == '/') k.pop_back();
      if (std::find(names.begin(), names.end(), k) == names.end()) continue;
      if (!entry.is_object()) continue;
      if (entry.contains("auth") && entry["auth"].is_string()) {
        auto dec = base64_decode(entry["auth"].get<std::string>());
        if (!dec || dec->find(':') == std::string::npos)
          fail("auth file {}: the entry for {} is not base64 of USER:PASSWORD", f, key);
        return dec;
      }
      if (entry.contains("username") && entry.contains("password"))
        return entry.value("username", "") + ":" + entry.value("password", "");
    }
  }
  return std::nullopt;
}

void check_credentials(const std::string& host, const RegistryOptions& opts) {
  Reference ref = parse_reference(host + "/vessel-login-check");
  Client c(ref, opts, "pull");
  c.connect();
  Request ping;
  ping.url = c.url("/v2/");
  Response r = c.call(ping);
  if (r.status != 200) http_fail(host, r);
}

StoredImage pull_image(const Reference& ref, BlobStore& blobs, const RegistryOptions& opts) {
  const std::string display = ref.str();
  Client c(ref, opts, "pull");
  c.connect();

  Fetched m = fetch_manifest(c, ref.manifest_ref(), ref.digest, display);
  for (int depth = 0; is_index_type(m.media_type); ++depth) {
    if (depth > 4) fail("{}: indexes nested too deeply", display);
    std::string d = pick_manifest(parse_json(m.body, "index of " + display), display);
    if (!is_valid_digest(d)) fail("{}: index entry with an invalid digest", display);
    m = fetch_manifest(c, d, d, display + " (" + d + ")");
  }
  if (!is_manifest_type(m.media_type))
    fail("{}: unsupported manifest type \"{}\"", display, m.media_type);

  json manifest = parse_json(m.body, "manifest of " + display);
  if (!manifest.contains("config") || !manifest["config"].is_object() ||
      !manifest.contains("layers") || !manifest["layers"].is_array())
    fail("{}: manifest has no config or layers", display);
  const json& cdesc = manifest["config"];
  std::string config_digest = cdesc.value("digest", "");
  std::string ctype = cdesc.value("mediaType", "");
  if (!is_valid_digest(config_digest)) fail("{}: config with an invalid digest", display);
  if (ctype != kOciConfig && ctype != kDockerConfig)
    fail("{}: config media type \"{}\" is not an image config", display, ctype);

  std::vector<LayerRef> layers;
  for (const json& l : manifest["layers"]) {
    LayerRef lr;
    lr.digest = l.value("digest", "");
    if (!is_valid_digest(lr.digest)) fail("{}: layer with an invalid digest", display);
    std::string mt = l.value("mediaType", "");
    lr.media_type = oci_layer_type(mt);
    if (lr.media_type.empty())
      fail("{}: layer {}: unsupported media type \"{}\"", display, lr.digest, mt);
    if (m.media_type == kOciManifest) lr.media_type = mt;  // kept as they are
    lr.size = l.value("size", uint64_t{0});
    layers.push_back(lr);
  }

  Progress progress(opts.quiet);
  std::atomic<bool> cancel{false};
  BlobFetcher fetcher(c, blobs, progress, cancel);
  // The blobs this pull adds: on a full disk they go again (the image cannot be recorded).
  std::vector<std::string> added;
  if (!blobs.has(config_digest)) added.push_back(config_digest);
  for (const auto& l : layers)
    if (!blobs.has(l.digest)) added.push_back(l.digest);
  fetcher.fetch_small(config_digest);  // first: it is small and says how many layers to expect
  std::vector<std::string> labels;
  std::vector<uint64_t> sizes;
  for (const auto& l : layers) {
    labels.push_back("Copying blob " + short_digest(l.digest));
    sizes.push_back(l.size);
  }
  progress.start(labels, sizes);

  // Layers in parallel: a few workers take the next one; the first error cancels the rest.
  std::atomic<size_t> next{0};
  std::mutex err_mu;
  std::exception_ptr first_error;
  auto worker = [&] {
    while (!cancel.load()) {
      size_t i = next.fetch_add(1);
      if (i >= layers.size()) return;
      try {
        fetcher.fetch(i, layers[i].digest, layers[i].size);
      } catch (...) {
        std::lock_guard lock(err_mu);
        if (!first_error) first_error = std::current_exception();
        cancel = true;
      }
    }
  };
  size_t nthreads = std::min<size_t>(std::max(1, opts.parallel), layers.size());
  std::vector<std::thread> threads;
  for (size_t i = 1; i < nthreads; ++i) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  if (first_error) {
    try {
      std::rethrow_exception(first_error);
    } catch (const Error& e) {
      if (!no_space(e.what())) throw;
      for (const auto& d : added) {
        try {
          if (blobs.has(d)) blobs.remove(d);
        } catch (const Error&) {
        }
      }
      fail("{}: {}", display, e.what());
    }
  }
  note(opts, "Copying config " + short_digest(config_digest) + " done");

  json config = parse_json(blobs.read(config_digest), "config " + config_digest);
  json diff_ids = config.contains("rootfs") && config["rootfs"].is_object()
                      ? config["rootfs"].value("diff_ids", json::array())
                      : json::array();
  if (!diff_ids.is_array() || diff_ids.size() != layers.size())
    fail("{}: config lists {} diff_ids for {} layers", display, diff_ids.size(), layers.size());
  for (size_t i = 0; i < layers.size(); ++i) {
    if (!diff_ids[i].is_string() || !is_valid_digest(diff_ids[i].get<std::string>()))
      fail("{}: invalid diff_id {} in the config", display, i);
    layers[i].diff_id = diff_ids[i];
    layers[i].size = blobs.size(layers[i].digest);
  }

  note(opts, "Writing manifest to image destination");
  if (m.media_type == kDockerManifest) return store_image_with_config(config_digest, layers, blobs);
  std::string stored = blobs.put(m.body);  // an OCI manifest is kept byte for byte
  if (stored != m.digest) fail("manifest {}: stored as {}", m.digest, stored);
  StoredImage img;
  img.manifest_digest = m.digest;
  img.config_digest = config_digest;
  img.config = std::move(config);
  img.layers = std::move(layers);
  return img;
}

// ---- push ------------------------------------------------------------------------------------

namespace {

// Where an upload continues: Location may be absolute, host-relative or relative.
std::string resolve_location(const Client& c, const std::string& loc, const std::string& base) {
  if (loc.rfind("http://", 0) == 0 || loc.rfind("https://", 0) == 0) return loc;
  if (!loc.empty() && loc[0] == '/') return c.url(loc);
  auto slash = base.rfind('/');
  return base.substr(0, slash + 1) + loc;
}

void push_blob(Client& c, const std::string& digest, const BlobStore& blobs,
               const std::string& label, const RegistryOptions& opts) {
  (void)opts;
  ProgressLine line(label, blobs.size(digest));
  Request head;
  head.method = "HEAD";
  head.url = c.repo_url("/blobs/" + digest);
  Response h = c.call(head);
  if (h.status == 200) {
    line.done("skipped: already exists");
    return;
  }
  Request post;
  post.method = "POST";
  post.url = c.repo_url("/blobs/uploads/");
  Response p = c.call(post);
  if (p.status != 202) http_fail("starting the upload of " + digest, p);
  std::string loc = p.header("location");
  if (loc.empty()) fail("{}: the registry gave no upload location for {}", c.host(), digest);
  std::string url = resolve_location(c, loc, post.url);
  url += (url.find('?') == std::string::npos ? "?" : "&") + std::string("digest=") +
         url_escape(digest);
  Request put;
  put.method = "PUT";
  put.url = url;
  put.body_file = blobs.path(digest);
  put.headers = {"Content-Type: application/octet-stream"};
  Response r = c.call(put);
  if (r.status != 201 && r.status != 204) http_fail("uploading " + digest, r);
  line.done();
}

}  // namespace

std::string push_image(const StoredImage& image, const Reference& ref, const BlobStore& blobs,
                       const RegistryOptions& opts) {
  Client c(ref, opts, "pull,push");
  c.connect();
  Progress progress(opts.quiet);  // a bar per blob on a terminal, a line per blob if not
  ProgressScope scope(&progress);
  if (!ref.digest.empty() && ref.digest != image.manifest_digest)
    fail("cannot push to {}: the image's manifest is {}", ref.str(), image.manifest_digest);
  for (const auto& l : image.layers)
    push_blob(c, l.digest, blobs, "Copying blob " + short_digest(l.digest), opts);
  push_blob(c, image.config_digest, blobs, "Copying config " + short_digest(image.config_digest),
            opts);

  std::string body = blobs.read(image.manifest_digest);
  json manifest = parse_json(body, "manifest " + image.manifest_digest);
  std::string mt = manifest.value("mediaType", std::string(kOciManifest));
  note(opts, "Writing manifest to image destination");
  Request put;
  put.method = "PUT";
  put.url = c.repo_url("/manifests/" + ref.manifest_ref());
  put.body = body;
  put.headers = {"Content-Type: " + mt};
  Response r = c.call(put);
  if (r.status != 201 && r.status != 200) http_fail("pushing the manifest of " + ref.str(), r);
  std::string got = r.header("docker-content-digest");
  if (!got.empty() && got != image.manifest_digest)
    fail("{}: the registry stored the manifest as {}, not {}", ref.str(), got,
         image.manifest_digest);
  return image.manifest_digest;
}

}  // namespace vessel::image
