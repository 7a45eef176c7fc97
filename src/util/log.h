// Runtime logging, runc-style: text or JSON lines to --log (default stderr).
// Engines (containerd, podman) read the last "error" entry of a JSON log.
#pragma once

#include <string>

namespace vessel::log {

enum class Level { debug, info, warning, error };
enum class Format { text, json };

void configure(const std::string& path, Format format, bool debug);
void write(Level level, const std::string& msg);
inline void debug(const std::string& m) { write(Level::debug, m); }
inline void info(const std::string& m) { write(Level::info, m); }
inline void warn(const std::string& m) { write(Level::warning, m); }
inline void error(const std::string& m) { write(Level::error, m); }
bool logs_to_stderr();

}  // namespace vessel::log
