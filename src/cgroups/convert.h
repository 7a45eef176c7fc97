// Pure conversions from OCI resource values to what the kernel files take.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cgroups/resources.h"

namespace vessel::cgroups {

// v1 memory.*limit_in_bytes: "-1" is unlimited there.
std::string v1_memory_value(int64_t bytes);
// v2 memory.max / memory.low / memory.swap.max: unlimited is "max".
std::string v2_memory_value(int64_t bytes);

// v1's swap is memory+swap, v2's memory.swap.max is swap alone, so the v2 value is
// swap - limit. With no swap given, an unlimited memory limit also makes swap unlimited (so
// that "-1" means what it did on v1, where memsw must be >= the limit). nullopt: leave
// memory.swap.max alone. Throws, naming linux.resources.memory.swap, when the pair is
// inconsistent.
std::optional<std::string> v2_swap_max(std::optional<int64_t> limit, std::optional<int64_t> swap);

// On v1, memory.limit_in_bytes must never exceed memory.memsw.limit_in_bytes, so the order of
// the two writes depends on whether the limit grows. True: write memsw first.
bool v1_swap_first(int64_t new_limit, int64_t current_limit);
// The memsw value to write on v1, or nullopt. Like v2_swap_max, an unlimited limit without a
// swap value also lifts memsw.
std::optional<int64_t> v1_memsw(std::optional<int64_t> limit, std::optional<int64_t> swap);

// cpu.shares (2-262144, clamped like the v1 kernel does) to cpu.weight (1-10000):
// 1 + ((shares - 2) * 9999) / 262142, the formula runc and crun use.
uint64_t cpu_shares_to_weight(uint64_t shares);
// cpu.max: "<quota|max> [period]", or nullopt when neither is set. An unset period keeps the
// kernel's current one.
std::optional<std::string> cpu_max(std::optional<int64_t> quota, std::optional<uint64_t> period);

// blkio.weight (10-1000) to io.weight (1-10000): 1 + (weight - 10) * 9999 / 990.
uint64_t blkio_weight_to_io_weight(uint64_t weight);

// "maj:min value", the line format of blkio.weight_device, blkio.throttle.*_device and the
// per-device io.weight / io.bfq.weight entries.
std::string device_value_line(int64_t major, int64_t minor, uint64_t value);

// v2 io.max: one line per device, "maj:min rbps=N wbps=N riops=N wiops=N" with only the keys
// that the four throttle lists set for that device; a rate of 0 becomes "max" (no limit), as
// 0 lifts the limit in v1's blkio.throttle.* files. Devices in (major, minor) order.
std::vector<std::string> v2_io_max_lines(const Resources& r);

// Huge page sizes: "2MB" <-> 2048 kB. nullopt for a malformed size.
std::optional<uint64_t> hugepage_size_kb(const std::string& page_size);
std::string hugepage_size_name(uint64_t kb);
// The page sizes the host offers, from the "hugepages-<N>kB" entries of `sysfs_dir`, as
// names ("2MB", "1GB"), smallest first.
std::vector<std::string> host_hugepage_sizes(
    const std::string& sysfs_dir = "/sys/kernel/mm/hugepages");
// Throws, naming linux.resources.hugepageLimits[i].pageSize, for a size not in `host_sizes`.
void check_hugepage_sizes(const std::vector<HugepageLimit>& limits,
                          const std::vector<std::string>& host_sizes);

// One line for rdma.max (same format in v1 and v2): "mlx4_0 hca_handle=2 hca_object=2000",
// with only the keys that are set; nullopt when neither is.
std::optional<std::string> rdma_line(const std::string& device, const RdmaLimit& limit);

// pids.max: negative is "max"; 0 and up are limits.
std::string pids_max(int64_t limit);

// One write for the v1 devices controller.
struct DeviceWrite {
  std::string file;  // "devices.allow" or "devices.deny"
  std::string line;  // "c 1:3 rwm", "a"
  int rule = -1;     // index in linux.resources.devices; -1 for the initial deny-all
};
// Everything to write for linux.resources.devices on v1, in order: first "a" to devices.deny
// (start from nothing), then each rule. The kernel reads a type-'a' line as "the whole
// list" whatever follows it, so an 'a' rule that names numbers or fewer permissions is split
// into the equivalent 'b' and 'c' lines instead of silently widening to everything.
// A rule with empty access changes nothing and is skipped.
std::vector<DeviceWrite> v1_device_writes(const std::vector<DeviceRule>& rules);
std::string device_line(char type, int64_t major, int64_t minor, const std::string& access);

}  // namespace vessel::cgroups
