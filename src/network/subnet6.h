// IPv6 subnets of dual-stack networks (`network create --ipv6 [--subnet fd…::/64]`).
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace vessel::network {

struct Subnet6 {
  std::array<uint8_t, 16> addr{};
  int prefix = 0;
  bool contains(const std::array<uint8_t, 16>& a) const;
  bool overlaps(const Subnet6& o) const;
  std::string str() const;  // "fd12:3456:789a::/64"
};

// Throws a one-line error naming `flag` unless `s` is an IPv6 subnet with a prefix length of
// 48 to 120 and no host bits set.
Subnet6 parse_subnet6(const std::string& flag, const std::string& s);
// A random unique local /64 (fd00::/8, RFC 4193).
Subnet6 random_ula64();
// nullopt-free helpers: the text of an address, and its parse (false when not IPv6).
std::string ip6_string(const std::array<uint8_t, 16>& a);
bool parse_ip6(const std::string& s, std::array<uint8_t, 16>& out);
// The subnet's first host address (its gateway by default).
std::array<uint8_t, 16> first_host6(const Subnet6& s);

}  // namespace vessel::network
