// The calling process's mount table, and the changes the container's set-up makes to mounts
// outside the container's root: the mount the rootfs is on, the procfs and sysfs mounts that
// --no-pivot would leave reachable, and the rootfs bind of a container without a mount
// namespace of its own (which lives in the host's mount table).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vessel::linux {

// One line of /proc/self/mountinfo.
struct MountTableEntry {
  uint64_t id = 0;
  std::string root;         // of the mount within its filesystem ("/" for a full mount)
  std::string mount_point;  // with the kernel's octal escapes undone
  std::string optional;     // "shared:N master:M ...", may be empty
  std::string fstype;
};

std::vector<MountTableEntry> parse_mount_table(std::string_view mountinfo);
std::vector<MountTableEntry> read_mount_table();

// The id of the mount `path` is on (statx STATX_MNT_ID, as in mountinfo); 0 when the kernel
// cannot tell or `path` cannot be reached.
uint64_t mount_id_of(const std::string& path);

// pivot_root refuses a new root whose parent mount is shared, and the bind of the rootfs onto
// itself would propagate to that mount's peers: the mount the rootfs is on is made private,
// and only when it is shared (a slave made private would stop receiving the host's mounts).
void make_rootfs_parent_private(const std::string& rootfs);

// Before --no-pivot's MS_MOVE + chroot: every full procfs or sysfs mount outside `rootfs` is
// detached, or covered with an empty tmpfs where detaching is refused. While one stays in the
// mount namespace (below the chroot), the kernel lets a process that owns a nested user and
// pid namespace mount a fresh, unmasked procfs. Each is made a slave first, so the detach
// does not propagate to the host.
void hide_procfs_and_sysfs_outside(const std::string& rootfs);

// Detaches the mount at `path` with everything below it, if it is still mount `id` (the bind
// a container without a mount namespace set its root up on). Returns whether it did.
bool detach_mount_if_same(const std::string& path, uint64_t id);

}  // namespace vessel::linux
