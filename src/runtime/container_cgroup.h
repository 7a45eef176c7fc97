// The container's cgroup at create: the checks on one that exists already, its creation
// (skipped for a rootless caller who may not), and runc's default device rules.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>

#include "cgroups/manager.h"
#include "oci/spec.h"
#include "runtime/container.h"

namespace vessel::runtime {

// linux.resources with runc's fixed device allow list appended (a "devices" list is made when
// there is none, so the cgroup starts from "deny all" as with runc).
nlohmann::json with_default_device_rules(nlohmann::json resources, const oci::Spec& spec);

// Refuses a frozen cgroup; warns about one that holds processes (an error for systemd).
void check_existing_cgroup(const cgroups::Manager& cgroup);

// The container's cgroup, created; nullptr for a rootless caller refused by the kernel.
std::unique_ptr<cgroups::Manager> create_container_cgroup(std::unique_ptr<cgroups::Manager> cgroup,
                                                          const oci::Spec& spec,
                                                          const CreateOptions& o);

}  // namespace vessel::runtime
