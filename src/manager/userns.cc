#include "manager/userns.h"

#include <sys/stat.h>

#include "util/error.h"

namespace vessel::manager {

using nlohmann::json;

namespace {

std::string g_default_userns = "host";

// The table lives beside the store's own (created on first use, so that stores from before
// it need no migration); a block is freed with its container's record.
void ensure_table(Store& store) {
  store.db().exec(R"(
    CREATE TABLE IF NOT EXISTS userns_ranges (
      container_id TEXT PRIMARY KEY REFERENCES containers(id) ON DELETE CASCADE,
      start INTEGER UNIQUE NOT NULL, size INTEGER NOT NULL);)");
}

}  // namespace

void set_default_userns(const std::string& mode) {
  g_default_userns = resolve_userns_mode(mode.empty() ? "host" : mode);
}

const std::string& default_userns() { return g_default_userns; }

std::string resolve_userns_mode(const std::string& value) {
  if (value.empty()) return g_default_userns;
  if (value == "host" || value == "auto") return value;
  fail("invalid --userns \"{}\": host or auto", value);
}

IdRange allocate_id_range(Store& store, const std::string& id) {
  ensure_table(store);
  Transaction tx(store.db());
  auto st = store.db().prepare("SELECT start, size FROM userns_ranges ORDER BY start");
  uint64_t candidate = kAutoIdBase;
  while (st.step()) {
    uint64_t start = static_cast<uint64_t>(st.integer(0));
    uint64_t size = static_cast<uint64_t>(st.integer(1));
    if (candidate + kAutoIdSize <= start) break;  // a gap before this block
    if (start + size > candidate) candidate = start + size;
  }
  if (candidate + kAutoIdSize > kAutoIdEnd)
    fail("--userns=auto: every block of {} ids in [{}, {}) is held by a container", kAutoIdSize,
         kAutoIdBase, kAutoIdEnd);
  store.db()
      .prepare("INSERT INTO userns_ranges (container_id, start, size) VALUES (?, ?, ?)")
      .bind(id, static_cast<int64_t>(candidate), static_cast<int64_t>(kAutoIdSize))
      .run();
  tx.commit();
  return IdRange{static_cast<uint32_t>(candidate), kAutoIdSize};
}

std::optional<IdRange> container_id_range(Store& store, const std::string& id) {
  ensure_table(store);
  auto st = store.db().prepare("SELECT start, size FROM userns_ranges WHERE container_id=?");
  st.bind(id);
  if (!st.step()) return std::nullopt;
  return IdRange{static_cast<uint32_t>(st.integer(0)), static_cast<uint32_t>(st.integer(1))};
}

void release_id_range(Store& store, const std::string& id) {
  ensure_table(store);
  store.db().prepare("DELETE FROM userns_ranges WHERE container_id=?").bind(id).run();
}

void open_path_for_userns(Store& store, const std::string& dir) {
  for (const auto& p : {store.paths().root, store.paths().containers(), dir}) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) fail_errno("stat {}", p);
    if ((st.st_mode & S_IXOTH) == 0 && ::chmod(p.c_str(), (st.st_mode & 07777) | S_IXOTH) != 0)
      fail_errno("chmod o+x {}", p);
  }
}

void apply_userns_to_spec(json& spec, const IdRange& r, const std::string& volumes_dir) {
  json& lin = spec["linux"];
  json maps = json::array({{{"containerID", 0}, {"hostID", r.start}, {"size", r.size}}});
  lin["uidMappings"] = maps;
  lin["gidMappings"] = maps;
  bool own_netns = false;
  json namespaces = json::array({{{"type", "user"}}});
  for (const auto& ns : lin.value("namespaces", json::array())) {
    if (ns.value("type", "") == "user") continue;
    if (ns.value("type", "") == "network" && ns.value("path", "").empty()) own_netns = true;
    namespaces.push_back(ns);
  }
  lin["namespaces"] = namespaces;
  std::string prefix = volumes_dir + "/";
  for (auto& m : spec["mounts"]) {
    std::string type = m.value("type", "");
    // sysfs may be mounted only by the owner of the network namespace: a container that
    // joins one vessel made (bridge), or the host's, gets the host's /sys read-only.
    if (type == "sysfs" && !own_netns) {
      m["type"] = "bind";
      m["source"] = "/sys";
      m["options"] = json::array({"rbind", "nosuid", "noexec", "nodev", "ro"});
      continue;
    }
    // Named volumes are seen through the container's mapping: what its root writes is owned
    // by root on the disk, and another container (another block) sees the same owners.
    if (type == "bind" && m.value("source", "").rfind(prefix, 0) == 0) {
      json opts = m.value("options", json::array());
      opts.push_back("idmap");
      m["options"] = opts;
    }
  }
}

}  // namespace vessel::manager
