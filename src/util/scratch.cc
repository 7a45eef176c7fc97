#include "util/scratch.h"

#include <dirent.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <vector>

#include "util/error.h"
#include "util/file.h"

namespace vessel {

std::string scratch_prefix(std::string_view prefix) {
  return std::string(prefix) + "-p" + std::to_string(::getpid()) + "-";
}

std::optional<pid_t> scratch_owner(std::string_view name) {
  for (size_t at = name.find("-p"); at != std::string_view::npos; at = name.find("-p", at + 1)) {
    size_t from = at + 2, end = name.find('-', from);
    if (end == std::string_view::npos || end == from) continue;
    pid_t pid = 0;
    auto [ptr, ec] = std::from_chars(name.data() + from, name.data() + end, pid);
    if (ec == std::errc() && ptr == name.data() + end && pid > 0) return pid;
  }
  return std::nullopt;
}

bool scratch_is_stale(std::string_view name) {
  auto pid = scratch_owner(name);
  return pid && ::kill(*pid, 0) != 0 && errno == ESRCH;
}

size_t remove_stale_scratch(const std::string& dir, std::string_view name_prefix) {
  std::vector<std::string> stale;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string_view name = e->d_name;
      if (name == "." || name == ".." || name.substr(0, name_prefix.size()) != name_prefix)
        continue;
      if (scratch_is_stale(name)) stale.emplace_back(name);
    }
    ::closedir(d);
  }
  if (stale.empty()) return 0;
  // Never into a mount (a tree removal would empty the mounted filesystem).
  std::string mounts;
  try {
    mounts = read_file("/proc/self/mountinfo");
  } catch (const Error&) {
    return 0;
  }
  size_t removed = 0;
  for (const auto& name : stale) {
    std::string path = dir + "/" + name;
    // What its dead owner had mounted there (a build step's root filesystem) goes first,
    // deepest first; a tree removal must never reach into a mounted filesystem.
    std::vector<std::string> below;
    size_t pos = 0;
    while (pos < mounts.size()) {
      size_t end = mounts.find('\n', pos);
      if (end == std::string::npos) end = mounts.size();
      std::string line = mounts.substr(pos, end - pos);
      pos = end + 1;
      size_t f = 0;
      for (int field = 0; field < 4 && f != std::string::npos; ++field) f = line.find(' ', f + 1);
      if (f == std::string::npos) continue;
      std::string point = line.substr(f + 1, line.find(' ', f + 1) - f - 1);
      if (point == path || point.rfind(path + "/", 0) == 0) below.push_back(point);
    }
    std::sort(below.begin(), below.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    bool busy = false;
    for (const auto& point : below)
      if (::umount2(point.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
        busy = true;
    if (busy) continue;
    try {
      remove_tree(path);
      ++removed;
    } catch (const Error&) {
      // in use (a mount below it) or already gone: `vessel system check` reports it
    }
  }
  return removed;
}

}  // namespace vessel
