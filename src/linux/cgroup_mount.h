// The "cgroup" mount type: what the container sees at /sys/fs/cgroup.
#pragma once

#include <string>

namespace vessel::linux {

// On a cgroup v2 host: a cgroup2 mount (rooted at the container's cgroup when the container
// has its own cgroup namespace). On v1/hybrid hosts: a tmpfs holding one mount per host
// hierarchy, each showing only the container's own cgroup: a fresh mount of the same
// hierarchy inside a cgroup namespace, or a bind of the container's directory without one.
void mount_cgroup_tree(const std::string& target, unsigned long flags, bool cgroup_namespace,
                       const std::string& where);

}  // namespace vessel::linux
