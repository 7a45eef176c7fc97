// The OCI config.json of a `vessel` container: the image config turned into a runtime spec
// as the image-spec's conversion.md says (Entrypoint/Cmd, Env, WorkingDir, User, Volumes,
// StopSignal, ExposedPorts, Labels), then the user's run options on top.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "manager/options.h"

namespace vessel::manager {

struct SpecInputs {
  std::string id;
  const nlohmann::json* image_config = nullptr;  // the image's config blob (may lack "config")
  const RunOptions* options = nullptr;
  int rootfs_fd = -1;   // the mounted root filesystem, to look up users and groups
  std::string etc_dir;  // where hosts, hostname and resolv.conf for the container are
  // Named volume name -> host directory, resolved by the caller.
  std::map<std::string, std::string> volume_paths;
  std::string init_path;  // the vessel-init binary on the host, for --init
  // The network namespace to join (bridge and container: modes); empty: a new one, or the
  // host's with --network host.
  std::string netns_path;
  // --network container:X shares X's /etc/hosts and /etc/resolv.conf: X's etc directory.
  std::string shared_etc_dir;
};

nlohmann::json build_spec(const SpecInputs& in);

// The stop signal of a container: --stop-signal, else the image's StopSignal, else SIGTERM.
std::string stop_signal_for(const nlohmann::json& image_config, const RunOptions& o);

// "uid", "uid:gid", "name", "name:group" looked up in the rootfs's /etc/passwd and
// /etc/group (resolved inside the rootfs). Returns uid, gid and the user's extra groups.
struct ResolvedUser {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> additional_gids;
  std::string home = "/";
};
ResolvedUser resolve_user(int rootfs_fd, const std::string& user);

}  // namespace vessel::manager
