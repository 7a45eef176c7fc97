#include "cgroups/convert.h"

#include <algorithm>

#include "util/error.h"

namespace vessel::cgroups {

std::string v1_memory_value(int64_t bytes) { return std::to_string(bytes < 0 ? -1 : bytes); }

std::string v2_memory_value(int64_t bytes) { return bytes < 0 ? "max" : std::to_string(bytes); }

std::optional<std::string> v2_swap_max(std::optional<int64_t> limit, std::optional<int64_t> swap) {
  if (!swap) {
    if (limit && *limit < 0) return "max";
    return std::nullopt;
  }
  if (*swap < 0) return "max";
  if (!limit || *limit < 0)
    fail(
        "linux.resources.memory.swap: {} needs a memory.limit as well: cgroup v2 limits swap "
        "alone, so the runtime sets memory.swap.max to swap - limit",
        *swap);
  if (*swap < *limit)
    fail(
        "linux.resources.memory.swap: {} is below memory.limit {} (swap is the limit for "
        "memory plus swap, so it cannot be smaller than the memory limit)",
        *swap, *limit);
  return std::to_string(*swap - *limit);
}

bool v1_swap_first(int64_t new_limit, int64_t current_limit) {
  return new_limit < 0 || new_limit > current_limit;
}

std::optional<int64_t> v1_memsw(std::optional<int64_t> limit, std::optional<int64_t> swap) {
  if (!swap) {
    if (limit && *limit < 0) return -1;
    return std::nullopt;
  }
  if (*swap >= 0 && limit && *limit >= 0 && *swap < *limit)
    fail(
        "linux.resources.memory.swap: {} is below memory.limit {} (swap is the limit for "
        "memory plus swap, so it cannot be smaller than the memory limit)",
        *swap, *limit);
  return *swap < 0 ? -1 : *swap;
}

uint64_t cpu_shares_to_weight(uint64_t shares) {
  shares = std::clamp<uint64_t>(shares, 2, 262144);
  return 1 + ((shares - 2) * 9999) / 262142;
}

std::optional<std::string> cpu_max(std::optional<int64_t> quota, std::optional<uint64_t> period) {
  if (!quota && !period) return std::nullopt;
  std::string out = quota && *quota > 0 ? std::to_string(*quota) : "max";
  if (period) out += " " + std::to_string(*period);
  return out;
}

uint64_t blkio_weight_to_io_weight(uint64_t weight) {
  weight = std::clamp<uint64_t>(weight, 10, 1000);
  return 1 + (weight - 10) * 9999 / 990;
}

std::string pids_max(int64_t limit) { return limit < 0 ? "max" : std::to_string(limit); }

std::string device_line(char type, int64_t major, int64_t minor, const std::string& access) {
  auto num = [](int64_t n) { return n < 0 ? std::string("*") : std::to_string(n); };
  return fmt::format("{} {}:{} {}", type, num(major), num(minor), access);
}

std::vector<DeviceWrite> v1_device_writes(const std::vector<DeviceRule>& rules) {
  std::vector<DeviceWrite> out{{"devices.deny", "a", -1}};
  for (int i = 0; i < static_cast<int>(rules.size()); ++i) {
    const DeviceRule& r = rules[i];
    if (r.access.empty()) continue;
    std::string file = r.allow ? "devices.allow" : "devices.deny";
    bool all_access = r.access.find('r') != std::string::npos &&
                      r.access.find('w') != std::string::npos &&
                      r.access.find('m') != std::string::npos;
    if (r.type != 'a') {
      out.push_back({file, device_line(r.type, r.major, r.minor, r.access), i});
    } else if (r.major < 0 && r.minor < 0 && all_access) {
      out.push_back({file, "a", i});
    } else {
      out.push_back({file, device_line('b', r.major, r.minor, r.access), i});
      out.push_back({file, device_line('c', r.major, r.minor, r.access), i});
    }
  }
  return out;
}

}  // namespace vessel::cgroups
