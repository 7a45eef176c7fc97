// The manager for cgroup v1 hosts, and for hybrid hosts (v1 controllers plus a unified
// hierarchy that only carries the process's place, for systemd and hugetlb).
#pragma once

#include "cgroups/common.h"
#include "cgroups/resources.h"

namespace vessel::cgroups {

class CgroupV1Manager : public ManagerBase {
 public:
  using ManagerBase::ManagerBase;

  void apply(const nlohmann::json& resources) override;
  void freeze() override;
  void thaw() override;
  nlohmann::json stats() const override;
  uint64_t oom_kills() const override;

 protected:
  // Hybrid hosts: enables, in the unified hierarchy, the controllers that no v1 hierarchy has
  // (hugetlb bound to cgroup2), so that apply() can use them there.
  void before_child(CgroupDir& d, const std::string& parent) override;
  void after_level(CgroupDir& d, const std::string& dir) override;
  bool can_freeze() const override { return find_dir("freezer") != nullptr; }
  bool is_frozen() const override;
  bool kill_by_kernel(int) override { return false; }

 private:
  // apply() once linux.resources is parsed; its errors get the "config.json: " prefix there.
  void apply_resources(const Resources& r);
  // The directory of `controller`, or an error naming `field` when it is not mounted.
  const std::string& need(const char* controller, const std::string& field) const;
  // Whether a v1 hierarchy carries `controller`.
  bool in_v1(const std::string& controller) const;
  // Hybrid: the unified directory, if `controller` is enabled for it there.
  const CgroupDir* unified_with(const std::string& controller) const;
  void check_usage(int64_t limit, const std::string& usage_file) const;
  void apply_blkio(const Resources& r);
  void apply_hugetlb(const Resources& r);
};

}  // namespace vessel::cgroups
