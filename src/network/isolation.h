// Keeps vessel networks apart, as users expect of separate networks: the CNI bridge plugin
// routes between bridges on the same host, so without these rules a container on one network
// reaches every other network's containers. Rules live in the filter table, in chains of our
// own jumped to from CNI-ADMIN (the chain the CNI firewall plugin evaluates before its own
// ACCEPT rules, left to administrators):
//   VESSEL-ISOLATION:   -i BR ! -o BR -j VESSEL-ISOLATION-2   (one per network)
//                       -i BR ! -o BR -j DROP, -o BR ! -i BR -j DROP   (internal networks)
//   VESSEL-ISOLATION-2: -o vessel+ -j DROP
// Every vessel bridge is named "vessel<N>".
#pragma once

#include <string>

namespace vessel::network {

inline constexpr const char* kBridgePrefix = "vessel";

// Adds the rules for a network's bridge unless they are there (idempotent).
// `ipv6`: the same rules in ip6tables too (a dual-stack network).
void ensure_isolation(const std::string& bridge, bool internal, bool ipv6 = false);
// Removes them; rules that are not there are fine.
void remove_isolation(const std::string& bridge, bool internal, bool ipv6 = false);

}  // namespace vessel::network
