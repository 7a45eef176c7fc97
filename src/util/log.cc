#include "util/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <ctime>
#include <nlohmann/json.hpp>

namespace vessel::log {
namespace {

struct Config {
  int fd = STDERR_FILENO;
  Format format = Format::text;
  bool debug = false;
};
Config g_config;

const char* level_name(Level l) {
  switch (l) {
    case Level::debug:
      return "debug";
    case Level::info:
      return "info";
    case Level::warning:
      return "warning";
    case Level::error:
      return "error";
  }
  return "info";
}

std::string timestamp() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char buf[64];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, sizeof buf - n, ".%09ldZ", ts.tv_nsec);
  return buf;
}

}  // namespace

void configure(const std::string& path, Format format, bool debug) {
  g_config.format = format;
  g_config.debug = debug;
  if (!path.empty()) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) g_config.fd = fd;
  }
}

bool logs_to_stderr() { return g_config.fd == STDERR_FILENO; }

void write(Level level, const std::string& msg) {
  if (level == Level::debug && !g_config.debug) return;
  std::string line;
  if (g_config.format == Format::json) {
    nlohmann::json j = {{"level", level_name(level)}, {"msg", msg}, {"time", timestamp()}};
    line = j.dump() + "\n";
  } else if (g_config.fd == STDERR_FILENO) {
    line = std::string(level == Level::error ? "vessel-runtime: " : "vessel-runtime: ") +
           (level == Level::error ? "" : std::string(level_name(level)) + ": ") + msg + "\n";
  } else {
    line = "time=\"" + timestamp() + "\" level=" + level_name(level) + " msg=\"" + msg + "\"\n";
  }
  // One write() per line keeps lines whole when several processes share the log.
  [[maybe_unused]] ssize_t n = ::write(g_config.fd, line.data(), line.size());
}

}  // namespace vessel::log
