// Namespaces: joining by path (verified to be the right kind), id mappings, time offsets.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "oci/spec.h"
#include "util/fd.h"

namespace vessel::linux {

// Opens a namespace file and checks (NS_GET_NSTYPE) that it is a namespace of `type`.
UniqueFd open_namespace(const std::string& path, oci::NamespaceType type);
void join_namespace(int fd, oci::NamespaceType type, const std::string& path);

// Writes /proc/<pid>/uid_map and gid_map: as root directly; unprivileged (rootless), the
// caller's own id directly and anything more through newuidmap/newgidmap.
void write_id_mappings(pid_t pid, const std::vector<oci::IdMapping>& uid_maps,
                       const std::vector<oci::IdMapping>& gid_maps);

// Writes /proc/self/timens_offsets; valid after unshare(CLONE_NEWTIME) and before any process
// has entered the new namespace.
void write_time_offsets(const std::map<std::string, oci::TimeOffset>& offsets);

// Host PIDs of every process in the pid namespace of `pid` (for a container without a cgroup:
// its pid namespace is then the only place that holds all of its processes). Processes of the
// namespace that this caller may not inspect are missed.
std::vector<pid_t> pids_in_pid_namespace_of(pid_t pid);

// The inode of /proc/<pid>/ns/<name>, for tests and diagnostics.
ino_t namespace_inode(pid_t pid, oci::NamespaceType type);

}  // namespace vessel::linux
