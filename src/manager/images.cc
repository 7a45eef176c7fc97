#include "manager/images.h"

#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <sstream>

#include "image/digest.h"
#include "image/layer.h"
#include "image/platform.h"
#include "manager/events.h"
#include "manager/rootfs_keep_id.h"
#include "manager/rootless.h"
#include "manager/store_userns.h"
#include "util/blob_claims.h"
#include "util/error.h"
#include "util/file.h"
#include "util/scratch.h"
#include "util/subprocess.h"

namespace vessel::manager {

using nlohmann::json;

std::vector<TemplateInfo> templates() {
  return {{"busybox", "busybox-static from the host: a shell and the usual tools, no network"},
          {"debian",
           "Debian 12 (bookworm), minbase, through debootstrap from the Debian archive (network)"}};
}

namespace {

std::string host_arch() { return image::host_architecture(); }

std::string find_busybox() {
  for (const char* p : {"/bin/busybox", "/usr/bin/busybox", "/sbin/busybox"})
    if (::access(p, X_OK) == 0) return p;
  fail("the busybox template needs busybox-static on the host (apt-get install busybox-static)");
}

void write_small(const std::string& path, const std::string& data, mode_t mode = 0644) {
  write_file_atomic(path, data, mode);
}

// A root filesystem made of the host's static busybox and its applets.
void make_busybox_rootfs(const std::string& dir) {
  std::string busybox = find_busybox();
  for (const char* d : {"bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp",
                        "root", "home", "var/tmp", "var/log", "run", "mnt"})
    mkdir_p(dir + "/" + d, 0755);
  ::chmod((dir + "/tmp").c_str(), 01777);
  ::chmod((dir + "/var/tmp").c_str(), 01777);
  ::chmod((dir + "/root").c_str(), 0700);
  std::string data = read_file(busybox);
  write_small(dir + "/bin/busybox", data, 0755);
  // The applet list, from the binary itself.
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) fail_errno("pipe");
  pid_t pid = ::fork();
  if (pid < 0) fail_errno("fork");
  if (pid == 0) {
    ::dup2(pipefd[1], 1);
    ::execl(busybox.c_str(), "busybox", "--list", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(pipefd[1]);
  UniqueFd rd(pipefd[0]);
  std::string list = read_fd(rd.get());
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fail("{} --list failed", busybox);
  size_t start = 0;
  while (start < list.size()) {
    auto end = list.find('\n', start);
    std::string applet = list.substr(start, end - start);
    start = end == std::string::npos ? list.size() : end + 1;
    if (applet.empty() || applet == "busybox" || applet.find('/') != std::string::npos) continue;
    std::string link = dir + "/bin/" + applet;
    if (::symlink("busybox", link.c_str()) != 0 && errno != EEXIST) fail_errno("symlink {}", link);
  }
  write_small(
      dir + "/etc/passwd",
      "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n");
  write_small(dir + "/etc/group", "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n");
  write_small(dir + "/etc/shadow", "root:*:19000:0:99999:7:::\n", 0600);
  write_small(dir + "/etc/os-release",
              "NAME=\"Vessel busybox\"\nID=busybox\nPRETTY_NAME=\"Vessel busybox template\"\n");
  for (const char* f : {"hosts", "hostname", "resolv.conf"}) write_small(dir + "/etc/" + f, "");
}

// The Debian mirror apt uses here (the one the machine can reach), else deb.debian.org.
std::string debian_mirror() {
  if (const char* env = std::getenv("VESSEL_DEBIAN_MIRROR"); env && *env) return env;
  auto first_uri = [](const std::string& text) -> std::string {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream ls(line);
      std::string key, value;
      ls >> key >> value;
      // deb822 ("URIs: http://…/debian") or one-line ("deb http://…/debian bookworm main").
      if ((key == "URIs:" || key == "deb") && value.rfind("http", 0) == 0 &&
          value.find("security") == std::string::npos)
        return value;
    }
    return "";
  };
  for (const char* f : {"/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"}) {
    try {
      std::string uri = first_uri(read_file(f));
      if (!uri.empty()) return uri;
    } catch (const Error&) {
    }
  }
  return "http://deb.debian.org/debian";
}

// OCI architecture names to Debian's.
std::string debian_arch() {
  std::string a = host_arch();
  if (a == "386") return "i386";
  if (a == "arm") return "armhf";
  if (a == "ppc64le") return "ppc64el";
  return a;
}

// Debian bookworm, minbase variant, through debootstrap; package caches dropped.
void make_debian_rootfs(const std::string& dir) {
  std::string debootstrap;
  for (const char* p : {"/usr/sbin/debootstrap", "/sbin/debootstrap", "/usr/bin/debootstrap"})
    if (::access(p, X_OK) == 0) debootstrap = p;
  if (debootstrap.empty())
    fail("the debian template needs debootstrap on the host (apt-get install debootstrap)");
  std::string mirror = debian_mirror();
  std::vector<std::string> argv = {
      debootstrap, "--variant=minbase", "--arch=" + debian_arch(), "bookworm", dir, mirror};
  auto r = run_subprocess(debootstrap, argv, {}, "", 3600 * 1000);
  if (r.status != 0) {
    std::string log;
    try {
      log = read_file(dir + "/debootstrap/debootstrap.log");
    } catch (const Error&) {
      log = r.err.empty() ? r.out : r.err;
    }
    if (log.size() > 600) log = "…" + log.substr(log.size() - 600);
    fail("debootstrap bookworm from {} failed (exit {}): {}", mirror, r.status, log);
  }
  for (const char* d : {"var/cache/apt/archives", "var/lib/apt/lists", "var/log"}) {
    std::string path = dir + "/" + d;
    DIR* dp = ::opendir(path.c_str());
    if (!dp) continue;
    std::vector<std::string> names;
    while (auto* e = ::readdir(dp)) {
      std::string n = e->d_name;
      if (n != "." && n != ".." && n != "partial" && n != "lock") names.push_back(n);
    }
    ::closedir(dp);
    for (const auto& n : names) {
      struct stat st {};
      std::string p = path + "/" + n;
      if (::lstat(p.c_str(), &st) == 0 && (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)))
        ::unlink(p.c_str());
    }
  }
  // The container's own are bind-mounted over these.
  for (const char* f : {"hostname", "resolv.conf"}) write_small(dir + "/etc/" + f, "");
}

}  // namespace

image::StoredImage stored_image(Store& store, const ImageRecord& img) {
  image::StoredImage s;
  s.manifest_digest = img.manifest_digest;
  s.config_digest = img.config_digest;
  s.config = json::parse(store.blobs().read(img.config_digest));
  for (const auto& l : img.layers)
    s.layers.push_back({l.blob_digest, l.media_type, l.size, l.diff_id});
  s.names = img.tags;
  return s;
}

std::vector<std::string> save_names(const ImageRecord& img, const std::string& ref,
                                    const std::string& format) {
  std::string name = normalize_image_name(ref);
  std::vector<std::string> candidates = {name};
  if (ref.find('/') == std::string::npos) {
    candidates.push_back("localhost/" + name);
    candidates.push_back("docker.io/library/" + name);
  }
  for (const auto& c : candidates)
    if (std::find(img.tags.begin(), img.tags.end(), c) != img.tags.end()) return {c};
  if (ref.find('/') == std::string::npos)  // a short name stored under another registry
    for (const auto& t : img.tags)
      if (t.size() > name.size() + 1 && t.compare(t.size() - name.size(), name.size(), name) == 0 &&
          t[t.size() - name.size() - 1] == '/')
        return {t};
  // An ID.
  if (format == "docker-archive" || img.tags.size() <= 1) return img.tags;
  return {};
}

json image_config(Store& store, const ImageRecord& img) {
  return json::parse(store.blobs().read(img.config_digest));
}

std::vector<ImageRecord> register_images(Store& store,
                                         const std::vector<image::StoredImage>& loaded,
                                         const std::vector<std::string>& extra_names) {
  std::vector<ImageRecord> out;
  for (const auto& s : loaded) {
    ImageRecord r;
    r.id = image::digest_hex(s.config_digest);
    r.manifest_digest = s.manifest_digest;
    r.config_digest = s.config_digest;
    r.created = s.config.value("created", now_rfc3339());
    r.size = store.blobs().size(s.config_digest);
    for (const auto& l : s.layers) {
      r.layers.push_back({l.diff_id, l.digest, l.media_type, l.size});
      r.size += l.size;
    }
    for (const auto& n : s.names)
      if (!n.empty()) r.tags.push_back(normalize_image_name(n));
    for (const auto& n : extra_names) r.tags.push_back(normalize_image_name(n));
    store.put_image(r);
    out.push_back(*store.image_by_id(r.id));
  }
  return out;
}

static ImageRecord image_from_dir(Store& store, const std::string& dir, json config_section,
                                  const std::string& tag, const std::string& comment) {
  std::string tmp_blob = store.paths().tmp() + "/" + scratch_prefix("layer") +
                         random_hex_id().substr(0, 16) + ".tar.gz";
  image::PackedLayer packed;
  try {
    packed = pack_in_store_userns(dir, tmp_blob);
    store.blobs().adopt_file(tmp_blob, packed.digest);
  } catch (...) {
    ::unlink(tmp_blob.c_str());
    throw;
  }
  std::string created = now_rfc3339();
  json config = {{"created", created},
                 {"architecture", host_arch()},
                 {"os", "linux"},
                 {"config", config_section},
                 {"rootfs", {{"type", "layers"}, {"diff_ids", {packed.diff_id}}}},
                 {"history", {{{"created", created}, {"created_by", comment}}}}};
  image::LayerRef layer{packed.digest, "application/vnd.oci.image.layer.v1.tar+gzip", packed.size,
                        packed.diff_id};
  auto stored = image::store_image(config, {layer}, store.blobs());
  stored.names = {tag};
  return register_images(store, {stored}).at(0);
}

ImageRecord build_template(Store& store, const std::string& name, const std::string& tag) {
  if (name != "busybox" && name != "debian")
    fail("unknown template \"{}\" (vessel template ls lists them)", name);
  std::string dir =
      store.paths().tmp() + "/" + scratch_prefix("template") + random_hex_id().substr(0, 16);
  mkdir_p(dir, 0755);
  try {
    if (name == "busybox")
      make_busybox_rootfs(dir);
    else
      make_debian_rootfs(dir);
    json cfg = {{"Cmd", {name == "debian" ? "bash" : "sh"}},
                {"Env", {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
                {"Labels", {{"io.vessel.template", name}}}};
    auto img = image_from_dir(store, dir, cfg, tag.empty() ? "localhost/" + name + ":latest" : tag,
                              "vessel template build " + name);
    remove_tree(dir);
    return img;
  } catch (...) {
    remove_tree(dir);
    throw;
  }
}

ImageRecord resolve_image(Store& store, const std::string& ref) {
  if (auto img = store.find_image(ref)) return *img;
  std::string name = ref;
  if (name.rfind("localhost/", 0) == 0) name = name.substr(10);
  if (name.size() > 7 && name.substr(name.size() - 7) == ":latest") name.resize(name.size() - 7);
  for (const auto& t : templates())
    if (t.name == name) {
      // Concurrent first uses build it once: the others wait and find it.
      std::string lock_path = store.paths().tmp() + "/template-" + name + ".lock";
      UniqueFd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
      if (!lock) fail_errno("opening {}", lock_path);
      if (::flock(lock.get(), LOCK_EX) != 0) fail_errno("locking {}", lock_path);
      if (auto img = store.find_image(ref)) return *img;
      return build_template(store, name);
    }
  fail(
      "image not known: {} (vessel images lists the local ones; vessel load, import and "
      "template build add more)",
      ref);
}

ImageRecord import_rootfs(Store& store, const std::string& tarball, const std::string& name) {
  if (!path_exists(tarball)) fail("import: {}: no such file", tarball);
  // Unpack safely first (this also validates the archive), then pack what we got.
  std::string dir =
      store.paths().tmp() + "/" + scratch_prefix("import") + random_hex_id().substr(0, 16);
  mkdir_p(dir, 0755);
  try {
    image::UnpackOptions uo;
    uo.whiteouts = image::WhiteoutMode::Apply;
    // An ordinary user's import keeps the tarball's ids (manager/store_userns.h).
    unpack_in_store_userns(tarball, dir, uo);
    json cfg = {{"Env", {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}}};
    auto img = image_from_dir(store, dir, cfg, name, "vessel import " + tarball);
    remove_container_tree(dir);
    return img;
  } catch (...) {
    remove_container_tree(dir);
    throw;
  }
}

std::vector<std::string> remove_image(Store& store, const std::string& ref, bool force) {
  auto img = store.find_image(ref);
  if (!img) fail("image not known: {}", ref);
  std::vector<std::string> out;
  std::string as_name = normalize_image_name(ref);
  // A name that is one of several tags: only that tag goes.
  auto named = std::find_if(img->tags.begin(), img->tags.end(), [&](const std::string& t) {
    return t == as_name || t == "localhost/" + as_name || t == "docker.io/library/" + as_name;
  });
  if (named != img->tags.end() && img->tags.size() > 1) {
    store.untag(*named);
    emit_event(store.paths().root, "image", "untag", "sha256:" + img->id, {{"name", *named}});
    out.push_back("Untagged: " + *named);
    return out;
  }
  for (const auto& c : store.containers())
    if (c.image_id == img->id && !force)
      fail("image {} is in use by container {} ({}): remove the container first, or use --force",
           short_id(img->id), short_id(c.id), c.name);
  for (const auto& t : img->tags) out.push_back("Untagged: " + t);
  store.remove_image(img->id);
  for (const auto& t : img->tags)
    emit_event(store.paths().root, "image", "untag", "sha256:" + img->id, {{"name", t}});
  emit_event(store.paths().root, "image", "delete", "sha256:" + img->id,
             {{"name", img->tags.empty() ? "" : img->tags.front()}});
  out.push_back("Deleted: " + img->id);
  collect_garbage(store);
  return out;
}

static uint64_t tree_size(const std::string& path) {
  uint64_t total = 0;
  DIR* d = ::opendir(path.c_str());
  if (!d) return 0;
  while (auto* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    struct stat st {};
    std::string p = path + "/" + n;
    if (::lstat(p.c_str(), &st) != 0) continue;
    total += static_cast<uint64_t>(st.st_size);
    if (S_ISDIR(st.st_mode)) total += tree_size(p);
  }
  ::closedir(d);
  return total;
}

uint64_t collect_garbage(Store& store) {
  uint64_t freed = 0;
  std::set<std::string> used_images;
  for (const auto& c : store.containers()) used_images.insert(c.image_id);
  for (const auto& diff_id : store.unreferenced_layers()) {
    std::string dir = store.paths().layer(diff_id);
    freed += tree_size(dir);
    remove_container_tree(dir);  // a user's: files of subordinate ids too
    std::string keep_id_copy = keep_id_layer_dir(store.paths(), diff_id);
    if (path_exists(keep_id_copy)) freed += tree_size(keep_id_copy);
    remove_keep_id_layer(store.paths(), diff_id);
    store.forget_layer(diff_id);
  }
  // Layers of a user's store that an older vessel unpacked without the image's ids, once no
  // container may still run on them.
  std::string old_layers = old_layers_dir(store.paths().root);
  bool live = false;
  for (const auto& c : store.containers())
    live |= c.state == "running" || c.state == "paused" || c.state == "restarting";
  if (!live && path_exists(old_layers)) {
    freed += tree_size(old_layers);
    remove_old_layer_trees(store.paths().root);
  }
  // Blobs a live pull, load, build or commit has claimed stay: its image is not recorded yet.
  ClaimsLock claims(store.paths().blob_claims());
  auto referenced = store.referenced_blobs();
  std::set<std::string> keep(referenced.begin(), referenced.end());
  keep.insert(claims.live.begin(), claims.live.end());
  std::string blob_dir = store.paths().root + "/blobs/sha256";
  DIR* d = ::opendir(blob_dir.c_str());
  if (d) {
    std::vector<std::string> gone;
    while (auto* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n.size() != 64) continue;
      if (!keep.count("sha256:" + n)) gone.push_back(n);
    }
    ::closedir(d);
    for (const auto& n : gone) {
      struct stat st {};
      std::string p = blob_dir + "/" + n;
      if (::stat(p.c_str(), &st) == 0) freed += static_cast<uint64_t>(st.st_size);
      ::unlink(p.c_str());
    }
  }
  return freed;
}

}  // namespace vessel::manager
