// Container root filesystems: the image's layers, each unpacked once under <root>/layers,
// stacked read-only with overlayfs under a per-container writable upper layer that is
// deleted with the container.
#pragma once

#include <string>
#include <vector>

#include "manager/store.h"

namespace vessel::manager {

// Unpacks the image's layers that are not unpacked yet (concurrent callers are safe: each
// unpacks into a private directory and the first rename wins).
void ensure_layers(Store& store, const ImageRecord& img);

// Mounts <dir>/rootfs: overlay of the layers with <dir>/upper and <dir>/work, or, for a
// read-only container, the layers alone (no upper layer at all).
void mount_rootfs(Store& store, const ImageRecord& img, const std::string& dir, bool read_only);
bool rootfs_mounted(const std::string& dir);
// Lazily detaches <dir>/rootfs if it is mounted.
void unmount_rootfs(const std::string& dir);

}  // namespace vessel::manager
