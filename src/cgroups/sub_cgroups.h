// `exec --cgroup`: the sub-cgroups of the container's cgroup that an exec'd process joins,
// from runc's `[controller[,controller]:]path` arguments.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "cgroups/manager.h"

namespace vessel::cgroups {

// Controller -> path relative to the container's cgroup; the key "" (an argument without a
// controller prefix, which must then be the only argument) applies to every hierarchy.
// Throws "invalid --cgroup argument: ..." for a malformed list, like runc.
std::map<std::string, std::string> parse_sub_cgroup_args(const std::vector<std::string>& args);

// The directory of each of the container's hierarchies that the process joins, in the order of
// the manager's directories: the sub-cgroup for the hierarchies `paths` names, the container's
// own cgroup for the others. Nothing is checked on disk (a missing sub-cgroup fails when the
// process is added). Throws "<path> is not a sub cgroup path" for a path that leaves the
// container's cgroup, and "unknown controller <name>" for a controller that no hierarchy of the
// container has (on cgroup v2 every controller name is unknown: there is one hierarchy).
std::vector<std::string> sub_cgroup_dirs(const Manager& m,
                                         const std::map<std::string, std::string>& paths);

// `dir` joined with `sub`, "." and ".." resolved lexically; "" when `sub` climbs above `dir`.
// `sub` is always relative to `dir`: a leading '/' is ignored, so "/" is `dir` itself.
std::string join_below(const std::string& dir, const std::string& sub);

}  // namespace vessel::cgroups
