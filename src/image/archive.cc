// OCI image layouts, oci-archive and docker-archive tarballs. Loading copies every blob into
// the BlobStore through BlobStore::put_file with the digest it must have, so nothing
// unverified is ever stored; files inside a layout are opened with openat2(RESOLVE_BENEATH)
// so a symlink in an archive cannot make us read outside it.
#include "image/archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>

#include "image/digest.h"
#include "image/layer.h"
#include "image/media_types.h"
#include "image/platform.h"
#include "util/error.h"
#include "util/file.h"
#include "util/progress.h"
#include "util/scratch.h"

namespace vessel::image {

namespace {

// The 12 hex digits a progress line names a blob by: "sha256:<hex>", "blobs/sha256/<hex>",
// "<hex>/layer.tar".
std::string short_digest(std::string s) {
  if (s.rfind("sha256:", 0) == 0) s = s.substr(7);
  if (s.rfind("blobs/sha256/", 0) == 0) s = s.substr(13);
  auto slash = s.find('/');
  if (slash != std::string::npos) s = s.substr(0, slash);
  return s.substr(0, 12);
}

using json = nlohmann::json;

constexpr char kRefName[] = "org.opencontainers.image.ref.name";
constexpr char kContainerdName[] = "io.containerd.image.name";

const char* host_arch() { return host_architecture(); }

// Layer media types we accept, mapped to their OCI names ("" = not a layer we know).
std::string oci_layer_type(const std::string& mt) {
  static const std::map<std::string, std::string> kTypes = {
      {kOciLayerTar, kOciLayerTar},
      {kOciLayerGzip, kOciLayerGzip},
      {kOciLayerZstd, kOciLayerZstd},
      {"application/vnd.oci.image.layer.nondistributable.v1.tar", kOciLayerTar},
      {"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", kOciLayerGzip},
      {"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", kOciLayerZstd},
      {"application/vnd.docker.image.rootfs.diff.tar", kOciLayerTar},
      {"application/vnd.docker.image.rootfs.diff.tar.gzip", kOciLayerGzip},
      {"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", kOciLayerGzip},
      {"application/vnd.docker.image.rootfs.diff.tar.zstd", kOciLayerZstd},
  };
  auto it = kTypes.find(mt);
  return it == kTypes.end() ? "" : it->second;
}

// Opens `rel` under the directory `dirfd`, following symlinks only while they stay beneath
// it. The result is a regular file.
UniqueFd open_in(int dirfd, const std::string& rel, const std::string& label) {
  struct open_how how {};
  how.flags = O_RDONLY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  int fd = retry_eintr([&] {
    return static_cast<int>(::syscall(SYS_openat2, dirfd, rel.c_str(), &how, sizeof how));
  });
  if (fd < 0 && errno == ENOSYS)
    fd = retry_eintr(
        [&] { return ::openat(dirfd, rel.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW); });
  if (fd < 0) {
    if (errno == EXDEV || errno == ELOOP) fail("{}: {} leads outside the image", label, rel);
    fail_errno("{}: open {}", label, rel);
  }
  UniqueFd f(fd);
  struct stat st;
  if (::fstat(fd, &st) < 0) fail_errno("{}: stat {}", label, rel);
  if (!S_ISREG(st.st_mode)) fail("{}: {} is not a regular file", label, rel);
  return f;
}

bool exists_in(int dirfd, const std::string& rel) {
  struct stat st;
  return ::fstatat(dirfd, rel.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

std::string fd_path(int fd) { return fmt::format("/proc/self/fd/{}", fd); }

std::string read_in(int dirfd, const std::string& rel, const std::string& label) {
  UniqueFd fd = open_in(dirfd, rel, label);
  return read_fd(fd.get());
}

json parse_json(const std::string& text, const std::string& what) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    fail("{}: invalid JSON: {}", what, e.what());
  }
}

std::string get_string(const json& j, const char* key, const std::string& what) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_string())
    fail("{}: missing string field \"{}\"", what, key);
  return j[key].get<std::string>();
}

// A blob of an OCI layout copied into the store, verified against its descriptor.
void store_layout_blob(int dirfd, const json& desc, const std::string& what, BlobStore& blobs) {
  std::string digest = get_string(desc, "digest", what);
  if (!is_valid_digest(digest)) fail("{}: unsupported or invalid digest \"{}\"", what, digest);
  std::string rel = "blobs/sha256/" + digest_hex(digest);
  UniqueFd fd = open_in(dirfd, rel, what);
  if (desc.contains("size") && desc["size"].is_number_integer()) {
    struct stat st;
    if (::fstat(fd.get(), &st) < 0) fail_errno("{}: stat {}", what, rel);
    if (static_cast<int64_t>(st.st_size) != desc["size"].get<int64_t>())
      fail("{}: blob {} is {} bytes, its descriptor says {}", what, digest, st.st_size,
           desc["size"].get<int64_t>());
  }
  try {
    blobs.put_file(fd_path(fd.get()), digest);
  } catch (const Error& e) {
    fail("{}: {}", what, e.what());
  }
}

bool platform_matches(const json& desc) {
  if (!desc.contains("platform") || !desc["platform"].is_object()) return true;
  const json& p = desc["platform"];
  return p.value("os", "linux") == "linux" && p.value("architecture", host_arch()) == host_arch();
}

bool is_index_type(const std::string& mt) { return mt == kOciIndex || mt == kDockerList; }
bool is_manifest_type(const std::string& mt) { return mt == kOciManifest || mt == kDockerManifest; }

// Reads a stored index and returns the manifest descriptor for this host (linux/host arch,
// or the only manifest), descending into nested indexes.
json pick_from_index(int dirfd, const json& index_desc, const std::string& what, BlobStore& blobs,
                     int depth) {
  if (depth > 8) fail("{}: indexes nested too deeply", what);
  store_layout_blob(dirfd, index_desc, what, blobs);
  json index = parse_json(blobs.read(index_desc["digest"]), what);
  if (!index.contains("manifests") || !index["manifests"].is_array())
    fail("{}: index has no manifests", what);
  std::vector<json> candidates;
  for (const json& d : index["manifests"]) {
    std::string mt = d.value("mediaType", "");
    if (!is_manifest_type(mt) && !is_index_type(mt)) continue;  // attestations and the like
    candidates.push_back(d);
  }
  const json* chosen = nullptr;
  for (const json& d : candidates)
    if (d.contains("platform") && platform_matches(d)) {
      chosen = &d;
      break;
    }
  if (!chosen && candidates.size() == 1) chosen = &candidates[0];
  if (!chosen) {
    for (const json& d : candidates)
      if (!d.contains("platform")) {
        chosen = &d;
        break;
      }
  }
  if (!chosen) fail("{}: no manifest for linux/{}", what, host_arch());
  std::string mt = chosen->value("mediaType", "");
  if (is_index_type(mt)) return pick_from_index(dirfd, *chosen, what, blobs, depth + 1);
  return *chosen;
}

// Completes an image from a stored manifest: config parsed, layers listed with diff_ids; a
// docker manifest is replaced by an equivalent OCI one.
StoredImage image_from_manifest(int dirfd, const json& desc, const std::string& what,
                                BlobStore& blobs) {
  std::string manifest_digest = get_string(desc, "digest", what);
  store_layout_blob(dirfd, desc, what, blobs);
  json manifest = parse_json(blobs.read(manifest_digest), what + ": manifest " + manifest_digest);
  std::string mt = manifest.value("mediaType", desc.value("mediaType", std::string(kOciManifest)));
  if (!is_manifest_type(mt))
    fail("{}: {} is not an image manifest ({})", what, manifest_digest, mt);
  if (!manifest.contains("config") || !manifest.contains("layers") ||
      !manifest["layers"].is_array())
    fail("{}: manifest {} has no config or layers", what, manifest_digest);
  const json& cdesc = manifest["config"];
  std::string ctype = cdesc.value("mediaType", "");
  if (ctype != kOciConfig && ctype != kDockerConfig)
    fail("{}: manifest {}: config media type \"{}\" is not an image config", what, manifest_digest,
         ctype);
  store_layout_blob(dirfd, cdesc, what + ": config", blobs);
  std::string config_digest = cdesc["digest"];
  json config = parse_json(blobs.read(config_digest), what + ": config " + config_digest);
  json diff_ids =
      config.contains("rootfs") ? config["rootfs"].value("diff_ids", json::array()) : json::array();
  if (diff_ids.size() != manifest["layers"].size())
    fail("{}: config {} lists {} diff_ids for {} layers", what, config_digest, diff_ids.size(),
         manifest["layers"].size());

  std::vector<LayerRef> layers;
  for (size_t i = 0; i < manifest["layers"].size(); ++i) {
    const json& l = manifest["layers"][i];
    std::string lw = fmt::format("{}: layer {}", what, i);
    std::string ltype = oci_layer_type(l.value("mediaType", ""));
    if (ltype.empty()) fail("{}: unsupported media type \"{}\"", lw, l.value("mediaType", ""));
    {
      ProgressLine line("Copying blob " + short_digest(l.value("digest", "")),
                        l.value("size", uint64_t{0}));
      store_layout_blob(dirfd, l, lw, blobs);
      line.done();
    }
    LayerRef ref;
    ref.digest = l["digest"];
    ref.media_type = ltype;
    ref.size = blobs.size(ref.digest);
    ref.diff_id = diff_ids[i].is_string() ? diff_ids[i].get<std::string>() : "";
    if (!is_valid_digest(ref.diff_id)) fail("{}: invalid diff_id in config", lw);
    if (ltype == kOciLayerTar && ref.diff_id != ref.digest)
      fail("{}: uncompressed layer {} does not match its diff_id {}", lw, ref.digest, ref.diff_id);
    layers.push_back(ref);
  }
  if (mt == kDockerManifest)  // converted to OCI, config bytes kept
    return store_image_with_config(config_digest, layers, blobs);
  StoredImage img;
  img.manifest_digest = manifest_digest;
  img.config_digest = config_digest;
  img.config = std::move(config);
  img.layers = std::move(layers);
  return img;
}

void add_name(StoredImage& img, const std::string& name) {
  if (!name.empty() && std::find(img.names.begin(), img.names.end(), name) == img.names.end())
    img.names.push_back(name);
}

std::vector<StoredImage> load_layout(int dirfd, const std::string& label, BlobStore& blobs) {
  if (!exists_in(dirfd, "oci-layout")) fail("{}: not an OCI layout (no oci-layout file)", label);
  json layout = parse_json(read_in(dirfd, "oci-layout", label), label + ": oci-layout");
  std::string version = layout.value("imageLayoutVersion", "");
  if (version.rfind("1.", 0) != 0)
    fail("{}: unsupported imageLayoutVersion \"{}\"", label, version);
  json index = parse_json(read_in(dirfd, "index.json", label), label + ": index.json");
  if (!index.contains("manifests") || !index["manifests"].is_array())
    fail("{}: index.json has no manifests", label);

  // Top-level manifests for another platform are skipped when one for this host exists.
  std::vector<const json*> top;
  for (const json& d : index["manifests"]) {
    std::string mt = d.value("mediaType", "");
    if (is_manifest_type(mt) || is_index_type(mt)) top.push_back(&d);
  }
  bool any_match =
      std::any_of(top.begin(), top.end(), [](const json* d) { return platform_matches(*d); });
  std::vector<StoredImage> images;
  for (const json* d : top) {
    if (any_match && !platform_matches(*d)) continue;
    std::string what = fmt::format("{}: {}", label, d->value("digest", "?"));
    std::string mt = d->value("mediaType", "");
    json mdesc = is_index_type(mt) ? pick_from_index(dirfd, *d, what, blobs, 0) : *d;
    StoredImage img = image_from_manifest(dirfd, mdesc, what, blobs);
    std::string name;
    if (d->contains("annotations") && (*d)["annotations"].is_object()) {
      const json& a = (*d)["annotations"];
      name = a.value(kContainerdName, a.value(kRefName, ""));
    }
    auto same = std::find_if(images.begin(), images.end(), [&](const StoredImage& o) {
      return o.manifest_digest == img.manifest_digest;
    });
    if (same != images.end()) {
      add_name(*same, name);
    } else {
      add_name(img, name);
      images.push_back(std::move(img));
    }
  }
  if (images.empty()) fail("{}: no image manifest for linux/{}", label, host_arch());
  return images;
}

std::string sniff_layer_type(int fd) {
  unsigned char magic[4] = {};
  ssize_t n = ::pread(fd, magic, sizeof magic, 0);
  if (n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) return kOciLayerGzip;
  if (n == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd)
    return kOciLayerZstd;
  return kOciLayerTar;
}

// "sha256:<hex>" when `rel` is named by a digest (blobs/sha256/<hex> or <hex>.json), else "".
std::string digest_from_name(const std::string& rel) {
  std::string base = rel.substr(rel.rfind('/') + 1);
  if (base.size() > 5 && base.compare(base.size() - 5, 5, ".json") == 0)
    base.resize(base.size() - 5);
  std::string d = "sha256:" + base;
  return is_valid_digest(d) ? d : "";
}

std::vector<StoredImage> load_docker(int dirfd, const std::string& label, BlobStore& blobs) {
  json manifest = parse_json(read_in(dirfd, "manifest.json", label), label + ": manifest.json");
  if (!manifest.is_array() || manifest.empty())
    fail("{}: manifest.json is not a non-empty array", label);
  std::vector<StoredImage> images;
  for (size_t m = 0; m < manifest.size(); ++m) {
    const json& entry = manifest[m];
    std::string what = fmt::format("{}: manifest.json[{}]", label, m);
    std::string config_rel = get_string(entry, "Config", what);
    UniqueFd cfd = open_in(dirfd, config_rel, what);
    std::string config_digest;
    try {
      config_digest = blobs.put_file(fd_path(cfd.get()), digest_from_name(config_rel));
    } catch (const Error& e) {
      fail("{}: config {}: {}", what, config_rel, e.what());
    }
    json config = parse_json(blobs.read(config_digest), what + ": config " + config_rel);
    json diff_ids = config.contains("rootfs") ? config["rootfs"].value("diff_ids", json::array())
                                              : json::array();
    if (!entry.contains("Layers") || !entry["Layers"].is_array()) fail("{}: no Layers array", what);
    if (diff_ids.size() != entry["Layers"].size())
      fail("{}: config lists {} diff_ids for {} layers", what, diff_ids.size(),
           entry["Layers"].size());
    std::vector<LayerRef> layers;
    for (size_t i = 0; i < entry["Layers"].size(); ++i) {
      if (!entry["Layers"][i].is_string()) fail("{}: Layers[{}] is not a string", what, i);
      std::string rel = entry["Layers"][i];
      std::string lw = fmt::format("{}: layer {}", what, rel);
      UniqueFd lfd = open_in(dirfd, rel, lw);
      LayerRef ref;
      ref.media_type = sniff_layer_type(lfd.get());
      ref.diff_id = diff_ids[i].is_string() ? diff_ids[i].get<std::string>() : "";
      if (!is_valid_digest(ref.diff_id)) fail("{}: invalid diff_id in config", lw);
      std::string expected = digest_from_name(rel);
      if (expected.empty() && ref.media_type == kOciLayerTar) expected = ref.diff_id;
      struct stat lst {};
      ::fstat(lfd.get(), &lst);
      ProgressLine line("Copying blob " + short_digest(expected.empty() ? ref.diff_id : expected),
                        static_cast<uint64_t>(lst.st_size));
      try {
        ref.digest = blobs.put_file(fd_path(lfd.get()), expected);
      } catch (const Error& e) {
        fail("{}: {}", lw, e.what());
      }
      line.done();
      if (ref.media_type == kOciLayerTar && ref.digest != ref.diff_id)
        fail("{}: content {} does not match its diff_id {}", lw, ref.digest, ref.diff_id);
      ref.size = blobs.size(ref.digest);
      layers.push_back(ref);
    }
    StoredImage img = store_image_with_config(config_digest, layers, blobs);
    if (entry.contains("RepoTags") && entry["RepoTags"].is_array())
      for (const json& t : entry["RepoTags"])
        if (t.is_string()) add_name(img, t.get<std::string>());
    images.push_back(std::move(img));
  }
  return images;
}

// A scratch directory under the store's tmp, removed with everything in it.
class TempDir {
 public:
  explicit TempDir(const std::string& parent)
      : path_(parent + "/" + scratch_prefix("load") + "XXXXXX") {
    if (!::mkdtemp(path_.data())) fail_errno("create temporary directory in {}", parent);
  }
  ~TempDir() {
    try {
      remove_tree(path_);
    } catch (...) {
    }
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// ---- writing -------------------------------------------------------------------------------

struct WriteArchiveFree {
  void operator()(struct archive* a) const { archive_write_free(a); }
};
struct EntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

// A plain tar written to `path` (through a temporary file renamed at commit()).
class TarWriter {
 public:
  explicit TarWriter(const std::string& path) : path_(path), tmp_(path + ".tmp-XXXXXX") {
    int fd = ::mkostemp(tmp_.data(), O_CLOEXEC);
    if (fd < 0) fail_errno("create {}", tmp_);
    fd_.reset(fd);
    a_.reset(archive_write_new());
    archive_write_set_format_pax_restricted(a_.get());
    archive_write_set_bytes_in_last_block(a_.get(), 1);
    if (archive_write_open_fd(a_.get(), fd_.get()) != ARCHIVE_OK) error("open");
  }
  ~TarWriter() {
    if (!committed_) ::unlink(tmp_.c_str());
  }

  void dir(const std::string& name) { header(name, AE_IFDIR, 0755, 0); }
  void bytes(const std::string& name, const std::string& data) {
    header(name, AE_IFREG, 0644, data.size());
    if (!data.empty() && archive_write_data(a_.get(), data.data(), data.size()) < 0)
      error("write " + name);
  }
  void file(const std::string& name, const std::string& src) {
    UniqueFd in = open_or_throw(src, O_RDONLY);
    struct stat st;
    if (::fstat(in.get(), &st) < 0) fail_errno("stat {}", src);
    header(name, AE_IFREG, 0644, static_cast<uint64_t>(st.st_size));
    ProgressLine line("Writing blob " + short_digest(name), static_cast<uint64_t>(st.st_size));
    std::vector<char> buf(1 << 16);
    for (off_t left = st.st_size; left > 0;) {
      ssize_t n = retry_eintr([&] { return ::read(in.get(), buf.data(), buf.size()); });
      if (n < 0) fail_errno("read {}", src);
      if (n == 0) fail("{} shrank while being written", src);
      size_t len = std::min(static_cast<size_t>(n), static_cast<size_t>(left));
      if (archive_write_data(a_.get(), buf.data(), len) < 0) error("write " + name);
      left -= static_cast<off_t>(len);
      progress_bytes(len);
    }
    line.done();
  }
  void commit() {
    if (archive_write_close(a_.get()) != ARCHIVE_OK) error("close");
    fd_.reset();
    if (::rename(tmp_.c_str(), path_.c_str()) < 0) fail_errno("rename {} to {}", tmp_, path_);
    committed_ = true;
  }

 private:
  void header(const std::string& name, unsigned type, unsigned perm, uint64_t size) {
    std::unique_ptr<archive_entry, EntryFree> e(archive_entry_new());
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_filetype(e.get(), type);
    archive_entry_set_perm(e.get(), perm);
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(size));
    archive_entry_set_mtime(e.get(), 0, 0);  // reproducible
    if (archive_write_header(a_.get(), e.get()) != ARCHIVE_OK) error("write " + name);
  }
  [[noreturn]] void error(const std::string& what) {
    const char* s = archive_error_string(a_.get());
    fail("{}: {}: {}", path_, what, s ? s : "libarchive error");
  }

  std::string path_;
  std::string tmp_;
  UniqueFd fd_;
  std::unique_ptr<struct archive, WriteArchiveFree> a_;
  bool committed_ = false;
};

json descriptor(const std::string& media_type, const std::string& digest, uint64_t size) {
  return {{"mediaType", media_type}, {"digest", digest}, {"size", size}};
}

json manifest_descriptor(const StoredImage& image, const BlobStore& blobs) {
  // A Docker schema 2 manifest (build --format docker) is written as it is stored.
  json d = descriptor(manifest_media_type(image.manifest_digest, blobs), image.manifest_digest,
                      blobs.size(image.manifest_digest));
  if (image.config.is_object() && image.config.contains("architecture")) {
    d["platform"] = {{"architecture", image.config.value("architecture", "")},
                     {"os", image.config.value("os", "linux")}};
    if (image.config.contains("variant")) d["platform"]["variant"] = image.config["variant"];
  }
  return d;
}

std::vector<std::string> image_blobs(const StoredImage& image) {
  std::vector<std::string> out = {image.manifest_digest, image.config_digest};
  for (const auto& l : image.layers)
    if (std::find(out.begin(), out.end(), l.digest) == out.end()) out.push_back(l.digest);
  return out;
}

json oci_index(const StoredImage& image, const std::vector<std::string>& names,
               const BlobStore& blobs, json base = json()) {
  json index = base.is_object() ? base : json{{"schemaVersion", 2}, {"mediaType", kOciIndex}};
  if (!index.contains("manifests") || !index["manifests"].is_array())
    index["manifests"] = json::array();
  json kept = json::array();
  for (const json& d : index["manifests"]) {
    std::string ref;
    if (d.contains("annotations") && d["annotations"].is_object())
      ref = d["annotations"].value(kRefName, "");
    bool replaced = ref.empty() ? (names.empty() && d.value("digest", "") == image.manifest_digest)
                                : std::find(names.begin(), names.end(), ref) != names.end();
    if (!replaced) kept.push_back(d);
  }
  json d = manifest_descriptor(image, blobs);
  if (names.empty()) kept.push_back(d);
  for (const auto& n : names) {
    json named = d;
    named["annotations"] = {{kRefName, n}};
    kept.push_back(named);
  }
  index["manifests"] = kept;
  return index;
}

constexpr char kLayoutFile[] = "{\"imageLayoutVersion\":\"1.0.0\"}";

void save_oci_dir(const StoredImage& image, const std::vector<std::string>& names,
                  const std::string& out, const BlobStore& blobs) {
  mkdir_p(out + "/blobs/sha256");
  write_file_atomic(out + "/oci-layout", kLayoutFile, 0644);
  for (const auto& digest : image_blobs(image)) {
    std::string dest = out + "/blobs/sha256/" + digest_hex(digest);
    if (path_exists(dest) && sha256_file_digest(dest) == digest) continue;
    ProgressLine line("Writing blob " + short_digest(digest), blobs.size(digest));
    std::string tmp = dest + ".tmp";
    ::unlink(tmp.c_str());
    if (::link(blobs.path(digest).c_str(), tmp.c_str()) < 0) {
      UniqueFd in = open_or_throw(blobs.path(digest), O_RDONLY);
      UniqueFd o = open_or_throw(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
      std::vector<char> buf(1 << 16);
      for (;;) {
        ssize_t n = retry_eintr([&] { return ::read(in.get(), buf.data(), buf.size()); });
        if (n < 0) fail_errno("read {}", blobs.path(digest));
        if (n == 0) break;
        write_all(o.get(), buf.data(), static_cast<size_t>(n));
        progress_bytes(static_cast<uint64_t>(n));
      }
    }
    if (::rename(tmp.c_str(), dest.c_str()) < 0) fail_errno("rename {} to {}", tmp, dest);
    line.done();
  }
  json base;
  if (path_exists(out + "/index.json"))
    base = parse_json(read_file(out + "/index.json"), out + "/index.json");
  write_file_atomic(out + "/index.json", oci_index(image, names, blobs, base).dump(), 0644);
}

void save_oci_archive(const StoredImage& image, const std::vector<std::string>& names,
                      const std::string& out, const BlobStore& blobs) {
  TarWriter tar(out);
  tar.bytes("oci-layout", kLayoutFile);
  tar.bytes("index.json", oci_index(image, names, blobs).dump());
  tar.dir("blobs/");
  tar.dir("blobs/sha256/");
  for (const auto& digest : image_blobs(image))
    tar.file("blobs/sha256/" + digest_hex(digest), blobs.path(digest));
  tar.commit();
}

// Decompresses a layer blob into `dest`, returning the digest of the tar.
std::string decompress_layer(const std::string& src, const std::string& dest) {
  struct ReadFree {
    void operator()(struct archive* a) const { archive_read_free(a); }
  };
  std::unique_ptr<struct archive, ReadFree> a(archive_read_new());
  archive_read_support_filter_all(a.get());
  archive_read_support_format_raw(a.get());
  archive_entry* e;
  if (archive_read_open_filename(a.get(), src.c_str(), 1 << 16) != ARCHIVE_OK ||
      archive_read_next_header(a.get(), &e) != ARCHIVE_OK)
    fail("decompress {}: {}", src, archive_error_string(a.get()));
  UniqueFd out = open_or_throw(dest, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  Sha256 hash;
  std::vector<char> buf(1 << 16);
  for (;;) {
    la_ssize_t n = archive_read_data(a.get(), buf.data(), buf.size());
    if (n < 0) fail("decompress {}: {}", src, archive_error_string(a.get()));
    if (n == 0) break;
    hash.update(buf.data(), static_cast<size_t>(n));
    write_all(out.get(), buf.data(), static_cast<size_t>(n));
  }
  return hash.digest();
}

void save_docker_archive(const StoredImage& image, const std::vector<std::string>& names,
                         const std::string& out, const BlobStore& blobs) {
  TempDir tmp(blobs.tmp_dir());
  TarWriter tar(out);
  std::string config_name = digest_hex(image.config_digest) + ".json";
  tar.bytes(config_name, blobs.read(image.config_digest));
  json layer_names = json::array();
  std::vector<std::string> written;
  for (size_t i = 0; i < image.layers.size(); ++i) {
    const LayerRef& l = image.layers[i];
    std::string diff_id = l.diff_id;
    if (diff_id.empty()) diff_id = image.config.at("rootfs").at("diff_ids").at(i);
    std::string dir = digest_hex(diff_id);
    std::string name = dir + "/layer.tar";
    layer_names.push_back(name);
    if (std::find(written.begin(), written.end(), dir) != written.end()) continue;
    written.push_back(dir);
    tar.dir(dir + "/");
    if (l.media_type == kOciLayerTar) {
      tar.file(name, blobs.path(l.digest));
    } else {
      // docker load checks layer files against the diff_ids: write them uncompressed.
      std::string plain = tmp.path() + "/layer.tar";
      std::string got = decompress_layer(blobs.path(l.digest), plain);
      if (got != diff_id)
        fail("save {}: layer {} decompresses to {}, not its diff_id {}", out, l.digest, got,
             diff_id);
      tar.file(name, plain);
      ::unlink(plain.c_str());
    }
  }
  json tags = json::array();
  json repositories = json::object();
  for (const auto& n : names) {
    if (n.find('@') != std::string::npos) continue;  // digest references have no tag
    tags.push_back(n);
    size_t slash = n.rfind('/');
    size_t colon = n.rfind(':');
    std::string repo = n, tag = "latest";
    if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
      repo = n.substr(0, colon);
      tag = n.substr(colon + 1);
    }
    if (!written.empty()) repositories[repo][tag] = written.back();
  }
  json manifest =
      json::array({{{"Config", config_name}, {"RepoTags", tags}, {"Layers", layer_names}}});
  tar.bytes("manifest.json", manifest.dump());
  tar.bytes("repositories", repositories.dump());
  tar.commit();
}

}  // namespace

std::vector<StoredImage> load_images(const std::string& path, BlobStore& blobs) {
  struct stat st;
  if (::stat(path.c_str(), &st) < 0) fail_errno("load {}", path);
  if (S_ISDIR(st.st_mode)) {
    UniqueFd dir = open_or_throw(path, O_RDONLY | O_DIRECTORY);
    return load_layout(dir.get(), path, blobs);
  }
  TempDir tmp(blobs.tmp_dir());
  UnpackOptions opts;
  opts.same_owner = false;
  opts.interpret_whiteouts = false;
  opts.max_entries = 100'000;
  try {
    unpack_layer(path, tmp.path(), opts);
  } catch (const Error& e) {
    // A full disk (the scratch copy is in the store) is not the archive's fault.
    std::string what = e.what();
    if (e.error_code() == ENOSPC || e.error_code() == EDQUOT ||
        what.find(std::strerror(ENOSPC)) != std::string::npos ||
        what.find(std::strerror(EDQUOT)) != std::string::npos)
      fail("load {}: {}", path, what);
    fail("load {}: not a readable image archive: {}", path, what);
  }
  UniqueFd dir = open_or_throw(tmp.path(), O_RDONLY | O_DIRECTORY);
  if (exists_in(dir.get(), "oci-layout") && exists_in(dir.get(), "index.json"))
    return load_layout(dir.get(), path, blobs);
  if (exists_in(dir.get(), "manifest.json")) return load_docker(dir.get(), path, blobs);
  fail(
      "load {}: neither an oci-archive (oci-layout, index.json) nor a docker-archive "
      "(manifest.json)",
      path);
}

void save_image(const StoredImage& image, const std::vector<std::string>& names,
                const std::string& format, const std::string& out, const BlobStore& blobs) {
  for (const auto& d : image_blobs(image))
    if (!blobs.has(d)) fail("save {}: blob {} is not in the store", out, d);
  if (format == "oci-dir") return save_oci_dir(image, names, out, blobs);
  if (format == "oci-archive") return save_oci_archive(image, names, out, blobs);
  if (format == "docker-archive") return save_docker_archive(image, names, out, blobs);
  fail("save {}: unknown format \"{}\" (oci-archive, oci-dir, docker-archive)", out, format);
}

namespace {

// A layer's media type in a Docker schema 2 manifest.
std::string docker_layer_type(const std::string& oci_type, const std::string& digest) {
  if (oci_type == kOciLayerGzip) return kDockerLayerGzip;
  if (oci_type == kOciLayerTar) return kDockerLayerTar;
  fail("layer {} ({}): the docker image format has no media type for it (use --format oci)",
       digest, oci_type);
}

}  // namespace

std::string manifest_media_type(const std::string& manifest_digest, const BlobStore& blobs) {
  json m = parse_json(blobs.read(manifest_digest), "manifest " + manifest_digest);
  return m.value("mediaType", std::string(kOciManifest));
}

StoredImage store_image_with_config(const std::string& config_digest, std::vector<LayerRef> layers,
                                    BlobStore& blobs, ManifestFormat format) {
  const bool docker = format == ManifestFormat::docker;
  json config = parse_json(blobs.read(config_digest), "config " + config_digest);
  json diff_ids = config.contains("rootfs") && config["rootfs"].is_object()
                      ? config["rootfs"].value("diff_ids", json::array())
                      : json::array();
  json layer_descs = json::array();
  for (size_t i = 0; i < layers.size(); ++i) {
    LayerRef& l = layers[i];
    if (!blobs.has(l.digest)) fail("store image: layer {} is not in the store", l.digest);
    l.size = blobs.size(l.digest);
    if (l.media_type.empty()) l.media_type = kOciLayerGzip;
    if (l.diff_id.empty() && i < diff_ids.size() && diff_ids[i].is_string())
      l.diff_id = diff_ids[i];
    layer_descs.push_back(descriptor(
        docker ? docker_layer_type(l.media_type, l.digest) : l.media_type, l.digest, l.size));
  }
  json manifest = {
      {"schemaVersion", 2},
      {"mediaType", docker ? kDockerManifest : kOciManifest},
      {"config",
       descriptor(docker ? kDockerConfig : kOciConfig, config_digest, blobs.size(config_digest))},
      {"layers", layer_descs},
  };
  StoredImage img;
  img.manifest_digest = blobs.put(manifest.dump());
  img.config_digest = config_digest;
  img.config = std::move(config);
  img.layers = std::move(layers);
  return img;
}

StoredImage store_image(json config, std::vector<LayerRef> layers, BlobStore& blobs,
                        ManifestFormat format) {
  if (!config.is_object()) fail("store image: the config is not a JSON object");
  std::string config_digest = blobs.put(config.dump());
  return store_image_with_config(config_digest, std::move(layers), blobs, format);
}

}  // namespace vessel::image
