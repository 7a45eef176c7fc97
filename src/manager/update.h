// vessel update: new resource limits (and restart policy) for a container, applied to the running
// cgroup through the runtime and recorded (options and config.json) so inspect and the next start
// see them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace vessel::manager {

class Store;

struct UpdateOptions {
  std::optional<int64_t> memory;       // bytes, -1 unlimited
  std::optional<int64_t> memory_swap;  // bytes, memory+swap, -1 unlimited
  std::optional<double> cpus;
  std::optional<uint64_t> cpu_shares;
  std::optional<int64_t> pids_limit;  // 0 or -1: unlimited
  std::string restart;                // empty: unchanged
};

void update_container(Store& store, const std::string& ref, const UpdateOptions& u);

}  // namespace vessel::manager
