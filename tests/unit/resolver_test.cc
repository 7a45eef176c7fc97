// A network's DNS resolver (network/resolver.h): answers from its table, what it leaves to the
// forwarders; and IPv6 subnets (network/subnet6.h).
#include "network/resolver.h"

#include <gtest/gtest.h>

#include "manager/dns.h"
#include "network/subnet6.h"
#include "util/error.h"

namespace vessel {
namespace {

// A query for NAME of TYPE with ID 0x1234 and RD set.
std::string query(const std::string& name, uint16_t type) {
  std::string q = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    q.push_back(static_cast<char>(dot - start));
    q += name.substr(start, dot - start);
    start = dot + 1;
  }
  q.push_back(0);
  q.push_back(static_cast<char>(type >> 8));
  q.push_back(static_cast<char>(type & 0xff));
  q += std::string{0, 1};
  return q;
}

uint16_t u16(const std::string& m, size_t at) {
  return static_cast<uint16_t>((static_cast<uint8_t>(m[at]) << 8) |
                               static_cast<uint8_t>(m[at + 1]));
}

TEST(ResolverTest, AnswersItsNamesInBothFamiliesCaseInsensitively) {
  auto t = network::parse_resolver_hosts(
      "10.91.0.2 web db\nfd00::2 web db\n# comment\n10.91.0.3 Cache.\nbogus x\n");
  std::string q = query("WEB", 1);
  std::string r = network::answer_from_table(q, t);
  ASSERT_FALSE(r.empty());
  EXPECT_EQ(u16(r, 0), 0x1234);
  EXPECT_TRUE(r[2] & 0x80) << "a response";
  EXPECT_EQ(r[3] & 0x0f, 0) << "NOERROR";
  EXPECT_EQ(u16(r, 6), 1) << "one answer";
  EXPECT_EQ(r.substr(r.size() - 4), std::string("\x0a\x5b\x00\x02", 4));
  std::string r6 = network::answer_from_table(query("db", 28), t);
  ASSERT_EQ(u16(r6, 6), 1);
  EXPECT_EQ(static_cast<uint8_t>(r6[r6.size() - 16]), 0xfd);
  EXPECT_EQ(u16(network::answer_from_table(query("cache", 1), t), 6), 1);
  // A name of ours with no address of the family, or another type: an empty answer.
  std::string mx = network::answer_from_table(query("web", 15), t);
  ASSERT_FALSE(mx.empty());
  EXPECT_EQ(u16(mx, 6), 0);
  EXPECT_EQ(u16(network::answer_from_table(query("cache", 28), t), 6), 0);
}

TEST(ResolverTest, OtherNamesAndBrokenMessagesAreNotAnswered) {
  auto t = network::parse_resolver_hosts("10.91.0.2 web\n");
  EXPECT_EQ(network::answer_from_table(query("example.com", 1), t), "") << "forwarded";
  EXPECT_EQ(network::answer_from_table(query("web.example.com", 1), t), "");
  EXPECT_EQ(network::answer_from_table("short", t), "");
  std::string truncated = query("web", 1);
  truncated.resize(truncated.size() - 3);
  EXPECT_EQ(network::answer_from_table(truncated, t), "");
  std::string servfail = network::error_reply(query("example.com", 1), 2);
  ASSERT_FALSE(servfail.empty());
  EXPECT_EQ(servfail[3] & 0x0f, 2);
  EXPECT_EQ(u16(servfail, 6), 0);
}

TEST(ResolverTest, NameserversOfAResolvConf) {
  EXPECT_EQ(manager::dns::nameservers("# x\nsearch a\nnameserver 127.0.0.53\nnameserver ::1\n"),
            (std::vector<std::string>{"127.0.0.53", "::1"}));
}

TEST(Subnet6Test, ParsesChecksAndOverlaps) {
  auto s = network::parse_subnet6("--subnet", "fd00:1:2::/64");
  EXPECT_EQ(s.str(), "fd00:1:2::/64");
  EXPECT_EQ(network::ip6_string(network::first_host6(s)), "fd00:1:2::1");
  EXPECT_TRUE(s.overlaps(network::parse_subnet6("--subnet", "fd00:1:2::/48")));
  EXPECT_FALSE(s.overlaps(network::parse_subnet6("--subnet", "fd00:1::/48")));  // fd00:1:0::/48
  EXPECT_FALSE(s.overlaps(network::parse_subnet6("--subnet", "fd00:1:3::/64")));
  auto message = [](const std::string& v) {
    try {
      network::parse_subnet6("--subnet", v);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(message("fd00:1:2::1/64"),
            "invalid --subnet \"fd00:1:2::1/64\": host bits are set (the subnet is fd00:1:2::/64)");
  EXPECT_NE(message("fd00::/40").find("between 48 and 120"), std::string::npos);
  EXPECT_NE(message("10.0.0.0/24").find("expected an IPv6 subnet"), std::string::npos);
  auto r = network::random_ula64();
  EXPECT_EQ(r.addr[0], 0xfd);
  EXPECT_EQ(r.prefix, 64);
}

}  // namespace
}  // namespace vessel
