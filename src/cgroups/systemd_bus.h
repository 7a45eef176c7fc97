// A client of systemd's manager object (org.freedesktop.systemd1) over sd-bus: just the calls
// the systemd cgroup driver needs, each waiting for its job to finish.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cgroups/systemd.h"

typedef struct sd_bus sd_bus;
typedef struct sd_bus_slot sd_bus_slot;

namespace vessel::cgroups {

class SystemdBus {
 public:
  // As root: systemd's private socket (/run/systemd/private, no dbus-daemon needed), else the
  // system bus. Throws the one-line "--systemd-cgroup: ..." error when neither answers.
  static SystemdBus connect();

  SystemdBus(SystemdBus&&) noexcept;
  SystemdBus& operator=(SystemdBus&&) noexcept;
  ~SystemdBus();

  // StartTransientUnit(name, "replace", properties, []) and waits for the job; a job that ends
  // other than "done" is an error naming the unit and the result.
  void start_transient_unit(const std::string& name, const std::vector<UnitProperty>& properties);
  // SetUnitProperties(name, runtime=true, properties).
  void set_unit_properties(const std::string& name, const std::vector<UnitProperty>& properties);
  // StopUnit(name, "replace") and waits for the job. False when systemd does not know the unit
  // (a scope is gone by itself once its last process exits).
  bool stop_unit(const std::string& name);
  // The unit's ControlGroup property ("/system.slice/vessel-x.scope"); "" if it has none.
  std::string control_group(const std::string& name, bool is_slice);

  // How long a job may take before the call fails.
  static constexpr std::chrono::seconds kJobTimeout{30};

 private:
  struct Deleter {
    void operator()(sd_bus* b) const;
  };
  struct SlotDeleter {
    void operator()(sd_bus_slot* s) const;
  };
  SystemdBus() = default;
  // Waits for the JobRemoved signal of `job` and returns its result ("done", "failed", ...).
  std::string wait_for_job(const std::string& job, const std::string& what);

  std::unique_ptr<sd_bus, Deleter> bus_;
  std::unique_ptr<sd_bus_slot, SlotDeleter> job_removed_slot_;
  std::string address_;  // for messages
  // (job path, result) of every JobRemoved seen; a heap object so the signal callback's
  // pointer stays valid when the SystemdBus moves.
  std::unique_ptr<std::vector<std::pair<std::string, std::string>>> finished_jobs_;
};

}  // namespace vessel::cgroups
