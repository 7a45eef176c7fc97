// A small world of two network namespaces for the manager's network tests: HOST plays the host
// (vessel runs in it through nsenter, so its bridges, veths, NAT rules and resolvers live
// there) and OUT plays the outside world, joined to HOST by a veth pair (uplink 192.0.2.1 <->
// downlink 192.0.2.2, and 2001:db8::1 <-> ::2 when asked for), with no route back to the
// containers' subnets, so a reply only arrives through NAT. Each test gets its own pair and
// its own store, and TearDown removes every container, both namespaces and the directory.
#pragma once

#include <unistd.h>

#include <string>
#include <vector>

#include "harness.h"

namespace itest {

class NetnsWorldTest : public ::testing::Test {
 protected:
  // PREFIX names the temp directory and the namespaces; IPV6 adds the v6 addresses.
  void make_world(const std::string& prefix, bool ipv6) {
    std::string tmpl = "/tmp/vessel-" + prefix + "-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    root_ = dir_ + "/store";
    std::string tag = std::to_string(::getpid()) + "-" + std::to_string(++counter_);
    host_ = "vessel-" + prefix + "-host-" + tag;
    out_ = "vessel-" + prefix + "-out-" + tag;
    std::vector<std::vector<std::string>> cmds = {
        {"ip", "netns", "add", host_},
        {"ip", "netns", "add", out_},
        {"ip", "-n", host_, "link", "set", "lo", "up"},
        {"ip", "-n", out_, "link", "set", "lo", "up"},
        {"ip", "-n", host_, "link", "add", "uplink", "type", "veth", "peer", "name", "downlink",
         "netns", out_},
        {"ip", "-n", host_, "addr", "add", "192.0.2.1/24", "dev", "uplink"},
        {"ip", "-n", out_, "addr", "add", "192.0.2.2/24", "dev", "downlink"},
    };
    if (ipv6) {
      cmds.push_back(
          {"ip", "-n", host_, "addr", "add", "2001:db8::1/64", "dev", "uplink", "nodad"});
      cmds.push_back(
          {"ip", "-n", out_, "addr", "add", "2001:db8::2/64", "dev", "downlink", "nodad"});
    }
    cmds.push_back({"ip", "-n", host_, "link", "set", "uplink", "up"});
    cmds.push_back({"ip", "-n", out_, "link", "set", "downlink", "up"});
    for (const auto& cmd : cmds) {
      Result r = run_cmd(cmd);
      ASSERT_TRUE(r.ok()) << r.describe();
    }
  }

  // Removes the store's containers (and checks they are gone); the namespaces and the
  // directory go in remove_world(), after a subclass's own checks.
  void remove_containers() {
    if (root_.empty()) return;
    for (const auto& id : ids()) v({"rm", "-f", id});
    EXPECT_EQ(trim(v({"ps", "-aq"}).out), "");
  }
  void remove_world() {
    if (!host_.empty()) run_cmd({"ip", "netns", "del", host_});
    if (!out_.empty()) run_cmd({"ip", "netns", "del", out_});
    if (!dir_.empty() && !getenv("VESSEL_TEST_KEEP")) remove_tree(dir_);
  }

  // Mounts this test's store made (the host's own mount count moves with other work on the
  // machine; ours must all be gone).
  size_t our_mounts() {
    size_t n = 0;
    for (const auto& m : parse_mountinfo(read_text("/proc/self/mountinfo")))
      n += m.mount_point.rfind(dir_, 0) == 0;
    return n;
  }

  Result in_host(const std::vector<std::string>& args, Millis timeout = kTimeout) {
    std::vector<std::string> argv = {"nsenter", "--net=/run/netns/" + host_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_cmd(argv, timeout);
  }
  Result in_out(const std::vector<std::string>& args, Millis timeout = kTimeout) {
    std::vector<std::string> argv = {"nsenter", "--net=/run/netns/" + out_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_cmd(argv, timeout);
  }
  // `vessel --root STORE ARGS...` in HOST.
  Result v(const std::vector<std::string>& args, Millis timeout = kTimeout) {
    std::vector<std::string> argv = {VESSEL_MANAGER_BIN, "--root", root_};
    argv.insert(argv.end(), args.begin(), args.end());
    return in_host(argv, timeout);
  }
  json inspect(const std::string& name) {
    auto r = v({"inspect", name});
    if (!r.ok()) return json();
    return json::parse(r.out).at(0);
  }
  json net_of(const std::string& name, const std::string& network) {
    auto j = inspect(name);
    if (j.is_null() || !j["NetworkSettings"]["Networks"].contains(network)) return json::object();
    return j["NetworkSettings"]["Networks"][network];
  }
  std::string ip_of(const std::string& name, const std::string& network) {
    return net_of(name, network).value("IPAddress", "");
  }
  void run_d(const std::vector<std::string>& args) {
    std::vector<std::string> a = {"run", "-d"};
    a.insert(a.end(), args.begin(), args.end());
    Result r = v(a);
    ASSERT_TRUE(r.ok()) << r.describe();
  }
  std::vector<std::string> ids() {
    std::vector<std::string> out;
    for (const auto& id : split_lines(v({"ps", "-aq", "--no-trunc"}).out))
      if (!trim(id).empty()) out.push_back(trim(id));
    return out;
  }

  static inline int counter_ = 0;
  std::string dir_, root_, host_, out_;
};

}  // namespace itest
