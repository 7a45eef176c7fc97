#include "manager/store.h"

#include <sys/random.h>

#include <chrono>
#include <ctime>

#include "util/blob_claims.h"
#include "util/error.h"
#include "util/file.h"
#include "util/scratch.h"

namespace vessel::manager {

std::string StorePaths::layer(const std::string& diff_id) const {
  // diff_ids come from verified image configs: "sha256:<hex>".
  auto colon = diff_id.find(':');
  std::string hex = colon == std::string::npos ? diff_id : diff_id.substr(colon + 1);
  if (hex.empty() || hex.find('/') != std::string::npos || hex.find("..") != std::string::npos)
    fail("invalid layer diff_id \"{}\"", diff_id);
  return layers() + "/" + hex;
}

std::string now_rfc3339() {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto secs = time_point_cast<seconds>(now);
  auto nanos = duration_cast<nanoseconds>(now - secs).count();
  std::time_t t = system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:09d}Z", buf, nanos);
}

std::string random_hex_id() {
  unsigned char bytes[32];
  size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_errno("getrandom");
    }
    got += static_cast<size_t>(n);
  }
  std::string out;
  for (unsigned char b : bytes) out += fmt::format("{:02x}", b);
  return out;
}

std::string short_id(const std::string& id) { return id.substr(0, 12); }

std::string normalize_image_name(const std::string& ref) {
  if (ref.empty()) fail("empty image name");
  std::string name = ref;
  auto slash = name.rfind('/');
  auto colon = name.rfind(':');
  if (name.find('@') == std::string::npos &&
      (colon == std::string::npos || (slash != std::string::npos && colon < slash)))
    name += ":latest";
  return name;
}

Store::Store(StorePaths paths)
    : paths_((mkdir_p(paths.root, 0700), std::move(paths))), db_(paths_.db()) {
  mkdir_p(paths_.layers(), 0700);
  mkdir_p(paths_.containers(), 0700);
  mkdir_p(paths_.volumes(), 0700);
  mkdir_p(paths_.tmp(), 0700);
  remove_stale_scratch(paths_.tmp());  // what a command killed with SIGKILL left
  migrate();
  // The blobs of a command killed between storing them and recording its image.
  if (has_stale_claims(paths_.blob_claims())) remove_blobs_of_dead_commands();
}

// The schema that migrate() makes, as SQLite's user_version. Bump it with every change to
// migrate(): a store that already has this version skips the CREATE TABLE IF NOT EXISTS and the
// column checks, each of which is a write transaction (three per `vessel run --rm`: the command
// and the monitor's two programs each open the store). Other tables (userns_ranges,
// build_cache) are made where they are used, as before.
constexpr int64_t kSchemaVersion = 1;

void Store::migrate() {
  {
    auto v = db_.prepare("PRAGMA user_version");
    if (v.step() && v.integer(0) >= kSchemaVersion) return;  // this schema, or a newer one
  }
  db_.exec(R"(
    CREATE TABLE IF NOT EXISTS images (
      id TEXT PRIMARY KEY, manifest_digest TEXT NOT NULL, config_digest TEXT NOT NULL,
      created TEXT NOT NULL, size INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE IF NOT EXISTS tags (
      name TEXT PRIMARY KEY, image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE);
    CREATE TABLE IF NOT EXISTS image_layers (
      image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE, idx INTEGER NOT NULL,
      diff_id TEXT NOT NULL, blob_digest TEXT NOT NULL, media_type TEXT NOT NULL,
      size INTEGER NOT NULL, PRIMARY KEY (image_id, idx));
    CREATE TABLE IF NOT EXISTS layers (diff_id TEXT PRIMARY KEY, unpacked INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS containers (
      id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, image_id TEXT NOT NULL,
      image_name TEXT NOT NULL, created TEXT NOT NULL, state TEXT NOT NULL,
      pid INTEGER NOT NULL DEFAULT 0, monitor_pid INTEGER NOT NULL DEFAULT 0,
      monitor_start INTEGER NOT NULL DEFAULT 0, exit_code INTEGER NOT NULL DEFAULT 0,
      started_at TEXT NOT NULL DEFAULT '', finished_at TEXT NOT NULL DEFAULT '',
      restart_count INTEGER NOT NULL DEFAULT 0, stop_requested INTEGER NOT NULL DEFAULT 0,
      error TEXT NOT NULL DEFAULT '', options TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS volumes (
      name TEXT PRIMARY KEY, created TEXT NOT NULL, mountpoint TEXT NOT NULL,
      labels TEXT NOT NULL DEFAULT '{}');
    CREATE TABLE IF NOT EXISTS networks (
      name TEXT PRIMARY KEY, id TEXT UNIQUE NOT NULL, driver TEXT NOT NULL,
      bridge TEXT UNIQUE NOT NULL, subnet TEXT UNIQUE NOT NULL, gateway TEXT NOT NULL,
      internal INTEGER NOT NULL DEFAULT 0, created TEXT NOT NULL,
      labels TEXT NOT NULL DEFAULT '{}', options TEXT NOT NULL DEFAULT '{}');
  )");
  // Stores from before IPv6 and per-network DNS servers: their networks get the column.
  bool has_options = false;
  auto cols = db_.prepare("PRAGMA table_info(networks)");
  while (cols.step()) has_options |= cols.text(1) == "options";
  if (!has_options) db_.exec("ALTER TABLE networks ADD COLUMN options TEXT NOT NULL DEFAULT '{}'");
  db_.exec(fmt::format("PRAGMA user_version={}", kSchemaVersion));
}

// ---- images ----

ImageRecord Store::read_image(Statement& st) {
  ImageRecord img;
  img.id = st.text(0);
  img.manifest_digest = st.text(1);
  img.config_digest = st.text(2);
  img.created = st.text(3);
  img.size = static_cast<uint64_t>(st.integer(4));
  return img;
}

void Store::load_image_details(ImageRecord& img) {
  auto tags = db_.prepare("SELECT name FROM tags WHERE image_id=? ORDER BY name");
  tags.bind(img.id);
  while (tags.step()) img.tags.push_back(tags.text(0));
  auto layers = db_.prepare(
      "SELECT diff_id, blob_digest, media_type, size FROM image_layers WHERE image_id=? "
      "ORDER BY idx");
  layers.bind(img.id);
  while (layers.step())
    img.layers.push_back(
        {layers.text(0), layers.text(1), layers.text(2), static_cast<uint64_t>(layers.integer(3))});
}

static const char* kImageCols =
    "SELECT id, manifest_digest, config_digest, created, size FROM images";

std::vector<ImageRecord> Store::images() {
  std::vector<ImageRecord> out;
  auto st = db_.prepare(std::string(kImageCols) + " ORDER BY created DESC");
  while (st.step()) out.push_back(read_image(st));
  for (auto& img : out) load_image_details(img);
  return out;
}

std::optional<ImageRecord> Store::image_by_id(const std::string& id) {
  auto st = db_.prepare(std::string(kImageCols) + " WHERE id=?");
  st.bind(id);
  if (!st.step()) return std::nullopt;
  auto img = read_image(st);
  load_image_details(img);
  return img;
}

static bool is_hex(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

std::optional<ImageRecord> Store::find_image(const std::string& ref) {
  std::string r = ref;
  if (r.rfind("sha256:", 0) == 0) r = r.substr(7);
  if (is_hex(r) && r.size() >= 3) {
    auto st = db_.prepare("SELECT id FROM images WHERE id LIKE ? || '%'");
    st.bind(r);
    std::vector<std::string> ids;
    while (st.step()) ids.push_back(st.text(0));
    if (ids.size() > 1) fail("image ID prefix {} is ambiguous", r);
    if (ids.size() == 1) return image_by_id(ids[0]);
  }
  std::string name = normalize_image_name(ref);
  std::vector<std::string> candidates = {name};
  // Short names ("busybox") also match what templates and pulls store them as.
  bool short_name = ref.find('/') == std::string::npos;
  if (short_name) {
    candidates.push_back("localhost/" + name);
    candidates.push_back("docker.io/library/" + name);
  }
  for (const auto& c : candidates) {
    auto st = db_.prepare("SELECT image_id FROM tags WHERE name=?");
    st.bind(c);
    if (st.step()) return image_by_id(st.text(0));
  }
  if (short_name) {
    auto st = db_.prepare("SELECT image_id, name FROM tags WHERE name LIKE '%/' || ?");
    st.bind(name);
    std::optional<std::string> found;
    while (st.step()) {
      if (found && *found != st.text(0))
        fail("image name {} is ambiguous: give its full name", ref);
      found = st.text(0);
    }
    if (found) return image_by_id(*found);
  }
  return std::nullopt;
}

void Store::put_image(const ImageRecord& img) {
  Transaction tx(db_);
  db_.prepare(
         "INSERT INTO images (id, manifest_digest, config_digest, created, size) VALUES "
         "(?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET manifest_digest=excluded.manifest_digest")
      .bind(img.id, img.manifest_digest, img.config_digest, img.created, img.size)
      .run();
  db_.prepare("DELETE FROM image_layers WHERE image_id=?").bind(img.id).run();
  int idx = 0;
  for (const auto& l : img.layers) {
    db_.prepare(
           "INSERT INTO image_layers (image_id, idx, diff_id, blob_digest, media_type, size) "
           "VALUES (?,?,?,?,?,?)")
        .bind(img.id, idx++, l.diff_id, l.blob_digest, l.media_type, l.size)
        .run();
    db_.prepare("INSERT OR IGNORE INTO layers (diff_id, unpacked) VALUES (?, 0)")
        .bind(l.diff_id)
        .run();
  }
  for (const auto& t : img.tags)
    db_.prepare("INSERT OR REPLACE INTO tags (name, image_id) VALUES (?,?)").bind(t, img.id).run();
  tx.commit();
}

void Store::tag_image(const std::string& id, const std::string& name) {
  db_.prepare("INSERT OR REPLACE INTO tags (name, image_id) VALUES (?,?)")
      .bind(normalize_image_name(name), id)
      .run();
}

void Store::untag(const std::string& name) {
  db_.prepare("DELETE FROM tags WHERE name=?").bind(name).run();
}

void Store::remove_image(const std::string& id) {
  db_.prepare("DELETE FROM images WHERE id=?").bind(id).run();
}

std::vector<std::string> Store::unreferenced_layers() {
  std::vector<std::string> out;
  auto st = db_.prepare(
      "SELECT diff_id FROM layers WHERE diff_id NOT IN (SELECT diff_id FROM image_layers)");
  while (st.step()) out.push_back(st.text(0));
  return out;
}

std::vector<std::string> Store::referenced_blobs() {
  std::vector<std::string> referenced;
  auto st = db_.prepare(
      "SELECT manifest_digest FROM images UNION SELECT config_digest FROM images "
      "UNION SELECT blob_digest FROM image_layers");
  while (st.step()) referenced.push_back(st.text(0));
  return referenced;
}

void Store::mark_layer_unpacked(const std::string& diff_id, int how) {
  db_.prepare("INSERT OR REPLACE INTO layers (diff_id, unpacked) VALUES (?, ?)")
      .bind(diff_id, how)
      .run();
}

int Store::layer_unpack_state(const std::string& diff_id) {
  auto st = db_.prepare("SELECT unpacked FROM layers WHERE diff_id=?");
  st.bind(diff_id);
  return st.step() ? static_cast<int>(st.integer(0)) : 0;
}

void Store::forget_layer(const std::string& diff_id) {
  db_.prepare("DELETE FROM layers WHERE diff_id=?").bind(diff_id).run();
}

// ---- containers ----

static const char* kContainerCols =
    "SELECT id, name, image_id, image_name, created, state, pid, monitor_pid, monitor_start, "
    "exit_code, started_at, finished_at, restart_count, stop_requested, error, options FROM "
    "containers";

static ContainerRecord read_container(Statement& st) {
  ContainerRecord c;
  c.id = st.text(0);
  c.name = st.text(1);
  c.image_id = st.text(2);
  c.image_name = st.text(3);
  c.created = st.text(4);
  c.state = st.text(5);
  c.pid = static_cast<pid_t>(st.integer(6));
  c.monitor_pid = static_cast<pid_t>(st.integer(7));
  c.monitor_start_time = static_cast<uint64_t>(st.integer(8));
  c.exit_code = static_cast<int>(st.integer(9));
  c.started_at = st.text(10);
  c.finished_at = st.text(11);
  c.restart_count = static_cast<int>(st.integer(12));
  c.stop_requested = st.integer(13) != 0;
  c.error = st.text(14);
  c.options = nlohmann::json::parse(st.text(15));
  return c;
}

void Store::insert_container(const ContainerRecord& c) {
  try {
    db_.prepare(
           "INSERT INTO containers (id, name, image_id, image_name, created, state, options) "
           "VALUES (?,?,?,?,?,?,?)")
        .bind(c.id, c.name, c.image_id, c.image_name, c.created, c.state, c.options.dump())
        .run();
  } catch (const Error& e) {
    if (e.error_code() == EEXIST)
      fail(
          "the container name \"{}\" is already in use: remove that container or choose another "
          "name",
          c.name);
    throw;
  }
}

void Store::update_container(const ContainerRecord& c) {
  db_.prepare(
         "UPDATE containers SET state=?, pid=?, monitor_pid=?, monitor_start=?, exit_code=?, "
         "started_at=?, finished_at=?, restart_count=?, error=? WHERE id=?")
      .bind(c.state, c.pid, c.monitor_pid, c.monitor_start_time, c.exit_code, c.started_at,
            c.finished_at, c.restart_count, c.error, c.id)
      .run();
}

void Store::set_stop_requested(const std::string& id, bool requested) {
  db_.prepare("UPDATE containers SET stop_requested=? WHERE id=?").bind(requested, id).run();
}

std::optional<ContainerRecord> Store::container_by_id(const std::string& id) {
  auto st = db_.prepare(std::string(kContainerCols) + " WHERE id=?");
  st.bind(id);
  if (!st.step()) return std::nullopt;
  return read_container(st);
}

std::optional<ContainerRecord> Store::find_container(const std::string& name_or_id) {
  if (name_or_id.empty()) return std::nullopt;
  {
    auto st = db_.prepare(std::string(kContainerCols) + " WHERE name=? OR id=?");
    st.bind(name_or_id, name_or_id);
    if (st.step()) return read_container(st);
  }
  if (!is_hex(name_or_id)) return std::nullopt;
  auto st = db_.prepare(std::string(kContainerCols) + " WHERE id LIKE ? || '%'");
  st.bind(name_or_id);
  std::optional<ContainerRecord> found;
  while (st.step()) {
    if (found) fail("container ID prefix {} is ambiguous", name_or_id);
    found = read_container(st);
  }
  return found;
}

std::vector<ContainerRecord> Store::containers() {
  std::vector<ContainerRecord> out;
  auto st = db_.prepare(std::string(kContainerCols) + " ORDER BY created DESC");
  while (st.step()) out.push_back(read_container(st));
  return out;
}

void Store::remove_container(const std::string& id) {
  db_.prepare("DELETE FROM containers WHERE id=?").bind(id).run();
}

void Store::rename_container(const std::string& id, const std::string& name) {
  try {
    db_.prepare("UPDATE containers SET name=? WHERE id=?").bind(name, id).run();
  } catch (const Error& e) {
    if (e.error_code() == EEXIST) fail("the container name \"{}\" is already in use", name);
    throw;
  }
}

// ---- volumes ----

void Store::insert_volume(const VolumeRecord& v) {
  try {
    db_.prepare("INSERT INTO volumes (name, created, mountpoint, labels) VALUES (?,?,?,?)")
        .bind(v.name, v.created, v.mountpoint, v.labels.dump())
        .run();
  } catch (const Error& e) {
    if (e.error_code() == EEXIST) fail("volume \"{}\" already exists", v.name);
    throw;
  }
}

std::optional<VolumeRecord> Store::volume(const std::string& name) {
  auto st = db_.prepare("SELECT name, created, mountpoint, labels FROM volumes WHERE name=?");
  st.bind(name);
  if (!st.step()) return std::nullopt;
  return VolumeRecord{st.text(0), st.text(1), st.text(2), nlohmann::json::parse(st.text(3))};
}

std::vector<VolumeRecord> Store::volumes() {
  std::vector<VolumeRecord> out;
  auto st = db_.prepare("SELECT name, created, mountpoint, labels FROM volumes ORDER BY name");
  while (st.step())
    out.push_back({st.text(0), st.text(1), st.text(2), nlohmann::json::parse(st.text(3))});
  return out;
}

void Store::remove_volume(const std::string& name) {
  db_.prepare("DELETE FROM volumes WHERE name=?").bind(name).run();
}

std::vector<std::string> Store::volume_users(const std::string& name) {
  std::vector<std::string> out;
  for (const auto& c : containers()) {
    for (const auto& v : c.options.value("volumes", nlohmann::json::array()))
      if (v.value("type", "") == "volume" && v.value("source", "") == name) {
        out.push_back(c.id);
        break;
      }
  }
  return out;
}

// ---- networks ----

static const char* kNetworkCols =
    "SELECT name, id, driver, bridge, subnet, gateway, internal, created, labels, options FROM "
    "networks";

static NetworkRecord read_network(Statement& st) {
  NetworkRecord n;
  n.name = st.text(0);
  n.id = st.text(1);
  n.driver = st.text(2);
  n.bridge = st.text(3);
  n.subnet = st.text(4);
  n.gateway = st.text(5);
  n.internal = st.integer(6) != 0;
  n.created = st.text(7);
  n.labels = nlohmann::json::parse(st.text(8));
  auto o = nlohmann::json::parse(st.text(9));
  n.subnet6 = o.value("subnet6", "");
  n.gateway6 = o.value("gateway6", "");
  n.dns = o.value("dns", std::vector<std::string>{});
  return n;
}

void Store::insert_network(const NetworkRecord& n) {
  try {
    db_.prepare(
           "INSERT INTO networks (name, id, driver, bridge, subnet, gateway, internal, created, "
           "labels, options) VALUES (?,?,?,?,?,?,?,?,?,?)")
        .bind(
            n.name, n.id, n.driver, n.bridge, n.subnet, n.gateway, n.internal, n.created,
            n.labels.dump(),
            nlohmann::json{{"subnet6", n.subnet6}, {"gateway6", n.gateway6}, {"dns", n.dns}}.dump())
        .run();
  } catch (const Error& e) {
    if (e.error_code() == EEXIST) {
      if (network(n.name)) fail("network \"{}\" already exists", n.name);
      fail("network {}: its subnet {} or bridge {} is already used by another network", n.name,
           n.subnet, n.bridge);
    }
    throw;
  }
}

std::optional<NetworkRecord> Store::network(const std::string& name_or_id) {
  auto st = db_.prepare(std::string(kNetworkCols) + " WHERE name=?");
  st.bind(name_or_id);
  if (st.step()) return read_network(st);
  if (name_or_id.size() >= 3 &&
      name_or_id.find_first_not_of("0123456789abcdef") == std::string::npos) {
    auto byid = db_.prepare(std::string(kNetworkCols) + " WHERE id LIKE ?");
    byid.bind(name_or_id + "%");
    std::optional<NetworkRecord> found;
    while (byid.step()) {
      if (found) fail("network ID prefix {} is ambiguous", name_or_id);
      found = read_network(byid);
    }
    return found;
  }
  return std::nullopt;
}

std::vector<NetworkRecord> Store::networks() {
  std::vector<NetworkRecord> out;
  auto st = db_.prepare(std::string(kNetworkCols) + " ORDER BY name");
  while (st.step()) out.push_back(read_network(st));
  return out;
}

void Store::remove_network(const std::string& name) {
  db_.prepare("DELETE FROM networks WHERE name=?").bind(name).run();
}

std::vector<std::string> Store::network_users(const std::string& name) {
  std::vector<std::string> out;
  for (const auto& c : containers())
    for (const auto& n : c.options.value("networks", nlohmann::json::array()))
      if (n.is_string() && n.get<std::string>() == name) {
        out.push_back(c.id);
        break;
      }
  return out;
}

void Store::set_container_options(const std::string& id, const nlohmann::json& options) {
  db_.prepare("UPDATE containers SET options=? WHERE id=?").bind(options.dump(), id).run();
}

}  // namespace vessel::manager
