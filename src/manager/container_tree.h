// A container's files as `vessel cp` sees them, running or stopped: its root filesystem with its
// volumes and bind mounts laid over it, as docker's cp shows them (tmpfs mounts, proc and sys
// are not content and are not seen).
//
// The tree is untrusted. A path is walked one component at a time from a directory fd, each
// component opened with O_NOFOLLOW; a symlink's target is walked again from the container's
// "/" (absolute) or from the directory that holds it (relative), and ".." never climbs above
// "/": the kernel's RESOLVE_IN_ROOT, by hand, because the walk also steps from the root
// filesystem into a volume's or a bind mount's directory on the host (and back out through
// ".." or a symlink) wherever the container has one mounted. No component, in the root
// filesystem or in a volume, can lead the walk to a host path.
#pragma once

#include <string>
#include <vector>

#include "util/fd.h"

namespace vessel::manager {

class ContainerTree {
 public:
  struct Mount {
    std::string destination;  // the container path it is mounted on, as the walk reaches it
    std::string source;       // the host path (a volume's directory, a bind's source)
    bool readonly = false;
  };

  // `root`: an fd of the root filesystem's directory (the tree holds no copy: it must outlive
  // this). `mounts`: the container's bind mounts (volumes are binds of their directories), in
  // the order they are mounted.
  ContainerTree(int root, const std::vector<Mount>& mounts);

  struct Resolved {
    UniqueFd fd;  // O_PATH; invalid when the walk failed (then `error` is errno)
    int error = 0;
    std::string path;              // the path reached, without symlinks, "." or ".."
    bool readonly = false;         // inside a read-only mount
    const Mount* mount = nullptr;  // the last component is a mount's destination
  };

  // Walks `path` ("" or "/" is the root). `follow`: a symlink as the last component is
  // followed (one as any other component always is).
  Resolved resolve(const std::string& path, bool follow) const;

 private:
  // `missing_ok`: a component that does not exist ends the walk with the rest of the path kept
  // as written (for mount destinations the runtime creates at start).
  Resolved walk(const std::string& path, bool follow, bool missing_ok, size_t mounts_seen) const;

  int root_;
  std::vector<Mount> mounts_;
};

// The bind mounts in a container's config.json (its OCI spec), in order.
std::vector<ContainerTree::Mount> container_bind_mounts(const std::string& config_json_path);

}  // namespace vessel::manager
