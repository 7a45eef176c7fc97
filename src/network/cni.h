// The container network interface (CNI 1.0, ../shared/specs/cni): runs a network
// configuration list's plugins for one attachment — ADD in order with each result chained
// into the next, DEL in reverse with the cached result, CHECK — and turns the plugins' error
// objects into errors that name the plugin.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace vessel::network {

// One interface of one container on one network: everything DEL needs again later, so it
// is kept (with the ADD result) until the DEL succeeds.
struct Attachment {
  std::string container_id;
  std::string netns;              // path of the network namespace
  std::string ifname;             // eth0, eth1…
  nlohmann::json conflist;        // {"cniVersion", "name", "plugins": […]}
  nlohmann::json runtime_config;  // capability arguments: {"portMappings": […]}
};

// Plugin binaries are looked for in $VESSEL_CNI_PATH (colon-separated) when it is set,
// else in /usr/lib/cni (Debian), /usr/libexec/cni and /opt/cni/bin.
std::vector<std::string> default_plugin_dirs();

class CniRunner {
 public:
  explicit CniRunner(std::vector<std::string> plugin_dirs = default_plugin_dirs());

  // Runs ADD for every plugin; returns the last plugin's result. A failure runs DEL for the
  // plugins already added, then throws.
  nlohmann::json add(const Attachment& a) const;
  // Runs DEL for every plugin in reverse order, even after a failure; throws the first
  // error at the end. A missing network namespace is not an error (the spec's rule).
  void del(const Attachment& a, const nlohmann::json& prev_result) const;
  void check(const Attachment& a, const nlohmann::json& prev_result) const;

  // The path of a plugin binary, or throws naming the directories searched.
  std::string find_plugin(const std::string& type) const;

 private:
  nlohmann::json invoke(const std::string& command, const Attachment& a,
                        const nlohmann::json& plugin, const nlohmann::json& prev_result) const;
  std::vector<std::string> dirs_;
};

// The IPv4 address with prefix ("10.90.0.5/16") and gateway of a result's first interface
// inside the container, and its IPv6 ones on a dual-stack network; empty strings when the
// result has none.
struct ResultAddress {
  std::string address;  // with prefix length
  std::string gateway;
  std::string mac;
  std::string address6;  // "fd00:1::2/64"
  std::string gateway6;
};
ResultAddress first_container_address(const nlohmann::json& result, const std::string& ifname);

}  // namespace vessel::network
