#include "cgroups/v2.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <tuple>

#include "cgroups/bpf_devices.h"
#include "cgroups/convert.h"
#include "cgroups/resources.h"
#include "cgroups/stats.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"

namespace vessel::cgroups {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t start = s.find_first_not_of(" \n", pos);
    if (start == std::string::npos) break;
    size_t end = s.find_first_of(" \n", start);
    if (end == std::string::npos) end = s.size();
    out.push_back(s.substr(start, end - start));
    pos = end;
  }
  return out;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// "frozen 1" in cgroup.events.
std::optional<bool> events_frozen(const std::string& dir) {
  std::optional<std::string> events = read_value(dir + "/cgroup.events");
  if (!events) return std::nullopt;
  std::vector<std::string> w = words(*events);
  for (size_t i = 0; i + 1 < w.size(); ++i)
    if (w[i] == "frozen") return w[i + 1] == "1";
  return std::nullopt;
}

std::optional<uint64_t> read_u64(const std::string& path) {
  std::optional<std::string> s = read_value(path);
  return s ? parse_limit(*s) : std::nullopt;
}

}  // namespace

uint64_t CgroupV2Manager::oom_kills() const {
  return parse_flat_keyed(read_value(dir() + "/memory.events").value_or(""))["oom_kill"];
}

nlohmann::json CgroupV2Manager::stats() const {
  const std::string& d = dir();
  nlohmann::json data = nlohmann::json::object();
  // cpu.stat exists without the cpu controller (usage only); throttling needs it.
  if (std::optional<std::string> text = read_value(d + "/cpu.stat")) {
    auto st = parse_flat_keyed(*text);
    data["cpu"] = {{"usage",
                    {{"total", st["usage_usec"] * 1000},
                     {"user", st["user_usec"] * 1000},
                     {"kernel", st["system_usec"] * 1000},
                     {"percpu", nlohmann::json::array()}}},
                   {"throttling",
                    {{"periods", st["nr_periods"]},
                     {"throttled_periods", st["nr_throttled"]},
                     {"throttled_time", st["throttled_usec"] * 1000}}}};
  }
  if (std::optional<uint64_t> current = read_u64(d + "/memory.current")) {
    auto raw = parse_flat_keyed(read_value(d + "/memory.stat").value_or(""));
    auto events = parse_flat_keyed(read_value(d + "/memory.events").value_or(""));
    nlohmann::json usage = {{"usage", *current},
                            {"max", read_u64(d + "/memory.peak").value_or(0)},
                            {"failcnt", events["max"]},
                            {"limit", read_u64(d + "/memory.max").value_or(0)}};
    // oom_kill is not in runc's shape: `events` watches it and removes it before printing.
    nlohmann::json mem = {
        {"cache", raw["file"]}, {"usage", usage}, {"raw", raw}, {"oom_kill", events["oom_kill"]}};
    // Like runc, swap is reported as memory+swap, the way v1's memsw counts it.
    if (std::optional<uint64_t> swap = read_u64(d + "/memory.swap.current")) {
      uint64_t swap_max = read_u64(d + "/memory.swap.max").value_or(0);
      uint64_t mem_max = usage["limit"].get<uint64_t>();
      constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
      mem["swap"] = {{"usage", *swap + *current},
                     {"limit", swap_max == kMax || mem_max == kMax ? kMax : swap_max + mem_max}};
    }
    data["memory"] = mem;
  }
  if (std::optional<uint64_t> current = read_u64(d + "/pids.current")) {
    uint64_t limit = read_u64(d + "/pids.max").value_or(0);
    if (limit == std::numeric_limits<uint64_t>::max()) limit = 0;
    data["pids"] = {{"current", *current}, {"limit", limit}};
  }
  if (std::optional<std::string> io = read_value(d + "/io.stat"))
    data["blkio"] = parse_io_stat_v2(*io);
  std::vector<std::string> available = words(read_value(d + "/cgroup.controllers").value_or(""));
  if (contains(available, "hugetlb"))
    data["hugetlb"] = hugetlb_stats(d, host_hugepage_sizes(), HugetlbFiles::v2);
  if (contains(available, "rdma"))
    if (std::optional<nlohmann::json> r = rdma_stats(d)) data["rdma"] = *r;
  return data;
}

void CgroupV2Manager::before_child(CgroupDir& d, const std::string& parent) {
  if (!d.unified()) return;
  std::optional<std::string> available = read_value(parent + "/cgroup.controllers");
  std::optional<std::string> enabled = read_value(parent + "/cgroup.subtree_control");
  if (!available || !enabled)
    fail(
        "create cgroup: {} has no cgroup.controllers or cgroup.subtree_control; is it a cgroup "
        "v2 directory?",
        parent);
  std::vector<std::string> on = words(*enabled);
  std::string file = parent + "/cgroup.subtree_control";
  for (const std::string& c : words(*available)) {
    if (contains(on, c)) continue;
    std::string value = "+" + c;
    int err = write_value(file, value);
    if (err == 0) continue;
    // A user in a delegated subtree may be refused controllers not delegated to them (such
    // as cpuset): the ones the container's resources need are reported when applied.
    bool refused_to_user = ::geteuid() != 0 && (err == EPERM || err == EACCES);
    if (err == ENOENT || err == EINVAL || err == EOPNOTSUPP || err == EBUSY || refused_to_user) {
      std::string why = fmt::format("write {} to {}: {}", value, file, std::strerror(err));
      // EBUSY, or EOPNOTSUPP once a threaded controller made it a thread root.
      if ((err == EBUSY || err == EOPNOTSUPP) &&
          !read_value(parent + "/cgroup.procs").value_or("").empty())
        why +=
            " (that cgroup holds processes itself, and v2 only gives controllers such as "
            "memory and io to the children of cgroups without processes)";
      log::debug("cgroups: not enabling " + c + ": " + why);
      not_enabled_[c] = why;
      continue;
    }
    fail_write(fmt::format("create cgroup: enable the {} controller", c), file, value, err);
  }
}

void CgroupV2Manager::apply(const nlohmann::json& resources) {
  try {
    apply_resources(parse_resources(resources));
  } catch (const Error& e) {
    rethrow_as_config_error(e);
  }
}

void CgroupV2Manager::apply_resources(const Resources& r) {
  const std::string& d = dir();
  std::vector<std::string> available = words(read_value(d + "/cgroup.controllers").value_or(""));
  auto need = [&](const std::string& controller, const std::string& field) {
    if (contains(available, controller)) return;
    std::string why;
    if (auto it = not_enabled_.find(controller); it != not_enabled_.end())
      why = "; enabling it failed: " + it->second;
    fail("{}: the {} controller is not enabled for {} (cgroup.controllers: {}){}", field,
         controller, d, available.empty() ? "none" : fmt::format("{}", fmt::join(available, " ")),
         why);
  };
  auto set = [&](const std::string& controller, const std::string& field, const std::string& file,
                 const std::string& value) {
    need(controller, field);
    write_setting(field, d + "/" + file, value);
  };

  if (r.memory_check_before_update && r.memory_limit && *r.memory_limit > 0) {
    need("memory", "linux.resources.memory.limit");
    std::string file = d + "/memory.current";
    std::optional<uint64_t> usage = read_u64(file);
    if (usage && *usage > static_cast<uint64_t>(*r.memory_limit))
      fail(
          "linux.resources.memory.limit: {} is below the current usage {} ({}), and "
          "memory.checkBeforeUpdate asks not to lower the limit below it",
          *r.memory_limit, *usage, file);
  }
  if (r.memory_limit)
    set("memory", "linux.resources.memory.limit", "memory.max", v2_memory_value(*r.memory_limit));
  if (std::optional<std::string> swap = v2_swap_max(r.memory_limit, r.memory_swap)) {
    std::string field =
        r.memory_swap ? "linux.resources.memory.swap" : "linux.resources.memory.limit";
    need("memory", field);
    // Without swap accounting there is no memory.swap.max; "max" then needs no write.
    if (path_exists(d + "/memory.swap.max"))
      write_setting(field, d + "/memory.swap.max", *swap);
    else if (*swap != "max")
      fail("{}: {} has no memory.swap.max: swap accounting is off in this kernel", field, d);
  }
  if (r.memory_reservation)
    set("memory", "linux.resources.memory.reservation", "memory.low",
        v2_memory_value(*r.memory_reservation));
  if (r.memory_swappiness)
    log::warn("linux.resources.memory.swappiness: cgroup v2 has no per-cgroup swappiness; ignored");
  if (r.disable_oom_killer.value_or(false))
    log::warn(
        "linux.resources.memory.disableOOMKiller: cgroup v2 cannot disable the OOM killer; "
        "ignored");

  // Like runc: the deprecated kernel-memory limits mean nothing on v2.
  if (r.memory_kernel)
    log::debug("linux.resources.memory.kernel: no cgroup v2 equivalent; ignored");
  if (r.memory_kernel_tcp)
    log::debug("linux.resources.memory.kernelTCP: no cgroup v2 equivalent; ignored");

  if (r.cpu_rt_runtime || r.cpu_rt_period)
    fail("linux.resources.cpu.{}: cgroup v2 has no realtime CPU bandwidth control (value {})",
         r.cpu_rt_runtime ? "realtimeRuntime" : "realtimePeriod",
         r.cpu_rt_runtime ? *r.cpu_rt_runtime : static_cast<int64_t>(*r.cpu_rt_period));
  // cpu.idle first: an idle cgroup refuses cpu.weight (its weight is the minimum).
  if (r.cpu_idle) set("cpu", "linux.resources.cpu.idle", "cpu.idle", std::to_string(*r.cpu_idle));
  if (r.cpu_shares) {
    if (r.cpu_idle == 1)
      log::debug("linux.resources.cpu.shares: not written, cpu.idle is 1");
    else
      set("cpu", "linux.resources.cpu.shares", "cpu.weight",
          std::to_string(cpu_shares_to_weight(*r.cpu_shares)));
  }
  // The kernel checks burst <= quota on every write of either: a shrinking burst goes first.
  bool burst_first = false;
  auto write_burst = [&] {
    const char* field = "linux.resources.cpu.burst";
    need("cpu", field);
    std::string file = d + "/cpu.max.burst";
    if (!path_exists(file)) fail("{}: {} does not exist (CFS burst needs Linux 5.14)", field, file);
    if (int err = write_value(file, std::to_string(*r.cpu_burst)))
      fail_write(field, file, std::to_string(*r.cpu_burst), err,
                 err == EINVAL ? " (the burst cannot exceed the quota in cpu.max)" : "");
  };
  if (r.cpu_burst) {
    std::optional<uint64_t> current = read_u64(d + "/cpu.max.burst");
    burst_first = current && *r.cpu_burst <= *current;
    if (burst_first) write_burst();
  }
  if (std::optional<std::string> max = cpu_max(r.cpu_quota, r.cpu_period))
    set("cpu", r.cpu_quota ? "linux.resources.cpu.quota" : "linux.resources.cpu.period", "cpu.max",
        *max);
  if (r.cpu_burst && !burst_first) write_burst();
  for (auto [value, key, file] : {std::tuple{&r.cpu_cpus, "cpus", "cpuset.cpus"},
                                  std::tuple{&r.cpu_mems, "mems", "cpuset.mems"}}) {
    if (!*value) continue;
    std::string field = fmt::format("linux.resources.cpu.{}", key);
    need("cpuset", field);
    if (int err = write_value(d + "/" + file, **value))
      fail_write(field, d + "/" + file, **value, err, cpuset_hint(err, file));
  }

  if (r.pids_limit) set("pids", "linux.resources.pids.limit", "pids.max", pids_max(*r.pids_limit));

  if (r.blkio_weight) {
    const char* field = "linux.resources.blockIO.weight";
    need("io", field);
    // io.weight (iocost) takes 1-10000; BFQ's io.bfq.weight keeps blkio's 1-1000 scale.
    if (path_exists(d + "/io.weight"))
      write_setting(field, d + "/io.weight",
                    std::to_string(blkio_weight_to_io_weight(*r.blkio_weight)));
    else if (path_exists(d + "/io.bfq.weight"))
      write_setting(field, d + "/io.bfq.weight", std::to_string(*r.blkio_weight));
    else
      fail(
          "{}: neither io.weight nor io.bfq.weight exists in {} (no I/O scheduler with "
          "proportional weights)",
          field, d);
  }

  if (r.blkio_leaf_weight)
    log::debug("linux.resources.blockIO.leafWeight: no cgroup v2 equivalent; ignored");
  for (size_t i = 0; i < r.blkio_weight_device.size(); ++i) {
    const WeightDevice& w = r.blkio_weight_device[i];
    std::string field = fmt::format("linux.resources.blockIO.weightDevice[{}]", i);
    if (w.leaf_weight) log::debug(field + ".leafWeight: no cgroup v2 equivalent; ignored");
    if (!w.weight) continue;
    need("io", field);
    // Same choice as blockIO.weight: io.weight on the 1-10000 scale, or BFQ's on 1-1000.
    std::string file = d + "/io.weight";
    std::string line = device_value_line(w.major, w.minor, blkio_weight_to_io_weight(*w.weight));
    if (!path_exists(file)) {
      file = d + "/io.bfq.weight";
      line = device_value_line(w.major, w.minor, *w.weight);
    }
    if (!path_exists(file))
      fail(
          "{}.weight: neither io.weight nor io.bfq.weight exists in {} (no I/O scheduler with "
          "proportional weights)",
          field, d);
    if (int err = write_value(file, line))
      fail_write(field + ".weight", file, line, err,
                 err == ENODEV || err == EINVAL ? " (no such block device on this host)" : "");
  }
  for (const std::string& line : v2_io_max_lines(r)) {
    const char* field = "linux.resources.blockIO.throttle*Device";
    need("io", field);
    if (int err = write_value(d + "/io.max", line))
      fail_write(field, d + "/io.max", line, err,
                 err == ENODEV || err == EINVAL ? " (no such block device on this host)" : "");
  }

  if (!r.hugepage_limits.empty()) {
    check_hugepage_sizes(r.hugepage_limits, host_hugepage_sizes());
    for (size_t i = 0; i < r.hugepage_limits.size(); ++i) {
      const HugepageLimit& h = r.hugepage_limits[i];
      std::string field = fmt::format("linux.resources.hugepageLimits[{}].limit", i);
      std::string size = hugepage_size_name(*hugepage_size_kb(h.page_size));
      set("hugetlb", field, "hugetlb." + size + ".max", std::to_string(h.limit));
      // Reservations (Linux 5.7) are limited alike, so that a mapping cannot reserve more.
      if (path_exists(d + "/hugetlb." + size + ".rsvd.max"))
        set("hugetlb", field, "hugetlb." + size + ".rsvd.max", std::to_string(h.limit));
    }
  }

  // net_cls and net_prio are v1 only; v2 classifies sockets by cgroup path instead (nftables
  // "socket cgroupv2", eBPF). runc ignores the fields there; we say so.
  if (r.net_class_id || !r.net_priorities.empty())
    log::warn(
        "linux.resources.network: net_cls and net_prio exist only in cgroup v1; ignored on "
        "cgroup v2");

  for (const auto& [dev, limit] : r.rdma) {
    std::optional<std::string> line = rdma_line(dev, limit);
    if (!line) continue;
    std::string field = "linux.resources.rdma." + dev;
    need("rdma", field);
    if (int err = write_value(d + "/rdma.max", *line))
      fail_write(field, d + "/rdma.max", *line, err, rdma_device_hint(err));
  }

  // Needs no controller: a device program attaches to any cgroup v2 directory.
  if (r.devices) apply_device_filter(d, *r.devices);

  // Last, so that an explicit unified value overrides one converted from a v1 field.
  for (const auto& [key, value] : r.unified) {
    std::string field = "linux.resources.unified." + key;
    std::string controller = key.substr(0, key.find('.'));
    if (controller != "cgroup" && !path_exists(d + "/" + key)) need(controller, field);
    if (int err = write_value(d + "/" + key, value))
      fail_write(field, d + "/" + key, value, err,
                 err == ENOENT ? " (no such file in the container's cgroup)" : "");
  }
}

bool CgroupV2Manager::can_freeze() const { return path_exists(dir() + "/cgroup.freeze"); }

bool CgroupV2Manager::is_frozen() const { return events_frozen(dir()).value_or(false); }

bool CgroupV2Manager::kill_by_kernel(int sig) {
  // cgroup.kill (Linux 5.14) kills the whole subtree at once, forks in flight included.
  if (sig != SIGKILL || !path_exists(dir() + "/cgroup.kill")) return false;
  write_setting("kill", dir() + "/cgroup.kill", "1");
  return true;
}

void CgroupV2Manager::freeze() {
  std::string file = dir() + "/cgroup.freeze";
  if (!path_exists(file)) fail("freeze: {} does not exist (needs Linux 5.2 or later)", file);
  write_setting("freeze", file, "1");
  if (!wait_until(2000ms, [&] { return events_frozen(dir()).value_or(false); })) {
    write_value(file, "0");
    fail("freeze {}: cgroup.events does not report frozen after 2 s (thawed it again)", dir());
  }
}

void CgroupV2Manager::thaw() {
  std::string file = dir() + "/cgroup.freeze";
  write_setting("thaw", file, "0");
  if (!wait_until(2000ms, [&] { return !events_frozen(dir()).value_or(true); }))
    fail("thaw {}: cgroup.events still reports frozen after 2 s", dir());
}

}  // namespace vessel::cgroups
