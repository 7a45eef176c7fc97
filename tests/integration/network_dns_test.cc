// User networks' DNS resolvers, dual-stack (IPv6) networks and -P / `vessel port`, end to end.
// As network_test.cc: each test makes two network namespaces of its own, HOST (vessel runs in
// it through nsenter; its bridges, veths, NAT rules and resolvers live there) and OUT (the
// outside world, 192.0.2.2 and 2001:db8::2, joined to HOST by a veth pair). OUT runs the
// "host's resolver" (Debian's dnsmasq) that the networks' resolvers forward to.
#include <signal.h>
#include <unistd.h>

#include <regex>
#include <sstream>

#include "harness.h"
#include "netns_world.h"

namespace itest {
namespace {

class NetworkDnsTest : public NetnsWorldTest {
 protected:
  void SetUp() override {
    if (runtime_is_runc()) GTEST_SKIP() << "manager tests run once, with vessel's own runtime";
    // CI installs these (Makefile DEB_PACKAGES); their absence is a failure, not a skip.
    ASSERT_TRUE(exists("/usr/lib/cni/bridge")) << "containernetworking-plugins is not installed";
    ASSERT_EQ(run_cmd({"sh", "-c", "command -v ip6tables && command -v curl && command -v dnsmasq"})
                  .exit_code(),
              0)
        << "ip6tables, curl and dnsmasq (dnsmasq-base) are needed";
    make_world("dnstest", true);
    if (HasFatalFailure()) return;
    // The outside resolver: knows outside.test, nothing else.
    Result up = in_out({"dnsmasq", "-C", "/dev/null", "--no-resolv", "--no-hosts",
                        "--host-record=outside.test,203.0.113.7", "--listen-address=192.0.2.2",
                        "--bind-interfaces", "--user=root", "--pid-file=" + dir_ + "/up.pid"});
    ASSERT_TRUE(up.ok()) << up.describe();
  }

  void TearDown() override {
    remove_containers();
    if (!root_.empty()) {
      EXPECT_EQ(resolvers(), "") << "resolver processes left behind";
    }
    if (!dir_.empty()) {
      std::string pid = trim(read_text(dir_ + "/up.pid"));
      if (!pid.empty()) ::kill(std::stoi(pid), SIGTERM);
    }
    remove_world();
  }

  // Processes of this test's store that are network resolvers ("PID CMDLINE" lines).
  std::string resolvers() {
    std::string found;
    for (const auto& pid : split_lines(run_cmd({"ls", "/proc"}).out)) {
      if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
      std::string cmd = read_text("/proc/" + pid + "/cmdline");
      for (auto& ch : cmd)
        if (ch == '\0') ch = ' ';
      if (contains(cmd, "--resolver") && contains(cmd, root_)) found += pid + " " + cmd + "\n";
    }
    return found;
  }
  // busybox nslookup NAME against SERVER, inside container C.
  Result lookup(const std::string& c, const std::string& name, const std::string& server) {
    return v({"exec", c, "nslookup", name, server});
  }
};

TEST_F(NetworkDnsTest, TheNetworksResolverAnswersNamesAliasesFollowsConnectAndForwards) {
  ASSERT_TRUE(v({"network", "create", "front"}).ok());
  ASSERT_TRUE(v({"network", "create", "back"}).ok());
  // The host's resolver is OUT's dnsmasq: vessel runs in a mount namespace whose
  // /etc/resolv.conf names it, as the resolvers it starts do.
  std::string conf = dir_ + "/resolv.conf";
  write_text(conf, "nameserver 192.0.2.2\n");
  auto with_host_resolver = [&](const std::vector<std::string>& args) {
    std::string cmd = "mount --bind " + conf + " /etc/resolv.conf && exec " +
                      std::string(VESSEL_MANAGER_BIN) + " --root " + root_;
    for (const auto& a : args) cmd += " '" + a + "'";
    return in_host({"unshare", "-m", "sh", "-c", cmd});
  };
  Result a = with_host_resolver({"run", "-d", "--name", "a", "--network", "front",
                                 "--network-alias", "db", "busybox", "sleep", "1000"});
  ASSERT_TRUE(a.ok()) << a.describe();
  run_d({"--name", "b", "--network", "front", "busybox", "sleep", "1000"});
  run_d({"--name", "c", "--network", "back", "busybox", "sleep", "1000"});
  std::string gw =
      json::parse(v({"network", "inspect", "front"}).out)[0]["Subnets"][0].value("Gateway", "");
  ASSERT_FALSE(gw.empty());
  std::string ip_a = ip_of("a", "front");

  // The container's resolv.conf names the network's resolver, and only it.
  std::string resolv = v({"exec", "b", "cat", "/etc/resolv.conf"}).out;
  EXPECT_TRUE(contains(resolv, "nameserver " + gw + "\n")) << resolv;
  EXPECT_EQ(resolv.find("nameserver"), resolv.rfind("nameserver")) << resolv;
  // A name and an alias, over DNS (not /etc/hosts: the server is named).
  Result by_name = lookup("b", "a", gw);
  EXPECT_TRUE(by_name.ok() && contains(by_name.out, "Address: " + ip_a)) << by_name.describe();
  Result by_alias = lookup("b", "db", gw);
  EXPECT_TRUE(by_alias.ok() && contains(by_alias.out, "Address: " + ip_a)) << by_alias.describe();
  // A whole word: the hosts file's container IDs are hex and may hold "db".
  std::string hosts = v({"exec", "b", "cat", "/etc/hosts"}).out;
  std::istringstream words(hosts);
  std::string word;
  bool alias_in_hosts = false;
  while (words >> word) alias_in_hosts = alias_in_hosts || word == "db";
  EXPECT_FALSE(alias_in_hosts) << "aliases are DNS names only:\n" << hosts;
  EXPECT_EQ(net_of("a", "front")["Aliases"], json::array({"db"}));
  // A name the network does not know goes to the host's resolver. (busybox's nslookup also asks
  // for AAAA, which that dnsmasq, with only an A record and no upstream, refuses: exit 1.)
  Result outside = lookup("b", "outside.test", gw);
  EXPECT_TRUE(contains(outside.out, "Address: 203.0.113.7")) << outside.describe();
  // c is on another network: front's resolver does not know it.
  Result other = lookup("b", "c", gw);
  EXPECT_FALSE(contains(other.out, ip_of("c", "back"))) << other.describe();

  // connect (with an alias) and disconnect change the answers at once.
  ASSERT_TRUE(v({"network", "connect", "--alias", "cache", "front", "c"}).ok());
  std::string ip_c = ip_of("c", "front");
  ASSERT_FALSE(ip_c.empty());
  Result connected = lookup("b", "cache", gw);
  EXPECT_TRUE(connected.ok() && contains(connected.out, "Address: " + ip_c))
      << connected.describe();
  EXPECT_TRUE(contains(lookup("b", "c", gw).out, "Address: " + ip_c));
  ASSERT_TRUE(v({"network", "disconnect", "front", "c"}).ok());
  Result gone = lookup("b", "cache", gw);
  EXPECT_FALSE(contains(gone.out, ip_c)) << gone.describe();

  // One resolver per network in use, running as nobody; the last container out stops it.
  std::string front_pid = trim(read_text(root_ + "/run/dns/front/pid"));
  ASSERT_FALSE(front_pid.empty());
  EXPECT_TRUE(contains(read_text("/proc/" + front_pid + "/status"), "Uid:\t65534"));
  EXPECT_EQ(split_lines(trim(resolvers())).size(), 2u) << resolvers();
  ASSERT_TRUE(v({"rm", "-f", "a"}).ok());
  EXPECT_FALSE(contains(lookup("b", "db", gw).out, ip_a));
  ASSERT_TRUE(v({"rm", "-f", "b"}).ok());
  EXPECT_FALSE(exists("/proc/" + front_pid)) << "front's resolver outlived its containers";
  EXPECT_FALSE(exists(root_ + "/run/dns/front"));
  EXPECT_EQ(split_lines(trim(resolvers())).size(), 1u) << resolvers();
  // Removing the network (with its container) stops the other one.
  ASSERT_TRUE(v({"network", "rm", "-f", "back"}).ok());
  EXPECT_EQ(resolvers(), "");
  EXPECT_FALSE(exists(root_ + "/run/dns/back"));
}

TEST_F(NetworkDnsTest, DualStackNetworkGivesIpv6AddressesNamesAndPublishedPorts) {
  Result bad = v({"network", "create", "--ipv6", "--subnet", "fd00:5:6::1/64", "x"});
  EXPECT_EQ(bad.exit_code(), 125);
  EXPECT_TRUE(contains(bad.err, "host bits are set")) << bad.describe();
  Result wide = v({"network", "create", "--subnet", "fd00::/40", "x"});
  EXPECT_TRUE(contains(wide.err, "between 48 and 120")) << wide.describe();
  EXPECT_EQ(trim(v({"network", "ls", "-q"}).out), "vessel") << "a refused network is not kept";

  ASSERT_TRUE(
      v({"network", "create", "--ipv6", "--subnet", "fd00:5:6::/64", "--dns", "192.0.2.2", "six"})
          .ok());
  json n = json::parse(v({"network", "inspect", "six"}).out)[0];
  EXPECT_TRUE(n.value("EnableIPv6", false));
  ASSERT_EQ(n["Subnets"].size(), 2u) << n.dump();
  EXPECT_EQ(n["Subnets"][1].value("Subnet", ""), "fd00:5:6::/64");
  EXPECT_EQ(n["Subnets"][1].value("Gateway", ""), "fd00:5:6::1");
  EXPECT_TRUE(contains(v({"network", "ls", "--format", "{{.Name}} {{.IPv6}}"}).out, "six true"));

  run_d({"--name", "web", "--network", "six", "-p", "8080:80", "busybox", "sh", "-c",
         "mkdir -p /www && echo hello-v6 > /www/index.html && exec httpd -f -p 80 -h /www"});
  run_d({"--name", "cli", "--network", "six", "busybox", "sleep", "1000"});
  json web = net_of("web", "six");
  std::string v6 = web.value("GlobalIPv6Address", "");
  EXPECT_EQ(v6.rfind("fd00:5:6::", 0), 0u) << web.dump();
  EXPECT_EQ(web.value("GlobalIPv6PrefixLen", 0), 64);
  EXPECT_EQ(web.value("IPv6Gateway", ""), "fd00:5:6::1");
  EXPECT_FALSE(web.value("IPAddress", "").empty()) << "dual stack: IPv4 too";
  Result addr = v({"exec", "web", "ip", "-6", "-o", "addr", "show", "eth0"});
  EXPECT_TRUE(contains(addr.out, v6 + "/64")) << addr.describe();

  // Containers reach each other over IPv6; the resolver answers AAAA on its IPv6 address too.
  Result ping = v({"exec", "cli", "ping", "-6", "-c", "1", "-W", "3", v6});
  EXPECT_TRUE(ping.ok()) << ping.describe();
  Result aaaa = lookup("cli", "web", "fd00:5:6::1");
  EXPECT_TRUE(aaaa.ok() && contains(aaaa.out, v6)) << aaaa.describe();
  // The network's --dns is where other names go.
  Result outside = lookup("cli", "outside.test", "fd00:5:6::1");
  EXPECT_TRUE(contains(outside.out, "203.0.113.7")) << outside.describe();
  // Out over IPv6 (masqueraded: OUT has no route to fd00:5:6::/64).
  Result out6 = v({"exec", "cli", "ping", "-6", "-c", "1", "-W", "3", "2001:db8::2"});
  EXPECT_TRUE(out6.ok()) << out6.describe();
  // -p answers on the host's IPv6 address, from outside.
  std::string body;
  EXPECT_TRUE(wait_until(
      [&] {
        body = in_out({"curl", "-s", "-g", "--max-time", "2", "http://[2001:db8::1]:8080/"}).out;
        return contains(body, "hello-v6");
      },
      15s, 200ms))
      << body;
  // Isolation holds for IPv6 as for IPv4.
  ASSERT_TRUE(v({"network", "create", "--ipv6", "other6"}).ok());
  run_d({"--name", "far", "--network", "other6", "busybox", "sleep", "1000"});
  Result cross = v({"exec", "far", "ping", "-6", "-c", "1", "-W", "2", v6});
  EXPECT_FALSE(cross.ok()) << "a container on another IPv6 network reached " << v6;
  for (const auto& c : {"web", "cli", "far"}) ASSERT_TRUE(v({"rm", "-f", c}).ok());
  ASSERT_TRUE(v({"network", "rm", "six"}).ok());
  ASSERT_TRUE(v({"network", "rm", "other6"}).ok());
  EXPECT_FALSE(contains(in_host({"ip6tables-save"}).out, "vessel1")) << "rules left behind";
}

TEST_F(NetworkDnsTest, PublishAllPutsEveryExposedPortOnAFreeHostPortAndPortPrintsThem) {
  ASSERT_TRUE(v({"create", "--network", "none", "--name", "base", "busybox", "true"}).ok());
  Result commit =
      v({"commit", "--change", "EXPOSE 80", "--change", "EXPOSE 5353/udp", "base", "exposed:1"});
  ASSERT_TRUE(commit.ok()) << commit.describe();
  ASSERT_TRUE(v({"rm", "base"}).ok());

  // -P on a container without a bridge network: refused, nothing kept.
  Result none = v({"run", "-d", "-P", "--network", "none", "exposed:1", "sleep", "10"});
  EXPECT_EQ(none.exit_code(), 125);
  EXPECT_TRUE(contains(none.err, "-P needs a bridge network")) << none.describe();
  EXPECT_EQ(trim(v({"ps", "-aq"}).out), "");

  run_d({"--name", "web", "-P", "-p", "9090:5353/udp", "exposed:1", "sh", "-c",
         "mkdir -p /www && echo hello-P > /www/index.html && exec httpd -f -p 80 -h /www"});
  Result all = v({"port", "web"});
  ASSERT_TRUE(all.ok()) << all.describe();
  // 80/tcp got a free port; 5353/udp kept the one -p gave.
  std::smatch m;
  std::string text = all.out;
  ASSERT_TRUE(std::regex_search(text, m, std::regex(R"(80/tcp -> 0\.0\.0\.0:(\d+))"))) << text;
  std::string hp = m[1];
  EXPECT_NE(hp, "0");
  EXPECT_TRUE(contains(text, "5353/udp -> 0.0.0.0:9090\n")) << text;
  EXPECT_EQ(split_lines(trim(text)).size(), 2u) << text;
  EXPECT_EQ(trim(v({"port", "web", "80"}).out), "0.0.0.0:" + hp);
  EXPECT_EQ(trim(v({"port", "web", "5353/udp"}).out), "0.0.0.0:9090");
  Result missing = v({"port", "web", "81"});
  EXPECT_EQ(missing.exit_code(), 125);
  EXPECT_TRUE(contains(missing.err, "no public port '81/tcp' published for web"))
      << missing.describe();
  EXPECT_EQ(v({"port", "web", "80/xyz"}).exit_code(), 125);
  std::string body;
  EXPECT_TRUE(wait_until(
      [&] {
        body = in_out({"curl", "-s", "--max-time", "2", "http://192.0.2.1:" + hp + "/"}).out;
        return contains(body, "hello-P");
      },
      15s, 200ms))
      << body;
}

}  // namespace
}  // namespace itest
