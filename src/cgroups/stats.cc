#include "cgroups/stats.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <sstream>

#include "cgroups/common.h"

namespace vessel::cgroups {
namespace {

std::optional<uint64_t> to_u64(std::string_view s) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// "8:0" into major and minor.
bool parse_device(const std::string& s, uint64_t& major, uint64_t& minor) {
  size_t colon = s.find(':');
  if (colon == std::string::npos) return false;
  auto ma = to_u64(std::string_view(s).substr(0, colon));
  auto mi = to_u64(std::string_view(s).substr(colon + 1));
  if (!ma || !mi) return false;
  major = *ma;
  minor = *mi;
  return true;
}

nlohmann::json entry(uint64_t major, uint64_t minor, const std::string& op, uint64_t value) {
  return {{"major", major}, {"minor", minor}, {"op", op}, {"value", value}};
}

std::optional<uint64_t> read_u64(const std::string& path) {
  std::optional<std::string> s = read_value(path);
  return s ? parse_limit(*s) : std::nullopt;
}

}  // namespace

std::map<std::string, uint64_t> parse_flat_keyed(const std::string& text) {
  std::map<std::string, uint64_t> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string key, value;
    if (!(ls >> key >> value)) continue;
    if (auto v = to_u64(value)) out[key] = *v;
  }
  return out;
}

std::vector<uint64_t> parse_number_list(const std::string& text) {
  std::vector<uint64_t> out;
  std::istringstream in(text);
  std::string word;
  while (in >> word)
    if (auto v = to_u64(word)) out.push_back(*v);
  return out;
}

std::optional<uint64_t> parse_limit(const std::string& text) {
  std::string s = text;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  if (s == "max") return std::numeric_limits<uint64_t>::max();
  return to_u64(s);
}

nlohmann::json parse_blkio_v1(const std::string& text) {
  nlohmann::json out = nlohmann::json::array();
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string dev, op, value;
    uint64_t major = 0, minor = 0;
    // Lines without an op ("8:0 123" in blkio.time) have op "" in runc.
    if (!(ls >> dev >> op) || !parse_device(dev, major, minor)) continue;
    if (!(ls >> value)) {
      value = op;
      op.clear();
    }
    if (auto v = to_u64(value)) out.push_back(entry(major, minor, op, *v));
  }
  return out;
}

nlohmann::json parse_io_stat_v2(const std::string& text) {
  nlohmann::json bytes = nlohmann::json::array(), ios = nlohmann::json::array();
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string dev, field;
    uint64_t major = 0, minor = 0;
    if (!(ls >> dev) || !parse_device(dev, major, minor)) continue;
    while (ls >> field) {
      size_t eq = field.find('=');
      if (eq == std::string::npos) continue;
      std::string key = field.substr(0, eq);
      auto v = to_u64(std::string_view(field).substr(eq + 1));
      if (!v) continue;
      if (key == "rbytes") bytes.push_back(entry(major, minor, "Read", *v));
      if (key == "wbytes") bytes.push_back(entry(major, minor, "Write", *v));
      if (key == "rios") ios.push_back(entry(major, minor, "Read", *v));
      if (key == "wios") ios.push_back(entry(major, minor, "Write", *v));
    }
  }
  return {{"ioServiceBytesRecursive", bytes}, {"ioServicedRecursive", ios}};
}

nlohmann::json parse_rdma(const std::string& text) {
  constexpr uint64_t kNoLimit = std::numeric_limits<uint32_t>::max();
  nlohmann::json out = nlohmann::json::array();
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string device, field;
    if (!(ls >> device)) continue;
    nlohmann::json e = {{"device", device}, {"hca_handles", 0}, {"hca_objects", 0}};
    while (ls >> field) {
      size_t eq = field.find('=');
      if (eq == std::string::npos) continue;
      std::string key = field.substr(0, eq), value = field.substr(eq + 1);
      std::optional<uint64_t> n = value == "max" ? kNoLimit : to_u64(value);
      if (!n) continue;
      if (key == "hca_handle") e["hca_handles"] = std::min(*n, kNoLimit);
      if (key == "hca_object") e["hca_objects"] = std::min(*n, kNoLimit);
    }
    out.push_back(e);
  }
  return out;
}

nlohmann::json hugetlb_stats(const std::string& dir, const std::vector<std::string>& page_sizes,
                             HugetlbFiles files) {
  nlohmann::json out = nlohmann::json::object();
  for (const std::string& size : page_sizes) {
    std::string base = dir + "/hugetlb." + size + ".";
    if (files == HugetlbFiles::v1) {
      std::optional<uint64_t> usage = read_u64(base + "usage_in_bytes");
      if (!usage) continue;
      out[size] = {{"usage", *usage},
                   {"max", read_u64(base + "max_usage_in_bytes").value_or(0)},
                   {"failcnt", read_u64(base + "failcnt").value_or(0)},
                   {"limit", read_u64(base + "limit_in_bytes").value_or(0)}};
    } else {
      std::optional<uint64_t> usage = read_u64(base + "current");
      if (!usage) continue;
      auto events = parse_flat_keyed(read_value(base + "events").value_or(""));
      out[size] = {{"usage", *usage},
                   {"max", 0},
                   {"failcnt", events["max"]},
                   {"limit", read_u64(base + "max").value_or(0)}};
    }
  }
  return out;
}

std::optional<nlohmann::json> rdma_stats(const std::string& dir) {
  std::optional<std::string> limits = read_value(dir + "/rdma.max");
  std::optional<std::string> current = read_value(dir + "/rdma.current");
  if (!limits && !current) return std::nullopt;
  return nlohmann::json{{"rdma_limit", parse_rdma(limits.value_or(""))},
                        {"rdma_current", parse_rdma(current.value_or(""))}};
}

}  // namespace vessel::cgroups
