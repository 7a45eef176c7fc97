// Idmapped mounts (mount_setattr(MOUNT_ATTR_IDMAP), Linux 5.12): a detached copy of a mount
// tree whose file owners are seen through the id mappings of a user namespace.
#pragma once

#include <string>
#include <vector>

#include "oci/spec.h"
#include "util/fd.h"

namespace vessel::linux {

// A user namespace whose uid_map and gid_map are `uids` and `gids`, held by the returned fd.
// The namespace is created by a short-lived child (killed and reaped before returning); the
// mappings are written by this process, which needs CAP_SETUID/CAP_SETGID over its own user
// namespace. `where` prefixes errors.
UniqueFd make_userns_fd(const std::vector<oci::IdMapping>& uids,
                        const std::vector<oci::IdMapping>& gids, const std::string& where);

// Clones the mount tree at `source` (only its top mount unless `clone_recursive`) as a detached
// mount and applies the idmapping of `userns_fd` to it (to every mount of the copy when
// `idmap_recursive`). The returned fd is ready for move_mount(); closing it instead unmounts
// the copy, leaving nothing behind.
UniqueFd open_idmapped_tree(const std::string& source, bool clone_recursive, bool idmap_recursive,
                            int userns_fd, const std::string& where);

// A detached copy of the mount at `source` (with its submounts when `recursive`), as
// open_tree(OPEN_TREE_CLONE) makes it; an empty fd with errno set when that fails.
UniqueFd clone_mount_tree(const std::string& source, bool recursive);

// Attaches the detached mount `tree` on the object open at `target_fd`.
void move_mount_onto(int tree, int target_fd, const std::string& where,
                     const std::string& destination);

}  // namespace vessel::linux
