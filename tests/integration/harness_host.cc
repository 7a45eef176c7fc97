// The integration harness's look at the host (declared in harness.h): files and text, waiting,
// tree removal, mountinfo and the cgroup mounts.
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <sstream>
#include <thread>

#include "harness.h"

namespace itest {

std::string read_text(const std::string& path) {
  if (path.empty()) return {};
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string s;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    s.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return s;
}

void write_text(const std::string& path, const std::string& data, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    ADD_FAILURE() << "write " << path << ": " << strerror(errno);
    return;
  }
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  ::fchmod(fd, mode);
  ::close(fd);
}

bool exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string l;
  while (std::getline(ss, l)) {
    if (!l.empty() && l.back() == '\r') l.pop_back();
    out.push_back(l);
  }
  return out;
}

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

std::string host_ns(const std::string& name) {
  char buf[256];
  ssize_t n = ::readlink(("/proc/self/ns/" + name).c_str(), buf, sizeof buf - 1);
  if (n < 0) return {};
  return std::string(buf, static_cast<size_t>(n));
}

bool wait_until(const std::function<bool()>& pred, Millis timeout, Millis step) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
  }
}

void remove_tree(const std::string& path) {
  if (path.empty() || path == "/") return;
  // FTW_MOUNT: never descend into another filesystem (a mount left behind stays, it is not
  // unmounted and its contents are not touched).
  ::nftw(
      path.c_str(),
      [](const char* p, const struct stat*, int, struct FTW*) -> int {
        ::remove(p);
        return 0;
      },
      64, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

void mkdirs(const std::string& path, mode_t mode) {
  std::string cur;
  std::stringstream ss(path);
  std::string part;
  while (std::getline(ss, part, '/')) {
    if (part.empty()) {
      if (cur.empty()) cur.push_back('/');
      continue;
    }
    if (!cur.empty() && cur.back() != '/') cur += '/';
    cur += part;
    ::mkdir(cur.c_str(), mode);
  }
}

std::vector<MountInfo> parse_mountinfo(const std::string& text) {
  std::vector<MountInfo> out;
  for (const auto& line : split_lines(text)) {
    std::istringstream is(line);
    std::vector<std::string> f;
    std::string w;
    while (is >> w) f.push_back(w);
    if (f.size() < 10) continue;
    MountInfo m;
    m.root = f[3];
    m.mount_point = f[4];
    m.mount_opts = f[5];
    size_t i = 6;
    for (; i < f.size() && f[i] != "-"; ++i) m.optional += (m.optional.empty() ? "" : " ") + f[i];
    if (i + 3 >= f.size()) continue;
    m.fstype = f[i + 1];
    m.source = f[i + 2];
    m.super_opts = f[i + 3];
    out.push_back(m);
  }
  return out;
}

std::optional<MountInfo> find_mount(const std::vector<MountInfo>& mounts,
                                    const std::string& mount_point) {
  std::optional<MountInfo> r;
  for (const auto& m : mounts)
    if (m.mount_point == mount_point) r = m;
  return r;
}

bool has_option(const std::string& comma_list, const std::string& opt) {
  std::stringstream ss(comma_list);
  std::string o;
  while (std::getline(ss, o, ','))
    if (o == opt) return true;
  return false;
}

size_t host_mount_count() { return split_lines(read_text("/proc/self/mountinfo")).size(); }

size_t mount_count_under(const std::string& dir) {
  size_t n = 0;
  for (const auto& m : parse_mountinfo(read_text("/proc/self/mountinfo")))
    if (m.mount_point == dir || m.mount_point.rfind(dir + "/", 0) == 0) ++n;
  return n;
}

std::vector<std::string> cgroup_mount_points() {
  std::vector<std::string> out;
  for (const auto& m : parse_mountinfo(read_text("/proc/self/mountinfo")))
    if (m.fstype == "cgroup" || m.fstype == "cgroup2") out.push_back(m.mount_point);
  return out;
}

std::vector<std::string> cgroup_dirs(const std::string& cgroups_path) {
  std::vector<std::string> out;
  for (const auto& mp : cgroup_mount_points()) {
    std::string d = mp + cgroups_path;
    if (exists(d)) out.push_back(d);
  }
  return out;
}

}  // namespace itest
