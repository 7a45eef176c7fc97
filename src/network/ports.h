// Published ports (-p/--publish) and their form for the CNI portmap plugin.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace vessel::network {

struct PortMapping {
  std::string host_ip;     // empty: every address
  uint16_t host_port = 0;  // 0: a free port chosen when the container starts
  uint16_t container_port = 0;
  std::string protocol = "tcp";  // tcp, udp or sctp
  bool operator==(const PortMapping&) const = default;
};

// Docker's forms: CTR, HOST:CTR, IP:HOST:CTR, IP::CTR, each port may be a range
// ("8080-8081:80-81", equal lengths), "/udp" or "/sctp" at the end, IPv6 in brackets.
// Throws a one-line error naming the value.
std::vector<PortMapping> parse_publish(const std::string& spec);

// Gives mappings without a host port a free one (asks the kernel for an ephemeral port).
void assign_free_host_ports(std::vector<PortMapping>& ports);

// The portmap plugin's runtimeConfig entries.
nlohmann::json to_cni_port_mappings(const std::vector<PortMapping>& ports);

void to_json(nlohmann::json& j, const PortMapping& p);
void from_json(const nlohmann::json& j, PortMapping& p);

}  // namespace vessel::network
