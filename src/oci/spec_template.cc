// The config.json `vessel-runtime spec` writes: runc 1.1's template, field for field, so a
// bundle made with one runtime's `spec` behaves the same under the other. (default_spec() is
// the manager's starting point and differs on purpose: a cgroup namespace, more masked paths.)
#include <unistd.h>

#include <string>
#include <vector>

#include "oci/spec.h"

namespace vessel::oci {

using nlohmann::json;

namespace {

json mount(const char* dest, const char* type, const char* source,
           std::vector<std::string> options) {
  json m = {{"destination", dest}, {"type", type}, {"source", source}};
  if (!options.empty()) m["options"] = options;
  return m;
}

}  // namespace

json spec_template(bool rootless, bool cgroup_namespace) {
  const json caps = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"};
  json process = {
      {"terminal", true},
      {"user", {{"uid", 0}, {"gid", 0}}},
      {"args", json::array({"sh"})},
      {"env", {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"}},
      {"cwd", "/"},
      // Ambient without inheritable, as runc writes it: the kernel refuses to raise those, and
      // the runtime skips them (linux/capabilities.cc).
      {"capabilities",
       {{"bounding", caps}, {"effective", caps}, {"permitted", caps}, {"ambient", caps}}},
      {"rlimits", json::array({{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}})},
      {"noNewPrivileges", true},
  };

  std::vector<std::string> devpts = {"nosuid", "noexec", "newinstance", "ptmxmode=0666",
                                     "mode=0620"};
  // In a user namespace the host's tty group is not mapped, and gid=5 would fail.
  if (!rootless) devpts.push_back("gid=5");
  json mounts = json::array({
      mount("/proc", "proc", "proc", {}),
      mount("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}),
      mount("/dev/pts", "devpts", "devpts", devpts),
      mount("/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}),
      mount("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}),
      // Without a network namespace of its own a rootless container cannot mount a fresh
      // sysfs: the host's is bound in, read-only.
      rootless ? mount("/sys", "none", "/sys", {"rbind", "nosuid", "noexec", "nodev", "ro"})
               : mount("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}),
      mount("/sys/fs/cgroup", "cgroup", "cgroup", {"nosuid", "noexec", "nodev", "relatime", "ro"}),
  });

  json namespaces = json::array();
  // Rootless keeps the host network (an unprivileged user could not connect a new network
  // namespace to anything).
  for (const char* ns : {"pid", "network", "ipc", "uts", "mount"})
    if (!rootless || std::string(ns) != "network") namespaces.push_back({{"type", ns}});
  if (cgroup_namespace) namespaces.push_back({{"type", "cgroup"}});

  json linux_section = {
      {"namespaces", namespaces},
      {"maskedPaths",
       {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
        "/proc/scsi"}},
      {"readonlyPaths", {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}},
  };
  if (rootless) {
    linux_section["namespaces"].push_back({{"type", "user"}});
    // The caller onto root: the only mapping an unprivileged user may write.
    linux_section["uidMappings"] =
        json::array({{{"containerID", 0}, {"hostID", geteuid()}, {"size", 1}}});
    linux_section["gidMappings"] =
        json::array({{{"containerID", 0}, {"hostID", getegid()}, {"size", 1}}});
  } else {
    // Deny all device access; a rootless container has no device cgroup to write it to.
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
