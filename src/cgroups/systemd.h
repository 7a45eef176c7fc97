// The systemd cgroup driver (runc's --systemd-cgroup): systemd owns the container's cgroup as a
// transient unit (a scope, or a slice), made through its D-Bus API; everything systemd has no
// property for is then written into that unit's cgroup by the cgroupfs managers (v1.cc, v2.cc),
// as runc does. The path parsing and the resource → unit property conversion are pure
// functions here, so that tests can check them without systemd.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "cgroups/manager.h"
#include "cgroups/resources.h"

namespace vessel::cgroups {

// The prefix of the default unit name, "vessel-<id>.scope" (runc uses "runc").
inline constexpr const char* kSystemdUnitPrefix = "vessel";

// The unit a "slice:prefix:name" cgroupsPath names.
struct SystemdUnit {
  std::string slice;        // the parent slice, "system.slice" by default
  std::string name;         // "vessel-abc.scope", or "x.slice" when the path names a slice
  std::string cgroup_path;  // where systemd puts it: "/system.slice/vessel-abc.scope"

  bool is_slice() const;
};

// Parses linux.cgroupsPath for the systemd driver: "slice:prefix:name", as runc does. An empty
// slice is "system.slice"; the unit is "<prefix>-<name>.scope" ("<name>.scope" with an empty
// prefix), or `name` itself when it ends in ".slice" (then a slice is made, below `slice`). An
// empty cgroupsPath is "system.slice:vessel:<container_id>". Errors name linux.cgroupsPath and
// the value.
SystemdUnit parse_systemd_cgroups_path(const std::string& cgroups_path,
                                       const std::string& container_id);

// A slice's cgroup path: "a-b-c.slice" → "/a.slice/a-b.slice/a-b-c.slice", "-.slice" → "/".
// Throws for a name systemd would not take as a slice ("a--b.slice", "-a.slice", "a/b.slice").
std::string slice_cgroup_path(const std::string& slice);

// Whether systemd accepts `name` as a unit name (letters, digits, ":-_.\\", a known suffix).
bool valid_unit_name(const std::string& name);

// The D-Bus types unit properties take here: b, t, s, ay (a CPU / NUMA node bit mask), au.
using UnitPropertyValue =
    std::variant<bool, uint64_t, std::string, std::vector<uint8_t>, std::vector<uint32_t>>;

struct UnitProperty {
  std::string name;  // "MemoryMax"
  UnitPropertyValue value;

  bool operator==(const UnitProperty&) const = default;
};

// systemd's "infinity" for the uint64 limits (MemoryMax, TasksMax, CPUQuotaPerSecUSec).
inline constexpr uint64_t kSystemdInfinity = UINT64_MAX;

// The linux.resources values systemd has properties for, as those properties, for the cgroup
// `layout` (v1 and hybrid take the v1 names: CPUShares, MemoryLimit, BlockIOWeight; cpusets are
// v2 only in systemd). What has no property here is applied through the cgroup files anyway.
std::vector<UnitProperty> resource_unit_properties(const Resources& r, Layout layout);

// Everything StartTransientUnit gets: description, slice (for a scope), delegation, the PIDs,
// accounting, and resource_unit_properties().
std::vector<UnitProperty> start_unit_properties(const SystemdUnit& unit, pid_t pid,
                                                const Resources& r, Layout layout);

// A CPU or memory node list ("0-3,7") as systemd's AllowedCPUs bit mask: bit N of byte N/8 is
// CPU N. Errors name `field`.
std::vector<uint8_t> cpu_list_to_mask(const std::string& list, const std::string& field);

// Checks that systemd can be reached (its private socket as root, else the system bus), with a
// one-line error saying why not: "--systemd-cgroup: systemd is not running as init (no
// /run/systemd/private)". Called before a container is created, so nothing is left behind.
void check_systemd_reachable();

// The manager for a container in a systemd unit. It composes the cgroupfs manager of the
// unit's cgroup: create() only checks that systemd answers, apply() before the process exists
// keeps the resources, and add_process() starts the unit with that PID in it, then lets the
// cgroupfs manager create the directories systemd did not (v1 controllers it does not manage),
// add the process there and write every resource.
class SystemdManager : public Manager {
 public:
  // `started`: the unit exists already (a manager loaded from state.json).
  SystemdManager(SystemdUnit unit, Layout layout, std::unique_ptr<Manager> fs, bool started);

  void create() override;
  void add_process(pid_t pid) override;
  // Before the unit exists: remembered for add_process(). After: the unit's properties are set
  // too (runtime only, v2), so that systemd does not undo the files on its next realisation.
  void apply(const nlohmann::json& resources) override;
  std::vector<pid_t> pids() const override { return fs_->pids(); }
  void kill_all(int sig) override { fs_->kill_all(sig); }
  void freeze() override { fs_->freeze(); }
  void thaw() override { fs_->thaw(); }
  bool frozen() const override { return fs_->frozen(); }
  const Manager& directories() const override { return *fs_; }
  nlohmann::json stats() const override { return fs_->stats(); }
  uint64_t oom_kills() const override { return fs_->oom_kills(); }
  // Kills what is left, stops the unit (systemd removes its cgroup) and removes the
  // directories the cgroupfs manager made in hierarchies systemd does not manage.
  void destroy() override;
  // {"driver": "systemd", "unit": ..., "slice": ..., "fs": <the cgroupfs manager's JSON>}
  nlohmann::json to_json() const override;
  std::string path() const override { return fs_->path(); }

  const SystemdUnit& unit() const { return unit_; }

 private:
  SystemdUnit unit_;
  Layout layout_;
  std::unique_ptr<Manager> fs_;
  bool started_;
  nlohmann::json pending_;  // resources given before the unit existed
};

// Whether a saved manager (Manager::to_json()) is a systemd one.
bool is_systemd_json(const nlohmann::json& saved);

// make_manager() / load_manager() for the systemd driver. Creates nothing.
std::unique_ptr<Manager> make_systemd_manager(const std::string& cgroups_path,
                                              const std::string& container_id);
std::unique_ptr<Manager> load_systemd_manager(const nlohmann::json& saved);

// Registers the two above with make_manager()/load_manager() (manager.h). vessel-runtime calls
// it; a program that does not (the manager's monitor) never links libsystemd.
void enable_systemd_driver();

}  // namespace vessel::cgroups
