// The parts of rootfs.h the monitor needs: no image layer (and none of its libraries) here.
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manager/rootfs.h"
#include "manager/rootfs_rootless.h"
#include "util/error.h"
#include "util/file.h"

namespace vessel::manager {

namespace {

// Overlay and bind mounts on <dir>/rootfs.
bool rootfs_is_mountpoint(const std::string& dir) {
  struct stat a {
  }, b{};
  std::string rootfs = dir + "/rootfs";
  if (::stat(rootfs.c_str(), &a) != 0 || ::stat(dir.c_str(), &b) != 0) return false;
  // Overlay and bind mounts both show a different device from the directory above.
  if (a.st_dev != b.st_dev) return true;
  std::string mounts = read_file("/proc/self/mountinfo");
  return mounts.find(" " + rootfs + " ") != std::string::npos;
}

}  // namespace

std::string container_storage_driver(const std::string& dir) {
  std::string marker = dir + "/storage-driver";
  if (!path_exists(marker)) return "overlay";
  std::string name = read_file(marker);
  while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
  if (name != "overlay" && name != "vfs" && name != "fuse-overlayfs")
    fail("{}: unknown storage driver \"{}\" (overlay, fuse-overlayfs or vfs)", marker, name);
  return name;
}

bool rootfs_mounted(const std::string& dir) {
  std::string driver = container_storage_driver(dir);
  if (driver == "vfs") {
    struct stat st {};
    return ::lstat((dir + "/rootfs").c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  }
  // An ordinary user's overlay is mounted by the runtime, in the container's namespaces.
  if (driver == "overlay" && ::geteuid() != 0) return path_exists(dir + "/upper");
  return rootfs_is_mountpoint(dir);
}

void unmount_rootfs(const std::string& dir) {
  std::string rootfs = dir + "/rootfs";
  if (path_exists(dir + "/storage-driver") && container_storage_driver(dir) == "fuse-overlayfs") {
    if (rootfs_is_mountpoint(dir)) unmount_fuse(rootfs);
    return;
  }
  for (int i = 0; i < 4 && rootfs_is_mountpoint(dir); ++i)
    if (::umount2(rootfs.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
      fail_errno("unmounting {}", rootfs);
}

}  // namespace vessel::manager
