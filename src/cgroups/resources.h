// linux.resources read into typed fields. Absent (or null) fields stay unset and the managers
// leave the matching files alone. Type and range errors name the field, e.g.
// "linux.resources.memory.swappiness: expected 0-100 (value 150)".
//
// Read now: memory {limit, reservation, swap, swappiness, disableOOMKiller},
// cpu {shares, quota, period, cpus, mems}, pids.limit, blockIO.weight, devices, unified.
// A later issue adds memory {kernel, kernelTCP, useHierarchy, checkBeforeUpdate},
// cpu {realtimeRuntime, realtimePeriod, idle, burst}, blockIO {leafWeight, weightDevice,
// throttle*}, hugepageLimits, network, rdma and the v2 (eBPF) device filter; until then those
// fields are accepted and not applied.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace vessel::cgroups {

struct DeviceRule {
  bool allow = false;
  char type = 'a';                 // 'a', 'b' or 'c'
  int64_t major = -1, minor = -1;  // -1: any ("*")
  std::string access = "rwm";      // unset in the spec means every access, like the other fields
};

struct Resources {
  // Following runc, a 0 in limit, reservation, swap, shares, quota, period and blockIO.weight
  // is read as "not set": engines fill zero values in, and a 0-byte limit or a 0 weight
  // is never meant. Those fields therefore never hold 0 here.

  // Bytes, or -1 for unlimited.
  std::optional<int64_t> memory_limit, memory_reservation, memory_swap;
  std::optional<uint64_t> memory_swappiness;  // 0-100
  std::optional<bool> disable_oom_killer;

  std::optional<uint64_t> cpu_shares;
  std::optional<int64_t> cpu_quota;    // microseconds, or -1 for unlimited
  std::optional<uint64_t> cpu_period;  // microseconds
  std::optional<std::string> cpu_cpus, cpu_mems;

  // Negative means no limit; 0 is a real limit (no forks), per runtime-spec #1279.
  std::optional<int64_t> pids_limit;

  std::optional<uint16_t> blkio_weight;  // 10-1000

  // Unset: the device controller is left alone. Set (even empty): deny all, then the rules.
  std::optional<std::vector<DeviceRule>> devices;

  std::map<std::string, std::string> unified;
};

// Reads linux.resources (a null or absent object gives an empty Resources).
Resources parse_resources(const nlohmann::json& j);

}  // namespace vessel::cgroups
