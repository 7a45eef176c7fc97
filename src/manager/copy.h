// `vessel cp` and `vessel export`: files in and out of a container. cp sees the root filesystem
// (the overlay's merged view, or the vfs copy) with the container's volumes and bind mounts
// over it (manager/container_tree.h), never tmpfs, proc or sys; export writes the root
// filesystem alone.
//
// The container's tree is untrusted. Every path in it is walked inside the container's root
// (absolute symlinks and ".." stop at its "/", in a volume too), every read and write goes
// through fds opened from there without following symlinks again, and nothing from the
// container is ever executed (CVE-2018-15664, CVE-2019-14271).
#pragma once

#include <string>

#include "manager/store.h"

namespace vessel::manager {

// One side of a copy: a container path ("NAME:/path"), a host path, or "-" (a tar stream:
// stdin as source, stdout as destination).
struct CopyEndpoint {
  std::string container;  // empty: the host
  std::string path;
  bool stream = false;
  int fd = -1;  // the tar stream's descriptor; -1: stdin as source, stdout as destination

  static CopyEndpoint parse(const std::string& arg);
};

struct CopyOptions {
  bool archive = false;      // -a: keep uid/gid from the source (else the copier's own)
  bool follow_link = false;  // -L: a symlink as the source's last component is followed
};

// docker cp's rules: a source ending in "/." copies a directory's contents; a destination
// directory that exists receives the source under its own name, one that does not is created
// with the source's contents; a file overwrites a file; a directory never overwrites a file;
// a destination ending in "/" must be a directory. Exactly one side is a container.
void copy_files(Store& store, const CopyEndpoint& src, const CopyEndpoint& dest,
                const CopyOptions& opts);

// What docker's archive endpoints say of a path in a container (lstat: a symlink is itself).
struct PathStat {
  std::string name;  // the base name
  long long size = 0;
  unsigned mode = 0;  // Go's os.FileMode: permission bits, plus 1<<31 directory, 1<<27 symlink
  std::string mtime;  // RFC 3339
  std::string link_target;
};
// Throws "no such file or directory: NAME:PATH" when it does not exist.
PathStat stat_container_path(Store& store, const std::string& ref, const std::string& path);

// Writes the container's root filesystem (merged view, no whiteouts, nothing mounted on it)
// as a tar to `out_fd`.
void export_container(Store& store, const std::string& ref, int out_fd);

}  // namespace vessel::manager
