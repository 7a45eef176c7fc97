#include "oci/state.h"

#include "oci/capability_names.h"
#include "oci/mount_options.h"
#include "oci/spec.h"
#include "util/go_json.h"

#ifndef VESSEL_VERSION
#define VESSEL_VERSION "unknown"
#endif

namespace vessel::oci {

using nlohmann::json;

json state_to_json(const State& s) {
  json j = json::object();
  j["ociVersion"] = s.oci_version;
  j["id"] = s.id;
  j["status"] = s.status;
  // runtime.md requires pid on Linux for created and running; once the container has stopped
  // (or before its process exists) a pid of 0 would be a lie, so it is left out.
  if (s.pid > 0 || s.status == "created" || s.status == "running") j["pid"] = s.pid;
  j["bundle"] = s.bundle;
  if (!s.annotations.empty()) j["annotations"] = s.annotations;
  return j;
}

nlohmann::ordered_json container_state_json(const ContainerState& c) {
  const State& s = c.state;
  nlohmann::ordered_json j;
  j["ociVersion"] = s.oci_version;
  j["id"] = s.id;
  j["pid"] = s.status == "stopped" ? 0 : s.pid;
  j["status"] = s.status;
  j["bundle"] = s.bundle;
  j["rootfs"] = c.rootfs;
  j["created"] = go_rfc3339nano(c.created);
  if (!s.annotations.empty()) j["annotations"] = s.annotations;
  j["owner"] = c.owner;
  return j;
}

namespace {

std::vector<std::string> capability_names() {
  return {kCapabilityNames.begin(), kCapabilityNames.end()};
}

}  // namespace

json features_json() {
  json namespaces = json::array();
  for (auto t :
       {NamespaceType::cgroup, NamespaceType::ipc, NamespaceType::mount, NamespaceType::network,
        NamespaceType::pid, NamespaceType::time, NamespaceType::user, NamespaceType::uts})
    namespaces.push_back(namespace_name(t));

  json linux_features = {
      {"namespaces", namespaces},
      {"capabilities", capability_names()},
      {"cgroup",
       {{"v1", true},
        {"v2", true},
        {"systemd", VESSEL_HAVE_SYSTEMD != 0},  // --systemd-cgroup (cgroups/systemd.h)
        {"systemdUser", false},
        {"rdma", false}}},
      // Disabled entries say "not implemented" explicitly; an absent one would mean "unknown".
      {"seccomp", {{"enabled", false}}},
      // The runtime's support, "irrelevant to the availability on the host" (features-linux.md):
      // labels are applied where the LSM is on and refused with an error where it is not.
      {"apparmor", {{"enabled", true}}},
      {"selinux", {{"enabled", true}}},
      {"intelRdt", {{"enabled", false}}},
      {"mountExtensions", {{"idmap", {{"enabled", true}}}}},
      {"netDevices", {{"enabled", false}}},
  };

  return {
      {"ociVersionMin", "1.0.0"},
      {"ociVersionMax", kSpecVersion},
      {"hooks",
       {"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}},
      {"mountOptions", known_mount_options()},
      {"linux", linux_features},
      {"annotations", {{"io.github.vessel.version", VESSEL_VERSION}}},
  };
}

}  // namespace vessel::oci
