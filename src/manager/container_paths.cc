// Where a container's files are; shared by the CLI and the monitor.
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
