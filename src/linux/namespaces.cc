#include "linux/namespaces.h"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "util/error.h"
#include "util/file.h"

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

void write_id_mappings(pid_t pid, const std::vector<oci::IdMapping>& uid_maps,
                       const std::vector<oci::IdMapping>& gid_maps) {
  std::string base = "/proc/" + std::to_string(pid);
  try {
    write_file(base + "/uid_map", format_mappings(uid_maps));
    write_file(base + "/gid_map", format_mappings(gid_maps));
  } catch (const Error& e) {
    fail("linux.uidMappings/gidMappings: {}", e.what());
  }
}

void write_time_offsets(const std::map<std::string, oci::TimeOffset>& offsets) {
  std::string text;
  for (const auto& [clock, off] : offsets) text += fmt::format("{} {} {}\n", clock, off.secs, off.nanosecs);
  if (text.empty()) return;
  try {
    write_file("/proc/self/timens_offsets", text);
  } catch (const Error& e) {
    fail("linux.timeOffsets: {}", e.what());
  }
}

ino_t namespace_inode(pid_t pid, oci::NamespaceType type) {
  struct stat st;
  std::string path = fmt::format("/proc/{}/ns/{}", pid, oci::namespace_proc_name(type));
  if (::stat(path.c_str(), &st) < 0) fail_errno("stat {}", path);
  return st.st_ino;
}

}  // namespace vessel::linux
