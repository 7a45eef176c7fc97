// Building managers for a given host description (make_manager() probes the real one).
#pragma once

#include <memory>
#include <string>

#include "cgroups/detect.h"
#include "cgroups/manager.h"

namespace vessel::cgroups {

// Like make_manager(), on `host` instead of the probed host. Creates nothing.
std::unique_ptr<Manager> make_manager_on(const HostCgroups& host, const std::string& cgroups_path,
                                         const std::string& container_id);

}  // namespace vessel::cgroups
