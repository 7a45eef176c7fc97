// After a reboot: the containers whose restart policy asks for it come back
// (`vessel system restart-all`, run by packaging/vessel-restart.service at boot).
#pragma once

#include <string>
#include <vector>

#include "manager/store.h"

namespace vessel::manager {

struct RestartAllResult {
  std::vector<std::string> started;  // names
  std::vector<std::string> failed;   // "name: why"
};

// Whether a container that is not running comes back at boot: --restart always, or
// unless-stopped when the user did not stop it.
bool restarts_at_boot(const ContainerRecord& c);

// Starts (detached) every container of the store that restarts_at_boot and is not running; a
// record whose monitor died with the machine is repaired first (refresh).
RestartAllResult restart_all(Store& store);

}  // namespace vessel::manager
