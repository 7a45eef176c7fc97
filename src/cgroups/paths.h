// Where the container's cgroup goes, from linux.cgroupsPath. Pure functions.
#pragma once

#include <string>

#include "cgroups/detect.h"

namespace vessel::cgroups {

// True when `path` is `dir` or lies below it, component-wise ("/a" contains "/a/b" but not
// "/ab"; "/" contains every absolute path).
bool path_within(const std::string& path, const std::string& dir);

// Checks linux.cgroupsPath and fills in the default. Returns "/a/b" for an absolute path and
// "a/b" for a relative one, with empty and "." components dropped. ".." is refused outright:
// cleaning it lexically would let a config name a cgroup outside the place it appears to.
//
// The default for an empty path is "/<container_id>", at the top of each hierarchy. runc's
// cgroupfs driver instead turns an empty path into the relative name "<container_id>"
// (Name without Parent), i.e. below its own cgroup (on v2 below the parent of its own
// cgroup); crun uses the top of the hierarchy as we do. The top is predictable for `delete`
// run from a different cgroup than `create`, and keeps containers out of whatever cgroup the
// caller happened to run in.
std::string normalize_cgroups_path(const std::string& cgroups_path,
                                   const std::string& container_id);

// The container's cgroup in `h`, as a path below h.mount_point starting with "/". An
// absolute path is taken from the mount point, as the runtime spec says; a relative one from
// the runtime's own cgroup in that hierarchy, so with v1 it can differ per hierarchy.
std::string cgroup_path_in(const std::string& normalized, const Hierarchy& h);

}  // namespace vessel::cgroups
