// linux.resources read into typed fields. Absent (or null) fields stay unset and the managers
// leave the matching files alone. Type and range errors name the field, e.g.
// "linux.resources.memory.swappiness: expected 0-100 (value 150)".
//
// Read: memory {limit, reservation, swap, swappiness, disableOOMKiller, kernel, kernelTCP,
// checkBeforeUpdate}, cpu {shares, quota, period, cpus, mems, realtimeRuntime, realtimePeriod,
// burst, idle}, pids.limit, blockIO {weight, leafWeight, weightDevice, throttle*},
// hugepageLimits, network, rdma, devices, unified. memory.useHierarchy is accepted and not
// applied (always on since Linux 5.x). docs/cgroups.md says how each maps to v1 and v2 files.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"

namespace vessel::cgroups {

struct DeviceRule {
  bool allow = false;
  char type = 'a';                 // 'a', 'b' or 'c'
  int64_t major = -1, minor = -1;  // -1: any ("*")
  std::string access = "rwm";      // unset in the spec means every access, like the other fields
};

struct HugepageLimit {
  std::string page_size;  // as in the spec and the cgroup file names: "2MB", "1GB", "64KB"
  uint64_t limit = 0;     // bytes
};

struct RdmaLimit {
  std::optional<uint32_t> hca_handles, hca_objects;
};

// blockIO.weightDevice[]: per-device weights (0 in the spec: not set).
struct WeightDevice {
  int64_t major = 0, minor = 0;
  std::optional<uint16_t> weight, leaf_weight;  // 10-1000
};

// blockIO.throttle*Device[]: a rate in bytes or I/O operations per second; 0 lifts the limit.
struct ThrottleDevice {
  int64_t major = 0, minor = 0;
  uint64_t rate = 0;
};

struct Resources {
  // Following runc, a 0 in limit, reservation, swap, shares, quota, period and blockIO.weight
  // is read as "not set": engines fill zero values in, and a 0-byte limit or a 0 weight
  // is never meant. Those fields therefore never hold 0 here.

  // Bytes, or -1 for unlimited.
  std::optional<int64_t> memory_limit, memory_reservation, memory_swap;
  std::optional<uint64_t> memory_swappiness;  // 0-100
  std::optional<bool> disable_oom_killer;
  // Deprecated kernel-memory limits (bytes, -1 unlimited; 0 is "not set" like limit).
  std::optional<int64_t> memory_kernel, memory_kernel_tcp;
  // Refuse a memory limit below the cgroup's current usage.
  bool memory_check_before_update = false;

  std::optional<uint64_t> cpu_shares;
  std::optional<int64_t> cpu_quota;    // microseconds, or -1 for unlimited
  std::optional<uint64_t> cpu_period;  // microseconds
  std::optional<std::string> cpu_cpus, cpu_mems;
  // Realtime bandwidth (v1 only). 0 is "not set", as in runc; runtime -1 is unlimited.
  std::optional<int64_t> cpu_rt_runtime;
  std::optional<uint64_t> cpu_rt_period;
  std::optional<uint64_t> cpu_burst;  // microseconds; 0 is a real value (no burst)
  std::optional<int64_t> cpu_idle;    // 0 or 1

  // Negative means no limit; 0 is a real limit (no forks), per runtime-spec #1279.
  std::optional<int64_t> pids_limit;

  std::optional<uint16_t> blkio_weight;       // 10-1000
  std::optional<uint16_t> blkio_leaf_weight;  // 10-1000
  std::vector<WeightDevice> blkio_weight_device;
  std::vector<ThrottleDevice> throttle_read_bps, throttle_write_bps, throttle_read_iops,
      throttle_write_iops;

  std::vector<HugepageLimit> hugepage_limits;

  std::optional<uint32_t> net_class_id;                          // 0 is "not set", as in runc
  std::vector<std::pair<std::string, uint32_t>> net_priorities;  // interface, priority

  std::map<std::string, RdmaLimit> rdma;  // device name -> limits

  // Unset: the device controller is left alone. Set (even empty): deny all, then the rules.
  std::optional<std::vector<DeviceRule>> devices;

  std::map<std::string, std::string> unified;
};

// Reads linux.resources (a null or absent object gives an empty Resources).
Resources parse_resources(const nlohmann::json& j);

// Manager::apply()'s errors start like the spec's own (oci/spec.cc): "config.json:
// linux.resources.<field>: ...", since create takes linux.resources from config.json.
// `update` puts where its values came from in place of "config.json" (runtime/resources.cc).
inline constexpr std::string_view kResourcesSource = "config.json";
// Rethrows `e` (keeping its errno) with "config.json: " in front, and "linux.resources: " too
// when the message does not start with a linux.resources field already.
[[noreturn]] void rethrow_as_config_error(const Error& e);
// `e` (same errno) with `source` in place of that "config.json", for resources that came from
// elsewhere; an error without the prefix is returned as it is.
Error with_resources_source(const Error& e, std::string_view source);

}  // namespace vessel::cgroups
