// The integration harness's config.json building (harness.h, "Config building"): a runc-like
// default spec for the shared busybox rootfs.
#include "harness.h"

namespace itest {

json mount_entry(const std::string& dest, const std::string& type, const std::string& source,
                 std::vector<std::string> options) {
  json m = {{"destination", dest}, {"type", type}, {"source", source}};
  if (!options.empty()) m["options"] = options;
  return m;
}

json default_spec(const std::string& rootfs, std::vector<std::string> args) {
  const json caps = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"};
  json mounts = json::array({
      mount_entry("/proc", "proc", "proc"),
      mount_entry("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}),
      mount_entry("/dev/pts", "devpts", "devpts",
                  {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}),
      mount_entry("/dev/shm", "tmpfs", "shm",
                  {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}),
      mount_entry("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}),
      mount_entry("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}),
  });
  json namespaces = json::array();
  for (const char* ns : {"pid", "network", "ipc", "uts", "mount"})
    namespaces.push_back({{"type", ns}});
  return {
      {"ociVersion", "1.0.2-dev"},
      {"process",
       {
           {"terminal", false},
           {"user", {{"uid", 0}, {"gid", 0}}},
           {"args", args},
           {"env",
            {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"}},
           {"cwd", "/"},
           {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
           {"rlimits", json::array({{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}})},
           {"noNewPrivileges", true},
       }},
      {"root", {{"path", rootfs}, {"readonly", true}}},
      {"hostname", "vessel-itest"},
      {"mounts", mounts},
      {"linux",
       {
           {"resources", {{"devices", json::array({{{"allow", false}, {"access", "rwm"}}})}}},
           {"namespaces", namespaces},
           {"maskedPaths",
            {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
             "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
             "/proc/scsi"}},
           {"readonlyPaths",
            {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}},
       }},
  };
}

}  // namespace itest
