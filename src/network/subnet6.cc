#include "network/subnet6.h"

#include <arpa/inet.h>
#include <sys/random.h>

#include "util/error.h"

namespace vessel::network {

namespace {

bool same_prefix(const std::array<uint8_t, 16>& a, const std::array<uint8_t, 16>& b, int bits) {
  for (int i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
    uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((a[i] & mask) != (b[i] & mask)) return false;
  }
  return true;
}

}  // namespace

bool Subnet6::contains(const std::array<uint8_t, 16>& a) const {
  return same_prefix(addr, a, prefix);
}

bool Subnet6::overlaps(const Subnet6& o) const {
  return same_prefix(addr, o.addr, std::min(prefix, o.prefix));
}

std::string Subnet6::str() const { return ip6_string(addr) + "/" + std::to_string(prefix); }

std::string ip6_string(const std::array<uint8_t, 16>& a) {
  char buf[INET6_ADDRSTRLEN];
  ::inet_ntop(AF_INET6, a.data(), buf, sizeof buf);
  return buf;
}

bool parse_ip6(const std::string& s, std::array<uint8_t, 16>& out) {
  return ::inet_pton(AF_INET6, s.c_str(), out.data()) == 1;
}

Subnet6 parse_subnet6(const std::string& flag, const std::string& s) {
  size_t slash = s.find('/');
  Subnet6 n;
  std::string plen = slash == std::string::npos ? "" : s.substr(slash + 1);
  if (!parse_ip6(s.substr(0, slash), n.addr) || plen.empty() || plen.size() > 3 ||
      plen.find_first_not_of("0123456789") != std::string::npos)
    fail("invalid {} \"{}\": expected an IPv6 subnet such as fd00:1:2::/64", flag, s);
  n.prefix = std::stoi(plen);
  if (n.prefix < 48 || n.prefix > 120)
    fail("invalid {} \"{}\": the IPv6 prefix length must be between 48 and 120", flag, s);
  Subnet6 masked = n;
  for (int i = 0; i < 16; ++i) {
    int bits = n.prefix - i * 8;
    uint8_t mask = bits >= 8 ? 0xff : bits <= 0 ? 0 : static_cast<uint8_t>(0xff << (8 - bits));
    masked.addr[i] &= mask;
  }
  if (masked.addr != n.addr)
    fail("invalid {} \"{}\": host bits are set (the subnet is {})", flag, s, masked.str());
  return n;
}

Subnet6 random_ula64() {
  Subnet6 n;
  n.prefix = 64;
  n.addr[0] = 0xfd;
  if (::getrandom(&n.addr[1], 7, 0) != 7) fail("getrandom: {}", std::strerror(errno));
  return n;
}

std::array<uint8_t, 16> first_host6(const Subnet6& s) {
  auto a = s.addr;
  a[15] |= 1;
  return a;
}

}  // namespace vessel::network
