#include "manager/check.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <set>

#include "image/digest.h"
#include "manager/rootless.h"
#include "util/blob_claims.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"
#include "util/scratch.h"

namespace vessel::manager {
namespace {

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (struct dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") out.push_back(n);
    }
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Whether anything is mounted at or below `path` (a container directory with its rootfs still
// mounted is never removed).
bool has_mounts_below(const std::string& path) {
  std::string table;
  try {
    table = read_file("/proc/self/mountinfo");
  } catch (const Error&) {
    return true;
  }
  size_t pos = 0;
  while (pos < table.size()) {
    size_t end = table.find('\n', pos);
    if (end == std::string::npos) end = table.size();
    std::string line = table.substr(pos, end - pos);
    pos = end + 1;
    // Field 5 is the mount point (octal escapes are rare in our paths and only make a miss).
    size_t f = 0;
    for (int i = 0; i < 4 && f != std::string::npos; ++i) f = line.find(' ', f + 1);
    if (f == std::string::npos) continue;
    size_t e = line.find(' ', f + 1);
    std::string mp = line.substr(f + 1, e - f - 1);
    if (mp == path || mp.rfind(path + "/", 0) == 0) return true;
  }
  return false;
}

class Checker {
 public:
  Checker(Store& store, bool repair) : store_(store), repair_(repair) {}

  CheckReport run() {
    check_database();
    check_blobs();
    check_layers();
    check_containers();
    check_tmp();
    return std::move(report_);
  }

 private:
  // Records a finding; `fix` runs with --repair and says whether it worked.
  template <typename Fix>
  void found(std::string kind, std::string path, std::string detail, Fix&& fix) {
    CheckFinding f{std::move(kind), std::move(path), std::move(detail), false};
    if (repair_) {
      try {
        f.repaired = fix();
      } catch (const std::exception& e) {
        f.detail += fmt::format(" (repair failed: {})", e.what());
      }
    }
    report_.findings.push_back(std::move(f));
  }
  void found(std::string kind, std::string path, std::string detail) {
    found(std::move(kind), std::move(path), std::move(detail), [] { return false; });
  }

  void check_database() {
    Database& db = store_.db();
    auto mode = db.prepare("PRAGMA journal_mode");
    std::string journal = mode.step() ? mode.text(0) : "";
    if (journal != "wal")
      found("journal-mode", db.path(), fmt::format("journal mode is \"{}\", not wal", journal),
            [&] {
              auto st = store_.db().prepare("PRAGMA journal_mode=WAL");
              return st.step() && st.text(0) == "wal";
            });
    auto integrity = db.prepare("PRAGMA integrity_check");
    std::string verdict = integrity.step() ? integrity.text(0) : "no answer";
    if (verdict != "ok") found("database", db.path(), "integrity_check: " + verdict);
  }

  void check_blobs() {
    image::BlobStore& blobs = store_.blobs();
    std::string dir = blobs.root() + "/blobs/sha256";
    // The claims first (util/blob_claims.h): a blob a live command claimed is not an orphan
    // yet, its image is recorded when the command is done.
    ClaimsLock claims(store_.paths().blob_claims());
    std::set<std::string> referenced;
    for (const auto& d : store_.referenced_blobs()) referenced.insert(d);
    referenced.insert(claims.live.begin(), claims.live.end());
    std::set<std::string> good;
    for (const std::string& name : entries(dir)) {
      if (scratch_owner(name) && !scratch_is_stale(name)) continue;  // a command at work
      ++report_.blobs;
      std::string path = dir + "/" + name;
      std::string digest = "sha256:" + name;
      struct stat st;
      if (!image::is_valid_digest(digest) || ::lstat(path.c_str(), &st) != 0 ||
          !S_ISREG(st.st_mode)) {
        found("orphan-blob", path, "not a blob (name or file type)", [&] {
          remove_tree(path);
          return true;
        });
        continue;
      }
      std::string actual = image::sha256_file_digest(path);
      if (actual != digest) {
        found("corrupt-blob", path, fmt::format("content is {}, not {}", actual, digest), [&] {
          remove_tree(path);
          return true;
        });
        continue;
      }
      good.insert(digest);
      if (!referenced.count(digest))
        found("orphan-blob", path, "no image uses it", [&] {
          remove_tree(path);
          return true;
        });
    }
    for (const ImageRecord& img : store_.images()) {
      ++report_.images;
      std::vector<std::string> needed = {img.manifest_digest, img.config_digest};
      for (const auto& l : img.layers) needed.push_back(l.blob_digest);
      for (const std::string& d : needed)
        if (!good.count(d))
          found("missing-blob", blobs.path(d),
                fmt::format("image {} needs blob {}, which is missing or corrupt: pull or load "
                            "the image again, or remove it",
                            short_id(img.id), d));
    }
  }

  void check_layers() {
    const StorePaths& paths = store_.paths();
    std::set<std::string> rows;
    auto st = store_.db().prepare("SELECT diff_id, unpacked FROM layers");
    std::vector<std::pair<std::string, bool>> layer_rows;
    while (st.step()) layer_rows.emplace_back(st.text(0), st.integer(1) != 0);
    for (const auto& [diff_id, unpacked] : layer_rows) {
      ++report_.layers;
      std::string dir;
      try {
        dir = paths.layer(diff_id);
      } catch (const Error& e) {
        found("bad-layer-row", paths.db(), e.what(), [&] {
          store_.forget_layer(diff_id);
          return true;
        });
        continue;
      }
      rows.insert(dir.substr(dir.rfind('/') + 1));
      if (unpacked && !path_exists(dir))
        found("missing-layer", dir,
              fmt::format("layer {} is recorded as unpacked, its directory is gone", diff_id), [&] {
                store_.forget_layer(diff_id);  // unpacked again when an image needs it
                return true;
              });
    }
    for (const std::string& name : entries(paths.layers())) {
      std::string path = paths.layers() + "/" + name;
      // Rows of layers no image uses any more are the garbage collector's (it removes the
      // directory with the row); a directory without any row is an interrupted unpack's.
      if (rows.count(name) || has_mounts_below(path)) continue;
      found("orphan-layer", path, "a layer directory without a database row", [&] {
        remove_container_tree(path);  // a user's: subordinate ids' too
        return true;
      });
    }
    // A user's keep-id copies (manager/rootfs_keep_id.h) go with their layer's row.
    std::string keep_id_root = paths.root + "/layers-keep-id";
    for (const std::string& name : entries(keep_id_root)) {
      std::string path = keep_id_root + "/" + name;
      if (rows.count(name) || has_mounts_below(path)) continue;
      found("orphan-layer", path, "a keep-id layer copy without a database row", [&] {
        remove_container_tree(path);
        return true;
      });
    }
  }

  void check_containers() {
    const StorePaths& paths = store_.paths();
    std::set<std::string> ids;
    for (const ContainerRecord& c : store_.containers()) {
      ++report_.containers;
      ids.insert(c.id);
      if (!path_exists(paths.container(c.id)))
        found("missing-container-dir", paths.container(c.id),
              fmt::format("container {} ({}) has no directory: remove it with vessel rm -f", c.name,
                          short_id(c.id)));
    }
    for (const std::string& name : entries(paths.containers())) {
      if (ids.count(name)) continue;
      std::string path = paths.container(name);
      if (has_mounts_below(path)) {
        found("orphan-container-dir", path, "no container row, and something is mounted in it");
        continue;
      }
      found("orphan-container-dir", path, "a container directory without a database row", [&] {
        remove_container_tree(path);  // a user's: subordinate ids' too
        return true;
      });
    }
  }

  void check_tmp() {
    const StorePaths& paths = store_.paths();
    for (const std::string& name : entries(paths.tmp())) {
      std::string path = paths.tmp() + "/" + name;
      // The template lock files are shared and long-lived; a scratch file is not.
      if (name.size() > 5 && name.compare(name.size() - 5, 5, ".lock") == 0) continue;
      if (scratch_owner(name) && !scratch_is_stale(name)) continue;  // a command at work
      if (has_mounts_below(path)) continue;
      found("orphan-tmp", path, "a scratch file left by an interrupted command", [&] {
        remove_container_tree(path);  // a user's: subordinate ids' too
        return true;
      });
    }
  }

  Store& store_;
  bool repair_;
  CheckReport report_;
};

}  // namespace

size_t CheckReport::unresolved() const {
  return static_cast<size_t>(std::count_if(findings.begin(), findings.end(),
                                           [](const CheckFinding& f) { return !f.repaired; }));
}

CheckReport check_store(Store& store, bool repair) { return Checker(store, repair).run(); }

}  // namespace vessel::manager
