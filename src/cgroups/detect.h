// Finding the host's cgroup hierarchies: where each is mounted and where the runtime itself
// sits in it. The parsers take file contents so that tests can feed them any host's text.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cgroups/manager.h"

namespace vessel::cgroups {

// One line of /proc/self/mountinfo, reduced to what cgroups need.
struct MountEntry {
  std::string root;         // the part of the filesystem shown at mount_point ("/" usually)
  std::string mount_point;  // escapes (\040 ...) already decoded
  std::string fs_type;
  std::vector<std::string> super_options;  // for cgroup v1: "rw", the controllers, "name=..."
};

// One line of /proc/self/cgroup: "4:memory:/a/b", "9:name=systemd:/", "0::/x".
struct ProcCgroupEntry {
  int id = 0;
  std::vector<std::string> controllers;  // empty for the unified (v2) hierarchy
  std::string path;
};

// A mounted hierarchy the manager creates a directory in.
struct Hierarchy {
  std::vector<std::string> controllers;  // v1: {"cpu", "cpuacct"}, {"name=systemd"}; v2: {}
  std::string mount_point;
  std::string mount_root;  // from mountinfo; "/" unless only a subtree is mounted there
  std::string own_path;    // the runtime's own cgroup, as /proc/self/cgroup shows it

  bool unified() const { return controllers.empty(); }
  bool has(std::string_view controller) const;
};

struct HostCgroups {
  Layout layout = Layout::v1;
  // v1: the mounted v1 hierarchies; hybrid: those plus the unified one (last); v2: one.
  std::vector<Hierarchy> hierarchies;
};

std::vector<MountEntry> parse_mountinfo(std::string_view text);
std::vector<ProcCgroupEntry> parse_proc_cgroup(std::string_view text);
// Pairs every hierarchy the process belongs to with a mount of it. `cgroup_root` is where the
// layout was probed; mounts under it win over other mounts of the same hierarchy. v1
// hierarchies that are not mounted anywhere are left out.
HostCgroups find_hierarchies(Layout layout, std::string_view mountinfo,
                             std::string_view proc_self_cgroup,
                             const std::string& cgroup_root = "/sys/fs/cgroup");
// detect_layout() plus find_hierarchies() on this process's own files.
HostCgroups probe_host();

std::string decode_mount_escapes(std::string_view s);

}  // namespace vessel::cgroups
