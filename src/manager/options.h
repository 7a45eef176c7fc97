// What a user asked for with `vessel create/run`: kept in the container's record as JSON so
// the monitor can start the container again (restart policies) from the same request.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "network/ports.h"

namespace vessel::manager {

struct VolumeOption {
  std::string type;    // "bind" (host path), "volume" (named), "tmpfs"
  std::string source;  // host path or volume name; empty for tmpfs
  std::string target;  // path in the container
  bool readonly = false;
  std::vector<std::string> options;  // extra mount options (tmpfs size=…, mode=…)
};

struct RunOptions {
  std::string image;                 // the reference as given
  std::vector<std::string> command;  // CMD override
  std::optional<std::vector<std::string>> entrypoint;
  std::string name;
  bool detach = false;
  bool interactive = false;
  bool tty = false;
  bool remove = false;           // --rm
  std::vector<std::string> env;  // KEY=VALUE, after --env-file and -e merging
  std::string workdir;
  std::string user;
  std::string hostname;
  std::vector<VolumeOption> volumes;
  bool read_only = false;
  std::optional<int64_t> memory;       // bytes
  std::optional<int64_t> memory_swap;  // bytes, memory+swap; -1 unlimited
  std::optional<double> cpus;
  std::optional<uint64_t> cpu_shares;
  std::string cpuset_cpus;
  std::optional<int64_t> pids_limit;
  std::optional<uint16_t> blkio_weight;
  std::vector<std::string> devices;  // HOST[:CONTAINER[:PERMS]]
  std::vector<std::string> cap_add;
  std::vector<std::string> cap_drop;
  bool privileged = false;
  std::vector<std::string> security_opt;
  std::vector<std::string> ulimits;  // name=soft[:hard]
  int64_t log_max_size = 0;          // the log is rotated past this many bytes (0: 10 MiB)
  int log_max_files = 0;             // files kept, ctr.log included (0: 2; 1: start over)
  std::string stop_signal;           // empty: the image's StopSignal, else SIGTERM
  int stop_timeout = 10;
  std::string restart = "no";  // no, on-failure, always, unless-stopped
  int restart_max = 0;         // on-failure:N (0 = no limit)
  bool init = false;
  std::map<std::string, std::string> labels;
  // The network mode: "bridge" (the networks below), "none", "host" or "container:ID".
  // Empty until create_container resolves what --network said into a mode and names.
  std::string network;
  std::vector<std::string> networks;  // bridge mode: network names, the first gets -p
  std::vector<network::PortMapping> publish;
  bool publish_all = false;  // -P: every port the image EXPOSEs, on a free host port
  // Extra DNS names on user networks: --network-alias (every network of `run`), and
  // `network connect --alias` (that network only, by name).
  std::vector<std::string> network_aliases;
  std::map<std::string, std::vector<std::string>> connect_aliases;
  std::vector<std::string> dns;          // nameserver addresses
  std::vector<std::string> dns_search;   // search domains
  std::vector<std::string> dns_options;  // resolv.conf options
  std::vector<std::string> add_hosts;    // NAME:IP (IP may be host-gateway)
  // --userns: "host" (the host's ids) or "auto" (a block of ids of its own,
  // manager/userns.h); resolved by create_container, empty until then.
  std::string userns;
  // The OCI runtime program (manager/oci_runtime.h): "" for vessel's own, in process; set by
  // create_container from vessel.conf's containers.runtime.
  std::string runtime;
  // The --health-* flags (docker's Healthcheck fields), then, once created, the effective check
  // with the image's (manager/health.h); null: none.
  nlohmann::json healthcheck;
};

void to_json(nlohmann::json& j, const VolumeOption& v);
void from_json(const nlohmann::json& j, VolumeOption& v);
void to_json(nlohmann::json& j, const RunOptions& o);
void from_json(const nlohmann::json& j, RunOptions& o);

// Parsers for the flag values people type; each throws a one-line error naming the flag.
int64_t parse_size(const std::string& flag, const std::string& value);  // "64m", "1g", "512k"
VolumeOption parse_volume(const std::string& spec);                     // -v SRC:DST[:ro,z]
VolumeOption parse_mount(const std::string& spec);                      // --mount type=…,…
VolumeOption parse_tmpfs(const std::string& spec);                      // --tmpfs /x[:opts]
void parse_restart(const std::string& value, RunOptions& o);
// --add-host NAME:IP (IPv4, IPv6 or host-gateway) split into {NAME, IP}.
std::pair<std::string, std::string> parse_add_host(const std::string& spec);
// A name a user may give a container or volume: [a-zA-Z0-9][a-zA-Z0-9_.-]*
void validate_name(const std::string& what, const std::string& name);

}  // namespace vessel::manager
