#include "util/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <ctime>
#include <nlohmann/json.hpp>

#include "util/go_json.h"

namespace vessel::log {
namespace {

struct Config {
  int fd = STDERR_FILENO;
  Format format = Format::text;
  bool debug = false;
  std::string pending_path;  // opened on the first line (configure's open_on_first_write)
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

// logrus quotes a value unless every character is one of these.
bool needs_quoting(const std::string& s) {
  for (unsigned char c : s) {
    bool bare = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '.' || c == '_' || c == '/' || c == '@' || c == '^' || c == '+';
    if (!bare) return true;
  }
  return false;
}

// Go's strconv.Quote for the bytes a message holds (UTF-8 passes through).
std::string go_quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\a':
        out += "\\a";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\v':
        out += "\\v";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string text_value(const std::string& v) { return needs_quoting(v) ? go_quote(v) : v; }

}  // namespace

std::string rfc3339_now() {
  time_t now = ::time(nullptr);
  struct tm tm;
  localtime_r(&now, &tm);
  char buf[64];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  long off = tm.tm_gmtoff;
  if (off == 0) {
    snprintf(buf + n, sizeof buf - n, "Z");
  } else {
    char sign = off < 0 ? '-' : '+';
    if (off < 0) off = -off;
    snprintf(buf + n, sizeof buf - n, "%c%02ld:%02ld", sign, off / 3600, (off % 3600) / 60);
  }
  return buf;
}

std::string format_line(Format format, Level level, const std::string& msg,
                        const std::string& time) {
  switch (format) {
    case Format::json: {
      // logrus writes the keys sorted, as an ordered map does here.
      nlohmann::json j = {{"level", level_name(level)}, {"msg", msg}, {"time", time}};
      return go_json_text(j);
    }
    case Format::plain:
      return std::string("vessel-runtime: ") +
             (level == Level::error ? "" : std::string(level_name(level)) + ": ") + msg;
    case Format::text:
      break;
  }
  return "time=" + text_value(time) + " level=" + level_name(level) + " msg=" + text_value(msg);
}

void configure(const std::string& path, Format format, bool debug, bool open_on_first_write) {
  g_config.format = format;
  g_config.debug = debug;
  g_config.pending_path.clear();
  if (!path.empty() && open_on_first_write) {
    g_config.pending_path = path;
  } else if (!path.empty()) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) g_config.fd = fd;
  }
}

bool logs_to_stderr() { return g_config.fd == STDERR_FILENO && g_config.pending_path.empty(); }
bool debug_enabled() { return g_config.debug; }

void write(Level level, const std::string& msg) {
  if (level == Level::debug && !g_config.debug) return;
  std::string line = format_line(g_config.format, level, msg, rfc3339_now()) + "\n";
  if (!g_config.pending_path.empty()) {
    int fd = ::open(g_config.pending_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) g_config.fd = fd;
    g_config.pending_path.clear();
  }
  // One write() per line keeps lines whole when several processes share the log.
  [[maybe_unused]] ssize_t n = ::write(g_config.fd, line.data(), line.size());
}

}  // namespace vessel::log
