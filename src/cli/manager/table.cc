// Output helpers shared by the listing commands.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "cli/manager/commands.h"

namespace vessel::cli {

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) {
      if (widths.size() <= i) widths.push_back(0);
      widths[i] = std::max(widths[i], r[i].size());
    }
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(widths[i] - r[i].size() + 3, ' ');
    }
    std::puts(line.c_str());
  }
}

std::string human_size(uint64_t bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.3g %s", v, units[u]);
  return buf;
}

std::string human_ago(const std::string& t) {
  std::tm tm{};
  if (t.size() < 19 || !strptime(t.substr(0, 19).c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return t;
  auto then = timegm(&tm);
  auto secs = std::time(nullptr) - then;
  if (secs < 0) secs = 0;
  if (secs < 60) return std::to_string(secs) + " seconds ago";
  if (secs < 3600) return std::to_string(secs / 60) + " minutes ago";
  if (secs < 86400) return std::to_string(secs / 3600) + " hours ago";
  return std::to_string(secs / 86400) + " days ago";
}

}  // namespace vessel::cli
