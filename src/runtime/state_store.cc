#include "runtime/state_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "util/error.h"
#include "util/file.h"

namespace vessel::runtime {

nlohmann::json record_to_json(const ContainerRecord& r) {
  nlohmann::json j = {{"id", r.id},
                      {"bundle", r.bundle},
                      {"rootfs", r.rootfs},
                      {"pid", r.pid},
                      {"pidStartTime", r.pid_start_time},
                      {"created", r.created},
                      {"started", r.started},
                      {"owner", r.owner},
                      {"cgroup", r.cgroup},
                      {"config", r.config}};
  if (r.host_rootfs_mount_id) j["hostRootfsMountId"] = r.host_rootfs_mount_id;
  return j;
}

ContainerRecord record_from_json(const nlohmann::json& j) {
  ContainerRecord r;
  r.id = j.value("id", "");
  r.bundle = j.value("bundle", "");
  r.rootfs = j.value("rootfs", "");
  r.pid = j.value("pid", 0);
  r.pid_start_time = j.value("pidStartTime", uint64_t{0});
  r.created = j.value("created", "");
  r.started = j.value("started", false);
  r.owner = j.value("owner", "");
  if (j.contains("cgroup")) r.cgroup = j["cgroup"];
  if (j.contains("config")) r.config = j["config"];
  r.host_rootfs_mount_id = j.value("hostRootfsMountId", uint64_t{0});
  return r;
}

void validate_container_id(const std::string& id) {
  if (id.empty()) fail("container ID must not be empty");
  if (id.size() > 1024) fail("container ID is too long");
  if (id == "." || id == "..") fail("invalid container ID \"{}\"", id);
  bool ok = std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ||
           c == '+';
  });
  if (!ok) fail("invalid container ID \"{}\": use letters, digits, '_', '-', '.' and '+'", id);
}

namespace {

UniqueFd lock_dir(const std::string& dir) {
  UniqueFd fd = open_or_throw(dir, O_RDONLY | O_DIRECTORY);
  if (retry_eintr([&] { return ::flock(fd.get(), LOCK_EX); }) < 0) fail_errno("lock {}", dir);
  return fd;
}

}  // namespace

ContainerDir StateStore::create(const std::string& id) const {
  validate_container_id(id);
  mkdir_p(root_, 0700);
  std::string dir = root_ + "/" + id;
  if (::mkdir(dir.c_str(), 0700) < 0) {
    if (errno == EEXIST) fail("container with ID \"{}\" already exists", id);
    fail_errno("create state directory {}", dir);
  }
  return ContainerDir(dir, lock_dir(dir));
}

ContainerDir StateStore::open(const std::string& id) const {
  validate_container_id(id);
  std::string dir = root_ + "/" + id;
  UniqueFd lock;
  try {
    lock = lock_dir(dir);
  } catch (const Error& e) {
    if (e.error_code() == ENOENT) fail("container \"{}\" does not exist", id);
    throw;
  }
  // The holder we waited for may have deleted it (or not finished creating it).
  if (!path_exists(dir + "/state.json")) fail("container \"{}\" does not exist", id);
  return ContainerDir(dir, std::move(lock));
}

std::optional<ContainerDir> StateStore::open_partial(const std::string& id) const {
  validate_container_id(id);
  std::string dir = root_ + "/" + id;
  try {
    return ContainerDir(dir, lock_dir(dir));
  } catch (const Error& e) {
    if (e.error_code() == ENOENT) return std::nullopt;
    throw;
  }
}

std::vector<std::string> StateStore::list() const {
  std::vector<std::string> ids;
  DIR* d = ::opendir(root_.c_str());
  if (!d) {
    if (errno == ENOENT) return ids;
    fail_errno("open {}", root_);
  }
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (path_exists(root_ + "/" + name + "/state.json")) ids.push_back(name);
  }
  ::closedir(d);
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::optional<ContainerRecord> StateStore::peek(const std::string& id) const {
  try {
    return record_from_json(nlohmann::json::parse(read_file(root_ + "/" + id + "/state.json")));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

ContainerRecord ContainerDir::load() const {
  std::string text = read_file(file("state.json"));
  try {
    return record_from_json(nlohmann::json::parse(text));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: corrupt state: {}", file("state.json"), e.what());
  }
}

std::optional<ContainerRecord> ContainerDir::try_load() const {
  try {
    return load();
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

void ContainerDir::save(const ContainerRecord& r) const {
  write_file_atomic(file("state.json"), record_to_json(r).dump());
}

void ContainerDir::remove() {
  remove_tree(path_);
  lock_.reset();
}

}  // namespace vessel::runtime
