// Container state on disk: one directory per container under --root, holding state.json
// (written atomically) and a lock file that serialises commands on the same container.
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "util/fd.h"

namespace vessel::runtime {

// What the runtime remembers about a container between commands.
struct ContainerRecord {
  std::string id;
  std::string bundle;
  std::string rootfs;
  pid_t pid = 0;
  uint64_t pid_start_time = 0;  // field 22 of /proc/<pid>/stat, to detect PID reuse
  std::string created;          // RFC 3339 time
  bool started = false;
  std::string owner;
  nlohmann::json cgroup;  // cgroups::Manager::to_json()
  nlohmann::json config;  // the config.json the container was created from
  // Without a mount namespace of its own: the id of the rootfs bind the container's mounts
  // are on, in the host's mount table, which delete detaches (0: none).
  uint64_t host_rootfs_mount_id = 0;
};

nlohmann::json record_to_json(const ContainerRecord& r);
ContainerRecord record_from_json(const nlohmann::json& j);

// Container IDs become directory names: allow what runc allows, nothing that walks paths.
void validate_container_id(const std::string& id);

class ContainerDir {
 public:
  ContainerDir(std::string path, UniqueFd lock) : path_(std::move(path)), lock_(std::move(lock)) {}
  const std::string& path() const { return path_; }
  // An fd of the directory itself (it also holds the lock), for short /proc/self/fd paths.
  int dir_fd() const { return lock_.get(); }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  ContainerRecord load() const;
  // The record, or nullopt where state.json is missing or unreadable.
  std::optional<ContainerRecord> try_load() const;
  void save(const ContainerRecord& r) const;
  // Removes the directory; the lock is released with it.
  void remove();

 private:
  std::string path_;
  UniqueFd lock_;
};

class StateStore {
 public:
  explicit StateStore(std::string root) : root_(std::move(root)) {}
  const std::string& root() const { return root_; }

  // Creates the directory for a new container, failing if the ID is taken. Locked.
  ContainerDir create(const std::string& id) const;
  // Opens and locks an existing container; throws "container X does not exist".
  ContainerDir open(const std::string& id) const;
  // Opens and locks the directory whatever it holds (a state.json or not); nullopt if there
  // is none. For `delete --force` of what a killed runtime left.
  std::optional<ContainerDir> open_partial(const std::string& id) const;
  std::vector<std::string> list() const;
  // Reads a record without taking the lock (state.json is replaced atomically).
  std::optional<ContainerRecord> peek(const std::string& id) const;

 private:
  std::string root_;
};

}  // namespace vessel::runtime
