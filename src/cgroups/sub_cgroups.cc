#include "cgroups/sub_cgroups.h"

#include <algorithm>

#include "cgroups/common.h"
#include "util/error.h"

namespace vessel::cgroups {
namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (;;) {
    size_t end = s.find(sep, pos);
    out.push_back(s.substr(pos, end == std::string::npos ? std::string::npos : end - pos));
    if (end == std::string::npos) return out;
    pos = end + 1;
  }
}

std::vector<std::string> controller_names(const std::vector<CgroupDir>& dirs) {
  std::vector<std::string> out;
  for (const CgroupDir& d : dirs) out.insert(out.end(), d.controllers.begin(), d.controllers.end());
  return out;
}

}  // namespace

std::map<std::string, std::string> parse_sub_cgroup_args(const std::vector<std::string>& args) {
  std::map<std::string, std::string> paths;
  for (const std::string& arg : args) {
    std::vector<std::string> parts = split(arg, ':');
    if (parts.size() > 2) fail("invalid --cgroup argument: {}", arg);
    if (parts.size() == 1) {
      if (args.size() != 1)
        fail("invalid --cgroup argument: {} (missing <controller>: prefix)", arg);
      paths[""] = arg;
      continue;
    }
    for (const std::string& controller : split(parts[0], ',')) {
      // runc 1.1 would read an empty name as "every controller"; refusing is clearer.
      if (controller.empty())
        fail("invalid --cgroup argument: {} (empty <controller> prefix)", arg);
      if (!paths.emplace(controller, parts[1]).second)
        fail("invalid --cgroup argument(s): controller {} specified multiple times", controller);
    }
  }
  return paths;
}

std::string join_below(const std::string& dir, const std::string& sub) {
  std::vector<std::string> kept;
  for (const std::string& part : split(sub, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (kept.empty()) return "";
      kept.pop_back();
      continue;
    }
    kept.push_back(part);
  }
  std::string out = dir;
  for (const std::string& part : kept) out += "/" + part;
  return out;
}

std::vector<std::string> sub_cgroup_dirs(const Manager& m,
                                         const std::map<std::string, std::string>& paths) {
  auto* base = dynamic_cast<const ManagerBase*>(&m.directories());
  if (!base) fail("--cgroup: not supported with this cgroup manager");
  const std::vector<CgroupDir>& dirs = base->dirs();
  for (const auto& [controller, path] : paths)
    if (!controller.empty() && std::none_of(dirs.begin(), dirs.end(),
                                            [&](const CgroupDir& d) { return d.has(controller); }))
      fail("--cgroup: unknown controller {} (the container's hierarchies: {})", controller,
           base->layout() == Layout::v2
               ? std::string("one cgroup v2 hierarchy, so no "
                             "controller prefix")
               : fmt::format("{}", fmt::join(controller_names(dirs), ", ")));
  std::vector<std::string> out;
  for (const CgroupDir& d : dirs) {
    const std::string* sub = nullptr;
    if (auto all = paths.find(""); all != paths.end()) sub = &all->second;
    for (const std::string& c : d.controllers) {
      auto it = paths.find(c);
      if (it == paths.end()) continue;
      // cpu and cpuacct share a hierarchy on most hosts: two different paths cannot both hold.
      if (sub && *sub != it->second)
        fail("--cgroup: {} and {} name different sub-cgroups of the same hierarchy ({})", *sub,
             it->second, d.mount);
      sub = &it->second;
    }
    if (!sub) {
      out.push_back(d.dir);
      continue;
    }
    std::string joined = join_below(d.dir, *sub);
    if (joined.empty()) fail("--cgroup: {} is not a sub cgroup path", *sub);
    out.push_back(joined);
  }
  return out;
}

}  // namespace vessel::cgroups
