#include "oci/state.h"

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

// Every capability name of the runtime-spec era we implement. features-linux.md asks for the
// names we recognize, not the ones this kernel has, so the list is fixed at build time.
const std::vector<std::string>& capability_names() {
  static const std::vector<std::string> caps = {
      "CAP_CHOWN",
      "CAP_DAC_OVERRIDE",
      "CAP_DAC_READ_SEARCH",
      "CAP_FOWNER",
      "CAP_FSETID",
      "CAP_KILL",
      "CAP_SETGID",
      "CAP_SETUID",
      "CAP_SETPCAP",
      "CAP_LINUX_IMMUTABLE",
      "CAP_NET_BIND_SERVICE",
      "CAP_NET_BROADCAST",
      "CAP_NET_ADMIN",
      "CAP_NET_RAW",
      "CAP_IPC_LOCK",
      "CAP_IPC_OWNER",
      "CAP_SYS_MODULE",
      "CAP_SYS_RAWIO",
      "CAP_SYS_CHROOT",
      "CAP_SYS_PTRACE",
      "CAP_SYS_PACCT",
      "CAP_SYS_ADMIN",
      "CAP_SYS_BOOT",
      "CAP_SYS_NICE",
      "CAP_SYS_RESOURCE",
      "CAP_SYS_TIME",
      "CAP_SYS_TTY_CONFIG",
      "CAP_MKNOD",
      "CAP_LEASE",
      "CAP_AUDIT_WRITE",
      "CAP_AUDIT_CONTROL",
      "CAP_SETFCAP",
      "CAP_MAC_OVERRIDE",
      "CAP_MAC_ADMIN",
      "CAP_SYSLOG",
      "CAP_WAKE_ALARM",
      "CAP_BLOCK_SUSPEND",
      "CAP_AUDIT_READ",
      "CAP_PERFMON",
      "CAP_BPF",
      "CAP_CHECKPOINT_RESTORE",
  };
  return caps;
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
