#include "cgroups/systemd.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "cgroups/common.h"
#include "cgroups/convert.h"
#include "cgroups/detect.h"
#include "cgroups/factory.h"
#include "cgroups/systemd_bus.h"
#include "util/error.h"
#include "util/log.h"

namespace vessel::cgroups {
namespace {

using namespace std::chrono_literals;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == std::string::npos ? std::string::npos : pos - start));
    if (pos == std::string::npos) return out;
    start = pos + 1;
  }
}

uint64_t parse_cpu_number(const std::string& s, const std::string& list, const std::string& field) {
  if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
    fail("{}: {:?} is not a list of numbers and ranges like \"0-3,7\"", field, list);
  // systemd's masks are bit arrays; anything past a few thousand CPUs is a typo, not a host.
  uint64_t n = s.size() > 6 ? UINT64_MAX : std::stoull(s);
  if (n >= 8192) fail("{}: {} in {:?} is too large", field, s, list);
  return n;
}

}  // namespace

bool SystemdUnit::is_slice() const { return ends_with(name, ".slice"); }

bool valid_unit_name(const std::string& name) {
  if (name.empty() || name.size() > 255) return false;
  size_t dot = name.rfind('.');
  if (dot == std::string::npos || dot == 0) return false;
  static const char* const kSuffixes[] = {".scope", ".slice"};
  if (std::none_of(std::begin(kSuffixes), std::end(kSuffixes),
                   [&](const char* s) { return name.substr(dot) == s; }))
    return false;
  return std::all_of(name.begin(), name.begin() + static_cast<std::ptrdiff_t>(dot), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ':' ||
           c == '-' || c == '_' || c == '.' || c == '\\';
  });
}

std::string slice_cgroup_path(const std::string& slice) {
  if (!ends_with(slice, ".slice") || slice.find('/') != std::string::npos ||
      !valid_unit_name(slice))
    fail("{:?} is not a slice name (like \"system.slice\" or \"machine-x.slice\")", slice);
  std::string stem = slice.substr(0, slice.size() - 6);
  if (stem == "-") return "/";
  // Each '-' separates a parent: "a-b.slice" lives in "a.slice". Empty parts are not names.
  std::string path, prefix;
  for (const std::string& part : split(stem, '-')) {
    if (part.empty()) fail("{:?} is not a slice name: an empty part between '-' separators", slice);
    prefix += prefix.empty() ? part : "-" + part;
    path += "/" + prefix + ".slice";
  }
  return path;
}

SystemdUnit parse_systemd_cgroups_path(const std::string& cgroups_path,
                                       const std::string& container_id) {
  std::string value = cgroups_path.empty()
                          ? fmt::format("system.slice:{}:{}", kSystemdUnitPrefix, container_id)
                          : cgroups_path;
  std::vector<std::string> parts = split(value, ':');
  if (parts.size() != 3)
    fail(
        "linux.cgroupsPath: {:?} is not \"slice:prefix:name\", the form the systemd cgroup driver "
        "(--systemd-cgroup) takes, e.g. \"system.slice:vessel:{}\"",
        cgroups_path, container_id);
  const std::string& slice = parts[0].empty() ? std::string("system.slice") : parts[0];
  const std::string& prefix = parts[1];
  const std::string& name = parts[2];
  if (name.empty()) fail("linux.cgroupsPath: {:?}: the name part is empty", cgroups_path);
  SystemdUnit unit;
  unit.slice = slice;
  try {
    std::string slice_path = slice_cgroup_path(slice);
    if (ends_with(name, ".slice")) {
      // A slice's place follows from its own name; the slice part only has to agree with it.
      unit.name = name;
      unit.cgroup_path = slice_cgroup_path(name);
    } else {
      unit.name = prefix.empty() ? name + ".scope" : prefix + "-" + name + ".scope";
      unit.cgroup_path = (slice_path == "/" ? "" : slice_path) + "/" + unit.name;
    }
  } catch (const Error& e) {
    fail("linux.cgroupsPath: {:?}: {}", value, e.what());
  }
  if (!valid_unit_name(unit.name))
    fail(
        "linux.cgroupsPath: {:?}: {:?} is not a valid systemd unit name (letters, digits and "
        "\":-_.\\\" only)",
        value, unit.name);
  return unit;
}

std::vector<uint8_t> cpu_list_to_mask(const std::string& list, const std::string& field) {
  std::vector<uint8_t> mask;
  auto set_bit = [&](uint64_t n) {
    if (mask.size() <= n / 8) mask.resize(n / 8 + 1, 0);
    mask[n / 8] |= static_cast<uint8_t>(1u << (n % 8));
  };
  for (std::string item : split(list, ',')) {
    item.erase(0, item.find_first_not_of(" \t\n"));
    item.erase(item.find_last_not_of(" \t\n") + 1);
    size_t dash = item.find('-');
    uint64_t first = parse_cpu_number(item.substr(0, dash), list, field);
    uint64_t last =
        dash == std::string::npos ? first : parse_cpu_number(item.substr(dash + 1), list, field);
    if (last < first) fail("{}: range {:?} in {:?} goes backwards", field, item, list);
    for (uint64_t n = first; n <= last; ++n) set_bit(n);
  }
  return mask;
}

std::vector<UnitProperty> resource_unit_properties(const Resources& r, Layout layout) {
  std::vector<UnitProperty> out;
  auto limit = [](int64_t v) { return v < 0 ? kSystemdInfinity : static_cast<uint64_t>(v); };
  const bool v2 = layout == Layout::v2;
  if (v2) {
    if (r.memory_limit) out.push_back({"MemoryMax", limit(*r.memory_limit)});
    if (r.memory_reservation) out.push_back({"MemoryLow", limit(*r.memory_reservation)});
    if (std::optional<std::string> swap = v2_swap_max(r.memory_limit, r.memory_swap))
      out.push_back(
          {"MemorySwapMax", *swap == "max" ? kSystemdInfinity : uint64_t{std::stoull(*swap)}});
    if (r.cpu_shares) out.push_back({"CPUWeight", cpu_shares_to_weight(*r.cpu_shares)});
    // systemd has cpusets on v2 only.
    if (r.cpu_cpus && !r.cpu_cpus->empty())
      out.push_back({"AllowedCPUs", cpu_list_to_mask(*r.cpu_cpus, "linux.resources.cpu.cpus")});
    if (r.cpu_mems && !r.cpu_mems->empty())
      out.push_back(
          {"AllowedMemoryNodes", cpu_list_to_mask(*r.cpu_mems, "linux.resources.cpu.mems")});
    if (r.blkio_weight) out.push_back({"IOWeight", blkio_weight_to_io_weight(*r.blkio_weight)});
  } else {
    if (r.memory_limit) out.push_back({"MemoryLimit", limit(*r.memory_limit)});
    if (r.cpu_shares) out.push_back({"CPUShares", *r.cpu_shares});
    if (r.blkio_weight) out.push_back({"BlockIOWeight", uint64_t{*r.blkio_weight}});
  }
  if (r.cpu_quota) {
    uint64_t per_sec = kSystemdInfinity;
    if (*r.cpu_quota > 0) {
      uint64_t period = r.cpu_period.value_or(100000);
      per_sec = static_cast<uint64_t>(*r.cpu_quota) * 1000000 / period;
      // systemd keeps CPUQuotaPerSecUSec in whole 10 ms steps; round up so that systemd's own
      // write never gives less than asked (the exact cpu.max is written after it anyway).
      if (per_sec % 10000 != 0) per_sec = (per_sec / 10000 + 1) * 10000;
    }
    out.push_back({"CPUQuotaPerSecUSec", per_sec});
  }
  if (r.cpu_period) out.push_back({"CPUQuotaPeriodUSec", *r.cpu_period});
  // TasksMax=0 is refused by systemd; the cgroup file still gets pids.max 0.
  if (r.pids_limit && *r.pids_limit != 0) out.push_back({"TasksMax", limit(*r.pids_limit)});
  return out;
}

std::vector<UnitProperty> start_unit_properties(const SystemdUnit& unit, pid_t pid,
                                                const Resources& r, Layout layout) {
  std::vector<UnitProperty> out;
  out.push_back({"Description", std::string("vessel container ") + unit.name});
  if (!unit.is_slice()) {
    // A slice holds no processes of its own and cannot be delegated; the process is added to
    // its cgroup through the cgroup files instead.
    out.push_back({"Slice", unit.slice});
    out.push_back({"Delegate", true});
    out.push_back({"PIDs", std::vector<uint32_t>{static_cast<uint32_t>(pid)}});
  }
  // No ordering against shutdown.target and friends: the container's life is the runtime's.
  out.push_back({"DefaultDependencies", false});
  out.push_back({"MemoryAccounting", true});
  out.push_back({"CPUAccounting", true});
  out.push_back({"TasksAccounting", true});
  out.push_back({layout == Layout::v2 ? "IOAccounting" : "BlockIOAccounting", true});
  for (UnitProperty& p : resource_unit_properties(r, layout)) out.push_back(std::move(p));
  return out;
}

void check_systemd_reachable() { SystemdBus::connect(); }

SystemdManager::SystemdManager(SystemdUnit unit, Layout layout, std::unique_ptr<Manager> fs,
                               bool started)
    : unit_(std::move(unit)), layout_(layout), fs_(std::move(fs)), started_(started) {}

void SystemdManager::create() {
  // Nothing to make before the process exists (a scope needs one); fail now if systemd cannot
  // be reached, before the container's process does.
  SystemdBus::connect();
}

void SystemdManager::add_process(pid_t pid) {
  if (started_) {
    fs_->add_process(pid);
    return;
  }
  Resources resources = parse_resources(pending_);
  SystemdBus bus = SystemdBus::connect();
  bus.start_transient_unit(unit_.name, start_unit_properties(unit_, pid, resources, layout_));
  started_ = true;  // from here destroy() stops the unit
  std::string placed = bus.control_group(unit_.name, unit_.is_slice());
  if (!placed.empty() && placed != unit_.cgroup_path)
    fail(
        "--systemd-cgroup: systemd put unit {} in cgroup {}, not {} (does systemd see another "
        "cgroup root than this process?)",
        unit_.name, placed, unit_.cgroup_path);
  // systemd made the unit's directories in the hierarchies it manages; the cgroupfs manager
  // makes the others (v1 controllers such as cpuset or net_cls) and puts the process there.
  fs_->create();
  fs_->add_process(pid);
  if (pending_.is_object()) fs_->apply(pending_);
  pending_ = nullptr;
}

void SystemdManager::apply(const nlohmann::json& resources) {
  Resources parsed = parse_resources(resources);
  // Converted now so that a value systemd cannot take fails before anything starts.
  std::vector<UnitProperty> properties = resource_unit_properties(parsed, layout_);
  if (!started_) {
    if (!pending_.is_object()) pending_ = nlohmann::json::object();
    pending_.merge_patch(resources);  // like update's record of the resources
    return;
  }
  // On v1 a property change makes systemd re-realise the whole unit, which rewrites device
  // access to "allow everything" (no DeviceAllow is set); the cgroup files alone are safer.
  if (layout_ == Layout::v2 && !properties.empty())
    SystemdBus::connect().set_unit_properties(unit_.name, properties);
  fs_->apply(resources);
}

void SystemdManager::destroy() {
  std::string first_error;
  auto keep_error = [&](const std::exception& e) {
    if (first_error.empty()) first_error = e.what();
  };
  // Kills whatever is left (systemd's stop would start with SIGTERM and wait 90 s).
  try {
    fs_->destroy();
  } catch (const std::exception& e) {
    keep_error(e);
  }
  if (started_) {
    try {
      SystemdBus::connect().stop_unit(unit_.name);
    } catch (const std::exception& e) {
      keep_error(e);
    }
    // Directories in hierarchies systemd does not manage carry the unit's name: ours.
    nlohmann::json saved = fs_->to_json();
    for (const auto& d : saved.value("dirs", nlohmann::json::array())) {
      std::string dir = d.value("dir", "");
      if (dir.empty()) continue;
      int err = 0;
      wait_until(2000ms, [&] {
        err = ::rmdir(dir.c_str()) == 0 || errno == ENOENT ? 0 : errno;
        return err != EBUSY;
      });
      if (err && first_error.empty())
        first_error = fmt::format("remove cgroup {}: {}", dir, std::strerror(err));
    }
  }
  if (!first_error.empty()) throw Error(first_error);
}

nlohmann::json SystemdManager::to_json() const {
  return {{"driver", "systemd"},
          {"unit", unit_.name},
          {"slice", unit_.slice},
          {"cgroupPath", unit_.cgroup_path},
          {"fs", fs_->to_json()}};
}

void enable_systemd_driver() {
  register_systemd_driver({make_systemd_manager, load_systemd_manager});
}

std::unique_ptr<Manager> make_systemd_manager(const std::string& cgroups_path,
                                              const std::string& container_id) {
  SystemdUnit unit = parse_systemd_cgroups_path(cgroups_path, container_id);
  HostCgroups host = probe_host();
  auto fs = make_manager_on(host, unit.cgroup_path, container_id);
  return std::make_unique<SystemdManager>(std::move(unit), host.layout, std::move(fs), false);
}

std::unique_ptr<Manager> load_systemd_manager(const nlohmann::json& saved) {
  SystemdUnit unit;
  nlohmann::json fs_saved;
  try {
    unit.name = saved.at("unit").get<std::string>();
    unit.slice = saved.at("slice").get<std::string>();
    unit.cgroup_path = saved.at("cgroupPath").get<std::string>();
    fs_saved = saved.at("fs");
  } catch (const nlohmann::json::exception& e) {
    fail("saved cgroup state: {}", e.what());
  }
  if (!valid_unit_name(unit.name)) fail("saved cgroup state: bad unit name {:?}", unit.name);
  if (is_systemd_json(fs_saved)) fail("saved cgroup state: nested systemd state");
  auto fs = load_manager(fs_saved);
  auto* base = dynamic_cast<ManagerBase*>(fs.get());
  if (!base) fail("saved cgroup state: the systemd unit's cgroup is not a cgroupfs one");
  if (base->path() != unit.cgroup_path)
    fail("saved cgroup state: cgroup {} is not unit {}'s {}", base->path(), unit.name,
         unit.cgroup_path);
  Layout layout = base->layout();
  return std::make_unique<SystemdManager>(std::move(unit), layout, std::move(fs), true);
}

}  // namespace vessel::cgroups
