// Output helpers shared by the listing commands.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "cli/manager/commands.h"
#include "util/go_template.h"

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

bool print_template(const std::string& format, const nlohmann::json& rows,
                    const nlohmann::json& headers) {
  if (format.empty() || format == "json") return false;
  auto spec = parse_format(format);
  if (spec.table && spec.text.empty()) return false;
  std::fputs(format_rows(spec, rows, headers).c_str(), stdout);
  return true;
}

bool print_inspect(const std::string& format, const nlohmann::json& objects) {
  if (format.empty() || format == "json") return false;
  auto spec = parse_format(format);  // \t and \n as docker; "table" means nothing here
  GoTemplate t(spec.table ? format : spec.text);
  std::string out;
  for (const auto& o : objects) out += t.render(o) + "\n";
  std::fputs(out.c_str(), stdout);
  return true;
}

std::string docker_time(const std::string& t) {
  std::tm tm{};
  if (t.size() < 19 || !strptime(t.substr(0, 19).c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return t;
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S +0000 UTC", &tm);
  return buf;
}

}  // namespace vessel::cli
