// Pull and push over the distribution API (the HTTP client is registry_client.h). Layers are
// downloaded by a few threads into <store>/tmp/pull-<hex>.partial files that survive an
// interruption: the next pull asks for the rest with a Range request and the whole file is
// hashed before BlobStore::adopt_file moves it into place.
#include "image/registry.h"

#include <fcntl.h>
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
#include "image/registry_client.h"
#include "util/error.h"
#include "util/fd.h"
#include "util/file.h"
#include "util/progress.h"

namespace vessel::image {

namespace {

using json = nlohmann::json;
using namespace registry_http;

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

// "sha256:0123456789ab" for messages.
std::string short_digest(const std::string& d) { return d.size() > 19 ? d.substr(0, 19) : d; }

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
