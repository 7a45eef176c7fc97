#include "manager/boot.h"

#include "manager/containers.h"
#include "util/error.h"

namespace vessel::manager {

bool restarts_at_boot(const ContainerRecord& c) {
  std::string policy = c.options.value("restart", "no");
  if (policy == "always") return true;
  return policy == "unless-stopped" && !c.stop_requested;
}

RestartAllResult restart_all(Store& store) {
  RestartAllResult out;
  for (auto c : store.containers()) {
    try {
      c = refresh(store, c);
      if (c.state == "running" || c.state == "paused" || c.state == "restarting" ||
          monitor_alive(c) || !restarts_at_boot(c))
        continue;
      start_container(store, c.id, false);
      out.started.push_back(c.name);
    } catch (const std::exception& e) {
      out.failed.push_back(c.name + ": " + e.what());
    }
  }
  return out;
}

}  // namespace vessel::manager
