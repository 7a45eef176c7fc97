// Vessel's local store: one root directory (default /var/lib/vessel) with the blobs, the
// unpacked layers, the containers' directories and volumes, and a SQLite database of
// images, tags, containers and volumes. Every `vessel` command and every monitor opens it;
// writes run in IMMEDIATE transactions, so concurrent commands are safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "image/blob_store.h"
#include "manager/db.h"

namespace vessel::manager {

struct StorePaths {
  std::string root;     // --root
  std::string runroot;  // --runroot: the runtime's state (tmpfs), monitors' sockets

  std::string db() const { return root + "/vessel.db"; }
  std::string layers() const { return root + "/layers"; }
  std::string layer(const std::string& diff_id) const;  // <layers>/<hex>
  std::string containers() const { return root + "/containers"; }
  std::string container(const std::string& id) const { return containers() + "/" + id; }
  std::string volumes() const { return root + "/volumes"; }
  std::string volume(const std::string& name) const { return volumes() + "/" + name; }
  std::string tmp() const { return root + "/tmp"; }
  std::string blobs() const { return root + "/blobs/sha256"; }
  // Claims of the blobs commands are writing (util/blob_claims.h; image::BlobStore makes them).
  std::string blob_claims() const { return root + "/blobs/pending"; }
  std::string runtime_root() const { return runroot + "/runtime"; }
};

struct ImageRecord {
  std::string id;  // config digest hex
  std::string manifest_digest;
  std::string config_digest;
  std::string created;
  uint64_t size = 0;  // sum of compressed layer sizes + config
  std::vector<std::string> tags;
  struct Layer {
    std::string diff_id;
    std::string blob_digest;
    std::string media_type;
    uint64_t size = 0;
  };
  std::vector<Layer> layers;  // base first
};

struct ContainerRecord {
  std::string id;
  std::string name;
  std::string image_id;
  std::string image_name;
  std::string created;
  std::string state;  // created, running, paused, exited, restarting, removing
  pid_t pid = 0;
  pid_t monitor_pid = 0;
  uint64_t monitor_start_time = 0;
  int exit_code = 0;
  std::string started_at;
  std::string finished_at;
  int restart_count = 0;
  bool stop_requested = false;
  std::string error;       // why the last start failed, if it did
  nlohmann::json options;  // the run options (manager/options.h), to restart from
};

struct VolumeRecord {
  std::string name;
  std::string created;
  std::string mountpoint;
  nlohmann::json labels = nlohmann::json::object();
};

struct NetworkRecord {
  std::string name;
  std::string id;
  std::string driver = "bridge";
  std::string bridge;   // vessel<N>
  std::string subnet;   // CIDR
  std::string gateway;  // an address in the subnet
  bool internal = false;
  std::string created;
  nlohmann::json labels = nlohmann::json::object();
  // Dual stack (--ipv6): an IPv6 subnet and gateway besides the IPv4 ones; empty without.
  std::string subnet6, gateway6;
  // Where the network's resolver forwards names it does not know (--dns); empty: the host's
  // resolvers (/etc/resolv.conf).
  std::vector<std::string> dns;
};

class Store {
 public:
  explicit Store(StorePaths paths);
  const StorePaths& paths() const { return paths_; }
  Database& db() { return db_; }
  // Opened on first use (store_blobs.cc), so that programs that never touch blobs — the
  // monitor — do not link the image layer and its libraries.
  image::BlobStore& blobs();

  // Images
  std::vector<ImageRecord> images();
  std::optional<ImageRecord> image_by_id(const std::string& id);
  // A name ("busybox", "busybox:latest", "localhost/busybox:1", "docker.io/library/x") or
  // an ID (prefix of at least 3 hex digits, with or without "sha256:").
  std::optional<ImageRecord> find_image(const std::string& ref);
  void put_image(const ImageRecord& img);  // inserts or updates; tags move to this image
  void tag_image(const std::string& id, const std::string& name);
  void untag(const std::string& name);
  void remove_image(const std::string& id);
  // Layers referenced by no image (after rmi): their diff_ids and blob digests.
  std::vector<std::string> unreferenced_layers();
  std::vector<std::string> referenced_blobs();  // blob digests some image uses
  // Removes the blobs that commands killed before recording their image left (complete, but
  // no image's), with their claim files; blobs an image or a live command uses stay
  // (store_claims.cc). The constructor runs it when a dead command left a claim file.
  size_t remove_blobs_of_dead_commands();
  // The end of one command in a long-lived process (an API request): drops the claims on the
  // blobs it wrote (store_blobs.cc).
  void end_of_command();
  // How a layer is unpacked: 0 not (yet), 1 as this process (root: with the image's ids; an
  // ordinary user's store before 2026-12: every file the user's), 2 in an ordinary user's user
  // namespace with the image's ids (manager/store_userns.h).
  void mark_layer_unpacked(const std::string& diff_id, int how = 1);
  int layer_unpack_state(const std::string& diff_id);
  bool layer_unpacked(const std::string& diff_id) { return layer_unpack_state(diff_id) != 0; }
  void forget_layer(const std::string& diff_id);

  // Containers
  void insert_container(const ContainerRecord& c);  // throws "name in use" on a duplicate
  // Writes what the monitor owns (state, pids, exit code, times, restart count, error); the
  // name, the options and stop_requested are changed only by their own calls.
  void update_container(const ContainerRecord& c);
  void set_stop_requested(const std::string& id, bool requested);
  std::optional<ContainerRecord> container_by_id(const std::string& id);
  // Exact name, full ID or unique ID prefix; throws on an ambiguous prefix.
  std::optional<ContainerRecord> find_container(const std::string& name_or_id);
  std::vector<ContainerRecord> containers();
  void remove_container(const std::string& id);
  void rename_container(const std::string& id, const std::string& name);

  // Volumes
  void insert_volume(const VolumeRecord& v);
  std::optional<VolumeRecord> volume(const std::string& name);
  std::vector<VolumeRecord> volumes();
  void remove_volume(const std::string& name);
  // Containers (IDs) whose options mount the named volume.
  std::vector<std::string> volume_users(const std::string& name);

  // Networks
  void insert_network(const NetworkRecord& n);  // throws "already exists" on a duplicate
  std::optional<NetworkRecord> network(const std::string& name_or_id);
  std::vector<NetworkRecord> networks();
  void remove_network(const std::string& name);
  // Containers (IDs) whose options attach them to the named network.
  std::vector<std::string> network_users(const std::string& name);
  // Replaces a container's options (network connect/disconnect).
  void set_container_options(const std::string& id, const nlohmann::json& options);

 private:
  void migrate();
  ImageRecord read_image(Statement& st);
  void load_image_details(ImageRecord& img);
  StorePaths paths_;
  Database db_;
  std::unique_ptr<image::BlobStore> blobs_;
};

// Normalizes a user's image reference to the name it is stored under:
// "busybox" -> "localhost/busybox:latest" is NOT assumed; names keep their registry part,
// a missing tag becomes ":latest".
std::string normalize_image_name(const std::string& ref);
std::string now_rfc3339();
std::string random_hex_id();                  // 64 hex digits from getrandom()
std::string short_id(const std::string& id);  // first 12 characters

}  // namespace vessel::manager
