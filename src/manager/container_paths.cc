// Where a container's files are; shared by the CLI and the monitor.
#include <ftw.h>
#include <unistd.h>

#include "manager/containers.h"
#include "manager/rootfs.h"
#include "runtime/process.h"
#include "util/file.h"

namespace vessel::manager {

std::string container_dir(Store& store, const std::string& id) {
  return store.paths().container(id);
}
std::string log_path(Store& store, const std::string& id) {
  return container_dir(store, id) + "/ctr.log";
}

std::vector<std::string> log_files(Store& store, const std::string& id) {
  std::string path = log_path(store, id);
  std::vector<std::string> files;
  for (int k = 1; k <= 100 && ::access((path + "." + std::to_string(k)).c_str(), F_OK) == 0; ++k)
    files.insert(files.begin(), path + "." + std::to_string(k));
  files.push_back(path);
  return files;
}

bool oom_killed(Store& store, const std::string& id) {
  return ::access((container_dir(store, id) + "/oom-killed").c_str(), F_OK) == 0;
}
void set_oom_killed(Store& store, const std::string& id, bool killed) {
  std::string path = container_dir(store, id) + "/oom-killed";
  if (!killed) {
    ::unlink(path.c_str());
    return;
  }
  try {
    write_file_atomic(path, "", 0600);
  } catch (const std::exception&) {
  }
}

namespace {
uint64_t g_tree_bytes;
int add_size(const char*, const struct stat* st, int type, struct FTW*) {
  if (type == FTW_F || type == FTW_SL) g_tree_bytes += static_cast<uint64_t>(st->st_size);
  return 0;
}
}  // namespace

uint64_t container_rw_size(Store& store, const std::string& id) {
  std::string dir = container_dir(store, id);
  // overlay: the upper layer; vfs: the container's whole copy of the image (its own).
  std::string tree = container_storage_driver(dir) == "vfs" ? dir + "/rootfs" : dir + "/upper";
  g_tree_bytes = 0;
  ::nftw(tree.c_str(), add_size, 32, FTW_PHYS | FTW_MOUNT);
  return g_tree_bytes;
}

std::string attach_socket_path(Store& store, const std::string& id) {
  return store.paths().runroot + "/attach/" + id.substr(0, 16) + ".sock";
}

bool monitor_alive(const ContainerRecord& c) {
  return c.monitor_pid > 0 && runtime::process_alive(c.monitor_pid, c.monitor_start_time);
}

void remove_anonymous_volumes(Store& store, const nlohmann::json& options) {
  for (const auto& v : options.value("volumes", nlohmann::json::array())) {
    if (v.value("type", "") != "volume") continue;
    auto vol = store.volume(v.value("source", ""));
    if (!vol || vol->labels.value(kAnonymousVolumeLabel, "") != "true") continue;
    remove_tree(store.paths().volume(vol->name));
    store.remove_volume(vol->name);
  }
}

}  // namespace vessel::manager
