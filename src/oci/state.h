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

// What `state` and `list --format json` print: runc's containerState, beyond the spec's state.
struct ContainerState {
  State state;
  std::string rootfs;   // absolute
  std::string created;  // RFC 3339, UTC
  std::string owner;    // user name; runc's `state` leaves it empty, its `list` fills it
};
// runc's fields in runc's order: ociVersion, id, pid (0 once stopped), status, bundle, rootfs,
// created (as Go encodes a time: trailing zeros of the fraction dropped), annotations (left
// out when there are none), owner.
nlohmann::ordered_json container_state_json(const ContainerState& c);

// `features` output per features.md, truthful about what this build implements.
nlohmann::json features_json();

}  // namespace vessel::oci
