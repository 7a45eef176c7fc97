// The manager for pure cgroup v2 hosts: one directory in the unified hierarchy.
#pragma once

#include <map>

#include "cgroups/common.h"
#include "cgroups/resources.h"

namespace vessel::cgroups {

class CgroupV2Manager : public ManagerBase {
 public:
  using ManagerBase::ManagerBase;

  // Devices are enforced by an eBPF program attached to the cgroup (bpf_devices.h).
  // memory.swappiness, disableOOMKiller and network (net_cls/net_prio) have no v2 equivalent
  // and are skipped with a warning; memory.kernel/kernelTCP and blockIO leaf weights with a
  // debug note, as runc does. Realtime cpu settings are an error. docs/cgroups.md has the rest.
  void apply(const nlohmann::json& resources) override;
  void freeze() override;
  void thaw() override;
  nlohmann::json stats() const override;
  uint64_t oom_kills() const override;

 protected:
  // Enables, in `parent`'s cgroup.subtree_control, every controller its cgroup.controllers
  // offers. A controller the kernel refuses for a reason that only means "not here"
  // (ENOENT, EINVAL, or EBUSY / EOPNOTSUPP from a parent that holds processes) is skipped
  // and remembered, so that apply() can say why it is missing if a setting needs it. Other
  // errors (EACCES, EROFS, ...) mean the hierarchy is unusable and are thrown.
  void before_child(CgroupDir& d, const std::string& parent) override;
  void after_level(CgroupDir&, const std::string&) override {}
  bool can_freeze() const override;
  bool is_frozen() const override;
  bool kill_by_kernel(int sig) override;

 private:
  // apply() once linux.resources is parsed; its errors get the "config.json: " prefix there.
  void apply_resources(const Resources& r);
  const std::string& dir() const { return dirs_.front().dir; }
  std::map<std::string, std::string> not_enabled_;  // controller -> why, from create()
};

}  // namespace vessel::cgroups
