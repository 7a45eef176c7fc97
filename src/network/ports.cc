#include "network/ports.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "util/error.h"
#include "util/fd.h"

namespace vessel::network {

using nlohmann::json;

namespace {

std::pair<uint16_t, uint16_t> parse_range(const std::string& spec, const std::string& s,
                                          bool allow_zero) {
  auto number = [&](const std::string& t) -> uint16_t {
    if (t.empty() || t.size() > 5 || t.find_first_not_of("0123456789") != std::string::npos)
      fail("invalid --publish \"{}\": \"{}\" is not a port number", spec, t);
    unsigned long v = std::stoul(t);
    if (v > 65535 || (v == 0 && !allow_zero))
      fail("invalid --publish \"{}\": port {} is out of range 1-65535", spec, t);
    return static_cast<uint16_t>(v);
  };
  size_t dash = s.find('-');
  if (dash == std::string::npos) {
    uint16_t p = number(s);
    return {p, p};
  }
  uint16_t lo = number(s.substr(0, dash)), hi = number(s.substr(dash + 1));
  if (hi < lo) fail("invalid --publish \"{}\": range {} ends before it starts", spec, s);
  return {lo, hi};
}

}  // namespace

std::vector<PortMapping> parse_publish(const std::string& spec) {
  std::string s = spec;
  std::string proto = "tcp";
  if (size_t slash = s.rfind('/'); slash != std::string::npos) {
    proto = s.substr(slash + 1);
    s = s.substr(0, slash);
    if (proto != "tcp" && proto != "udp" && proto != "sctp")
      fail("invalid --publish \"{}\": protocol \"{}\" is not tcp, udp or sctp", spec, proto);
  }
  std::string ip;
  if (!s.empty() && s[0] == '[') {  // [IPv6]:HOST:CTR
    size_t close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':')
      fail("invalid --publish \"{}\": expected [IPv6]:HOSTPORT:CONTAINERPORT", spec);
    ip = s.substr(1, close - 1);
    s = s.substr(close + 2);
    in6_addr a6{};
    if (::inet_pton(AF_INET6, ip.c_str(), &a6) != 1)
      fail("invalid --publish \"{}\": \"{}\" is not an IPv6 address", spec, ip);
  }
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t colon = s.find(':', start);
    parts.push_back(s.substr(start, colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  std::string host, ctr;
  if (parts.size() == 1) {
    ctr = parts[0];
  } else if (parts.size() == 2) {
    host = parts[0];
    ctr = parts[1];
  } else if (parts.size() == 3 && ip.empty()) {
    ip = parts[0];
    host = parts[1];
    ctr = parts[2];
    in_addr a4{};
    if (::inet_pton(AF_INET, ip.c_str(), &a4) != 1)
      fail("invalid --publish \"{}\": \"{}\" is not an IPv4 address", spec, ip);
  } else {
    fail("invalid --publish \"{}\": expected [IP:][HOSTPORT:]CONTAINERPORT[/PROTOCOL]", spec);
  }
  auto [clo, chi] = parse_range(spec, ctr, false);
  uint16_t hlo = 0, hhi = 0;
  if (!host.empty()) std::tie(hlo, hhi) = parse_range(spec, host, false);
  if (!host.empty() && hhi - hlo != chi - clo && hlo != hhi)
    fail("invalid --publish \"{}\": the host and container port ranges differ in length", spec);
  std::vector<PortMapping> out;
  for (uint32_t p = clo; p <= chi; ++p) {
    PortMapping m;
    m.host_ip = ip;
    m.protocol = proto;
    m.container_port = static_cast<uint16_t>(p);
    // A single host port for a container range is docker's "any one of": take the first.
    if (!host.empty()) m.host_port = hlo == hhi ? hlo : static_cast<uint16_t>(hlo + (p - clo));
    out.push_back(m);
  }
  if (!host.empty() && hlo == hhi && out.size() > 1)
    fail("invalid --publish \"{}\": a container port range needs a host range as long", spec);
  return out;
}

void assign_free_host_ports(std::vector<PortMapping>& ports) {
  for (auto& p : ports) {
    if (p.host_port != 0) continue;
    int type = p.protocol == "udp" ? SOCK_DGRAM : SOCK_STREAM;
    UniqueFd s(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
    if (!s) fail_errno("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    socklen_t len = sizeof addr;
    if (::bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(s.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      fail_errno("choosing a free host port for container port {}", p.container_port);
    p.host_port = ntohs(addr.sin_port);
  }
}

json to_cni_port_mappings(const std::vector<PortMapping>& ports) {
  json out = json::array();
  for (const auto& p : ports) {
    json m = {
        {"hostPort", p.host_port}, {"containerPort", p.container_port}, {"protocol", p.protocol}};
    if (!p.host_ip.empty()) m["hostIP"] = p.host_ip;
    out.push_back(m);
  }
  return out;
}

void to_json(json& j, const PortMapping& p) {
  j = {{"host_ip", p.host_ip},
       {"host_port", p.host_port},
       {"container_port", p.container_port},
       {"protocol", p.protocol}};
}

void from_json(const json& j, PortMapping& p) {
  p.host_ip = j.value("host_ip", "");
  p.host_port = j.value("host_port", uint16_t{0});
  p.container_port = j.value("container_port", uint16_t{0});
  p.protocol = j.value("protocol", "tcp");
}

}  // namespace vessel::network
