#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <regex>

#include "cli/runtime/commands.h"
#include "runtime/container.h"
#include "util/error.h"
#include "util/go_json.h"
#include "util/log.h"

namespace vessel::cli {
namespace {

using std::chrono::nanoseconds;

// A Go duration ("5s", "500ms", "1m30s", "1.5h"): one or more number+unit pairs.
nanoseconds parse_go_duration(const std::string& s) {
  static const std::regex part(R"((\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))");
  if (s == "0") return nanoseconds(0);
  double total = 0;
  size_t pos = 0;
  std::smatch m;
  std::string rest = s;
  while (!rest.empty()) {
    if (!std::regex_search(rest, m, part, std::regex_constants::match_continuous))
      fail("--interval: invalid duration {:?} (like 5s, 500ms or 1m30s)", s);
    const std::string unit = m[2].str();
    double scale = unit == "ns"   ? 1
                   : unit == "ms" ? 1e6
                   : unit == "s"  ? 1e9
                   : unit == "m"  ? 60e9
                   : unit == "h"  ? 3600e9
                                  : 1e3;
    total += std::stod(m[1].str()) * scale;
    pos += m.length(0);
    rest = m.suffix();
  }
  if (pos == 0) fail("--interval: invalid duration {:?}", s);
  return nanoseconds(static_cast<int64_t>(total));
}

void sleep_for(nanoseconds d) {
  struct timespec ts = {static_cast<time_t>(d.count() / 1000000000),
                        static_cast<long>(d.count() % 1000000000)};
  while (::nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

// The OOM-kill counter the managers add to the memory stats (absent: no memory controller).
uint64_t take_oom_kills(nlohmann::json& data) {
  uint64_t n = 0;
  if (data.contains("memory") && data["memory"].contains("oom_kill")) {
    n = data["memory"]["oom_kill"].get<uint64_t>();
    data["memory"].erase("oom_kill");
  }
  return n;
}

// runc's event: "type", "id", then "data" (left out when there is none, as for "oom").
void print_event(const std::string& type, const std::string& id, const nlohmann::json* data) {
  nlohmann::ordered_json ev;
  ev["type"] = type;
  ev["id"] = id;
  if (data) ev["data"] = *data;
  std::printf("%s\n", go_json_text(ev).c_str());
  std::fflush(stdout);
}

}  // namespace

void add_events(CLI::App& app, Globals& g, Action& action) {
  struct Opts {
    std::string id;
    std::string interval = "5s";
    bool stats = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand(
      "events", "print the container's statistics every --interval, and OOM events, as JSON");
  cmd->add_option("id", o->id, "container ID")->required();
  cmd->add_option("--interval", o->interval, "time between statistics (Go duration)")
      ->default_val("5s");
  cmd->add_flag("--stats", o->stats, "print the statistics once and exit");
  cmd->callback([&g, &action, o] {
    action = [&g, o] {
      nanoseconds interval = parse_go_duration(o->interval);
      if (interval.count() <= 0) fail("--interval: must be greater than 0 (got {})", o->interval);
      runtime::Runtime rt(g.root);
      nlohmann::json data = rt.stats(o->id);
      uint64_t ooms = take_oom_kills(data);
      if (o->stats) {
        print_event("stats", o->id, &data);
        return 0;
      }
      // OOM kills are polled more often than the statistics are printed, so that an OOM
      // event follows its cause closely.
      const nanoseconds tick = std::min<nanoseconds>(interval, std::chrono::milliseconds(200));
      auto next_stats = std::chrono::steady_clock::now();
      for (;;) {
        if (std::chrono::steady_clock::now() >= next_stats) {
          print_event("stats", o->id, &data);
          next_stats += interval;
        }
        sleep_for(tick);
        std::string status;
        try {
          status = rt.state(o->id).status;
        } catch (const Error&) {
          return 0;  // deleted
        }
        try {
          // Read even when the container has just stopped: an OOM kill may be why it did.
          data = rt.stats(o->id);
        } catch (const Error& e) {
          // A read can fail while the kernel is killing a process in the cgroup: the stream
          // goes on while the container does.
          if (status == "stopped") return 0;
          log::debug(std::string("events: ") + e.what());
          continue;
        }
        uint64_t now = take_oom_kills(data);
        if (now > ooms) print_event("oom", o->id, nullptr);
        ooms = now;
        if (status == "stopped") return 0;
      }
    };
  });
}

}  // namespace vessel::cli
