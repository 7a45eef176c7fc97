// `vessel` networking end to end, through the real CNI plugins (bridge, host-local, portmap,
// firewall) and iptables. Each test makes two network namespaces of its own: HOST plays the
// host (vessel runs in it through nsenter, so its bridges, veths and NAT rules live there)
// and OUT plays the outside world, joined to HOST by a veth pair (192.0.2.1 <-> 192.0.2.2)
// with no route back to the containers' subnets, so a reply only arrives through NAT.
#include <signal.h>
#include <unistd.h>

#include <regex>
#include <sstream>

#include "harness.h"
#include "netns_world.h"

namespace itest {
namespace {

class NetworkTest : public NetnsWorldTest {
 protected:
  void SetUp() override {
    if (runtime_is_runc()) GTEST_SKIP() << "manager tests run once, with vessel's own runtime";
    // CI installs these (Makefile DEB_PACKAGES); their absence is a failure, not a skip.
    ASSERT_TRUE(exists("/usr/lib/cni/bridge")) << "containernetworking-plugins is not installed";
    ASSERT_EQ(run_cmd({"sh", "-c", "command -v iptables && command -v curl"}).exit_code(), 0)
        << "iptables and curl are needed";
    make_world("ntest", false);
  }

  void TearDown() override {
    remove_containers();
    if (!root_.empty()) {
      EXPECT_EQ(our_mounts(), 0u) << "mounts left behind";
    }
    remove_world();
  }

  // What a container leaves in HOST when it is gone: veths, rules naming it, address leases.
  std::string leftovers(const std::vector<std::string>& ids) {
    std::string found;
    Result links = in_host({"ip", "-o", "link", "show", "type", "veth"});
    for (const auto& l : split_lines(links.out))
      if (!trim(l).empty() && !contains(l, "uplink")) found += "veth: " + l + "\n";
    Result rules = in_host({"iptables-save"});
    for (const auto& l : split_lines(rules.out))
      for (const auto& id : ids)
        if (contains(l, id)) found += "rule: " + l + "\n";
    Result leases = run_cmd({"sh", "-c", "ls " + root_ + "/cni/ipam/* 2>/dev/null"});
    static const std::regex ip(R"(^\d+\.\d+\.\d+\.\d+$)");
    for (const auto& l : split_lines(leases.out))
      if (std::regex_match(trim(l), ip)) found += "lease: " + l + "\n";
    Result ns = run_cmd({"sh", "-c", "ls " + root_ + "/run/netns 2>/dev/null"});
    if (!trim(ns.out).empty()) found += "netns: " + ns.out;
    return found;
  }
};

TEST_F(NetworkTest, ContainersOnAUserNetworkReachEachOtherByNameOtherNetworksCannot) {
  ASSERT_TRUE(v({"network", "create", "front"}).ok());
  ASSERT_TRUE(v({"network", "create", "--subnet", "10.91.250.0/24", "back"}).ok());
  run_d({"--name", "a", "--network", "front", "busybox", "sleep", "1000"});
  run_d({"--name", "b", "--network", "front", "busybox", "sleep", "1000"});
  run_d({"--name", "c", "--network", "back", "busybox", "sleep", "1000"});

  std::string ip_a = ip_of("a", "front"), ip_c = ip_of("c", "back");
  ASSERT_FALSE(ip_a.empty()) << inspect("a").dump(2);
  EXPECT_TRUE(contains(ip_c, "10.91.250.")) << ip_c;
  // The address inspect reports is the one on the container's eth0.
  Result addr = v({"exec", "a", "ip", "-4", "-o", "addr", "show", "eth0"});
  EXPECT_TRUE(contains(addr.out, ip_a + "/")) << addr.describe();

  Result by_name = v({"exec", "b", "ping", "-c", "1", "-W", "3", "a"});
  EXPECT_TRUE(by_name.ok()) << by_name.describe();
  EXPECT_TRUE(contains(by_name.out, ip_a)) << by_name.out;
  // Another network: neither the name nor the address is reachable.
  Result other_name = v({"exec", "c", "ping", "-c", "1", "-W", "2", "a"});
  EXPECT_FALSE(other_name.ok()) << other_name.describe();
  Result other_ip = v({"exec", "c", "ping", "-c", "1", "-W", "2", ip_a});
  EXPECT_FALSE(other_ip.ok()) << "a container on another network reached " << ip_a;
  Result back = v({"exec", "a", "ping", "-c", "1", "-W", "2", ip_of("c", "back")});
  EXPECT_FALSE(back.ok()) << "isolation must hold both ways";

  // A container that stops leaves the others' /etc/hosts.
  // (As a name of its own: hex container IDs, which are hostnames there too, may start with b.)
  auto hosts_name_b = [&] {
    std::istringstream words(v({"exec", "a", "cat", "/etc/hosts"}).out);
    std::string word;
    while (words >> word)
      if (word == "b") return true;
    return false;
  };
  EXPECT_TRUE(hosts_name_b());
  ASSERT_TRUE(v({"rm", "-f", "b"}).ok());
  EXPECT_FALSE(hosts_name_b());

  Result in_use = v({"network", "rm", "front"});
  EXPECT_EQ(in_use.exit_code(), 125);
  EXPECT_TRUE(contains(in_use.err, "in use")) << in_use.describe();
}

TEST_F(NetworkTest, PublishedPortAnswersOnTheHostsLoopbackAndFromOutside) {
  run_d({"--name", "web", "-p", "8080:80", "busybox", "sh", "-c",
         "mkdir -p /www && echo hello-from-vessel > /www/index.html && "
         "exec httpd -f -p 80 -h /www"});
  std::string body;
  bool served = wait_until(
      [&] {
        Result r = in_host({"curl", "-s", "--max-time", "2", "http://127.0.0.1:8080/"});
        body = r.out;
        return r.ok() && contains(r.out, "hello-from-vessel");
      },
      15s, 200ms);
  EXPECT_TRUE(served) << "curl 127.0.0.1:8080 from the host got: " << body;
  Result outside = in_out({"curl", "-s", "--max-time", "3", "http://192.0.2.1:8080/"});
  EXPECT_TRUE(contains(outside.out, "hello-from-vessel")) << outside.describe();
  EXPECT_TRUE(contains(v({"ps"}).out, "0.0.0.0:8080->80/tcp")) << v({"ps"}).out;
  auto ports = inspect("web")["NetworkSettings"]["Ports"];
  EXPECT_EQ(ports["80/tcp"][0]["HostPort"], "8080") << ports.dump();

  // A port with no host side gets a free one, reported by inspect.
  run_d({"--name", "web2", "-p", "80", "busybox", "sh", "-c",
         "mkdir -p /w && echo second > /w/index.html && exec httpd -f -p 80 -h /w"});
  std::string hp = inspect("web2")["NetworkSettings"]["Ports"]["80/tcp"][0].value("HostPort", "");
  ASSERT_FALSE(hp.empty());
  EXPECT_TRUE(wait_until(
      [&] {
        return contains(
            in_host({"curl", "-s", "--max-time", "2", "http://127.0.0.1:" + hp + "/"}).out,
            "second");
      },
      15s, 200ms));
}

TEST_F(NetworkTest, NoneHasOnlyLoopbackHostSeesTheHostsInterfacesBridgeHasEth0) {
  Result none = v({"run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net"});
  ASSERT_TRUE(none.ok()) << none.describe();
  EXPECT_EQ(trim(none.out), "lo");
  Result host = v(
      {"run", "--rm", "--network", "host", "busybox", "sh", "-c", "ip -o link; ls /sys/class/net"});
  ASSERT_TRUE(host.ok()) << host.describe();
  EXPECT_TRUE(contains(host.out, ": uplink@")) << host.out;
  // sysfs too shows the host's (HOST's) interfaces, not those of whoever mounted /sys first.
  EXPECT_TRUE(contains(host.out, "\nuplink\n")) << host.out;
  Result bridge = v({"run", "--rm", "busybox", "ls", "/sys/class/net"});
  ASSERT_TRUE(bridge.ok()) << bridge.describe();
  EXPECT_EQ(trim(bridge.out), "eth0\nlo");
  // The default network is there for ls and inspect, and cannot be removed.
  EXPECT_TRUE(contains(v({"network", "ls"}).out, "vessel"));
  EXPECT_EQ(v({"network", "rm", "vessel"}).exit_code(), 125);
}

TEST_F(NetworkTest, OutboundTrafficIsMasqueradedInternalNetworksStayInside) {
  Result out = v({"run", "--rm", "busybox", "ping", "-c", "1", "-W", "3", "192.0.2.2"});
  EXPECT_TRUE(out.ok()) << "no outbound NAT: " << out.describe();
  ASSERT_TRUE(v({"network", "create", "--internal", "sealed"}).ok());
  Result sealed = v(
      {"run", "--rm", "--network", "sealed", "busybox", "ping", "-c", "1", "-W", "2", "192.0.2.2"});
  EXPECT_FALSE(sealed.ok()) << "an internal network reached the outside";
  Result pub = v({"run", "--rm", "--network", "sealed", "-p", "8081:80", "busybox", "true"});
  EXPECT_EQ(pub.exit_code(), 125) << pub.describe();
}

TEST_F(NetworkTest, ContainerModeSharesTheNamespaceDnsAndAddHost) {
  run_d({"--name", "base", "busybox", "sleep", "1000"});
  Result base_ns = v({"exec", "base", "readlink", "/proc/self/ns/net"});
  Result joined =
      v({"run", "--rm", "--network", "container:base", "busybox", "readlink", "/proc/self/ns/net"});
  ASSERT_TRUE(joined.ok()) << joined.describe();
  EXPECT_EQ(trim(joined.out), trim(base_ns.out));

  Result etc = v({"run", "--rm", "--dns", "192.0.2.53", "--dns-search", "example.test",
                  "--add-host", "db:192.0.2.7", "--add-host", "gw:host-gateway", "busybox", "sh",
                  "-c", "cat /etc/resolv.conf /etc/hosts"});
  ASSERT_TRUE(etc.ok()) << etc.describe();
  EXPECT_TRUE(contains(etc.out, "nameserver 192.0.2.53")) << etc.out;
  EXPECT_TRUE(contains(etc.out, "search example.test")) << etc.out;
  EXPECT_TRUE(contains(etc.out, "192.0.2.7\tdb")) << etc.out;
  std::string gw = inspect("base")["NetworkSettings"]["Networks"]["vessel"].value("Gateway", "");
  EXPECT_TRUE(!gw.empty() && contains(etc.out, gw + "\tgw")) << etc.out;
}

TEST_F(NetworkTest, ConnectAndDisconnectARunningContainer) {
  ASSERT_TRUE(v({"network", "create", "extra"}).ok());
  run_d({"--name", "x", "busybox", "sleep", "1000"});
  ASSERT_TRUE(v({"network", "connect", "extra", "x"}).ok());
  EXPECT_EQ(trim(v({"exec", "x", "ls", "/sys/class/net"}).out), "eth0\neth1\nlo");
  EXPECT_FALSE(ip_of("x", "extra").empty());
  EXPECT_EQ(v({"network", "connect", "extra", "x"}).exit_code(), 125);
  ASSERT_TRUE(v({"network", "disconnect", "extra", "x"}).ok());
  EXPECT_EQ(trim(v({"exec", "x", "ls", "/sys/class/net"}).out), "eth0\nlo");
  ASSERT_TRUE(v({"network", "rm", "extra"}).ok());
  EXPECT_FALSE(contains(in_host({"ip", "-o", "link"}).out, "vessel1")) << "bridge left behind";
}

// A restart (restart policy) checks the network with CNI CHECK first: a veth deleted by hand
// is noticed and the network set up again.
TEST_F(NetworkTest, RestartChecksAndRepairsTheNetwork) {
  run_d({"--name", "r", "--restart", "always", "busybox", "sleep", "1000"});
  auto before = inspect("r");
  std::string gw = before["NetworkSettings"]["Networks"]["vessel"].value("Gateway", "");
  ASSERT_FALSE(gw.empty());
  std::string veth;
  for (const auto& l : split_lines(in_host({"ip", "-o", "link", "show", "type", "veth"}).out)) {
    auto colon = l.find(": ");
    if (colon == std::string::npos || contains(l, "uplink")) continue;
    veth = l.substr(colon + 2, l.find('@') - colon - 2);
  }
  ASSERT_FALSE(veth.empty());
  ASSERT_TRUE(in_host({"ip", "link", "del", veth}).ok());
  EXPECT_FALSE(v({"exec", "r", "ping", "-c", "1", "-W", "1", gw}).ok()) << "the network is cut";
  ::kill(before["State"]["Pid"].get<pid_t>(), SIGKILL);
  ASSERT_TRUE(wait_until([&] {
    auto j = inspect("r");
    return !j.is_null() && j["RestartCount"].get<int>() >= 1 && j["State"]["Status"] == "running";
  }));
  Result ping = v({"exec", "r", "ping", "-c", "1", "-W", "3", gw});
  EXPECT_TRUE(ping.ok()) << "the network was not repaired: " << ping.describe();
}

TEST_F(NetworkTest, BadInputIsRefusedAndLeavesNothing) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  } cases[] = {
      {{"run", "--rm", "--network", "nosuch", "busybox", "true"}, "no such network: nosuch"},
      {{"run", "--rm", "-p", "99999:80", "busybox", "true"}, "out of range"},
      {{"run", "--rm", "-p", "8080:80/icmp", "busybox", "true"}, "not tcp, udp or sctp"},
      {{"run", "--rm", "--network", "none", "-p", "80", "busybox", "true"}, "bridge network"},
      {{"run", "--rm", "--network", "none", "--network", "host", "busybox", "true"},
       "cannot be combined"},
      {{"run", "--rm", "--dns", "not-an-ip", "busybox", "true"}, "not an IP address"},
      {{"run", "--rm", "--add-host", "nocolon", "busybox", "true"}, "expected NAME:IP"},
      {{"network", "create", "--subnet", "10.0.0.0/33", "bad"}, "prefix length"},
      {{"network", "create", "--subnet", "10.91.0.1/24", "bad"}, "host bits"},
      {{"network", "create", "--gateway", "10.1.1.1", "--subnet", "10.91.9.0/24", "bad"},
       "not a host address"},
      {{"network", "create", "host"}, "reserved"},
      {{"network", "rm", "nosuch"}, "no such network"},
  };
  for (const auto& c : cases) {
    Result r = v(c.args);
    EXPECT_EQ(r.exit_code(), 125) << r.describe();
    EXPECT_TRUE(contains(r.err, c.message)) << r.describe();
    EXPECT_EQ(split_lines(trim(r.err)).size(), 1u) << r.describe();
  }
  ASSERT_TRUE(v({"network", "create", "--subnet", "10.91.7.0/24", "one"}).ok());
  Result overlap = v({"network", "create", "--subnet", "10.91.0.0/16", "two"});
  EXPECT_TRUE(contains(overlap.err, "overlaps network one")) << overlap.describe();
  EXPECT_EQ(trim(v({"ps", "-aq"}).out), "");
  EXPECT_EQ(leftovers({}), "");
}

TEST_F(NetworkTest, NothingIsLeftAfterRmOrAKilledMonitor) {
  ASSERT_TRUE(v({"network", "create", "n1"}).ok());
  run_d({"--name", "p", "-p", "8090:80", "busybox", "sleep", "1000"});
  run_d({"--name", "q", "--network", "n1", "--network", "bridge", "busybox", "sleep", "1000"});
  // A `vessel run` killed while it waits for its container: the container runs on.
  Child fg = [&] {
    std::vector<std::string> argv = {"nsenter",
                                     "--net=/run/netns/" + host_,
                                     VESSEL_MANAGER_BIN,
                                     "--root",
                                     root_,
                                     "run",
                                     "--name",
                                     "fg",
                                     "busybox",
                                     "sleep",
                                     "1000"};
    return spawn(argv);
  }();
  ASSERT_TRUE(wait_until([&] {
    auto j = inspect("fg");
    return !j.is_null() && j["State"]["Status"] == "running";
  }));
  fg.kill_group(SIGKILL);
  fg.wait();
  auto all = ids();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_NE(leftovers(all), "");  // the check sees what is there while they run
  for (const auto& name : {"p", "q", "fg"}) ASSERT_TRUE(v({"rm", "-f", name}).ok());
  EXPECT_EQ(leftovers(all), "");

  // The monitor and the container killed together: the next command cleans up.
  run_d({"--name", "k", "-p", "8091:80", "busybox", "sleep", "1000"});
  auto k = inspect("k");
  std::string kid = k["Id"];
  ::kill(k["State"]["MonitorPid"].get<pid_t>(), SIGKILL);
  ::kill(k["State"]["Pid"].get<pid_t>(), SIGKILL);
  EXPECT_TRUE(wait_until([&] { return ::kill(k["State"]["Pid"].get<pid_t>(), 0) != 0; }));
  Result ps = v({"ps", "-a"});
  ASSERT_TRUE(ps.ok()) << ps.describe();
  EXPECT_EQ(leftovers({kid}), "");
  ASSERT_TRUE(v({"rm", "k"}).ok());
}

}  // namespace
}  // namespace itest
