// linux.resources.devices on cgroup v2: v2 has no devices.allow / devices.deny, only an eBPF
// program (BPF_PROG_TYPE_CGROUP_DEVICE) attached to the cgroup that the kernel asks on every
// open and mknod of a device node.
//
// The rules mean on v2 exactly what they mean on v1: they are first replayed against a model
// of the v1 device cgroup (a default behaviour plus an exception list, with the kernel's
// merge and exact-match removal), and the program then encodes the resulting state, not the
// rule list. "Last matching rule wins" would differ from v1 in corner cases: v1 merges the
// access of identical entries, a deny only removes an exactly identical allow entry, and a
// request (an O_RDWR open asks for "rw" at once) must be covered by one single entry.
#pragma once

#include <linux/bpf.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cgroups/resources.h"

namespace vessel::cgroups {

// One entry of the v1 exception list. `access` holds BPF_DEVCG_ACC_* bits.
struct DeviceException {
  char type = 'c';                 // 'b' or 'c'; type-'a' rules become one entry of each
  int64_t major = -1, minor = -1;  // -1: any
  uint32_t access = 0;

  bool operator==(const DeviceException&) const = default;
};

// The v1 device cgroup's state after a rule list.
struct DevicePolicy {
  // Default allow: the exceptions are denials; default deny: they are what is allowed.
  bool default_allow = false;
  std::vector<DeviceException> exceptions;
  // Rules that v1 (and so this filter) silently ignores although they look meaningful, e.g.
  // a deny of "c 1:3" after an allow of "c *:*". One message per rule, naming it.
  std::vector<std::string> ignored;
};

// Replays `rules` (linux.resources.devices, in order) on a fresh v1 device cgroup after the
// runtime's initial deny-all, like v1_device_writes() does on a real one.
DevicePolicy emulate_v1_devices(const std::vector<DeviceRule>& rules);

// What the v1 kernel answers for one request: `type` 'b' or 'c', `access` BPF_DEVCG_ACC_*
// bits. The reference the generated program must agree with.
bool policy_allows(const DevicePolicy& policy, char type, uint32_t major, uint32_t minor,
                   uint32_t access);

// The BPF_PROG_TYPE_CGROUP_DEVICE program for `policy`: returns 1 (allow) or 0 (deny).
std::vector<bpf_insn> device_filter_program(const DevicePolicy& policy);

// The name the program is loaded under; apply_device_filter() replaces programs of this name
// on the cgroup and leaves everyone else's alone.
inline constexpr const char* kDeviceFilterName = "vessel_devices";

// Loads `program`; returns the program fd. A verifier rejection carries the verifier's log.
int load_device_filter(const std::vector<bpf_insn>& program);

// Loads the filter for `rules` and attaches it to the cgroup v2 directory `cgroup_dir`
// (BPF_F_ALLOW_MULTI, so that programs of ancestors and descendants keep applying), then
// detaches the filters an earlier call attached there. Until the old one is gone both apply,
// so there is no moment without a filter. The attachment keeps the program alive after this
// process exits; removing the cgroup frees it.
void apply_device_filter(const std::string& cgroup_dir, const std::vector<DeviceRule>& rules);

// IDs of the programs named kDeviceFilterName attached directly to `cgroup_dir`.
std::vector<uint32_t> attached_device_filters(const std::string& cgroup_dir);

}  // namespace vessel::cgroups
