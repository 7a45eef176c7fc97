#include "cgroups/v1.h"

#include "cgroups/convert.h"
#include "cgroups/resources.h"
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

}  // namespace

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
