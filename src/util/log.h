// Runtime logging in logrus's forms, as runc writes them: text lines
// (time="RFC3339" level=L msg="...") or JSON lines ({"level":..,"msg":..,"time":..}) to --log
// (default stderr). Engines (containerd, podman) read the last "error" entry of a JSON log.
#pragma once

#include <string>

namespace vessel::log {

enum class Level { debug, info, warning, error };
// text and json: logrus's TextFormatter and JSONFormatter (vessel-runtime, runc's contract).
// plain: "vessel-runtime: LEVEL: msg" lines for people (the manager's stderr).
enum class Format { text, json, plain };

// open_on_first_write: PATH is created only when the first line is written (a log that is
// usually empty costs no file: the manager's monitor.log, one per container).
void configure(const std::string& path, Format format, bool debug,
               bool open_on_first_write = false);
void write(Level level, const std::string& msg);
inline void debug(const std::string& m) { write(Level::debug, m); }
inline void info(const std::string& m) { write(Level::info, m); }
inline void warn(const std::string& m) { write(Level::warning, m); }
inline void error(const std::string& m) { write(Level::error, m); }
bool logs_to_stderr();
bool debug_enabled();

// One log line, without its newline, as the format writes it (exposed for the unit tests).
std::string format_line(Format format, Level level, const std::string& msg,
                        const std::string& time);
// The time as logrus stamps it: RFC 3339 in seconds, in local time ("Z" for UTC).
std::string rfc3339_now();

}  // namespace vessel::log
