// Internal to the manager's network code: a container's attachments as kept in
// <container dir>/network.json, shared by networks.cc (what the monitor needs) and
// network_admin.cc (network rm, connect, disconnect). The split keeps the monitor from
// linking the container lifecycle code and, through it, the image layer's libraries.
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "manager/store.h"
#include "network/cni.h"

namespace vessel::manager::detail {

std::string ipam_dir(Store& store);                              // host-local's dataDir
nlohmann::json read_state(Store& store, const std::string& id);  // null when there is none
void save_state(Store& store, const std::string& id, const nlohmann::json& st);
network::Attachment attachment_of(const nlohmann::json& a, const std::string& id,
                                  const std::string& netns);
// Records the attachment, then runs CNI ADD for it (the state file is saved at both steps).
void add_attachment(Store& store, const std::string& id, nlohmann::json& st, const NetworkRecord& n,
                    const std::string& ifname, const nlohmann::json& runtime_config);
// Rewrites /etc/hosts of the containers on `networks` (and of `also_id`).
// `leaving`, when set, is a container whose attachments are going away: left out of every
// hosts file even while its state file still exists.
void refresh_hosts(Store& store, const std::set<std::string>& networks, const std::string& also_id,
                   const std::string& leaving = "");

}  // namespace vessel::manager::detail
