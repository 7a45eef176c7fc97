// Container root filesystems, with one of two storage drivers:
//  - overlay: the image's layers, each unpacked once under <root>/layers, stacked read-only
//    with overlayfs under a per-container writable upper layer that is deleted with the
//    container;
//  - fuse-overlayfs (an ordinary user's fallback, manager/rootfs_rootless.h): the same layers
//    through fuse-overlayfs on <dir>/rootfs;
//  - vfs: where overlayfs is unavailable (or chosen), <dir>/rootfs is a private full copy of
//    the image (its layers applied in order), deleted with the container.
// Each container records its driver in <dir>/storage-driver when it is created, so that it
// is started and removed the same way whatever the driver new containers get later.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "manager/store.h"
#include "manager/userns.h"

namespace vessel::manager {

// The driver new containers get: "overlay", "vfs", or "" (automatic: overlay where the
// kernel can use it on the store's filesystem, else vfs, with a warning the first time).
// Throws on another name. Process-wide; set once by the CLI (--storage-driver).
void set_storage_driver(const std::string& name);

// Unpacks the image's layers that are not unpacked yet (concurrent callers are safe: each
// unpacks into a private directory and the first rename wins). Nothing to do when new
// containers use vfs: mount_rootfs unpacks what an overlay container needs itself.
void ensure_layers(Store& store, const ImageRecord& img);

// Makes <dir>/rootfs ready. overlay: mounts the layers with <dir>/upper and <dir>/work, or,
// for a read-only container, the layers alone (no upper layer at all). vfs: copies the image
// into <dir>/rootfs unless the copy is there. A new container (no <dir>/storage-driver yet)
// gets the current driver; in automatic mode an overlay mount that fails with ENODEV, EINVAL
// or EOPNOTSUPP falls back to vfs with a warning.
// With `ids` (--userns=auto), the layers are seen through the container's mapping
// (manager/rootfs_idmap.h); vfs containers cannot have one. `throwaway` (an --rm container,
// whose upper layer is deleted with it): the overlay is mounted "volatile" where the kernel allows.
void mount_rootfs(Store& store, const ImageRecord& img, const std::string& dir, bool read_only,
                  const std::optional<IdRange>& ids = std::nullopt, bool throwaway = false);

// An ordinary user's overlay container (manager/rootfs_rootless.h): the spec's mounts entry
// (type overlay on "/") with which the runtime mounts the root filesystem in the container's
// user namespace; nullopt for every other container (its rootfs is mounted on the host).
std::optional<nlohmann::json> runtime_root_mount(Store& store, const ImageRecord& img,
                                                 const std::string& dir);
// The directory in which to look up the image's /etc/passwd and /etc/group for the container
// in `dir`: its mounted rootfs, or (runtime_root_mount) the top layer that has /etc/passwd.
std::string user_lookup_root(Store& store, const ImageRecord& img, const std::string& dir);
// The driver new containers of this store get, in words (vessel info); may probe once.
std::string describe_storage_driver(const Store& store);
// Its name: "overlay", "fuse-overlayfs" or "vfs"; may probe once.
std::string new_container_storage_driver(const Store& store);

// "overlay", "fuse-overlayfs" or "vfs": the driver the container in `dir` was created with
// (containers from before drivers were recorded are overlay).
std::string container_storage_driver(const std::string& dir);
// overlay: <dir>/rootfs is mounted; vfs: the copy is complete.
bool rootfs_mounted(const std::string& dir);
// Lazily detaches <dir>/rootfs if it is mounted (vfs: normally nothing is).
void unmount_rootfs(const std::string& dir);

}  // namespace vessel::manager
