#include "cgroups/v1.h"

#include <unistd.h>

#include <limits>

#include "cgroups/convert.h"
#include "cgroups/resources.h"
#include "cgroups/stats.h"
#include "util/error.h"
#include "util/file.h"

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

}  // namespace

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
  return data;
}

const std::string& CgroupV1Manager::need(const char* controller, const std::string& field) const {
  const CgroupDir* d = find_dir(controller);
  if (!d) fail("{}: the {} controller is not mounted on this host", field, controller);
  return d->dir;
}

void CgroupV1Manager::after_mkdir(CgroupDir& d, const std::string& dir) {
  if (!d.has("cpuset")) return;
  // A new v1 cpuset starts with no CPUs and no memory nodes, and the kernel refuses to move
  // a process into it until both are set; start from the parent's.
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
  Resources r = parse_resources(resources);
  if (!r.unified.empty())
    fail(
        "linux.resources.unified: needs cgroup v2, but this host's cgroups are {} (first key: "
        "{})",
        layout_name(layout_), r.unified.begin()->first);

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
      write_setting("linux.resources.memory.limit", limit_file, v1_memory_value(*r.memory_limit));
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

  if (r.cpu_shares)
    write_setting("linux.resources.cpu.shares",
                  need("cpu", "linux.resources.cpu.shares") + "/cpu.shares",
                  std::to_string(*r.cpu_shares));
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
  if (r.cpu_cpus)
    write_setting("linux.resources.cpu.cpus",
                  need("cpuset", "linux.resources.cpu.cpus") + "/cpuset.cpus", *r.cpu_cpus);
  if (r.cpu_mems)
    write_setting("linux.resources.cpu.mems",
                  need("cpuset", "linux.resources.cpu.mems") + "/cpuset.mems", *r.cpu_mems);

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

  if (r.devices) {
    const std::string& dir = need("devices", "linux.resources.devices");
    for (const DeviceWrite& w : v1_device_writes(*r.devices)) {
      std::string field = w.rule < 0 ? std::string("linux.resources.devices")
                                     : fmt::format("linux.resources.devices[{}]", w.rule);
      write_setting(field, dir + "/" + w.file, w.line);
    }
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
