// The root filesystem of an ordinary user's container (manager/rootfs.h's drivers as a user):
//  - "overlay": the user cannot mount overlayfs on the host, but can inside a user namespace
//    of their own (Linux >= 5.11, option userxattr): the layers stay shared and unshifted in
//    the store, and the runtime mounts the overlay on the container's root.path inside the
//    container's user and mount namespaces (a mounts entry of type overlay on "/",
//    linux/rootfs.h). Nothing of it is mounted on the host.
//  - "fuse-overlayfs": the same layers on <dir>/rootfs on the host, mounted by fusermount3
//    (it needs /dev/fuse usable by the user) and served by Debian's fuse-overlayfs running as
//    root of a user namespace with the store's mapping; unmounted with fusermount3.
//  - "vfs": a copy per container.
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <string>

namespace vessel::manager {

// Mounts a throwaway overlay inside a new user and mount namespace (as the runtime will) under
// `base` (created, left for the caller to remove): 0 when it works, else the errno.
int probe_userns_overlay(const std::string& base);
// Mounts and unmounts a throwaway fuse-overlayfs under `base`: "" when it works, else why not.
std::string probe_fuse_overlayfs(const std::string& base);

// The mounts entry that has the runtime stack `lowerdir` (top first, ':'-separated) under
// `upper` with `work` on the container's root, in its user namespace.
nlohmann::json userns_overlay_mount(const std::string& lowerdir, const std::string& upper,
                                    const std::string& work);

// Whether /etc/fuse.conf (`fuse_conf`) has user_allow_other: then a user's fuse-overlayfs is
// mounted with allow_other, and the container's other ids (subordinate ids on the host) may
// use it too; without it FUSE lets only the user (container root) in.
bool fuse_allows_other(const std::string& fuse_conf = "/etc/fuse.conf");
// Whether a container's process user ("" for the image's, else -u's "name|uid[:group]") is
// root, the only one a fuse-overlayfs root without allow_other serves.
bool is_root_user(const std::string& user);

// Whether a user's FUSE mount without allow_other serves a container whose process user is
// `user` (as is_root_user's): FUSE lets in only the mounting user's host uid and gid, which
// are container root and its group under the user's mapping. The runtime works in the root
// filesystem as container root before it becomes `user`, so a --userns=keep-id container
// (`keep_id`), whose root is a subordinate id, is never served. A group not given counts as
// served.
bool fuse_serves_user(const std::string& user, bool keep_id);

// fuse-overlayfs on `target` (throws with its message), and its unmount (lazy).
void mount_fuse_overlayfs(const std::string& lowerdir, const std::string& upper,
                          const std::string& work, const std::string& target);
void unmount_fuse(const std::string& target);

}  // namespace vessel::manager
