#include "manager/commit.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <set>

#include "image/archive.h"
#include "image/dockerfile.h"
#include "image/layer.h"
#include "image/platform.h"
#include "manager/containers.h"
#include "manager/images.h"
#include "manager/rootfs.h"
#include "manager/rootfs_keep_id.h"
#include "manager/store_userns.h"
#include "util/error.h"
#include "util/file.h"
#include "util/progress.h"
#include "util/scratch.h"

namespace vessel::manager {

using nlohmann::json;

namespace {

bool is_whiteout(const struct stat& st) { return S_ISCHR(st.st_mode) && st.st_rdev == 0; }

bool opaque(const std::string& path) {
  char v[4] = {0};
  return ::lgetxattr(path.c_str(), "trusted.overlay.opaque", v, sizeof v) == 1 && v[0] == 'y';
}

// Whether `rel` exists in the stack of unpacked layers (top first).
bool in_lowers(const std::vector<std::string>& lowers, const std::string& rel) {
  for (const auto& layer : lowers) {
    // An ancestor that is a whiteout, not a directory, or opaque hides what is below.
    std::string prefix;
    size_t pos = 0;
    bool hidden = false;
    while (true) {
      auto slash = rel.find('/', pos);
      if (slash == std::string::npos) break;
      prefix = rel.substr(0, slash);
      pos = slash + 1;
      struct stat st {};
      std::string p = layer + "/" + prefix;
      if (::lstat(p.c_str(), &st) != 0) break;
      if (!S_ISDIR(st.st_mode)) {
        hidden = true;
        break;
      }
      if (opaque(p)) {
        // What this layer has is visible, nothing under it from lower layers.
        struct stat own {};
        std::string full = layer + "/" + rel;
        return ::lstat(full.c_str(), &own) == 0 && !is_whiteout(own);
      }
    }
    if (hidden) return false;
    struct stat st {};
    std::string full = layer + "/" + rel;
    if (::lstat(full.c_str(), &st) == 0) return !is_whiteout(st);
  }
  return false;
}

std::vector<std::string> list_dir_names(const std::string& path) {
  std::vector<std::string> out;
  DIR* d = ::opendir(path.c_str());
  if (!d) fail_errno("reading directory {}", path);
  while (auto* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

bool empty_entry(const std::string& path, const struct stat& st) {
  if (S_ISREG(st.st_mode)) return st.st_size == 0;
  if (!S_ISDIR(st.st_mode)) return false;
  return list_dir_names(path).empty();
}

void walk(const std::string& root, const std::string& rel, std::vector<std::string>& out) {
  for (const auto& name : list_dir_names(rel.empty() ? root : root + "/" + rel)) {
    std::string r = rel.empty() ? name : rel + "/" + name;
    out.push_back(r);
    struct stat st {};
    if (::lstat((root + "/" + r).c_str(), &st) == 0 && S_ISDIR(st.st_mode)) walk(root, r, out);
  }
}

// What the runtime adds to a root filesystem: left out of diffs and layers when it added them.
bool runtime_added(const std::string& rel) {
  for (const auto& p : runtime_paths())
    if (rel.rfind(p + "/", 0) == 0 && (p == "dev" || p == "proc" || p == "sys")) return true;
  return false;
}

std::vector<std::string> lower_dirs(Store& store, const ImageRecord& img) {
  ensure_layers(store, img);
  std::vector<std::string> lowers;
  for (auto it = img.layers.rbegin(); it != img.layers.rend(); ++it)
    lowers.push_back(store.paths().layer(it->diff_id));
  return lowers;
}

// The upper-dir paths that are the runtime's, not the user's: excluded from the layer.
std::vector<std::string> runtime_excludes(const std::string& upper,
                                          const std::vector<std::string>& lowers) {
  std::vector<std::string> out;
  for (const auto& p : runtime_paths()) {
    struct stat st {};
    std::string full = upper + "/" + p;
    if (::lstat(full.c_str(), &st) != 0) continue;
    if (p == "dev" || p == "proc" || p == "sys") {
      // Mount points whose content is never the image's.
      if (S_ISDIR(st.st_mode))
        for (const auto& n : list_dir_names(full)) out.push_back(p + "/" + n);
      if (!in_lowers(lowers, p)) out.push_back(p);
    } else if (!in_lowers(lowers, p) && empty_entry(full, st)) {
      out.push_back(p);
    }
  }
  return out;
}

}  // namespace

const std::vector<std::string>& runtime_paths() {
  static const std::vector<std::string> paths = {
      "dev", "proc", "sys", "etc/hosts", "etc/hostname", "etc/resolv.conf", "run/.containerenv"};
  return paths;
}

std::vector<PathChange> upper_changes(Store& store, const ImageRecord& img,
                                      const std::string& upper) {
  auto lowers = lower_dirs(store, img);
  auto excludes = runtime_excludes(upper, lowers);
  std::set<std::string> skip(excludes.begin(), excludes.end());
  std::vector<std::string> rels;
  walk(upper, "", rels);
  std::vector<PathChange> out;
  for (const auto& rel : rels) {
    if (skip.count(rel) || runtime_added(rel)) continue;
    struct stat st {};
    if (::lstat((upper + "/" + rel).c_str(), &st) != 0) continue;
    if (is_whiteout(st))
      out.push_back({'D', "/" + rel});
    else
      out.push_back({in_lowers(lowers, rel) ? 'C' : 'A', "/" + rel});
  }
  std::sort(out.begin(), out.end(),
            [](const PathChange& a, const PathChange& b) { return a.path < b.path; });
  return out;
}

namespace {

std::string overlay_upper_of(Store& store, const ContainerRecord& c) {
  std::string dir = container_dir(store, c.id);
  if (container_storage_driver(dir) != "overlay")
    fail("container {} uses the vfs storage driver: diff and commit need overlay", c.name);
  std::string upper = dir + "/upper";
  if (!path_exists(upper)) fail("container {} has no writable layer ({})", c.name, upper);
  return upper;
}

}  // namespace

std::vector<PathChange> container_changes(Store& store, const std::string& ref) {
  auto c = find_or_fail(store, ref);
  auto img = store.image_by_id(c.image_id);
  if (!img) fail("the image of container {} is gone", c.name);
  return upper_changes(store, *img, overlay_upper_of(store, c));
}

ImageRecord commit_upper(Store& store, const ImageRecord* parent, json config,
                         const std::string& upper, const HistoryEntry& history,
                         const std::vector<std::string>& tags) {
  std::vector<image::LayerRef> layers;
  json diff_ids = json::array();
  if (parent)
    for (const auto& l : parent->layers) {
      layers.push_back({l.blob_digest, l.media_type, l.size, l.diff_id});
      diff_ids.push_back(l.diff_id);
    }
  bool empty_layer = history.empty_layer || upper.empty();
  std::string created = now_rfc3339();
  if (!empty_layer) {
    auto lowers = parent ? lower_dirs(store, *parent) : std::vector<std::string>{};
    image::PackOptions po;
    po.overlay_upper = true;
    po.exclude = runtime_excludes(upper, lowers);
    // An ordinary user's container wrote its other ids as the user's subordinate ids: packed
    // in the user's user namespace, the layer records the container's ids (RUN chown 1000 /x
    // is 1000 in the image) and files only their owner may read are read too.
    std::string tmp =
        store.blobs().tmp_dir() + "/" + scratch_prefix("commit") + random_hex_id().substr(0, 16);
    image::PackedLayer packed;
    ProgressLine line("Writing layer", 0);  // `vessel build` shows it (util/progress.h)
    try {
      // A keep-id container's upper layer has its ids through its own mapping.
      std::string dir = upper.substr(0, upper.rfind('/'));
      std::optional<RootlessMappings> keep_id;
      if (is_keep_id_rootfs(dir)) keep_id = keep_id_mappings();
      packed = pack_in_store_userns(upper, tmp, po, keep_id ? &*keep_id : nullptr);
      store.blobs().adopt_file(tmp, packed.digest);
    } catch (...) {
      ::unlink(tmp.c_str());
      throw;
    }
    line.done();
    layers.push_back({packed.digest, "application/vnd.oci.image.layer.v1.tar+gzip", packed.size,
                      packed.diff_id});
    diff_ids.push_back(packed.diff_id);
  }
  config["created"] = created;
  config["rootfs"] = {{"type", "layers"}, {"diff_ids", diff_ids}};
  if (!config.contains("history") || !config["history"].is_array())
    config["history"] = json::array();
  json h = {{"created", created}, {"created_by", history.created_by}};
  if (!history.comment.empty()) h["comment"] = history.comment;
  if (!history.author.empty()) {
    h["author"] = history.author;
    config["author"] = history.author;
  }
  if (empty_layer) h["empty_layer"] = true;
  config["history"].push_back(h);
  if (!config.contains("architecture")) config["architecture"] = image::host_architecture();
  if (!config.contains("os")) config["os"] = "linux";
  auto stored = image::store_image(config, layers, store.blobs());
  stored.names = tags;
  return register_images(store, {stored}).at(0);
}

namespace {

// "30s", "1m30s", "500ms", "2h" -> nanoseconds.
int64_t parse_duration(const std::string& flag, const std::string& s) {
  int64_t total = 0;
  size_t i = 0;
  if (s.empty()) fail("HEALTHCHECK --{}: an empty duration", flag);
  while (i < s.size()) {
    size_t j = i;
    while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '.')) ++j;
    if (j == i) fail("HEALTHCHECK --{}={}: not a duration such as 30s or 1m30s", flag, s);
    double n = std::stod(s.substr(i, j - i));
    size_t k = j;
    while (k < s.size() && std::isalpha(static_cast<unsigned char>(s[k]))) ++k;
    std::string unit = s.substr(j, k - j);
    double mult = unit == "ns"   ? 1
                  : unit == "us" ? 1e3
                  : unit == "ms" ? 1e6
                  : unit == "s"  ? 1e9
                  : unit == "m"  ? 60e9
                  : unit == "h"  ? 3600e9
                                 : -1;
    if (mult < 0) fail("HEALTHCHECK --{}={}: not a duration such as 30s or 1m30s", flag, s);
    total += static_cast<int64_t>(n * mult);
    i = k;
  }
  return total;
}

}  // namespace

void apply_instruction(json& cfg, const image::dockerfile::Instruction& ins,
                       const image::dockerfile::Lookup& lookup, char escape) {
  namespace df = image::dockerfile;
  const std::string& k = ins.keyword;
  if (k == "CMD" || k == "ENTRYPOINT") {
    std::string key = k == "CMD" ? "Cmd" : "Entrypoint";
    std::vector<std::string> shell = {"/bin/sh", "-c"};
    if (cfg.contains("Shell") && cfg["Shell"].is_array() && !cfg["Shell"].empty())
      shell = cfg["Shell"].get<std::vector<std::string>>();
    auto cmd = df::command(ins, shell);
    if (cmd.empty())
      cfg[key] = nullptr;
    else
      cfg[key] = cmd;
    // A new ENTRYPOINT drops the base image's CMD.
    if (k == "ENTRYPOINT") cfg.erase("Cmd");
  } else if (k == "ENV") {
    for (const auto& [name, value] : df::key_values(k, ins.args, lookup, escape)) {
      json env = json::array();
      if (cfg.contains("Env") && cfg["Env"].is_array())
        for (const auto& e : cfg["Env"])
          if (e.get<std::string>().rfind(name + "=", 0) != 0) env.push_back(e);
      env.push_back(name + "=" + value.value_or(""));
      cfg["Env"] = env;
    }
  } else if (k == "LABEL") {
    for (const auto& [name, value] : df::key_values(k, ins.args, lookup, escape))
      cfg["Labels"][name] = value.value_or("");
  } else if (k == "EXPOSE") {
    for (auto port : df::words(ins.args, lookup, escape)) {
      if (port.find('/') == std::string::npos) port += "/tcp";
      cfg["ExposedPorts"][port] = json::object();
    }
  } else if (k == "VOLUME") {
    auto paths = ins.json ? *ins.json : df::words(ins.args, lookup, escape);
    for (const auto& p : paths) {
      if (p.empty()) fail("VOLUME: an empty path");
      cfg["Volumes"][p] = json::object();
    }
  } else if (k == "USER") {
    cfg["User"] = df::expand(ins.args, lookup, escape);
  } else if (k == "WORKDIR") {
    std::string dir = df::expand(ins.args, lookup, escape);
    if (dir.empty() || dir[0] != '/') dir = cfg.value("WorkingDir", "/") + "/" + dir;
    // Cleaned: no "//", no trailing '/'.
    std::string clean;
    for (char c : dir)
      if (!(c == '/' && !clean.empty() && clean.back() == '/')) clean += c;
    if (clean.size() > 1 && clean.back() == '/') clean.pop_back();
    cfg["WorkingDir"] = clean;
  } else if (k == "STOPSIGNAL") {
    cfg["StopSignal"] = df::expand(ins.args, lookup, escape);
  } else if (k == "SHELL") {
    if (!ins.json || ins.json->empty())
      fail("SHELL needs the JSON form: SHELL [\"/bin/sh\", \"-c\"]");
    cfg["Shell"] = *ins.json;
  } else if (k == "HEALTHCHECK") {
    json hc = json::object();
    for (const auto& [flag, value] : ins.flags) {
      if (flag == "interval" || flag == "timeout" || flag == "start-period" ||
          flag == "start-interval") {
        std::string key = flag == "interval"       ? "Interval"
                          : flag == "timeout"      ? "Timeout"
                          : flag == "start-period" ? "StartPeriod"
                                                   : "StartInterval";
        hc[key] = parse_duration(flag, value);
      } else if (flag == "retries") {
        hc["Retries"] = std::stoi(value);
      } else {
        fail("HEALTHCHECK: unknown flag --{}", flag);
      }
    }
    std::string rest = ins.args;
    std::string word = rest.substr(0, rest.find_first_of(" \t"));
    for (auto& c : word) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (word == "NONE") {
      cfg["Healthcheck"] = {{"Test", {"NONE"}}};
      return;
    }
    if (word != "CMD") fail("HEALTHCHECK: CMD or NONE, not \"{}\"", rest);
    std::string cmd = rest.size() > 3 ? rest.substr(4) : "";
    while (!cmd.empty() && (cmd[0] == ' ' || cmd[0] == '\t')) cmd.erase(0, 1);
    auto parsed = df::parse("FROM scratch\nCMD " + cmd, "HEALTHCHECK").instructions.at(1);
    json test = json::array();
    if (parsed.json) {
      test.push_back("CMD");
      for (const auto& a : *parsed.json) test.push_back(a);
    } else {
      test = {"CMD-SHELL", cmd};
    }
    hc["Test"] = test;
    cfg["Healthcheck"] = hc;
  } else if (k == "ONBUILD") {
    cfg["OnBuild"].push_back(ins.args);
  } else {
    fail(
        "{} cannot be changed this way (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, "
        "VOLUME, WORKDIR, SHELL, HEALTHCHECK)",
        k);
  }
}

void apply_change(json& cfg, const std::string& line) {
  auto file = image::dockerfile::parse("FROM scratch\n" + line, "--change");
  if (file.instructions.size() != 2) fail("--change \"{}\": one instruction per --change", line);
  auto env_lookup = [&cfg](const std::string& name) -> std::optional<std::string> {
    if (cfg.contains("Env"))
      for (const auto& e : cfg["Env"]) {
        std::string s = e.get<std::string>();
        if (s.rfind(name + "=", 0) == 0) return s.substr(name.size() + 1);
      }
    return std::nullopt;
  };
  const auto& ins = file.instructions[1];
  if (ins.keyword == "ONBUILD") fail("--change \"{}\": ONBUILD cannot be changed this way", line);
  try {
    apply_instruction(cfg, ins, env_lookup, '\\');
  } catch (const Error& e) {
    fail("--change \"{}\": {}", line, e.what());
  }
}

ImageRecord commit_container(Store& store, const std::string& ref, const std::string& name,
                             const CommitOptions& opts) {
  auto c = find_or_fail(store, ref);
  auto img = store.image_by_id(c.image_id);
  if (!img) fail("the image of container {} is gone", c.name);
  std::string upper = overlay_upper_of(store, c);
  json config = image_config(store, *img);
  json section = config.value("config", json::object());
  for (const auto& ch : opts.changes) apply_change(section, ch);
  config["config"] = section;
  config["container"] = c.id;
  HistoryEntry h;
  h.created_by = "vessel commit " + c.name;
  h.comment = opts.message;
  h.author = opts.author;
  std::vector<std::string> tags;
  if (!name.empty()) tags.push_back(local_image_name(name));
  bool paused = false;
  if (opts.pause && c.state == "running") {
    pause_container(store, c.id, true);
    paused = true;
  }
  try {
    auto out = commit_upper(store, &*img, config, upper, h, tags);
    if (paused) pause_container(store, c.id, false);
    return out;
  } catch (...) {
    if (paused) pause_container(store, c.id, false);
    throw;
  }
}

std::string local_image_name(const std::string& ref) {
  std::string name = normalize_image_name(ref);
  return name.find('/') == std::string::npos ? "localhost/" + name : name;
}

}  // namespace vessel::manager
