// Where a container's files are; shared by the CLI and the monitor.
#include <unistd.h>

#include "manager/containers.h"
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
