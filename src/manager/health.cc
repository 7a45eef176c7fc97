// Healthchecks (manager/health.h).
#include "manager/health.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <thread>

#include "manager/containers.h"
#include "manager/events.h"
#include "manager/store.h"
#include "runtime/process.h"
#include "util/error.h"
#include "util/fd.h"
#include "util/file.h"
#include "util/log.h"
#include "util/subprocess.h"

namespace vessel::manager {

using nlohmann::json;

namespace {

constexpr int64_t kSecond = 1000000000LL;
constexpr size_t kOutputMax = 4096;
constexpr size_t kLogKept = 5;

std::string vessel_binary() {
  std::string dir = own_program_dir();
  if (dir.empty()) fail("healthcheck: cannot find the vessel binary (/proc/self/exe)");
  return dir + "/vessel";
}

std::string health_path(Store& store, const std::string& id) {
  return container_dir(store, id) + "/health.json";
}

json read_state(Store& store, const std::string& id) {
  try {
    json j = json::parse(read_file(health_path(store, id)));
    if (j.is_object()) return j;
  } catch (const std::exception&) {
  }
  return {{"Status", "starting"}, {"FailingStreak", 0}, {"Log", json::array()}};
}

// Serialises the read-modify-write of health.json between the loop and `healthcheck run`.
class StateLock {
 public:
  explicit StateLock(const std::string& path)
      : fd_(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)) {
    if (fd_) retry_eintr([&] { return ::flock(fd_.get(), LOCK_EX); });
  }

 private:
  UniqueFd fd_;
};

std::string now_nano_rfc3339() {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  std::tm tm{};
  gmtime_r(&ts.tv_sec, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:09d}Z", buf, ts.tv_nsec);
}

int64_t rfc3339_ns(const std::string& t) {
  std::tm tm{};
  if (t.size() < 19 || !strptime(t.substr(0, 19).c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return 0;
  return static_cast<int64_t>(timegm(&tm)) * kSecond;
}

int64_t now_ns() {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * kSecond + ts.tv_nsec;
}

std::vector<std::string> test_argv(const json& test) {
  std::vector<std::string> t = test.get<std::vector<std::string>>();
  if (t.empty()) return {};
  if (t[0] == "CMD-SHELL" && t.size() >= 2) return {"/bin/sh", "-c", t[1]};
  if (t[0] == "CMD") return std::vector<std::string>(t.begin() + 1, t.end());
  return {};
}

void apply_on_failure(Store& store, const ContainerRecord& c, const std::string& what) {
  if (what == "kill") {
    kill_container(store, c.id, "SIGKILL");
  } else if (what == "stop") {
    stop_container(store, c.id, std::nullopt);
  } else if (what == "restart") {
    stop_container(store, c.id, std::nullopt);
    start_container(store, c.id, false);
  }
}

}  // namespace

int64_t parse_duration_ns(const std::string& flag, const std::string& value) {
  static const std::regex whole(R"(^((\d+(\.\d+)?)(ns|us|ms|s|m|h))+$)");
  static const std::regex part(R"((\d+(?:\.\d+)?)(ns|us|ms|s|m|h))");
  if (value == "0") return 0;
  if (!std::regex_match(value, whole))
    fail("invalid value \"{}\" for {}: expected a duration such as 30s, 1m30s or 500ms", value,
         flag);
  double total = 0;
  for (auto it = std::sregex_iterator(value.begin(), value.end(), part);
       it != std::sregex_iterator(); ++it) {
    std::string u = (*it)[2].str();
    double mul = u == "h"    ? 3600e9
                 : u == "m"  ? 60e9
                 : u == "s"  ? 1e9
                 : u == "ms" ? 1e6
                 : u == "us" ? 1e3
                             : 1;
    total += std::stod((*it)[1].str()) * mul;
  }
  return static_cast<int64_t>(total);
}

json effective_healthcheck(const json& image_hc, const json& flags) {
  json hc = image_hc.is_object() ? image_hc : json::object();
  if (flags.is_object())
    for (const auto& [k, v] : flags.items()) hc[k] = v;
  if (!hc.contains("Test") || !hc["Test"].is_array() || hc["Test"].empty() ||
      hc["Test"][0] == "NONE")
    return nullptr;
  auto fill = [&](const char* key, int64_t dflt) {
    if (!hc.contains(key) || !hc[key].is_number() || hc[key].get<int64_t>() <= 0) hc[key] = dflt;
  };
  fill("Interval", 30 * kSecond);
  fill("Timeout", 30 * kSecond);
  fill("Retries", 3);
  if (!hc.contains("StartPeriod") || !hc["StartPeriod"].is_number()) hc["StartPeriod"] = 0;
  if (!hc.contains("OnFailure")) hc["OnFailure"] = "none";
  return hc;
}

json health_state(Store& store, const ContainerRecord& c) {
  json hc = c.options.value("healthcheck", json());
  if (hc.is_null()) return nullptr;
  return read_state(store, c.id);
}

std::string health_suffix(Store& store, const ContainerRecord& c) {
  json st = health_state(store, c);
  if (st.is_null()) return "";
  std::string s = st.value("Status", "starting");
  return s == "starting" ? " (health: starting)" : " (" + s + ")";
}

std::string run_healthcheck(Store& store, const std::string& ref) {
  auto c = find_or_fail(store, ref);
  json hc = c.options.value("healthcheck", json());
  if (hc.is_null()) fail("container {} has no healthcheck", c.name);
  if (c.state != "running") fail("container {} is not running", c.name);
  auto args = test_argv(hc["Test"]);
  if (args.empty())
    fail("container {}: healthcheck test {} is not CMD or CMD-SHELL", c.name, hc["Test"].dump());

  std::string bin = vessel_binary();
  std::vector<std::string> argv = {
      bin, "--root", store.paths().root, "--runroot", store.paths().runroot, "exec", c.id};
  argv.insert(argv.end(), args.begin(), args.end());
  int64_t timeout_ns = hc.value("Timeout", 30 * kSecond);
  std::string start = now_nano_rfc3339();
  int exit_code;
  std::string output;
  auto t0 = std::chrono::steady_clock::now();
  try {
    auto r = run_subprocess(bin, argv, {}, "",
                            static_cast<int>(std::max<int64_t>(timeout_ns / 1000000, 1)));
    exit_code = r.status;
    output = r.out + r.err;
  } catch (const Error& e) {
    exit_code = -1;
    auto took = std::chrono::steady_clock::now() - t0;
    output = took >= std::chrono::nanoseconds(timeout_ns)
                 ? fmt::format("Health check exceeded timeout ({}s)", timeout_ns / kSecond)
                 : e.what();
  }
  if (output.size() > kOutputMax) output.resize(kOutputMax);

  StateLock lock(health_path(store, c.id) + ".lock");
  json st = read_state(store, c.id);
  std::string before = st.value("Status", "starting");
  st["Log"].push_back(
      {{"Start", start}, {"End", now_nano_rfc3339()}, {"ExitCode", exit_code}, {"Output", output}});
  while (st["Log"].size() > kLogKept) st["Log"].erase(0);
  if (exit_code == 0) {
    st["Status"] = "healthy";
    st["FailingStreak"] = 0;
  } else {
    // Failures in the start period do not count while the container has not been healthy yet.
    bool starting = now_ns() < rfc3339_ns(c.started_at) + hc.value("StartPeriod", int64_t{0});
    if (!(starting && before == "starting")) {
      int streak = st.value("FailingStreak", 0) + 1;
      st["FailingStreak"] = streak;
      if (streak >= hc.value("Retries", 3)) st["Status"] = "unhealthy";
    }
  }
  write_file_atomic(health_path(store, c.id), st.dump(), 0600);
  std::string after = st["Status"].get<std::string>();
  if (after != before) {
    emit_container_event(store, c, "health_status: " + after);
    if (after == "unhealthy") {
      std::string on = hc.value("OnFailure", "none");
      if (on != "none") {
        log::info(fmt::format("container {} is unhealthy: --health-on-failure {}", c.name, on));
        apply_on_failure(store, c, on);
      }
    }
  }
  return after;
}

UniqueFd start_health_loop(Store& store, const ContainerRecord& c, bool hold) {
  if (c.options.value("healthcheck", json()).is_null()) return {};
  {
    StateLock lock(health_path(store, c.id) + ".lock");
    write_file_atomic(
        health_path(store, c.id),
        json{{"Status", "starting"}, {"FailingStreak", 0}, {"Log", json::array()}}.dump(), 0600);
  }
  std::string bin = vessel_binary();
  std::string root = store.paths().root, runroot = store.paths().runroot;
  UniqueFd done_read, done_write;
  if (hold) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) fail_errno("healthcheck: pipe");
    done_read.reset(p[0]);
    done_write.reset(p[1]);
  }
  std::string hold_fd = std::to_string(done_write ? done_write.get() : -1);
  pid_t pid = ::fork();
  if (pid < 0) fail_errno("healthcheck: fork");
  if (pid == 0) {
    ::setsid();
    pid_t m = ::fork();
    if (m != 0) ::_exit(m < 0 ? 1 : 0);
    int null = ::open("/dev/null", O_RDWR);
    for (int fd = 0; fd < 3; ++fd) ::dup2(null, fd);
    if (null > 2) ::close(null);
    if (done_write) ::fcntl(done_write.get(), F_SETFD, 0);
    const char* argv[] = {"vessel",    "--root",        root.c_str(),
                          "--runroot", runroot.c_str(), "__healthcheck-loop",
                          "--hold-fd", hold_fd.c_str(), c.id.c_str(),
                          nullptr};
    ::execv(bin.c_str(), const_cast<char* const*>(argv));
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return done_read;
}

int health_loop(Store& store, const std::string& id, int hold_fd) {
  if (hold_fd >= 0) ::fcntl(hold_fd, F_SETFD, FD_CLOEXEC);  // open until this process ends
  // One runner per container: a second (after a restart) waits for the first to end.
  UniqueFd lock(::open((container_dir(store, id) + "/health.loop").c_str(),
                       O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock) return 0;
  retry_eintr([&] { return ::flock(lock.get(), LOCK_EX); });
  auto live = [&](std::optional<ContainerRecord>& c) {
    // A busy database is retried a while; a store that is gone ends the runner.
    for (int attempt = 0;; ++attempt) {
      try {
        c = store.container_by_id(id);
        break;
      } catch (const std::exception&) {
        if (attempt >= 8) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
      }
    }
    return c && (c->state == "running" || c->state == "paused" || c->state == "restarting");
  };
  std::optional<ContainerRecord> c;
  UniqueFd monitor;  // the container's monitor: its end is the container's (no restart after)
  while (live(c)) {
    json hc = c->options.value("healthcheck", json());
    if (hc.is_null()) return 0;
    if (!monitor) monitor = runtime::open_pidfd(c->monitor_pid, c->monitor_start_time);
    auto due = std::chrono::steady_clock::now() +
               std::chrono::nanoseconds(hc.value("Interval", 30 * kSecond));
    bool gone = false;
    while (std::chrono::steady_clock::now() < due) {
      if (!monitor)
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
      else if (runtime::wait_pidfd(monitor.get(), 250))
        return 0;
      if (!live(c)) {
        gone = true;
        break;
      }
    }
    if (gone) break;
    if (c->state != "running") continue;
    try {
      run_healthcheck(store, id);
    } catch (const std::exception& e) {
      log::warn(e.what());
    }
  }
  return 0;
}

}  // namespace vessel::manager
