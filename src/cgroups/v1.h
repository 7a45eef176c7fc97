// The manager for cgroup v1 hosts, and for hybrid hosts (v1 controllers plus a unified
// hierarchy that only carries the process's place, for systemd and hugetlb).
#pragma once

#include "cgroups/common.h"

namespace vessel::cgroups {

class CgroupV1Manager : public ManagerBase {
 public:
  using ManagerBase::ManagerBase;

  void apply(const nlohmann::json& resources) override;
  void freeze() override;
  void thaw() override;
  nlohmann::json stats() const override;

 protected:
  void before_child(CgroupDir&, const std::string&) override {}
  void after_mkdir(CgroupDir& d, const std::string& dir) override;
  bool can_freeze() const override { return find_dir("freezer") != nullptr; }
  bool is_frozen() const override;
  bool kill_by_kernel(int) override { return false; }

 private:
  // The directory of `controller`, or an error naming `field` when it is not mounted.
  const std::string& need(const char* controller, const std::string& field) const;
};

}  // namespace vessel::cgroups
