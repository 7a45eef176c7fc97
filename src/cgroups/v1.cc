#include "cgroups/v1.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <sstream>
#include <tuple>

#include "cgroups/convert.h"
#include "cgroups/resources.h"
#include "cgroups/stats.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"

namespace vessel::cgroups {
namespace {

using namespace std::chrono_literals;

int64_t read_int(const std::string& path) {
  std::optional<std::string> s = read_value(path);
  if (!s) fail("read {}: No such file or directory", path);
  try {
    return std::stoll(*s);
  } catch (const std::exception&) {
    fail("read {}: expected a number, got {:?}", path, *s);
  }
}

std::optional<uint64_t> read_u64(const std::string& path) {
  std::optional<std::string> s = read_value(path);
  return s ? parse_limit(*s) : std::nullopt;
}

// runc's MemoryEntry from memory.<prefix>{usage_in_bytes,max_usage_in_bytes,failcnt,
// limit_in_bytes}.
nlohmann::json memory_entry(const std::string& dir, const std::string& prefix) {
  std::string base = dir + "/memory." + prefix;
  return {{"usage", read_u64(base + "usage_in_bytes").value_or(0)},
          {"max", read_u64(base + "max_usage_in_bytes").value_or(0)},
          {"failcnt", read_u64(base + "failcnt").value_or(0)},
          {"limit", read_u64(base + "limit_in_bytes").value_or(0)}};
}

std::vector<std::string> words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Kernel hints for the per-device blkio files.
std::string blkio_device_hint(int err) {
  if (err == ENODEV || err == EINVAL || err == ENOENT)
    return " (the numbers must name a block device, not a partition on some kernels, that "
           "exists on this host)";
  return "";
}

}  // namespace

uint64_t CgroupV1Manager::oom_kills() const {
  const CgroupDir* d = find_dir("memory");
  if (!d) return 0;
  return parse_flat_keyed(read_value(d->dir + "/memory.oom_control").value_or(""))["oom_kill"];
}

nlohmann::json CgroupV1Manager::stats() const {
  nlohmann::json data = nlohmann::json::object();
  if (const CgroupDir* d = find_dir("cpuacct")) {
    std::string f = d->dir + "/cpuacct.";
    nlohmann::json usage = {
        {"total", read_u64(f + "usage").value_or(0)},
        {"percpu", parse_number_list(read_value(f + "usage_percpu").value_or(""))},
        {"percpu_kernel", parse_number_list(read_value(f + "usage_percpu_sys").value_or(""))},
        {"percpu_user", parse_number_list(read_value(f + "usage_percpu_user").value_or(""))}};
    std::optional<uint64_t> user = read_u64(f + "usage_user"), sys = read_u64(f + "usage_sys");
    if (!user || !sys) {
      // Older kernels only have cpuacct.stat, in clock ticks.
      auto st = parse_flat_keyed(read_value(f + "stat").value_or(""));
      uint64_t hz = static_cast<uint64_t>(::sysconf(_SC_CLK_TCK));
      if (hz == 0) hz = 100;
      user = st["user"] * (1000000000 / hz);
      sys = st["system"] * (1000000000 / hz);
    }
    usage["user"] = *user;
    usage["kernel"] = *sys;
    data["cpu"]["usage"] = usage;
  }
  if (const CgroupDir* d = find_dir("cpu")) {
    auto st = parse_flat_keyed(read_value(d->dir + "/cpu.stat").value_or(""));
    data["cpu"]["throttling"] = {{"periods", st["nr_periods"]},
                                 {"throttled_periods", st["nr_throttled"]},
                                 {"throttled_time", st["throttled_time"]}};
  }
  if (const CgroupDir* d = find_dir("memory")) {
    auto raw = parse_flat_keyed(read_value(d->dir + "/memory.stat").value_or(""));
    nlohmann::json mem = {{"cache", raw.count("cache") ? raw["cache"] : 0},
                          {"usage", memory_entry(d->dir, "")},
                          {"kernel", memory_entry(d->dir, "kmem.")},
                          {"kernelTCP", memory_entry(d->dir, "kmem.tcp.")},
                          {"raw", raw}};
    // runc reports memory+swap (memsw) as "swap" on v1.
    if (path_exists(d->dir + "/memory.memsw.usage_in_bytes"))
      mem["swap"] = memory_entry(d->dir, "memsw.");
    mem["use_hierarchy"] = read_value(d->dir + "/memory.use_hierarchy") == "1";
    // Not in runc's shape: `events` watches it for OOM kills and removes it before printing.
    std::string oom_control = read_value(d->dir + "/memory.oom_control").value_or("");
    mem["oom_kill"] = parse_flat_keyed(oom_control)["oom_kill"];
    data["memory"] = mem;
  }
  if (const CgroupDir* d = find_dir("pids")) {
    std::optional<uint64_t> limit = read_u64(d->dir + "/pids.max");
    // runc reports "max" (no limit) as 0.
    if (limit == std::numeric_limits<uint64_t>::max()) limit = 0;
    data["pids"] = {{"current", read_u64(d->dir + "/pids.current").value_or(0)},
                    {"limit", limit.value_or(0)}};
  }
  if (const CgroupDir* d = find_dir("blkio")) {
    // CFQ's files are gone since Linux 5.0; then BFQ's, then the throttle policy's counters.
    nlohmann::json blkio = nlohmann::json::object();
    for (const char* prefix : {"blkio.", "blkio.bfq.", "blkio.throttle."}) {
      std::string base = d->dir + "/" + prefix;
      if (!path_exists(base + "io_service_bytes_recursive")) continue;
      blkio["ioServiceBytesRecursive"] =
          parse_blkio_v1(read_value(base + "io_service_bytes_recursive").value_or(""));
      blkio["ioServicedRecursive"] =
          parse_blkio_v1(read_value(base + "io_serviced_recursive").value_or(""));
      break;
    }
    data["blkio"] = blkio;
  }
  // hugetlb and rdma: a v1 hierarchy, or on hybrid hosts the unified one (then with v2's files).
  if (in_v1("hugetlb"))
    data["hugetlb"] =
        hugetlb_stats(find_dir("hugetlb")->dir, host_hugepage_sizes(), HugetlbFiles::v1);
  else if (const CgroupDir* u = unified_with("hugetlb"))
    data["hugetlb"] = hugetlb_stats(u->dir, host_hugepage_sizes(), HugetlbFiles::v2);
  const CgroupDir* rdma = in_v1("rdma") ? find_dir("rdma") : unified_with("rdma");
  if (rdma)
    if (std::optional<nlohmann::json> r = rdma_stats(rdma->dir)) data["rdma"] = *r;
  return data;
}

const std::string& CgroupV1Manager::need(const char* controller, const std::string& field) const {
  const CgroupDir* d = find_dir(controller);
  if (!d) fail("{}: the {} controller is not mounted on this host", field, controller);
  return d->dir;
}

bool CgroupV1Manager::in_v1(const std::string& controller) const {
  return std::any_of(dirs_.begin(), dirs_.end(),
                     [&](const CgroupDir& d) { return !d.unified() && d.has(controller); });
}

void CgroupV1Manager::before_child(CgroupDir& d, const std::string& parent) {
  // Hybrid: a controller that no v1 hierarchy has can be bound to the unified one instead
  // (hugetlb on this kind of host). Enable those, and only those, down to the container.
  if (!d.unified()) return;
  std::optional<std::string> available = read_value(parent + "/cgroup.controllers");
  std::optional<std::string> enabled = read_value(parent + "/cgroup.subtree_control");
  if (!available || !enabled) return;
  std::vector<std::string> on = words(*enabled);
  std::string file = parent + "/cgroup.subtree_control";
  for (const std::string& c : words(*available)) {
    if (contains(on, c) || in_v1(c)) continue;
    if (int err = write_value(file, "+" + c))
      log::debug(fmt::format("cgroups: not enabling {} in {}: {}", c, file, std::strerror(err)));
  }
}

const CgroupDir* CgroupV1Manager::unified_with(const std::string& controller) const {
  for (const CgroupDir& d : dirs_)
    if (d.unified() &&
        contains(words(read_value(d.dir + "/cgroup.controllers").value_or("")), controller))
      return &d;
  return nullptr;
}

void CgroupV1Manager::after_level(CgroupDir& d, const std::string& dir) {
  if (!d.has("cpuset")) return;
  // A new v1 cpuset starts with no CPUs and no memory nodes, and the kernel refuses to move
  // a process into it until both are set; start from the parent's. Levels that existed (an
  // engine's pod cgroup, say) may be just as empty, so every level is looked at, top down,
  // as runc does.
  std::string parent = dir.substr(0, dir.rfind('/'));
  for (const char* file : {"cpuset.cpus", "cpuset.mems"}) {
    std::optional<std::string> cur = read_value(dir + "/" + file);
    if (!cur || !cur->empty()) continue;
    std::optional<std::string> from = read_value(parent + "/" + file);
    if (!from || from->empty())
      fail("create cgroup {}: the parent's {} is empty, so no process could join", dir, file);
    write_setting(fmt::format("create cgroup: copy {} from {}", file, parent), dir + "/" + file,
                  *from);
  }
}

void CgroupV1Manager::apply(const nlohmann::json& resources) {
  try {
    apply_resources(parse_resources(resources));
  } catch (const Error& e) {
    rethrow_as_config_error(e);
  }
}

void CgroupV1Manager::apply_resources(const Resources& r) {
  // runc's words ("invalid configuration: cannot use unified on cgroup v1"), with the host.
  if (!r.unified.empty())
    fail(
        "linux.resources.unified: invalid configuration: cannot use unified on cgroup v1 (this "
        "host's cgroups are {}; first key: {})",
        layout_name(layout_), r.unified.begin()->first);

  if (r.memory_check_before_update && r.memory_limit && *r.memory_limit > 0) {
    std::string file = need("memory", "linux.resources.memory") + "/memory.usage_in_bytes";
    check_usage(*r.memory_limit, file);
  }
  if (r.memory_limit || r.memory_reservation || r.memory_swap || r.memory_swappiness ||
      r.disable_oom_killer) {
    const std::string& dir = need("memory", "linux.resources.memory");
    // Plain variables rather than the optional: GCC 12 misreports it as uninitialized.
    std::optional<int64_t> wanted = v1_memsw(r.memory_limit, r.memory_swap);
    bool set_memsw = wanted.has_value();
    int64_t memsw = wanted.value_or(0);
    std::string memsw_file = dir + "/memory.memsw.limit_in_bytes";
    std::string memsw_field =
        r.memory_swap ? "linux.resources.memory.swap" : "linux.resources.memory.limit";
    if (set_memsw && !path_exists(memsw_file)) {
      // Without swap accounting there is no memsw file; "unlimited" then needs no write.
      if (memsw >= 0)
        fail(
            "linux.resources.memory.swap: {} has no memory.memsw.limit_in_bytes: swap "
            "accounting is off in this kernel (boot with swapaccount=1)",
            dir);
      set_memsw = false;
    }
    auto write_memsw = [&] {
      if (!set_memsw) return;
      std::string value = v1_memory_value(memsw);
      if (int err = write_value(memsw_file, value))
        fail_write(
            memsw_field, memsw_file, value, err,
            err == EINVAL ? " (memory plus swap cannot be below memory.limit_in_bytes)" : "");
    };
    if (r.memory_limit) {
      std::string limit_file = dir + "/memory.limit_in_bytes";
      bool swap_first = set_memsw && v1_swap_first(*r.memory_limit, read_int(limit_file));
      if (swap_first) write_memsw();
      std::string limit = v1_memory_value(*r.memory_limit);
      if (int err = write_value(limit_file, limit))
        fail_write("linux.resources.memory.limit", limit_file, limit, err,
                   err == EBUSY ? " (the limit is below the cgroup's current memory usage)" : "");
      if (!swap_first) write_memsw();
    } else {
      write_memsw();
    }
    if (r.memory_reservation)
      write_setting("linux.resources.memory.reservation", dir + "/memory.soft_limit_in_bytes",
                    v1_memory_value(*r.memory_reservation));
    if (r.memory_swappiness)
      write_setting("linux.resources.memory.swappiness", dir + "/memory.swappiness",
                    std::to_string(*r.memory_swappiness));
    if (r.disable_oom_killer)
      write_setting("linux.resources.memory.disableOOMKiller", dir + "/memory.oom_control",
                    *r.disable_oom_killer ? "1" : "0");
  }
  // Deprecated: Linux 5.16 refuses kmem.limit_in_bytes writes (EOPNOTSUPP) and 6.x drops
  // the file. Written where the kernel still takes it, otherwise skipped with a warning.
  for (auto [value, file, field] :
       {std::tuple{r.memory_kernel, "memory.kmem.limit_in_bytes", "kernel"},
        std::tuple{r.memory_kernel_tcp, "memory.kmem.tcp.limit_in_bytes", "kernelTCP"}}) {
    if (!value) continue;
    std::string what = fmt::format("linux.resources.memory.{}", field);
    std::string path = need("memory", what) + "/" + file;
    std::string v = v1_memory_value(*value);
    int err = path_exists(path) ? write_value(path, v) : ENOENT;
    if (err == ENOENT || err == EOPNOTSUPP || err == ENOTSUP)
      log::warn(fmt::format("{}: deprecated and not supported by this kernel ({}: {}); ignored",
                            what, file, std::strerror(err)));
    else if (err)
      fail_write(what, path, v, err);
  }

  // cpu.idle first: an idle cgroup refuses cpu.shares (its weight is the minimum).
  if (r.cpu_idle) {
    std::string file = need("cpu", "linux.resources.cpu.idle") + "/cpu.idle";
    if (path_exists(file))
      write_setting("linux.resources.cpu.idle", file, std::to_string(*r.cpu_idle));
    else if (*r.cpu_idle != 0)
      fail("linux.resources.cpu.idle: {} does not exist (SCHED_IDLE cgroups need Linux 5.15)",
           file);
  }
  if (r.cpu_shares && r.cpu_idle != 1)
    write_setting("linux.resources.cpu.shares",
                  need("cpu", "linux.resources.cpu.shares") + "/cpu.shares",
                  std::to_string(*r.cpu_shares));
  // The kernel checks burst <= quota on every write of either, so a shrinking burst goes
  // before the quota and a growing one after it.
  std::string burst_file;
  auto write_burst = [&] {
    if (int err = write_value(burst_file, std::to_string(*r.cpu_burst)))
      fail_write("linux.resources.cpu.burst", burst_file, std::to_string(*r.cpu_burst), err,
                 err == EINVAL ? " (the burst cannot exceed cpu.cfs_quota_us)" : "");
  };
  bool burst_first = false;
  if (r.cpu_burst) {
    burst_file = need("cpu", "linux.resources.cpu.burst") + "/cpu.cfs_burst_us";
    if (!path_exists(burst_file))
      fail("linux.resources.cpu.burst: {} does not exist (CFS burst needs Linux 5.14)", burst_file);
    std::optional<uint64_t> current = read_u64(burst_file);
    burst_first = current && *r.cpu_burst <= *current;
    if (burst_first) write_burst();
  }
  if (r.cpu_quota || r.cpu_period) {
    const std::string& dir = need("cpu", "linux.resources.cpu");
    std::string quota_file = dir + "/cpu.cfs_quota_us";
    std::string period_file = dir + "/cpu.cfs_period_us";
    bool quota_done = false;
    if (r.cpu_period) {
      std::string period = std::to_string(*r.cpu_period);
      int err = write_value(period_file, period);
      // A shorter period can make the current quota invalid (the kernel checks the pair);
      // setting the new quota first then lets the period through.
      if (err == EINVAL && r.cpu_quota) {
        write_setting("linux.resources.cpu.quota", quota_file, std::to_string(*r.cpu_quota));
        quota_done = true;
        err = write_value(period_file, period);
      }
      if (err) fail_write("linux.resources.cpu.period", period_file, period, err);
    }
    if (r.cpu_quota && !quota_done)
      write_setting("linux.resources.cpu.quota", quota_file, std::to_string(*r.cpu_quota));
  }
  if (r.cpu_burst && !burst_first) write_burst();
  if (r.cpu_rt_period || r.cpu_rt_runtime) {
    const std::string& dir = need("cpu", "linux.resources.cpu");
    std::string period_file = dir + "/cpu.rt_period_us", runtime_file = dir + "/cpu.rt_runtime_us";
    if (!path_exists(runtime_file))
      fail(
          "linux.resources.cpu.realtimeRuntime: {} does not exist (the kernel was built "
          "without CONFIG_RT_GROUP_SCHED)",
          runtime_file);
    // Period first, then runtime (runtime <= period), as runc does; when the new period is
    // shorter than the current runtime, the new runtime goes first instead. A runtime the
    // parent's budget cannot cover is refused with EBUSY or EINVAL.
    auto write_runtime = [&] {
      std::string v = std::to_string(*r.cpu_rt_runtime);
      if (int err = write_value(runtime_file, v))
        fail_write("linux.resources.cpu.realtimeRuntime", runtime_file, v, err,
                   err == EBUSY || err == EINVAL
                       ? " (the runtime must not exceed the period, and the parent cgroup's "
                         "cpu.rt_runtime_us must leave enough unallocated realtime budget)"
                       : "");
    };
    bool runtime_done = false;
    if (r.cpu_rt_period) {
      std::string v = std::to_string(*r.cpu_rt_period);
      int err = write_value(period_file, v);
      if (err == EINVAL && r.cpu_rt_runtime) {
        write_runtime();
        runtime_done = true;
        err = write_value(period_file, v);
      }
      if (err)
        fail_write("linux.resources.cpu.realtimePeriod", period_file, v, err,
                   err == EINVAL ? " (the realtime runtime must fit in the period)" : "");
    }
    if (r.cpu_rt_runtime && !runtime_done) write_runtime();
  }
  for (auto [value, key, file] : {std::tuple{&r.cpu_cpus, "cpus", "cpuset.cpus"},
                                  std::tuple{&r.cpu_mems, "mems", "cpuset.mems"}}) {
    if (!*value) continue;
    std::string field = fmt::format("linux.resources.cpu.{}", key);
    std::string path = need("cpuset", field) + "/" + file;
    if (int err = write_value(path, **value))
      fail_write(field, path, **value, err, cpuset_hint(err, file));
  }

  if (r.pids_limit)
    write_setting("linux.resources.pids.limit",
                  need("pids", "linux.resources.pids.limit") + "/pids.max",
                  pids_max(*r.pids_limit));

  if (r.blkio_weight) {
    const std::string& dir = need("blkio", "linux.resources.blockIO.weight");
    // CFQ's blkio.weight is gone since Linux 5.0; BFQ offers blkio.bfq.weight (same range).
    std::string file = dir + "/blkio.weight";
    if (!path_exists(file)) file = dir + "/blkio.bfq.weight";
    if (!path_exists(file))
      fail(
          "linux.resources.blockIO.weight: neither blkio.weight nor blkio.bfq.weight exists in "
          "{} (no I/O scheduler with proportional weights)",
          dir);
    write_setting("linux.resources.blockIO.weight", file, std::to_string(*r.blkio_weight));
  }

  apply_blkio(r);
  apply_hugetlb(r);

  if (r.net_class_id)
    write_setting("linux.resources.network.classID",
                  need("net_cls", "linux.resources.network.classID") + "/net_cls.classid",
                  std::to_string(*r.net_class_id));
  for (size_t i = 0; i < r.net_priorities.size(); ++i) {
    std::string field = fmt::format("linux.resources.network.priorities[{}]", i);
    std::string line = fmt::format("{} {}", r.net_priorities[i].first, r.net_priorities[i].second);
    std::string file = need("net_prio", field) + "/net_prio.ifpriomap";
    if (int err = write_value(file, line))
      fail_write(field, file, line, err, err == ENODEV ? " (no such network interface)" : "");
  }

  if (!r.rdma.empty()) {
    // rdma is bound to a v1 hierarchy or, on hybrid hosts, maybe to the unified one.
    std::string dir;
    if (in_v1("rdma"))
      dir = need("rdma", "linux.resources.rdma");
    else if (const CgroupDir* u = unified_with("rdma"))
      dir = u->dir;
    else
      fail("linux.resources.rdma: the rdma controller is not available on this host");
    for (const auto& [dev, limit] : r.rdma)
      if (std::optional<std::string> line = rdma_line(dev, limit))
        if (int err = write_value(dir + "/rdma.max", *line))
          fail_write("linux.resources.rdma." + dev, dir + "/rdma.max", *line, err,
                     rdma_device_hint(err));
  }

  if (r.devices) {
    const std::string& dir = need("devices", "linux.resources.devices");
    // One open of devices.allow and of devices.deny for all the rules (the kernel parses each
    // write on its own: runc's fixed list alone is 11 allow lines). A write that fails on the
    // kept fd is done again by path, which reports the error in the usual words.
    UniqueFd allow, deny;
    for (const DeviceWrite& w : v1_device_writes(*r.devices)) {
      UniqueFd& fd = w.file == "devices.allow" ? allow : deny;
      const std::string path = dir + "/" + w.file;
      if (!fd) fd.reset(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
      if (fd && retry_eintr([&] { return ::write(fd.get(), w.line.data(), w.line.size()); }) ==
                    static_cast<ssize_t>(w.line.size()))
        continue;
      std::string field = w.rule < 0 ? std::string("linux.resources.devices")
                                     : fmt::format("linux.resources.devices[{}]", w.rule);
      write_setting(field, path, w.line);
    }
  }
}

void CgroupV1Manager::check_usage(int64_t limit, const std::string& usage_file) const {
  int64_t usage = read_int(usage_file);
  if (usage > limit)
    fail(
        "linux.resources.memory.limit: {} is below the current usage {} ({}), and "
        "memory.checkBeforeUpdate asks not to lower the limit below it",
        limit, usage, usage_file);
}

void CgroupV1Manager::apply_blkio(const Resources& r) {
  bool any = r.blkio_leaf_weight || !r.blkio_weight_device.empty() ||
             !r.throttle_read_bps.empty() || !r.throttle_write_bps.empty() ||
             !r.throttle_read_iops.empty() || !r.throttle_write_iops.empty();
  if (!any) return;
  const std::string& dir = need("blkio", "linux.resources.blockIO");
  if (r.blkio_leaf_weight) {
    std::string file = dir + "/blkio.leaf_weight";
    if (!path_exists(file))
      fail(
          "linux.resources.blockIO.leafWeight: {} does not exist (leaf weights were CFQ's, "
          "which Linux 5.0 removed)",
          file);
    write_setting("linux.resources.blockIO.leafWeight", file, std::to_string(*r.blkio_leaf_weight));
  }
  for (size_t i = 0; i < r.blkio_weight_device.size(); ++i) {
    const WeightDevice& w = r.blkio_weight_device[i];
    std::string field = fmt::format("linux.resources.blockIO.weightDevice[{}]", i);
    if (w.weight) {
      // CFQ's blkio.weight_device; BFQ takes the same "maj:min weight" in blkio.bfq.weight.
      std::string file = dir + "/blkio.weight_device";
      if (!path_exists(file)) file = dir + "/blkio.bfq.weight";
      if (!path_exists(file))
        fail(
            "{}.weight: neither blkio.weight_device nor blkio.bfq.weight exists in {} (no I/O "
            "scheduler with proportional weights)",
            field, dir);
      std::string line = device_value_line(w.major, w.minor, *w.weight);
      if (int err = write_value(file, line))
        fail_write(field + ".weight", file, line, err, blkio_device_hint(err));
    }
    if (w.leaf_weight) {
      std::string file = dir + "/blkio.leaf_weight_device";
      if (!path_exists(file))
        fail("{}.leafWeight: {} does not exist (leaf weights were CFQ's, which Linux 5.0 removed)",
             field, file);
      std::string line = device_value_line(w.major, w.minor, *w.leaf_weight);
      if (int err = write_value(file, line))
        fail_write(field + ".leafWeight", file, line, err, blkio_device_hint(err));
    }
  }
  for (auto [list, key, file] :
       {std::tuple{&r.throttle_read_bps, "throttleReadBpsDevice", "read_bps_device"},
        std::tuple{&r.throttle_write_bps, "throttleWriteBpsDevice", "write_bps_device"},
        std::tuple{&r.throttle_read_iops, "throttleReadIOPSDevice", "read_iops_device"},
        std::tuple{&r.throttle_write_iops, "throttleWriteIOPSDevice", "write_iops_device"}}) {
    std::string path = dir + "/blkio.throttle." + file;
    for (size_t i = 0; i < list->size(); ++i) {
      const ThrottleDevice& t = (*list)[i];
      std::string field = fmt::format("linux.resources.blockIO.{}[{}]", key, i);
      std::string line = device_value_line(t.major, t.minor, t.rate);
      if (int err = write_value(path, line))
        fail_write(field, path, line, err, blkio_device_hint(err));
    }
  }
}

void CgroupV1Manager::apply_hugetlb(const Resources& r) {
  if (r.hugepage_limits.empty()) return;
  check_hugepage_sizes(r.hugepage_limits, host_hugepage_sizes());
  // hugetlb may be a v1 hierarchy or, on hybrid hosts, bound to the unified one (then the
  // files are v2's: hugetlb.<size>.max).
  std::string dir;
  bool v2_files = false;
  if (in_v1("hugetlb")) {
    dir = need("hugetlb", "linux.resources.hugepageLimits");
  } else if (const CgroupDir* u = unified_with("hugetlb")) {
    dir = u->dir;
    v2_files = true;
  } else {
    fail("linux.resources.hugepageLimits: the hugetlb controller is not available on this host");
  }
  for (size_t i = 0; i < r.hugepage_limits.size(); ++i) {
    const HugepageLimit& h = r.hugepage_limits[i];
    std::string field = fmt::format("linux.resources.hugepageLimits[{}]", i);
    std::string size = hugepage_size_name(*hugepage_size_kb(h.page_size));
    std::string base = dir + "/hugetlb." + size + ".";
    std::string limit_file = base + (v2_files ? "max" : "limit_in_bytes");
    std::string rsvd_file = base + (v2_files ? "rsvd.max" : "rsvd.limit_in_bytes");
    std::string value = std::to_string(h.limit);
    write_setting(field + ".limit", limit_file, value);
    // Reservations (Linux 5.7) are limited alike, so that a mapping cannot reserve more.
    if (path_exists(rsvd_file)) write_setting(field + ".limit", rsvd_file, value);
  }
}

bool CgroupV1Manager::is_frozen() const {
  const CgroupDir* d = find_dir("freezer");
  return d && read_value(d->dir + "/freezer.state") == "FROZEN";
}

void CgroupV1Manager::freeze() {
  const CgroupDir* d = find_dir("freezer");
  if (!d) fail("freeze: the freezer controller is not mounted on this host");
  std::string state = d->dir + "/freezer.state";
  write_setting("freeze", state, "FROZEN");
  std::optional<std::string> last;
  int polls = 0;
  bool frozen = wait_until(2000ms, [&] {
    last = read_value(state);
    if (last == "FROZEN") return true;
    // The v1 freezer can stay FREEZING when a task was not freezable at that instant
    // (in vfork, say); writing FROZEN again starts another attempt.
    if (++polls % 10 == 0) write_value(state, "FROZEN");
    return false;
  });
  if (!frozen) {
    write_value(state, "THAWED");
    fail("freeze {}: freezer.state still reads {} after 2 s (thawed it again)", d->dir,
         last.value_or("nothing"));
  }
}

void CgroupV1Manager::thaw() {
  const CgroupDir* d = find_dir("freezer");
  if (!d) fail("thaw: the freezer controller is not mounted on this host");
  std::string state = d->dir + "/freezer.state";
  write_setting("thaw", state, "THAWED");
  std::optional<std::string> last;
  if (!wait_until(2000ms, [&] {
        last = read_value(state);
        return last == "THAWED";
      }))
    fail("thaw {}: freezer.state still reads {} after 2 s", d->dir, last.value_or("nothing"));
}

}  // namespace vessel::cgroups
