#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string_view>

#include "cli/runtime/commands.h"
#include "runtime/container.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"

namespace vessel::cli {
namespace {

// A size as docker's RAMInBytes reads it ("64M", "1.5g", "512kb", "1024"): binary multiples,
// case-insensitive unit with an optional "b"/"ib"; "-1" means unlimited.
int64_t parse_size(const std::string& flag, const std::string& s) {
  if (s == "-1") return -1;
  static const std::regex re(R"(^(\d+(?:\.\d+)?) ?([kKmMgGtTpP])?[iI]?[bB]?$)");
  std::smatch m;
  if (!std::regex_match(s, m, re)) fail("--{}: invalid size {:?} (like 64M or 1g)", flag, s);
  double v = std::stod(m[1].str());
  const std::string units = "kmgtp";
  if (m[2].matched) {
    size_t idx = units.find(static_cast<char>(std::tolower(m[2].str()[0])));
    for (size_t i = 0; i <= idx; ++i) v *= 1024.0;  // not std::pow: no libm.so to load
  }
  if (v >= 9.2e18) fail("--{}: size {:?} is too large", flag, s);
  return static_cast<int64_t>(v);
}

int64_t parse_int(const std::string& flag, const std::string& s) {
  try {
    size_t end = 0;
    long long v = std::stoll(s, &end);
    if (end == s.size()) return v;
  } catch (const std::exception&) {
  }
  fail("--{}: expected an integer, got {:?}", flag, s);
}

nlohmann::json read_resources(const std::string& path) {
  std::string text = path == "-" ? read_fd(STDIN_FILENO) : read_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("--resources {}: invalid JSON: {}", path == "-" ? "(stdin)" : path, e.what());
  }
}

// Runtime::update's errors about a value start "update: linux.resources.<field>: "; this
// names where the value came from instead: the --resources file, or the flag that set the
// field (`flag_fields`: field -> flag). Other messages pass unchanged.
std::string name_value_source(const std::string& msg, const std::string& resources_file,
                              const std::map<std::string, std::string>& flag_fields) {
  static constexpr std::string_view kPrefix = "update: ";
  std::string_view rest = std::string_view(msg).substr(std::min(msg.size(), kPrefix.size()));
  if (msg.rfind(kPrefix, 0) != 0 || rest.rfind("linux.resources", 0) != 0) return msg;
  if (!resources_file.empty())
    return fmt::format("{}: {}", resources_file == "-" ? "(stdin)" : resources_file, rest);
  std::string_view field = rest.substr(0, rest.find(':'));
  if (auto it = flag_fields.find(std::string(field)); it != flag_fields.end())
    return fmt::format("--{}: {}", it->second, rest);
  return msg;
}

}  // namespace

void add_update(CLI::App& app, Globals& g, Action& action) {
  struct Opts {
    std::string id, resources;
    std::string memory, memory_reservation, memory_swap, kernel_memory, kernel_memory_tcp;
    std::string cpu_shares, cpu_quota, cpu_period, cpu_burst, cpu_rt_period, cpu_rt_runtime;
    std::string cpuset_cpus, cpuset_mems, pids_limit, blkio_weight;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("update", "update a running container's resource limits");
  cmd->add_option("id", o->id, "container ID")->required();
  cmd->add_option("-r,--resources", o->resources,
                  "linux.resources JSON file ('-' for stdin); the other options are then ignored");
  cmd->add_option("--memory", o->memory, "memory limit (bytes, or 64M, 1g...; -1: unlimited)");
  cmd->add_option("--memory-reservation", o->memory_reservation, "memory soft limit");
  cmd->add_option("--memory-swap", o->memory_swap, "memory plus swap limit (-1: unlimited)");
  cmd->add_option("--kernel-memory", o->kernel_memory, "deprecated and ignored");
  cmd->add_option("--kernel-memory-tcp", o->kernel_memory_tcp, "deprecated and ignored");
  cmd->add_option("--cpu-share,--cpu-shares", o->cpu_shares, "CPU shares (relative weight)");
  cmd->add_option("--cpu-quota", o->cpu_quota, "CFS quota in microseconds (-1: unlimited)");
  cmd->add_option("--cpu-period", o->cpu_period, "CFS period in microseconds");
  cmd->add_option("--cpu-burst", o->cpu_burst, "CFS burst in microseconds");
  cmd->add_option("--cpu-rt-period", o->cpu_rt_period, "realtime period in microseconds");
  cmd->add_option("--cpu-rt-runtime", o->cpu_rt_runtime, "realtime runtime in microseconds");
  cmd->add_option("--cpuset-cpus", o->cpuset_cpus, "CPUs to use (0-3,7)");
  cmd->add_option("--cpuset-mems", o->cpuset_mems, "memory nodes to use (0-1)");
  cmd->add_option("--pids-limit", o->pids_limit, "maximum number of processes (-1: unlimited)");
  cmd->add_option("--blkio-weight", o->blkio_weight, "block I/O weight (10-1000)");
  cmd->callback([&g, &action, o] {
    action = [&g, o] {
      nlohmann::json r = nlohmann::json::object();
      std::map<std::string, std::string> flag_fields;  // "linux.resources.memory.limit" -> "memory"
      auto set_by = [&](const char* flag, const char* group, const char* key) {
        flag_fields[fmt::format("linux.resources.{}.{}", group, key)] = flag;
      };
      if (!o->resources.empty()) {
        r = read_resources(o->resources);
      } else {
        auto size = [&](const char* flag, const std::string& v, const char* group,
                        const char* key) {
          if (v.empty()) return;
          r[group][key] = parse_size(flag, v);
          set_by(flag, group, key);
        };
        auto integer = [&](const char* flag, const std::string& v, const char* group,
                           const char* key) {
          if (v.empty()) return;
          r[group][key] = parse_int(flag, v);
          set_by(flag, group, key);
        };
        size("memory", o->memory, "memory", "limit");
        size("memory-reservation", o->memory_reservation, "memory", "reservation");
        size("memory-swap", o->memory_swap, "memory", "swap");
        if (!o->kernel_memory.empty() || !o->kernel_memory_tcp.empty())
          log::warn(
              "--kernel-memory and --kernel-memory-tcp are deprecated (kernel memory limits "
              "are gone from Linux 5.16 on) and ignored");
        integer("cpu-shares", o->cpu_shares, "cpu", "shares");
        integer("cpu-quota", o->cpu_quota, "cpu", "quota");
        integer("cpu-period", o->cpu_period, "cpu", "period");
        integer("cpu-burst", o->cpu_burst, "cpu", "burst");
        integer("cpu-rt-period", o->cpu_rt_period, "cpu", "realtimePeriod");
        integer("cpu-rt-runtime", o->cpu_rt_runtime, "cpu", "realtimeRuntime");
        if (!o->cpuset_cpus.empty()) {
          r["cpu"]["cpus"] = o->cpuset_cpus;
          set_by("cpuset-cpus", "cpu", "cpus");
        }
        if (!o->cpuset_mems.empty()) {
          r["cpu"]["mems"] = o->cpuset_mems;
          set_by("cpuset-mems", "cpu", "mems");
        }
        integer("pids-limit", o->pids_limit, "pids", "limit");
        integer("blkio-weight", o->blkio_weight, "blockIO", "weight");
      }
      try {
        runtime::Runtime(g.root).update(o->id, r);
      } catch (const Error& e) {
        throw Error(name_value_source(e.what(), o->resources, flag_fields), e.error_code());
      }
      return 0;
    };
  });
}

}  // namespace vessel::cli
