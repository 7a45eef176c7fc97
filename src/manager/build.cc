#include "manager/build.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <optional>

#include "image/archive.h"
#include "image/digest.h"
#include "image/dockerfile.h"
#include "image/http_download.h"
#include "image/media_types.h"
#include "image/platform.h"
#include "linux/path.h"
#include "manager/attach.h"
#include "manager/build_copy.h"
#include "manager/build_mount.h"
#include "manager/commit.h"
#include "manager/containers.h"
#include "manager/images.h"
#include "manager/rootfs.h"
#include "manager/rootless.h"
#include "manager/spec_builder.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"
#include "util/scratch.h"

namespace vessel::manager {

using nlohmann::json;
namespace df = image::dockerfile;

namespace {

void ensure_cache_table(Store& store) {
  store.db().exec(
      "CREATE TABLE IF NOT EXISTS build_cache (key TEXT NOT NULL, image_id TEXT NOT NULL, "
      "created TEXT NOT NULL, PRIMARY KEY (key, image_id))");
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A directory under the store's tmp, removed with what it holds.
struct TempDir {
  explicit TempDir(std::string p) : path(std::move(p)) { mkdir_p(path, 0700); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    try {
      remove_tree(path);
    } catch (const Error&) {
    }
  }
  std::string path;
};

struct StageState {
  std::string name;                  // AS name (lower case), or ""
  std::optional<ImageRecord> image;  // nullopt: FROM scratch with nothing made yet
  json config;                       // the whole image config
  std::map<std::string, std::optional<std::string>> args;  // declared ARGs of this stage
};

class Builder {
 public:
  Builder(Store& store, const BuildOptions& o) : store_(store), o_(o) {}

  ImageRecord run() {
    std::string file = o_.file;
    if (file.empty()) {
      file = o_.context + "/Containerfile";
      if (!path_exists(file)) file = o_.context + "/Dockerfile";
    }
    if (!path_exists(file)) fail("no Containerfile or Dockerfile in {} (use -f FILE)", o_.context);
    std::string name = file.substr(file.rfind('/') + 1);
    df_ = df::parse(read_file(file), name);
    ignore_ = IgnoreRules::load(o_.context);
    for (const auto& [k, v] : o_.build_args) build_args_[k] = v;
    ensure_cache_table(store_);

    // Meta ARGs (before the first FROM) and the stages.
    size_t i = 0;
    for (; i < df_.instructions.size() && df_.instructions[i].keyword == "ARG"; ++i)
      declare_args(df_.instructions[i], meta_args_, meta_args_);
    std::vector<std::pair<size_t, size_t>> stages;  // [begin, end) of each stage
    for (size_t j = i; j < df_.instructions.size(); ++j)
      if (df_.instructions[j].keyword == "FROM") {
        if (!stages.empty()) stages.back().second = j;
        stages.push_back({j, df_.instructions.size()});
      }
    size_t last = stages.size() - 1;
    if (!o_.target.empty()) {
      bool found = false;
      for (size_t s = 0; s < stages.size() && !found; ++s)
        if (stage_name(df_.instructions[stages[s].first]) == lower(o_.target)) {
          last = s;
          found = true;
        }
      if (!found) fail("--target {}: no stage with that name in {}", o_.target, df_.name);
    }
    total_ = static_cast<int>(stages[last].second - stages[0].first);

    for (size_t s = 0; s <= last; ++s) {
      StageState st;
      for (size_t j = stages[s].first; j < stages[s].second; ++j) step(st, df_.instructions[j]);
      done_.push_back(std::move(st));
    }
    StageState& final = done_.back();
    if (!o_.labels.empty()) {
      json cfg = final.config;
      std::string text = "LABEL";
      for (const auto& [k, v] : o_.labels) {
        cfg["config"]["Labels"][k] = v;
        text += " " + k + "=" + v;
      }
      cached(final, "--label\n" + cfg.dump(), [&]() -> ImageRecord {
        return commit_upper(store_, final.image ? &*final.image : nullptr, cfg, "",
                            {text, "", "", true}, {});
      });
    }
    if (!final.image)
      final.image =
          commit_upper(store_, nullptr, final.config, "", {"FROM scratch", "", "", true}, {});
    in_format(final);
    for (const auto& t : o_.tags) {
      store_.tag_image(final.image->id, local_image_name(t));
      say("COMMIT " + local_image_name(t));
    }
    return *store_.image_by_id(final.image->id);
  }

 private:
  void say(const std::string& line) {
    if (o_.out) o_.out(line + "\n");
  }

  // What the OCI image format cannot hold, by config key: the instruction that sets it.
  static constexpr std::pair<const char*, const char*> kNotInOci[] = {
      {"Healthcheck", "HEALTHCHECK"}, {"Shell", "SHELL"}, {"OnBuild", "ONBUILD"}};

  void warn_not_in_oci(const std::string& instruction) {
    if (o_.format != "oci" || !warned_.insert(instruction).second) return;
    log::warn(
        fmt::format("{}: the OCI image format has no place for it: the image is made without it "
                    "(--format docker keeps it)",
                    instruction));
  }

  // The final image with the media types asked for: an OCI image loses what OCI configs
  // cannot hold; a docker one gets a Docker schema 2 manifest (the same config and layers).
  void in_format(StageState& final) {
    const bool docker = o_.format == "docker";
    json cfg = image_config(store_, *final.image);
    bool changed = false;
    if (!docker && cfg.contains("config") && cfg["config"].is_object()) {
      for (const auto& [key, instruction] : kNotInOci)
        if (cfg["config"].contains(key)) {
          warn_not_in_oci(instruction);
          cfg["config"].erase(key);
          changed = true;
        }
    }
    const bool is_docker = image::manifest_media_type(final.image->manifest_digest,
                                                      store_.blobs()) == image::kDockerManifest;
    if (!changed && is_docker == docker) return;
    if (!changed && final.image->id == base_id_) {
      // Nothing was made (FROM only): the base image keeps its own manifest, the build gets
      // an image of its own.
      final.image = commit_upper(store_, &*final.image, cfg, "",
                                 {"vessel build --format " + o_.format, "", "", true}, {});
    }
    std::vector<image::LayerRef> layers;
    for (const auto& l : final.image->layers)
      layers.push_back({l.blob_digest, l.media_type, l.size, l.diff_id});
    auto format = docker ? image::ManifestFormat::docker : image::ManifestFormat::oci;
    image::StoredImage stored;
    try {
      stored = changed ? image::store_image(cfg, layers, store_.blobs(), format)
                       : image::store_image_with_config(final.image->config_digest, layers,
                                                        store_.blobs(), format);
    } catch (const Error& e) {
      fail("--format {}: {}", o_.format, e.what());
    }
    std::string from = final.image->id;
    final.image = register_images(store_, {stored}).at(0);
    // Recorded with the build's steps: an untagged earlier one is cache, not a dangling image.
    image::Sha256 h;
    h.update(from + "\n--format " + o_.format);
    store_.db()
        .prepare("INSERT OR REPLACE INTO build_cache (key, image_id, created) VALUES (?,?,?)")
        .bind(h.digest(), final.image->id, now_rfc3339())
        .run();
  }

  std::string where(const df::Instruction& ins) const {
    return fmt::format("{}:{}: STEP {}/{}: {}", df_.name, ins.line, step_, total_, ins.text);
  }

  static std::string stage_name(const df::Instruction& from) {
    auto w = df::words(from.args, [](const std::string&) { return std::nullopt; });
    return w.size() == 3 && lower(w[1]) == "as" ? lower(w[2]) : "";
  }

  void declare_args(const df::Instruction& ins,
                    std::map<std::string, std::optional<std::string>>& into,
                    const std::map<std::string, std::optional<std::string>>& visible) {
    auto lookup = [&](const std::string& n) -> std::optional<std::string> {
      auto it = visible.find(n);
      if (it != visible.end()) return it->second;
      return std::nullopt;
    };
    for (auto& [k, v] : df::key_values("ARG", ins.args, lookup, df_.escape)) {
      std::optional<std::string> value = v;
      if (auto b = build_args_.find(k); b != build_args_.end())
        value = b->second;
      else if (!v) {
        // `ARG NAME` in a stage takes the meta ARG's value.
        if (auto m = meta_args_.find(k); m != meta_args_.end()) value = m->second;
      }
      into[k] = value;
    }
  }

  // Variables: the config's Env first, then the stage's ARGs.
  df::Lookup lookup(const StageState& st) const {
    return [&st](const std::string& n) -> std::optional<std::string> {
      const json& env = st.config.value("config", json::object()).value("Env", json::array());
      for (const auto& e : env) {
        std::string s = e.get<std::string>();
        if (s.rfind(n + "=", 0) == 0) return s.substr(n.size() + 1);
      }
      if (auto it = st.args.find(n); it != st.args.end()) return it->second;
      return std::nullopt;
    };
  }

  void from(StageState& st, const df::Instruction& ins) {
    base_id_.clear();
    if (ins.flag("platform"))
      fail("{}: --platform is not supported (builds are for this host)", where(ins));
    for (const auto& [k, v] : ins.flags)
      if (k != "platform") fail("{}: unknown flag --{}", where(ins), k);
    auto meta = [this](const std::string& n) -> std::optional<std::string> {
      if (auto it = meta_args_.find(n); it != meta_args_.end()) return it->second;
      return std::nullopt;
    };
    auto w = df::words(ins.args, meta, df_.escape);
    if (w.size() != 1 && !(w.size() == 3 && lower(w[1]) == "as"))
      fail("{}: FROM IMAGE [AS NAME]", where(ins));
    st.name = w.size() == 3 ? lower(w[2]) : "";
    std::string ref = w[0];
    if (lower(ref) == "scratch") {
      st.config = {{"architecture", image::host_architecture()},
                   {"os", "linux"},
                   {"config", json::object()}};
      return;
    }
    for (const auto& d : done_)
      if (!d.name.empty() && d.name == lower(ref)) {
        st.image = d.image;
        st.config = d.config;
        if (!st.image) st.config = d.config;
        return;
      }
    try {
      st.image = resolve_image(store_, ref);
    } catch (const Error& e) {
      fail("{}: {}", where(ins), e.what());
    }
    st.config = image_config(store_, *st.image);
    base_id_ = st.image->id;
  }

  // Looks the step up in the cache, or runs `make` and records what it made.
  void cached(StageState& st, const std::string& key_text,
              const std::function<ImageRecord()>& make) {
    image::Sha256 h;
    std::string parent = st.image ? st.image->id : "scratch";
    h.update(parent + "\n" + key_text);
    std::string key = h.digest();
    if (!o_.no_cache) {
      auto q = store_.db().prepare(
          "SELECT image_id FROM build_cache WHERE key=? ORDER BY created DESC LIMIT 1");
      q.bind(key);
      if (q.step())
        if (auto img = store_.image_by_id(q.text(0))) {
          say("--> Using cache " + img->id);
          st.image = *img;
          st.config = image_config(store_, *img);
          say("--> " + short_id(img->id));
          return;
        }
    }
    auto img = make();
    store_.db()
        .prepare("INSERT OR REPLACE INTO build_cache (key, image_id, created) VALUES (?,?,?)")
        .bind(key, img.id, now_rfc3339())
        .run();
    st.image = img;
    st.config = image_config(store_, img);
    say("--> " + short_id(img.id));
  }

  // The ARGs with values, as KEY=VALUE, for RUN's environment and the cache key.
  std::vector<std::string> arg_env(const StageState& st) const {
    std::vector<std::string> out;
    const json& env = st.config.value("config", json::object()).value("Env", json::array());
    for (const auto& [k, v] : st.args) {
      if (!v) continue;
      bool shadowed = false;
      for (const auto& e : env) shadowed |= e.get<std::string>().rfind(k + "=", 0) == 0;
      if (!shadowed) out.push_back(k + "=" + *v);
    }
    return out;
  }

  ImageRecord empty_base() const { return ImageRecord{}; }

  void run_step(StageState& st, const df::Instruction& ins) {
    for (const auto& [k, v] : ins.flags) fail("{}: RUN --{} is not supported", where(ins), k);
    std::vector<std::string> shell = {"/bin/sh", "-c"};
    const json& cfg = st.config.value("config", json::object());
    if (cfg.contains("Shell") && cfg["Shell"].is_array() && !cfg["Shell"].empty())
      shell = cfg["Shell"].get<std::vector<std::string>>();
    auto cmd = df::command(ins, shell);
    if (cmd.empty()) fail("{}: RUN needs a command", where(ins));
    auto env = arg_env(st);
    std::string key = "RUN " + json(cmd).dump() + "\n" + json(env).dump();
    cached(st, key, [&]() -> ImageRecord {
      if (!st.image)
        st.image = commit_upper(store_, nullptr, st.config, "", {"FROM scratch", "", "", true}, {});
      RunOptions ro;
      ro.image = st.image->id;
      // The builder's PID in the name: a build killed with SIGKILL leaves the container, and
      // the next build removes it (remove_stale_build_containers).
      ro.name = scratch_prefix("vessel-build") + random_hex_id().substr(0, 12);
      ro.entrypoint = std::vector<std::string>{};
      ro.command = cmd;
      ro.env = env;
      ro.networks = {o_.network};
      auto rec = create_container(store_, ro);
      int code = -1;
      std::string upper = container_dir(store_, rec.id) + "/upper";
      try {
        auto sr = start_container(store_, rec.id, true);
        for (;;) {
          auto f = read_frame(sr.stream.get());
          if (!f) fail("{}: the container's monitor went away", where(ins));
          if (f->type == Frame::stdout_data || f->type == Frame::stderr_data) {
            if (!o_.quiet && o_.out) o_.out(f->data);
          } else if (f->type == Frame::exited) {
            code = std::stoi(f->data);
            break;
          } else if (f->type == Frame::error) {
            fail("{}: {}", where(ins), f->data);
          }
        }
        if (code != 0) fail("{}: exited with code {}", where(ins), code);
        auto out =
            commit_upper(store_, &*st.image, st.config, upper, {ins.text, "", "", false}, {});
        remove_container(store_, rec.id, true, true);
        return out;
      } catch (...) {
        try {
          remove_container(store_, rec.id, true, true);
        } catch (const Error&) {
        }
        throw;
      }
    });
  }

  void copy_step(StageState& st, const df::Instruction& ins) {
    CopySpec spec;
    spec.what = ins.keyword;
    spec.add = ins.keyword == "ADD";
    spec.ignore = &ignore_;
    spec.source_root = o_.context;
    std::optional<std::string> chown, from;
    for (const auto& [k, v] : ins.flags) {
      if (k == "chown")
        chown = df::expand(v, lookup(st), df_.escape);
      else if (k == "chmod")
        spec.chmod = parse_chmod(v);
      else if (k == "from" && ins.keyword == "COPY")
        from = df::expand(v, lookup(st), df_.escape);
      else if (k == "link")
        continue;
      else
        fail("{}: unknown flag --{}", where(ins), k);
    }
    auto args = ins.json ? *ins.json : df::words(ins.args, lookup(st), df_.escape);
    if (args.size() < 2) fail("{}: {} needs a source and a destination", where(ins), ins.keyword);
    std::vector<std::string> urls;
    for (auto it = args.begin(); it != args.end() - 1; ++it) {
      const std::string& s = *it;
      bool http = s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0;
      if (http && spec.add)
        urls.push_back(s);
      else if (http || s.rfind("git@", 0) == 0 || s.rfind("git://", 0) == 0)
        fail("{}: {} of {} is not supported{}", where(ins), ins.keyword, s,
             http ? " (ADD downloads a URL)" : ": clone it in a RUN step");
      else
        spec.sources.push_back(s);
    }
    std::string dest = args.back();
    const json& cfg = st.config.value("config", json::object());
    if (dest.empty() || dest[0] != '/') {
      std::string wd = cfg.value("WorkingDir", "");
      if (wd.empty()) wd = "/";
      dest = (wd == "/" ? "" : wd) + "/" + (dest == "." ? "" : dest);
      if (args.back() == "." || args.back().back() == '/') {
        if (dest.back() != '/') dest += '/';
      }
    }
    spec.dest = dest;

    std::optional<ImageRecord> from_image;
    if (from) {
      for (size_t i = 0; i < done_.size() && !from_image; ++i)
        if (done_[i].name == lower(*from) || std::to_string(i) == *from) {
          if (!done_[i].image) fail("{}: stage {} has no files (FROM scratch)", where(ins), *from);
          from_image = done_[i].image;
        }
      if (!from_image) {
        try {
          from_image = resolve_image(store_, *from);
        } catch (const Error&) {
          fail("{}: --from={}: no such stage or image", where(ins), *from);
        }
      }
    }
    std::optional<StepMount> src;
    if (from_image) {
      src.emplace(store_, *from_image, true);
      spec.source_root = src->rootfs();
      spec.source_is_rootfs = true;
    }
    if (!urls.empty() && args.size() > 2 && spec.dest.back() != '/')
      fail("{}: with more than one source the destination must be a directory ending in \"/\"",
           where(ins));
    std::string digest;
    try {
      // A --from source mounted only in a user's namespace is read there.
      if (!spec.sources.empty())
        digest = src ? src->run([&](int) { return copy_digest(spec); }) : copy_digest(spec);
    } catch (const Error& e) {
      fail("{}: {}", where(ins), e.what());
    }
    // ADD of a URL: downloaded on every build (its content is part of the cache key).
    std::optional<TempDir> downloads;
    std::vector<CopySpec> url_specs;
    for (size_t i = 0; i < urls.size(); ++i) {
      if (!downloads)
        downloads.emplace(store_.paths().tmp() + "/add-" + random_hex_id().substr(0, 16));
      std::string name = image::url_file_name(urls[i]);
      if (name.empty() && spec.dest.back() == '/')
        fail("{}: {} names no file: give the destination a file name", where(ins), urls[i]);
      if (name.empty()) name = "download";
      std::string dir = downloads->path + "/" + std::to_string(i);
      mkdir_p(dir, 0700);
      image::Download d;
      try {
        d = image::http_download(urls[i], dir + "/" + name);
      } catch (const Error& e) {
        fail("{}: {}", where(ins), e.what());
      }
      if (d.mtime >= 0) {
        struct timespec times[2] = {{d.mtime, 0}, {d.mtime, 0}};
        ::utimensat(AT_FDCWD, (dir + "/" + name).c_str(), times, AT_SYMLINK_NOFOLLOW);
      }
      digest += "\n" + urls[i] + " " + d.digest + " " + std::to_string(d.mtime);
      CopySpec u = spec;
      u.add = false;  // a downloaded archive is not unpacked
      u.source_root = dir;
      u.source_is_rootfs = false;
      u.ignore = nullptr;
      u.sources = {name};
      url_specs.push_back(std::move(u));
    }
    std::string key = ins.text + "\n" + digest + "\n" + (from_image ? from_image->id : "");
    cached(st, key, [&]() -> ImageRecord {
      ImageRecord base = st.image ? *st.image : empty_base();
      StepMount m(store_, base, false);
      std::vector<std::string> chown_later;
      spec.chown_later = &chown_later;
      try {
        // Where run() works in a child process (a user's), spec's ids are resolved there too.
        m.run(
            [&](int rootfd) {
              if (chown) {
                auto u = resolve_user(rootfd, *chown);
                spec.uid = u.uid;
                spec.gid = u.gid;
              }
              if (!spec.sources.empty()) copy_into(rootfd, spec);
              for (auto& u : url_specs) {
                u.uid = spec.uid;
                u.gid = spec.gid;
                u.chown_later = &chown_later;
                copy_into(rootfd, u);
              }
              return std::string();
            },
            src ? &*src : nullptr);
      } catch (const Error& e) {
        fail("{}: {}", where(ins), e.what());
      }
      m.unmount();
      // An ordinary user: --chown's ids are subordinate ids on the host, given from a user
      // namespace with the user's mapping (the layer records them as the container's).
      if (!chown_later.empty()) {
        std::string upper = m.upper();
        uid_t uid = spec.uid.value_or(0);
        gid_t gid = spec.gid.value_or(0);
        if (!in_user_namespace([&] {
              for (const auto& p : chown_later)
                if (::lchown((upper + p).c_str(), uid, gid) != 0) return false;
              return true;
            }))
          fail("{}: --chown={}:{}: the user's subordinate ids could not be given", where(ins), uid,
               gid);
      }
      return commit_upper(store_, st.image ? &*st.image : nullptr, st.config, m.upper(),
                          {ins.text, "", "", false}, {});
    });
  }

  void workdir_step(StageState& st, const df::Instruction& ins) {
    json section = st.config.value("config", json::object());
    apply_instruction(section, ins, lookup(st), df_.escape);
    std::string dir = section.value("WorkingDir", "/");
    cached(st, "WORKDIR " + dir, [&]() -> ImageRecord {
      json cfg = st.config;
      cfg["config"] = section;
      ImageRecord base = st.image ? *st.image : empty_base();
      StepMount m(store_, base, false);
      m.run([&](int rootfd) {
        linux::open_in_root(rootfd, dir, linux::Create::dir, 0755);
        return std::string();
      });
      m.unmount();
      bool changed = !list_dir_empty(m.upper());
      return commit_upper(store_, st.image ? &*st.image : nullptr, cfg, changed ? m.upper() : "",
                          {ins.text, "", "", !changed}, {});
    });
  }

  static bool list_dir_empty(const std::string& path) {
    auto r = ::opendir(path.c_str());
    if (!r) return true;
    int n = 0;
    while (auto* e = ::readdir(r))
      n += std::string(e->d_name) != "." && std::string(e->d_name) != "..";
    ::closedir(r);
    return n == 0;
  }

  void config_step(StageState& st, const df::Instruction& ins) {
    if (ins.keyword == "HEALTHCHECK" || ins.keyword == "SHELL") warn_not_in_oci(ins.keyword);
    json section = st.config.value("config", json::object());
    try {
      apply_instruction(section, ins, lookup(st), df_.escape);
    } catch (const Error& e) {
      fail("{}: {}", where(ins), e.what());
    }
    cached(st, ins.keyword + "\n" + section.dump(), [&]() -> ImageRecord {
      json cfg = st.config;
      cfg["config"] = section;
      return commit_upper(store_, st.image ? &*st.image : nullptr, cfg, "",
                          {ins.text, "", "", true}, {});
    });
  }

  void step(StageState& st, const df::Instruction& ins) {
    ++step_;
    say(fmt::format("STEP {}/{}: {}", step_, total_, ins.text));
    const std::string& k = ins.keyword;
    if (k == "FROM") return from(st, ins);
    if (k == "ARG") {
      std::map<std::string, std::optional<std::string>> visible = st.args;
      declare_args(ins, st.args, visible);
      return;
    }
    if (k == "RUN") return run_step(st, ins);
    if (k == "COPY" || k == "ADD") return copy_step(st, ins);
    if (k == "WORKDIR") return workdir_step(st, ins);
    if (k == "MAINTAINER") {
      // Deprecated: kept as the author, as docker does.
      st.config["author"] = ins.args;
      return;
    }
    if (k == "ONBUILD") fail("{}: ONBUILD is not supported", where(ins));
    config_step(st, ins);
  }

  Store& store_;
  const BuildOptions& o_;
  df::File df_;
  IgnoreRules ignore_;
  std::map<std::string, std::string> build_args_;
  std::map<std::string, std::optional<std::string>> meta_args_;
  std::vector<StageState> done_;
  int step_ = 0, total_ = 0;
  std::string base_id_;           // the last FROM's image (none for scratch)
  std::set<std::string> warned_;  // instructions warned about (--format oci)
};

// The RUN containers of builds whose process is gone (killed with SIGKILL).
void remove_stale_build_containers(Store& store) {
  for (const auto& c : store.containers()) {
    if (c.name.rfind("vessel-build-p", 0) != 0 || !scratch_is_stale(c.name)) continue;
    try {
      remove_container(store, c.id, true, true);
    } catch (const Error& e) {
      log::warn(fmt::format("removing the stale build container {}: {}", c.name, e.what()));
    }
  }
}

}  // namespace

ImageRecord build_image(Store& store, const BuildOptions& opts) {
  struct stat st {};
  if (::stat(opts.context.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    fail("build context {}: not a directory", opts.context);
  if (opts.network.empty()) fail("--network: none, host or a network's name");
  if (opts.format != "oci" && opts.format != "docker")
    fail("--format {}: oci or docker", opts.format);
  remove_stale_build_containers(store);
  Builder b(store, opts);
  return b.run();
}

std::set<std::string> build_cache_images(Store& store) {
  ensure_cache_table(store);
  std::set<std::string> out;
  auto q = store.db().prepare("SELECT image_id FROM build_cache");
  while (q.step()) out.insert(q.text(0));
  return out;
}

}  // namespace vessel::manager
