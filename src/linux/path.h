// Safe path resolution inside a container's root filesystem. The rootfs is untrusted:
// a symlink in it must never lead a mount or a write out to the host.
#pragma once

#include <sys/types.h>

#include <string>

#include "util/fd.h"

namespace vessel::linux {

enum class Create { none, dir, file };

// Opens `path` as an O_PATH fd, resolving it inside the directory `rootfd`: every component is
// opened with O_NOFOLLOW, symlinks are followed by hand (absolute targets restart at the root),
// and a ".." that would leave the root is an error ("... escapes the root filesystem") rather
// than being clamped. Missing components are created as directories when `create` is not
// `none`; the last one as a directory or an empty file.
UniqueFd open_in_root(int rootfd, const std::string& path, Create create, mode_t mode = 0755);

// "/proc/self/fd/N": a path the kernel resolves to exactly the object behind fd N.
std::string fd_path(int fd);

}  // namespace vessel::linux
