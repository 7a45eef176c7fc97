#include <unistd.h>

#include <string>
#include <vector>

#include "oci/spec.h"

namespace vessel::oci {

using nlohmann::json;

json default_spec(bool rootless) {
  const json caps = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"};

  json process = {
      {"terminal", true},
      {"user", {{"uid", 0}, {"gid", 0}}},
      {"args", json::array({"sh"})},
      {"env", {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"}},
      {"cwd", "/"},
      {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
      {"rlimits", json::array({{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}})},
      {"noNewPrivileges", true},
  };

  auto mount = [](const char* dest, const char* type, const char* source,
                  std::vector<std::string> options) {
    json m = {{"destination", dest}, {"type", type}, {"source", source}};
    if (!options.empty()) m["options"] = options;
    return m;
  };

  json mounts = json::array();
  mounts.push_back(mount("/proc", "proc", "proc", {}));
  mounts.push_back(
      mount("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}));
  std::vector<std::string> devpts = {"nosuid", "noexec", "newinstance", "ptmxmode=0666",
                                     "mode=0620"};
  // In a user namespace the host's tty group does not exist, and asking for gid=5 fails.
  if (!rootless) devpts.push_back("gid=5");
  mounts.push_back(mount("/dev/pts", "devpts", "devpts", devpts));
  mounts.push_back(
      mount("/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}));
  mounts.push_back(mount("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}));
  if (rootless) {
    // Without a network namespace of its own the container cannot mount a fresh sysfs, and
    // an unprivileged user cannot mount cgroupfs; the host's /sys (which holds the cgroup
    // tree) is bound in read-only instead.
    mounts.push_back(mount("/sys", "none", "/sys", {"rbind", "nosuid", "noexec", "nodev", "ro"}));
  } else {
    mounts.push_back(mount("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}));
    mounts.push_back(mount("/sys/fs/cgroup", "cgroup", "cgroup",
                           {"nosuid", "noexec", "nodev", "relatime", "ro"}));
  }

  json namespaces = json::array();
  for (const char* ns : {"pid", "network", "ipc", "uts", "mount", "cgroup"}) {
    // Rootless containers keep the host network: an unprivileged user could not wire up a
    // new network namespace, which would leave the container with loopback only.
    if (rootless && std::string(ns) == "network") continue;
    namespaces.push_back({{"type", ns}});
  }

  json linux_section = {
      {"namespaces", namespaces},
      {"maskedPaths",
       {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
        "/sys/devices/virtual/powercap"}},
      {"readonlyPaths", {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}},
  };
  if (rootless) {
    linux_section["namespaces"].push_back({{"type", "user"}});
    // A single mapping of the caller onto root: the only one an unprivileged user may write.
    linux_section["uidMappings"] =
        json::array({{{"containerID", 0}, {"hostID", geteuid()}, {"size", 1}}});
    linux_section["gidMappings"] =
        json::array({{{"containerID", 0}, {"hostID", getegid()}, {"size", 1}}});
  } else {
    // Deny all device access by default; rootless has no device cgroup to write this to.
    linux_section["resources"] = {
        {"devices", json::array({{{"allow", false}, {"access", "rwm"}}})}};
  }

  return {
      {"ociVersion", kSpecVersion},
      {"process", process},
      {"root", {{"path", "rootfs"}, {"readonly", true}}},
      {"hostname", "vessel"},
      {"mounts", mounts},
      {"linux", linux_section},
  };
}

}  // namespace vessel::oci
