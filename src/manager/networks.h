// Networks of the manager: bridge networks kept in the store and turned into CNI network
// configuration lists, and each container's attachments to them — its network namespace,
// the CNI results (kept in <container dir>/network.json until DEL succeeds, so nothing is
// left behind after a crash), published ports, and the /etc/hosts and /etc/resolv.conf it sees.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "manager/options.h"
#include "manager/store.h"

namespace vessel::manager {

// The default network: what `--network bridge` (and no --network at all) means.
inline constexpr const char* kDefaultNetwork = "vessel";

struct NetworkCreateOptions {
  std::string name;
  // --subnet and --gateway, IPv4 and (with ipv6) IPv6 ones in any order. No IPv4 subnet: a
  // free 10.91.N.0/24; no IPv6 one with ipv6: a free fdXX:XXXX:XXXX::/64 (random ULA).
  std::vector<std::string> subnets, gateways;
  bool ipv6 = false;
  std::vector<std::string> dns;  // forwarders of the network's resolver
  bool internal = false;
  nlohmann::json labels = nlohmann::json::object();
};

NetworkRecord create_network(Store& store, NetworkCreateOptions opts);
// The default network, created on first use.
NetworkRecord default_network(Store& store);
// A name or ID prefix; "bridge" is the default network.
NetworkRecord find_network_or_fail(Store& store, const std::string& ref);
// Removes the network, its bridge, isolation rules and address leases; with `force` its
// containers go first, without it a network in use is refused.
void remove_network(Store& store, const std::string& ref, bool force);
// The CNI configuration list of a network (bridge, portmap when `with_ports`, firewall).
nlohmann::json network_conflist(Store& store, const NetworkRecord& n, bool with_ports = true);

// Turns --network values into a mode and network names (validated), at create time.
void resolve_network_options(Store& store, RunOptions& opts);

// Where a bridge-mode container's network namespace is kept.
std::string netns_path(Store& store, const std::string& id);
// Bridge mode: creates the namespace and runs CNI ADD for each network; on failure nothing
// is left. Other modes: nothing to do.
void setup_container_network(Store& store, const std::string& id, const RunOptions& opts);
// Before a restart (restart policies): CNI CHECK of every attachment; one that fails (a veth
// deleted by hand, a lost namespace) gets the network torn down and set up again.
void recheck_container_network(Store& store, const std::string& id, const RunOptions& opts);
// CNI DEL for every attachment, then the namespace goes; best effort (warnings are logged),
// idempotent, and safe to call for a container that never had a network.
void teardown_container_network(Store& store, const std::string& id);
bool has_network_state(Store& store, const std::string& id);

// `vessel network connect/disconnect`: changes the container's options, and its live
// attachments when it runs.
// `aliases`: extra names the network's resolver answers for the container.
void connect_network(Store& store, const std::string& container, const std::string& network,
                     const std::vector<std::string>& aliases = {});
void disconnect_network(Store& store, const std::string& container, const std::string& network);

// For `inspect`: {"Networks": {name: {IPAddress, IPPrefixLen, Gateway, MacAddress}},
// "Ports": {"80/tcp": [{HostIp, HostPort}]}, "SandboxKey": path}.
nlohmann::json network_settings(Store& store, const ContainerRecord& c);
// For `ps`: "0.0.0.0:8080->80/tcp, …".
std::string ports_summary(Store& store, const ContainerRecord& c);

// /etc/hosts and /etc/resolv.conf of a new container (create time).
std::string initial_hosts(const std::string& hostname, const RunOptions& opts);
// `resolver`: the address of the network's DNS resolver (it replaces the host's nameservers;
// --dns replaces both).
std::string resolv_conf_for(const RunOptions& opts, const std::string& host_resolv_conf,
                            const std::string& resolver = "");
// The resolver a container's resolv.conf names: its first network's gateway when that is a
// user network; empty otherwise.
std::string resolver_of(Store& store, const RunOptions& opts);

}  // namespace vessel::manager
