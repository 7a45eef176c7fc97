// The runtime-spec state object, and the features document.
#pragma once

#include <sys/types.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace vessel::oci {

struct State {
  std::string oci_version;
  std::string id;
  std::string status;  // creating, created, running, stopped
  pid_t pid = 0;
  std::string bundle;
  std::map<std::string, std::string> annotations;
};

nlohmann::json state_to_json(const State& s);

// `features` output per features.md, truthful about what this build implements.
nlohmann::json features_json();

}  // namespace vessel::oci
