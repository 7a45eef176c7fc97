#include "manager/rootfs_idmap.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "linux/idmap.h"
#include "util/error.h"
#include "util/file.h"

namespace vessel::manager {

IdmappedLayers::IdmappedLayers(const std::vector<std::string>& layers, const std::string& dir,
                               const IdRange& range)
    : base_(dir + "/idmapped") {
  clear_base();  // left by an interrupted mount
  mkdir_p(base_, 0700);
  std::vector<oci::IdMapping> maps{{0, range.start, range.size}};
  try {
    UniqueFd userns = linux::make_userns_fd(maps, maps, "--userns=auto");
    for (size_t i = 0; i < layers.size(); ++i) {
      std::string target = base_ + "/" + std::to_string(i);
      mkdir_p(target, 0700);
      UniqueFd tree =
          linux::open_idmapped_tree(layers[i], false, false, userns.get(), "--userns=auto");
      UniqueFd target_fd(::open(target.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (!target_fd) fail_errno("opening {}", target);
      linux::move_mount_onto(tree.get(), target_fd.get(), "--userns=auto", target);
      paths_.push_back(target);
    }
  } catch (...) {
    clear_base();
    throw;
  }
}

IdmappedLayers::~IdmappedLayers() { clear_base(); }

// Detaches and removes each <base>/<n> one by one, never recursively: a directory that is
// still a mount point would expose an image layer to the removal.
void IdmappedLayers::clear_base() {
  paths_.clear();
  for (size_t i = 0;; ++i) {
    std::string p = base_ + "/" + std::to_string(i);
    if (!path_exists(p)) break;
    while (::umount2(p.c_str(), MNT_DETACH) == 0) {
    }
    ::rmdir(p.c_str());
  }
  ::rmdir(base_.c_str());
}

void chown_shifted_like(const std::string& path, const std::string& like, const IdRange& range) {
  struct stat st {};
  if (::lstat(like.c_str(), &st) != 0) fail_errno("lstat {}", like);
  uint32_t uid = st.st_uid < range.size ? range.start + st.st_uid : 65534;
  uint32_t gid = st.st_gid < range.size ? range.start + st.st_gid : 65534;
  if (::lchown(path.c_str(), uid, gid) != 0) fail_errno("chown {}", path);
}

}  // namespace vessel::manager
