// The network layer's pure parts: --publish parsing, CNI results, and the /etc files a
// container gets.
#include <gtest/gtest.h>

#include "manager/networks.h"
#include "network/cni.h"
#include "network/ports.h"
#include "util/error.h"

namespace vessel {
namespace {

using network::parse_publish;
using network::PortMapping;

TEST(PublishTest, DockerForms) {
  EXPECT_EQ(parse_publish("80"), (std::vector<PortMapping>{{"", 0, 80, "tcp"}}));
  EXPECT_EQ(parse_publish("8080:80"), (std::vector<PortMapping>{{"", 8080, 80, "tcp"}}));
  EXPECT_EQ(parse_publish("127.0.0.1:8080:80/udp"),
            (std::vector<PortMapping>{{"127.0.0.1", 8080, 80, "udp"}}));
  EXPECT_EQ(parse_publish("127.0.0.1::80"),
            (std::vector<PortMapping>{{"127.0.0.1", 0, 80, "tcp"}}));
  EXPECT_EQ(parse_publish("[::1]:8080:80"), (std::vector<PortMapping>{{"::1", 8080, 80, "tcp"}}));
  EXPECT_EQ(parse_publish("8000-8001:80-81"),
            (std::vector<PortMapping>{{"", 8000, 80, "tcp"}, {"", 8001, 81, "tcp"}}));
}

TEST(PublishTest, BadValuesNameTheProblem) {
  auto message = [](const std::string& spec) {
    try {
      parse_publish(spec);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(message("0").find("out of range"), std::string::npos);
  EXPECT_NE(message("70000:80").find("out of range"), std::string::npos);
  EXPECT_NE(message("80/icmp").find("not tcp, udp or sctp"), std::string::npos);
  EXPECT_NE(message("a:b:c:d").find("expected"), std::string::npos);
  EXPECT_NE(message("999.1.1.1:80:80").find("not an IPv4 address"), std::string::npos);
  EXPECT_NE(message("8000-8002:80-81").find("differ in length"), std::string::npos);
  EXPECT_NE(message("8000:80-81").find("host range"), std::string::npos);
  EXPECT_NE(message("90-80").find("ends before"), std::string::npos);
}

TEST(PublishTest, FreeHostPortsAreAssignedAndCniFormIsPortmaps) {
  auto ports = parse_publish("80");
  network::assign_free_host_ports(ports);
  EXPECT_GT(ports[0].host_port, 1024);
  auto cni = network::to_cni_port_mappings(parse_publish("127.0.0.1:8080:80/udp"));
  EXPECT_EQ(cni, nlohmann::json::parse(R"([{"hostPort":8080,"containerPort":80,"protocol":"udp",
                                            "hostIP":"127.0.0.1"}])"));
}

TEST(CniResultTest, FirstContainerAddressIsTheSandboxInterfaces) {
  auto result = nlohmann::json::parse(R"({
    "cniVersion": "1.0.0",
    "interfaces": [{"name": "vessel0", "mac": "aa:aa:aa:aa:aa:aa"},
                   {"name": "veth1234", "mac": "bb:bb:bb:bb:bb:bb"},
                   {"name": "eth0", "mac": "cc:cc:cc:cc:cc:cc", "sandbox": "/run/netns/x"}],
    "ips": [{"interface": 2, "address": "10.90.0.5/16", "gateway": "10.90.0.1"}]})");
  auto a = network::first_container_address(result, "eth0");
  EXPECT_EQ(a.address, "10.90.0.5/16");
  EXPECT_EQ(a.gateway, "10.90.0.1");
  EXPECT_EQ(a.mac, "cc:cc:cc:cc:cc:cc");
  EXPECT_EQ(network::first_container_address(nlohmann::json(), "eth0").address, "");
}

// Found by fuzzing (tests/fuzz/fuzz_cni.cc): a malformed result is an empty answer, never a
// JSON type error thrown at the caller.
TEST(CniResultTest, MalformedResultsGiveNoAddressInsteadOfThrowing) {
  for (const char* text :
       {R"({"ips":[1.04444488888]})", R"({"ips":{"address":"10.0.0.1/8"}})",
        R"({"interfaces":{"a":1},"ips":[{"address":5}]})", R"({"interfaces":[1,"x",null]})",
        R"({"interfaces":[{"name":7,"sandbox":[]}],"ips":[{"address":"10.0.0.1/8","gateway":3}]})",
        R"({"interfaces":[{"name":"eth0","sandbox":"/x","mac":1}],"ips":[{"interface":"0",
            "address":"10.0.0.1/8"},{"interface":0,"address":"10.0.0.2/8"}]})"}) {
    SCOPED_TRACE(text);
    network::ResultAddress a;
    EXPECT_NO_THROW(a = network::first_container_address(nlohmann::json::parse(text), "eth0"));
  }
  auto last = network::first_container_address(
      nlohmann::json::parse(R"({"interfaces":[{"name":"eth0","sandbox":"/x","mac":1}],
        "ips":[{"interface":"0","address":"10.0.0.1/8"},{"interface":0,"address":"10.0.0.2/8"}]})"),
      "eth0");
  EXPECT_EQ(last.address, "10.0.0.2/8");
  EXPECT_EQ(last.mac, "");
}

TEST(CniRunnerTest, MissingPluginNamesTheDirectories) {
  network::CniRunner cni({"/nonexistent-a", "/nonexistent-b"});
  try {
    cni.find_plugin("bridge");
    FAIL() << "found a plugin that does not exist";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-a, /nonexistent-b"), std::string::npos);
  }
  EXPECT_THROW(cni.find_plugin("../bin/sh"), Error);
}

TEST(EtcFilesTest, ResolvConfDropsHostLoopbackResolversUnlessHostNetwork) {
  manager::RunOptions o;
  o.network = "bridge";
  std::string host = "search corp.example\nnameserver 127.0.0.53\noptions edns0\n";
  EXPECT_EQ(manager::resolv_conf_for(o, host),
            "search corp.example\nnameserver 8.8.8.8\nnameserver 8.8.4.4\noptions edns0\n");
  EXPECT_EQ(manager::resolv_conf_for(o, "nameserver 192.0.2.1\nnameserver 127.0.0.1\n"),
            "nameserver 192.0.2.1\n");
  o.network = "host";
  EXPECT_EQ(manager::resolv_conf_for(o, host),
            "search corp.example\nnameserver 127.0.0.53\noptions edns0\n");
  o.dns = {"192.0.2.53"};
  o.dns_search = {"a.test", "b.test"};
  o.dns_options = {"ndots:2"};
  EXPECT_EQ(manager::resolv_conf_for(o, host),
            "search a.test b.test\nnameserver 192.0.2.53\noptions ndots:2\n");
}

TEST(EtcFilesTest, HostsHaveTheHostnameAndAddHosts) {
  manager::RunOptions o;
  o.name = "web";
  o.add_hosts = {"db:192.0.2.7", "v6:[2001:db8::1]"};
  std::string h = manager::initial_hosts("abc123", o);
  EXPECT_NE(h.find("127.0.0.1\tlocalhost\n"), std::string::npos);
  EXPECT_NE(h.find("127.0.1.1\tabc123\tweb\n"), std::string::npos);
  EXPECT_NE(h.find("192.0.2.7\tdb\n"), std::string::npos);
  EXPECT_NE(h.find("2001:db8::1\tv6\n"), std::string::npos);
  EXPECT_THROW(manager::parse_add_host("db:not-an-ip"), Error);
  EXPECT_THROW(manager::parse_add_host(":1.2.3.4"), Error);
}

}  // namespace
}  // namespace vessel
