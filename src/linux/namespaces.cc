#include "linux/namespaces.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

#include "util/error.h"
#include "util/file.h"
#include "util/subprocess.h"

namespace vessel::linux {

UniqueFd open_namespace(const std::string& path, oci::NamespaceType type) {
  UniqueFd fd = open_or_throw(path, O_RDONLY);
  int actual = ::ioctl(fd.get(), NS_GET_NSTYPE);
  if (actual < 0)
    fail_errno("linux.namespaces: {} is not a namespace file ({} namespace wanted)", path,
               oci::namespace_name(type));
  if (actual != oci::namespace_clone_flag(type))
    fail("linux.namespaces: {} is a namespace of another type, not {}", path,
         oci::namespace_name(type));
  return fd;
}

void join_namespace(int fd, oci::NamespaceType type, const std::string& path) {
  if (::setns(fd, oci::namespace_clone_flag(type)) < 0)
    fail_errno("join the {} namespace {}", oci::namespace_name(type), path);
}

namespace {
std::string format_mappings(const std::vector<oci::IdMapping>& maps) {
  std::string out;
  for (const auto& m : maps) out += fmt::format("{} {} {}\n", m.container_id, m.host_id, m.size);
  return out;
}
}  // namespace

namespace {

// The only mapping the kernel lets an unprivileged process write itself: its own id as one.
bool only_own_id(const std::vector<oci::IdMapping>& maps, unsigned own) {
  return maps.size() == 1 && maps[0].size == 1 && maps[0].host_id == own;
}

std::string find_in_path(const std::string& name) {
  std::string dirs = "/usr/bin:/bin:/usr/sbin:/sbin";
  if (const char* p = std::getenv("PATH"); p && *p) dirs = std::string(p) + ":" + dirs;
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = dirs.substr(start, end - start) + "/" + name;
    if (end > start && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return {};
}

// newuidmap/newgidmap (shadow's setuid helpers) write mappings of the caller's subordinate
// ids from /etc/subuid and /etc/subgid, which an unprivileged caller may not write itself.
void map_with_helper(const char* helper, const char* field, const char* subid_file, pid_t pid,
                     const std::vector<oci::IdMapping>& maps) {
  std::string path = find_in_path(helper);
  if (path.empty())
    fail(
        "{}: mapping more than the caller's own id as an unprivileged user needs {} (package "
        "uidmap) and the ids in {}",
        field, helper, subid_file);
  std::vector<std::string> argv = {helper, std::to_string(pid)};
  for (const auto& m : maps) {
    argv.push_back(std::to_string(m.container_id));
    argv.push_back(std::to_string(m.host_id));
    argv.push_back(std::to_string(m.size));
  }
  SubprocessResult r = run_subprocess(path, argv, {}, "", 10000);
  if (r.status != 0) {
    std::string why = r.err.empty() ? r.out : r.err;
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    fail("{}: {} refused the mappings (exit {}): {}", field, helper, r.status, why);
  }
}

}  // namespace

void write_id_mappings(pid_t pid, const std::vector<oci::IdMapping>& uid_maps,
                       const std::vector<oci::IdMapping>& gid_maps) {
  std::string base = "/proc/" + std::to_string(pid);
  if (::geteuid() == 0) {
    try {
      write_file(base + "/uid_map", format_mappings(uid_maps));
      write_file(base + "/gid_map", format_mappings(gid_maps));
    } catch (const Error& e) {
      fail("linux.uidMappings/gidMappings: {}", e.what());
    }
    return;
  }
  // Unprivileged (rootless): the own-id mapping directly, anything more through the helpers.
  if (only_own_id(uid_maps, ::geteuid())) {
    try {
      write_file(base + "/uid_map", format_mappings(uid_maps));
    } catch (const Error& e) {
      fail("linux.uidMappings: {}", e.what());
    }
  } else {
    map_with_helper("newuidmap", "linux.uidMappings", "/etc/subuid", pid, uid_maps);
  }
  if (only_own_id(gid_maps, ::getegid())) {
    try {
      // The kernel takes an unprivileged gid_map only once setgroups(2) is denied for good.
      write_file(base + "/setgroups", "deny");
      write_file(base + "/gid_map", format_mappings(gid_maps));
    } catch (const Error& e) {
      fail("linux.gidMappings: {}", e.what());
    }
  } else {
    map_with_helper("newgidmap", "linux.gidMappings", "/etc/subgid", pid, gid_maps);
  }
}

void write_time_offsets(const std::map<std::string, oci::TimeOffset>& offsets) {
  std::string text;
  for (const auto& [clock, off] : offsets)
    text += fmt::format("{} {} {}\n", clock, off.secs, off.nanosecs);
  if (text.empty()) return;
  try {
    write_file("/proc/self/timens_offsets", text);
  } catch (const Error& e) {
    fail("linux.timeOffsets: {}", e.what());
  }
}

std::vector<pid_t> pids_in_pid_namespace_of(pid_t pid) {
  ino_t want = namespace_inode(pid, oci::NamespaceType::pid);
  std::vector<pid_t> out;
  DIR* proc = ::opendir("/proc");
  if (!proc) fail_errno("open /proc");
  std::unique_ptr<DIR, int (*)(DIR*)> guard(proc, ::closedir);
  while (struct dirent* e = ::readdir(proc)) {
    char* end = nullptr;
    long p = std::strtol(e->d_name, &end, 10);
    if (p <= 0 || *end != '\0') continue;
    struct stat st;
    std::string ns = fmt::format("/proc/{}/ns/pid", p);
    // Gone since readdir, or not ours to inspect: either way not listed.
    if (::stat(ns.c_str(), &st) == 0 && st.st_ino == want) out.push_back(static_cast<pid_t>(p));
  }
  std::sort(out.begin(), out.end());
  return out;
}

ino_t namespace_inode(pid_t pid, oci::NamespaceType type) {
  struct stat st;
  std::string path = fmt::format("/proc/{}/ns/{}", pid, oci::namespace_proc_name(type));
  if (::stat(path.c_str(), &st) < 0) fail_errno("stat {}", path);
  return st.st_ino;
}

}  // namespace vessel::linux
