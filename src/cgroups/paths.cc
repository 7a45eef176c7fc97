#include "cgroups/paths.h"

#include <vector>

#include "util/error.h"

namespace vessel::cgroups {
namespace {

std::vector<std::string> components(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t pos = path.find('/', start);
    if (pos == std::string::npos) pos = path.size();
    std::string part = path.substr(start, pos - start);
    if (!part.empty() && part != ".") out.push_back(std::move(part));
    start = pos + 1;
  }
  return out;
}

std::string join_components(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) out += "/" + p;
  return out.empty() ? "/" : out;
}

}  // namespace

bool path_within(const std::string& path, const std::string& dir) {
  if (dir == "/") return !path.empty() && path[0] == '/';
  std::string d = dir;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  if (path.compare(0, d.size(), d) != 0) return false;
  return path.size() == d.size() || path[d.size()] == '/';
}

std::string normalize_cgroups_path(const std::string& cgroups_path,
                                   const std::string& container_id) {
  if (cgroups_path.empty()) {
    if (container_id.empty() || container_id == "." || container_id == ".." ||
        container_id.find('/') != std::string::npos)
      fail("linux.cgroupsPath: container id {:?} cannot name a cgroup", container_id);
    return "/" + container_id;
  }
  if (cgroups_path.find('\0') != std::string::npos)
    fail("linux.cgroupsPath: {:?} contains a NUL byte", cgroups_path);
  std::vector<std::string> parts = components(cgroups_path);
  for (const std::string& p : parts)
    if (p == "..")
      fail("linux.cgroupsPath: {:?} contains a \"..\" component, which is not allowed",
           cgroups_path);
  if (parts.empty())
    fail("linux.cgroupsPath: {:?} names the {} cgroup itself, not a cgroup for the container",
         cgroups_path, cgroups_path[0] == '/' ? "root" : "runtime's own");
  std::string joined = join_components(parts);
  return cgroups_path[0] == '/' ? joined : joined.substr(1);
}

std::string cgroup_path_in(const std::string& normalized, const Hierarchy& h) {
  if (!normalized.empty() && normalized[0] == '/') return normalized;
  if (!path_within(h.own_path, h.mount_root) || h.own_path.find("/..") != std::string::npos)
    fail(
        "linux.cgroupsPath: relative path {:?} needs the runtime's own cgroup {} in the hierarchy "
        "mounted at {}, but that mount only shows {}",
        normalized, h.own_path, h.mount_point, h.mount_root);
  std::string own = h.mount_root == "/" ? h.own_path : h.own_path.substr(h.mount_root.size());
  std::vector<std::string> parts = components(own);
  for (std::string& p : components(normalized)) parts.push_back(std::move(p));
  return join_components(parts);
}

}  // namespace vessel::cgroups
