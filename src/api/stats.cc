// GET /containers/{id}/stats: the cgroup's statistics (runtime stats, runc's shape) in docker's
// shape — cpu_stats and precpu_stats (so that clients compute a CPU percentage from the two),
// memory_stats, pids_stats, blkio_stats, networks — once (stream=false: two samples half a
// second apart; one-shot=true: one sample) or every second until the client goes.
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <sstream>
#include <thread>

#include "api/routes.h"
#include "manager/containers.h"
#include "runtime/container.h"

namespace vessel::api {

using nlohmann::json;

namespace {

std::string now_rfc3339() {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  std::tm tm{};
  ::gmtime_r(&ts.tv_sec, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[96];
  std::snprintf(out, sizeof out, "%s.%09ldZ", buf, ts.tv_nsec);
  return out;
}

// The host's CPU time in nanoseconds (the "cpu" line of /proc/stat), as docker's
// system_cpu_usage.
uint64_t system_cpu_ns() {
  std::ifstream in("/proc/stat");
  std::string label;
  in >> label;
  uint64_t total = 0, v = 0;
  for (int i = 0; i < 8 && (in >> v); ++i) total += v;
  long hz = ::sysconf(_SC_CLK_TCK);
  return total * (1000000000ULL / static_cast<uint64_t>(hz > 0 ? hz : 100));
}

uint64_t host_memory() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  while (in >> key >> kb) {
    if (key == "MemTotal:") return kb * 1024;
    in.ignore(256, '\n');
  }
  return 0;
}

// /proc/PID/net/dev: the interfaces of the container's network namespace, but lo.
json networks(pid_t pid) {
  json out = json::object();
  std::ifstream in("/proc/" + std::to_string(pid) + "/net/dev");
  std::string line;
  for (int skip = 0; skip < 2 && std::getline(in, line); ++skip) {
  }
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    name.erase(0, name.find_first_not_of(' '));
    if (name == "lo") continue;
    std::istringstream f(line.substr(colon + 1));
    uint64_t v[16] = {};
    for (auto& x : v) f >> x;
    out[name] = {{"rx_bytes", v[0]},   {"rx_packets", v[1]}, {"rx_errors", v[2]},
                 {"rx_dropped", v[3]}, {"tx_bytes", v[8]},   {"tx_packets", v[9]},
                 {"tx_errors", v[10]}, {"tx_dropped", v[11]}};
  }
  return out;
}

json blkio_entries(const json& list) {
  json out = json::array();
  if (!list.is_array()) return out;
  for (const auto& e : list) {
    std::string op = e.value("op", "");
    if (!op.empty()) op[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(op[0])));
    out.push_back({{"major", e.value("major", 0)},
                   {"minor", e.value("minor", 0)},
                   {"op", op},
                   {"value", e.value("value", 0ULL)}});
  }
  return out;
}

json zero_cpu() {
  return {{"cpu_usage", {{"total_usage", 0}, {"usage_in_kernelmode", 0}, {"usage_in_usermode", 0}}},
          {"throttling_data", {{"periods", 0}, {"throttled_periods", 0}, {"throttled_time", 0}}}};
}

// One sample in docker's shape, without precpu_stats/preread; `running` false: docker's zeros.
json sample(runtime::Runtime& rt, const manager::ContainerRecord& c, bool running) {
  json out = {{"read", now_rfc3339()},
              {"pids_stats", json::object()},
              {"blkio_stats",
               {{"io_service_bytes_recursive", nullptr},
                {"io_serviced_recursive", nullptr},
                {"io_queue_recursive", nullptr},
                {"io_service_time_recursive", nullptr},
                {"io_wait_time_recursive", nullptr},
                {"io_merged_recursive", nullptr},
                {"io_time_recursive", nullptr},
                {"sectors_recursive", nullptr}}},
              {"num_procs", 0},
              {"storage_stats", json::object()},
              {"cpu_stats", zero_cpu()},
              {"memory_stats", json::object()},
              {"name", "/" + c.name},
              {"id", c.id}};
  if (!running) {
    out["read"] = "0001-01-01T00:00:00Z";
    return out;
  }
  json s;
  try {
    s = rt.stats(c.id);
  } catch (const std::exception&) {
    out["read"] = "0001-01-01T00:00:00Z";
    return out;
  }
  json cpu = s.value("cpu", json::object());
  json usage = cpu.value("usage", json::object());
  json percpu = usage.value("percpu", json::array());
  json thr = cpu.value("throttling", json::object());
  long online = ::sysconf(_SC_NPROCESSORS_ONLN);
  json cu = {{"total_usage", usage.value("total", 0ULL)},
             {"usage_in_kernelmode", usage.value("kernel", 0ULL)},
             {"usage_in_usermode", usage.value("user", 0ULL)}};
  if (percpu.is_array() && !percpu.empty()) cu["percpu_usage"] = percpu;
  out["cpu_stats"] = {{"cpu_usage", cu},
                      {"system_cpu_usage", system_cpu_ns()},
                      {"online_cpus", online > 0 ? online : 1},
                      {"throttling_data",
                       {{"periods", thr.value("periods", 0ULL)},
                        {"throttled_periods", thr.value("throttled_periods", 0ULL)},
                        {"throttled_time", thr.value("throttled_time", 0ULL)}}}};
  json mem = s.value("memory", json::object());
  json mu = mem.value("usage", json::object());
  uint64_t limit = mu.value("limit", 0ULL), host = host_memory();
  // No limit (v1's 2^63 rounded to a page, v2's "max"): the host's memory, as docker reports.
  if (limit == 0 || (host > 0 && limit > host)) limit = host;
  json raw = mem.value("raw", json::object());
  out["memory_stats"] = {{"usage", mu.value("usage", 0ULL)},
                         {"max_usage", mu.value("max", 0ULL)},
                         {"failcnt", mu.value("failcnt", 0ULL)},
                         {"limit", limit},
                         {"stats", raw.is_object() ? raw : json::object()}};
  json pids = s.value("pids", json::object());
  out["pids_stats"] = {{"current", pids.value("current", 0ULL)}};
  if (pids.value("limit", 0ULL) > 0) out["pids_stats"]["limit"] = pids.value("limit", 0ULL);
  json blk = s.value("blkio", json::object());
  out["blkio_stats"]["io_service_bytes_recursive"] =
      blkio_entries(blk.value("ioServiceBytesRecursive", json()));
  out["blkio_stats"]["io_serviced_recursive"] =
      blkio_entries(blk.value("ioServicedRecursive", json()));
  if (c.pid > 0) {
    json nets = networks(c.pid);
    if (!nets.empty()) out["networks"] = nets;
  }
  return out;
}

void stats(manager::Store& store, const Request& req, Conn& conn, const Params& p) {
  auto found = store.find_container(p.at("id"));
  if (!found) throw ApiError(404, "No such container: " + p.at("id"));
  bool stream = req.q_bool("stream", true);
  bool one_shot = req.q_bool("one-shot", false);
  if (one_shot && stream) throw ApiError(400, "cannot have stream=true and one-shot=true");
  runtime::Runtime rt(store.paths().runtime_root());
  auto take = [&](manager::ContainerRecord& c) {
    c = manager::refresh(store, c);
    return sample(rt, c, c.state == "running" || c.state == "paused");
  };
  manager::ContainerRecord c = *found;
  json prev = {{"read", "0001-01-01T00:00:00Z"}, {"cpu_stats", zero_cpu()}};
  if (!stream && !one_shot) {
    prev = take(c);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  if (!stream) {
    json s = take(c);
    s["preread"] = prev["read"];
    s["precpu_stats"] = prev["cpu_stats"];
    conn.json(200, s);
    return;
  }
  conn.begin_stream(200, "application/json");
  for (;;) {
    json s = take(c);
    s["preread"] = prev["read"];
    s["precpu_stats"] = prev["cpu_stats"];
    if (!conn.write(s.dump() + "\n")) return;
    prev = s;
    // A second between samples, watching for the client going away.
    for (int i = 0; i < 10; ++i) {
      if (conn.peer_closed()) {
        conn.keep_alive = false;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!store.container_by_id(c.id)) break;  // removed
  }
  conn.end_stream();
}

}  // namespace

void add_stats_routes(std::vector<Route>& r) {
  r.push_back({"GET", "/containers/{id}/stats", stats});
}

}  // namespace vessel::api
