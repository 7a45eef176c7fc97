// Writing a tar stream of a file tree that is reached only through file descriptors: the tree
// may belong to a container (untrusted), so no path in it is ever resolved from outside and no
// symlink in it is ever followed; every object is opened relative to its parent directory's fd
// with O_NOFOLLOW and checked to be what was listed.
#pragma once

#include <cstdint>
#include <string>

namespace vessel::image {

struct TreeTarStats {
  uint64_t entries = 0;
  uint64_t bytes = 0;  // file content bytes
};

// Writes a tar (pax) of the object behind `src` (an fd of any kind, O_PATH included: a
// directory, a file, a symlink — stored as a symlink —, a device, a fifo) to `out_fd`.
// `name` is the entry name of the object itself, with a directory's entries below it; an
// empty `name` writes a directory's contents only. Owners, modes, mtimes, xattrs, hard links
// (within the stream) and device numbers are kept; sockets are left out; a directory that is
// another mount's root is written empty (what is mounted on it is not content).
TreeTarStats write_tree_tar(int src, const std::string& name, int out_fd);

}  // namespace vessel::image
