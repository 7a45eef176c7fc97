#include "cgroups/manager.h"

#include "cgroups/factory.h"
#include "cgroups/paths.h"
#include "cgroups/systemd.h"  // is_systemd_json, defined here
#include "cgroups/v1.h"
#include "cgroups/v2.h"
#include "util/error.h"

namespace vessel::cgroups {
namespace {

Driver selected_driver = Driver::cgroupfs;
SystemdDriver systemd_driver;

const SystemdDriver& require_systemd_driver() {
  if (!systemd_driver.make)
    fail("the systemd cgroup driver is not part of this program (use vessel-runtime)");
  return systemd_driver;
}

std::unique_ptr<Manager> build(Layout layout, std::string path, std::vector<CgroupDir> dirs) {
  if (layout == Layout::v2) {
    if (dirs.size() != 1 || !dirs.front().unified())
      fail("cgroup v2 needs exactly one unified directory, got {}", dirs.size());
    return std::make_unique<CgroupV2Manager>(layout, std::move(path), std::move(dirs));
  }
  return std::make_unique<CgroupV1Manager>(layout, std::move(path), std::move(dirs));
}

}  // namespace

std::unique_ptr<Manager> make_manager_on(const HostCgroups& host, const std::string& cgroups_path,
                                         const std::string& container_id) {
  std::string normalized = normalize_cgroups_path(cgroups_path, container_id);
  std::vector<CgroupDir> dirs;
  std::string path;
  // With a relative cgroupsPath, v1 hierarchies can place the container differently; report
  // the place in the hierarchy that pids() and freeze() lean on most.
  int path_rank = -1;
  for (const Hierarchy& h : host.hierarchies) {
    std::string p = cgroup_path_in(normalized, h);
    std::string dir = h.mount_point == "/" ? p : h.mount_point + p;
    int rank = h.has("freezer") ? 3 : h.has("pids") ? 2 : h.has("memory") ? 1 : 0;
    if (host.layout == Layout::v2 || rank > path_rank) {
      path = p;
      path_rank = rank;
    }
    dirs.push_back({h.controllers, h.mount_point, dir, {}});
  }
  if (dirs.empty()) fail("no cgroup hierarchy to put the container in");
  return build(host.layout, path, std::move(dirs));
}

bool is_systemd_json(const nlohmann::json& saved) {
  return saved.is_object() && saved.contains("driver") && saved["driver"] == "systemd";
}

void register_systemd_driver(const SystemdDriver& driver) { systemd_driver = driver; }

void set_driver(Driver driver) { selected_driver = driver; }
Driver driver() { return selected_driver; }

std::unique_ptr<Manager> make_manager(const std::string& cgroups_path,
                                      const std::string& container_id) {
  if (selected_driver == Driver::systemd)
    return require_systemd_driver().make(cgroups_path, container_id);
  // Checked before probing, so a bad path is reported as such on any host.
  normalize_cgroups_path(cgroups_path, container_id);
  return make_manager_on(probe_host(), cgroups_path, container_id);
}

std::unique_ptr<Manager> load_manager(const nlohmann::json& saved) {
  if (is_systemd_json(saved)) return require_systemd_driver().load(saved);
  Layout layout;
  std::string path;
  std::vector<CgroupDir> dirs;
  dirs_from_json(saved, layout, path, dirs);
  return build(layout, std::move(path), std::move(dirs));
}

}  // namespace vessel::cgroups
