#include "cgroups/convert.h"

#include <dirent.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <utility>

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

std::string device_value_line(int64_t major, int64_t minor, uint64_t value) {
  return fmt::format("{}:{} {}", major, minor, value);
}

std::vector<std::string> v2_io_max_lines(const Resources& r) {
  // (major, minor) -> "rbps=N" ... in the kernel's key order.
  std::map<std::pair<int64_t, int64_t>, std::string> keys[4];
  const std::vector<ThrottleDevice>* lists[4] = {&r.throttle_read_bps, &r.throttle_write_bps,
                                                 &r.throttle_read_iops, &r.throttle_write_iops};
  static constexpr const char* kNames[4] = {"rbps", "wbps", "riops", "wiops"};
  std::map<std::pair<int64_t, int64_t>, std::string> lines;
  for (int k = 0; k < 4; ++k) {
    for (const ThrottleDevice& t : *lists[k]) {
      // A device listed twice in one list: the later entry wins, as it would on v1.
      keys[k][{t.major, t.minor}] = t.rate == 0 ? "max" : std::to_string(t.rate);
      lines[{t.major, t.minor}];
    }
  }
  std::vector<std::string> out;
  for (auto& [dev, line] : lines) {
    line = fmt::format("{}:{}", dev.first, dev.second);
    for (int k = 0; k < 4; ++k)
      if (auto it = keys[k].find(dev); it != keys[k].end())
        line += fmt::format(" {}={}", kNames[k], it->second);
    out.push_back(line);
  }
  return out;
}

std::optional<uint64_t> hugepage_size_kb(const std::string& page_size) {
  if (page_size.size() < 3) return std::nullopt;
  std::string unit = page_size.substr(page_size.size() - 2);
  std::string num = page_size.substr(0, page_size.size() - 2);
  if (num.empty() || num.size() > 9 || num[0] == '0' ||
      num.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  uint64_t n = std::stoull(num);
  if (unit == "KB") return n;
  if (unit == "MB") return n * 1024;
  if (unit == "GB") return n * 1024 * 1024;
  return std::nullopt;
}

std::string hugepage_size_name(uint64_t kb) {
  // The kernel's own naming (mm/hugetlb_cgroup.c): the largest unit that divides evenly.
  if (kb >= 1024 * 1024 && kb % (1024 * 1024) == 0) return fmt::format("{}GB", kb / (1024 * 1024));
  if (kb >= 1024 && kb % 1024 == 0) return fmt::format("{}MB", kb / 1024);
  return fmt::format("{}KB", kb);
}

std::vector<std::string> host_hugepage_sizes(const std::string& sysfs_dir) {
  std::vector<uint64_t> kbs;
  if (DIR* d = ::opendir(sysfs_dir.c_str())) {
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      static constexpr std::string_view kPrefix = "hugepages-";
      if (name.rfind(kPrefix, 0) != 0 || name.size() < kPrefix.size() + 3 ||
          name.compare(name.size() - 2, 2, "kB") != 0)
        continue;
      std::string num = name.substr(kPrefix.size(), name.size() - kPrefix.size() - 2);
      if (num.empty() || num.find_first_not_of("0123456789") != std::string::npos) continue;
      kbs.push_back(std::stoull(num));
    }
    ::closedir(d);
  }
  std::sort(kbs.begin(), kbs.end());
  std::vector<std::string> out;
  for (uint64_t kb : kbs) out.push_back(hugepage_size_name(kb));
  return out;
}

void check_hugepage_sizes(const std::vector<HugepageLimit>& limits,
                          const std::vector<std::string>& host_sizes) {
  for (size_t i = 0; i < limits.size(); ++i) {
    const std::string& size = limits[i].page_size;
    // "2048KB" and "2MB" name the same size; the cgroup files use the kernel's name.
    std::optional<uint64_t> kb = hugepage_size_kb(size);
    if (kb && std::find(host_sizes.begin(), host_sizes.end(), hugepage_size_name(*kb)) !=
                  host_sizes.end())
      continue;
    fail(
        "linux.resources.hugepageLimits[{}].pageSize: not a huge page size of this host "
        "(available: {}) (value \"{}\")",
        i, host_sizes.empty() ? "none" : fmt::format("{}", fmt::join(host_sizes, ", ")), size);
  }
}

std::optional<std::string> rdma_line(const std::string& device, const RdmaLimit& limit) {
  if (!limit.hca_handles && !limit.hca_objects) return std::nullopt;
  std::string line = device;
  if (limit.hca_handles) line += fmt::format(" hca_handle={}", *limit.hca_handles);
  if (limit.hca_objects) line += fmt::format(" hca_object={}", *limit.hca_objects);
  return line;
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
