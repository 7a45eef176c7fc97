// Docker's JSON shapes <-> vessel's records: the create body into RunOptions, containers
// into inspect and list entries, times in docker's forms.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "manager/options.h"
#include "manager/store.h"

namespace vessel::api {

// POST /containers/create: the body (Config with HostConfig and NetworkingConfig) and the
// ?name= parameter. Unsupported values are a 400 naming the field.
manager::RunOptions run_options_from(const nlohmann::json& body, const std::string& name);

nlohmann::json container_inspect(manager::Store& store, const manager::ContainerRecord& c);
nlohmann::json container_summary(manager::Store& store, const manager::ContainerRecord& c);
// "Up 3 minutes", "Exited (0) 2 seconds ago", "Created".
std::string status_text(const manager::ContainerRecord& c);

// RFC 3339 (vessel's records) to Unix seconds; 0 when empty or unreadable.
int64_t unix_time(const std::string& rfc3339);
// Docker's zero time where a record has none.
std::string docker_time(const std::string& rfc3339);

bool is_live(const std::string& state);

}  // namespace vessel::api
