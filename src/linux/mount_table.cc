#include "linux/mount_table.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <cctype>
#include <sstream>

#include "util/error.h"
#include "util/file.h"

#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x00001000U
#endif

namespace vessel::linux {
namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isdigit(static_cast<unsigned char>(s[i + 2])) &&
        std::isdigit(static_cast<unsigned char>(s[i + 3]))) {
      out.push_back(
          static_cast<char>(((s[i + 1] - '0') << 6) | ((s[i + 2] - '0') << 3) | (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

bool is_at_or_below(const std::string& path, const std::string& dir) {
  if (dir == "/") return true;
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                         path[dir.size()] == '/');
}

// The entry of the mount `path` is on: by mount id where statx tells it, else the last (top)
// mount whose mount point is the longest prefix of `path`.
const MountTableEntry* mount_of(const std::vector<MountTableEntry>& table,
                                const std::string& path) {
  if (uint64_t id = mount_id_of(path)) {
    for (const auto& e : table)
      if (e.id == id) return &e;
  }
  const MountTableEntry* best = nullptr;
  for (const auto& e : table)
    if (is_at_or_below(path, e.mount_point) &&
        (!best || e.mount_point.size() >= best->mount_point.size()))
      best = &e;
  return best;
}

}  // namespace

std::vector<MountTableEntry> parse_mount_table(std::string_view mountinfo) {
  std::vector<MountTableEntry> out;
  std::istringstream in{std::string(mountinfo)};
  std::string line;
  while (std::getline(in, line)) {
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream pre(line.substr(0, dash)), post(line.substr(dash + 3));
    MountTableEntry e;
    std::string parent, devno, root, mount_point, options, field;
    if (!(pre >> e.id >> parent >> devno >> root >> mount_point >> options)) continue;
    while (pre >> field) e.optional += (e.optional.empty() ? "" : " ") + field;
    post >> e.fstype;
    e.root = unescape(root);
    e.mount_point = unescape(mount_point);
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<MountTableEntry> read_mount_table() {
  return parse_mount_table(read_file("/proc/self/mountinfo"));
}

uint64_t mount_id_of(const std::string& path) {
  struct statx stx = {};
  if (::statx(AT_FDCWD, path.c_str(), AT_NO_AUTOMOUNT, STATX_MNT_ID, &stx) < 0) return 0;
  if (!(stx.stx_mask & STATX_MNT_ID)) return 0;
  return stx.stx_mnt_id;
}

void make_rootfs_parent_private(const std::string& rootfs) {
  std::vector<MountTableEntry> table = read_mount_table();
  const MountTableEntry* parent = mount_of(table, rootfs);
  if (!parent) fail("root.path: no mount holds {}", rootfs);
  if (parent->optional.find("shared:") == std::string::npos) return;
  if (::mount("", parent->mount_point.c_str(), nullptr, MS_PRIVATE, nullptr) < 0)
    fail_errno("root.path: make {} (the shared mount {} is on) private", parent->mount_point,
               rootfs);
}

void hide_procfs_and_sysfs_outside(const std::string& rootfs) {
  for (const auto& e : read_mount_table()) {
    if (e.root != "/" || (e.fstype != "proc" && e.fstype != "sysfs")) continue;
    if (is_at_or_below(e.mount_point, rootfs)) continue;
    const char* p = e.mount_point.c_str();
    // Gone with a parent detached before it: nothing left to hide.
    auto vanished = [&] { return mount_id_of(e.mount_point) != e.id; };
    if (::mount("", p, nullptr, MS_SLAVE | MS_REC, nullptr) < 0) {
      if ((errno == ENOENT || errno == EINVAL) && vanished()) continue;
      fail_errno("--no-pivot: make {} ({}) a slave before detaching it", e.mount_point, e.fstype);
    }
    if (::umount2(p, MNT_DETACH) == 0) continue;
    if (errno != EINVAL && errno != EPERM)
      fail_errno("--no-pivot: detach {} ({})", e.mount_point, e.fstype);
    if (::mount("tmpfs", p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0k") < 0)
      fail_errno("--no-pivot: cover {} ({}) with a tmpfs", e.mount_point, e.fstype);
  }
}

bool detach_mount_if_same(const std::string& path, uint64_t id) {
  if (id == 0 || mount_id_of(path) != id) return false;
  // The mount id is that of the mount `path` is on: it must also be mounted right at `path`.
  for (const auto& e : read_mount_table())
    if (e.id == id && e.mount_point == path) {
      if (::umount2(path.c_str(), MNT_DETACH) < 0) fail_errno("detach {}", path);
      return true;
    }
  return false;
}

}  // namespace vessel::linux
