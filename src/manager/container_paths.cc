// Where a container's files are; shared by the CLI and the monitor.
#include "manager/containers.h"
#include "runtime/process.h"

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

}  // namespace vessel::manager
