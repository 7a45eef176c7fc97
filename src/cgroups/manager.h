// One interface over the host's cgroup layout (v1, hybrid, v2), chosen by probing the host.
#pragma once

#include <sys/types.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace vessel::cgroups {

struct Placement;  // cgroups/placement.h

enum class Layout { v1, hybrid, v2 };

// Looks at /sys/fs/cgroup (statfs magic, the "unified" mount) to tell the layout.
Layout detect_layout();
const char* layout_name(Layout l);

class Manager {
 public:
  virtual ~Manager() = default;

  // Creates the container's cgroup directories (and enables controllers on v2).
  virtual void create() = 0;
  // Moves `pid` into the container's cgroup(s).
  virtual void add_process(pid_t pid) = 0;
  // Opens what lets a process about to be made enter the container's cgroup(s) by itself,
  // without the cost of add_process (cgroups/placement.h). False when this manager has no such
  // way or a file cannot be opened: then add_process it is.
  virtual bool open_placement(Placement& out) const {
    (void)out;
    return false;
  }
  // Applies linux.resources (the OCI JSON object). Errors name the field and file.
  virtual void apply(const nlohmann::json& resources) = 0;
  // Host PIDs of every process in the cgroup(s).
  virtual std::vector<pid_t> pids() const = 0;
  // Sends `sig` to every process in the cgroup (freezing around it so none escapes by forking).
  virtual void kill_all(int sig) = 0;
  virtual void freeze() = 0;
  virtual void thaw() = 0;
  // Whether the cgroup is frozen now (v1 freezer.state FROZEN, v2 cgroup.events "frozen 1").
  virtual bool frozen() const = 0;
  // runc's `events --stats` "data" object (cpu, memory, pids, blkio) from whatever statistic
  // files the host's hierarchies offer; a missing controller leaves its part out.
  virtual nlohmann::json stats() const = 0;
  // The memory controller's count of OOM kills (stats()'s memory.oom_kill, 0 without one).
  // The cgroupfs managers read the one file it comes from, not every statistic file (a
  // monitor asks this after each exit: ~100 opens fewer per `vessel run --rm` on v1).
  virtual uint64_t oom_kills() const {
    nlohmann::json d = stats();
    if (!d.contains("memory") || !d["memory"].contains("oom_kill")) return 0;
    const nlohmann::json& n = d["memory"]["oom_kill"];
    return n.is_number_unsigned() ? n.get<uint64_t>() : 0;
  }
  // Kills whatever is left, waits for it to go, and removes the directories. Safe to call twice.
  virtual void destroy() = 0;
  // What `load()` needs to find this cgroup again from another process (stored in state.json).
  virtual nlohmann::json to_json() const = 0;
  // to_json() as it will be once create() has run, written down before it runs: every
  // directory create() would make (those missing now) is listed as made by it, so that a
  // process killed in the middle of create() leaves a record that destroy() can clean up.
  virtual nlohmann::json planned_json() const { return to_json(); }
  // The path inside the hierarchy, e.g. "/vessel/abc" (used for cgroupns and reporting).
  virtual std::string path() const = 0;
  // The manager of the cgroup directories themselves: this one, or the cgroupfs manager that a
  // driver such as systemd's wraps.
  virtual const Manager& directories() const { return *this; }
};

// Who owns the container's cgroup: the runtime itself through the cgroup files (cgroupfs, the
// default), or systemd as a transient unit (runc's --systemd-cgroup; systemd.h).
enum class Driver { cgroupfs, systemd };

// The driver make_manager() uses in this process. A process-wide choice, like runc's global
// --systemd-cgroup flag: vessel-runtime sets it once from its command line, before any
// command runs. load_manager() does not depend on it: the saved state names its driver.
void set_driver(Driver driver);
Driver driver();

// cgroups_path: linux.cgroupsPath as in the spec (absolute, relative to the runtime's own
// cgroup, or empty for the default "/<container_id>" like runc's cgroupfs driver). With the
// systemd driver: "slice:prefix:name", empty for "system.slice:vessel:<container_id>".
std::unique_ptr<Manager> make_manager(const std::string& cgroups_path,
                                      const std::string& container_id);
// Rebuilds a manager from Manager::to_json() output.
std::unique_ptr<Manager> load_manager(const nlohmann::json& saved);

// The systemd driver's entry points (systemd.h), registered by enable_systemd_driver(): only a
// program that registers them links the driver and libsystemd. Without them, the systemd
// driver is an error naming the missing driver.
struct SystemdDriver {
  std::unique_ptr<Manager> (*make)(const std::string& cgroups_path,
                                   const std::string& container_id) = nullptr;
  std::unique_ptr<Manager> (*load)(const nlohmann::json& saved) = nullptr;
};
void register_systemd_driver(const SystemdDriver& driver);

}  // namespace vessel::cgroups
