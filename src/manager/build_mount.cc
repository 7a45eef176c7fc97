#include "manager/build_mount.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include "manager/rootfs.h"
#include "manager/rootless.h"
#include "util/error.h"
#include "util/file.h"
#include "util/scratch.h"

namespace vessel::manager {

StepMount::StepMount(Store& store, const ImageRecord& img, bool read_only)
    : dir_(store.paths().tmp() + "/" + scratch_prefix("build") + random_hex_id().substr(0, 16)),
      read_only_(read_only) {
  mkdir_p(dir_, 0700);
  try {
    if (::geteuid() != 0) {
      // An ordinary user's overlay is mounted only inside namespaces of the user's: the work
      // goes there (run). Where the user's containers cannot have it, fuse-overlayfs on the host.
      bool in_userns = new_container_storage_driver(store) == "overlay";
      write_file_atomic(dir_ + "/storage-driver", in_userns ? "overlay\n" : "fuse-overlayfs\n",
                        0644);
    }
    mount_rootfs(store, img, dir_, read_only);
    std::string driver = container_storage_driver(dir_);
    if (driver == "vfs")
      fail("vessel build needs the overlay storage driver (this store uses vfs)");
    if (auto root = runtime_root_mount(store, img, dir_)) {
      for (const auto& o : (*root)["options"])
        overlay_options_ += (overlay_options_.empty() ? "" : ",") + o.get<std::string>();
      return;
    }
    rootfd_.reset(::open(rootfs().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!rootfd_) fail_errno("opening {}", rootfs());
  } catch (...) {
    cleanup();
    throw;
  }
}

StepMount::~StepMount() { cleanup(); }

void StepMount::mount_here() const {
  unsigned long flags = read_only_ ? MS_RDONLY : 0;
  if (::mount("overlay", rootfs().c_str(), "overlay", flags, overlay_options_.c_str()) != 0)
    fail_errno("mounting the build step's overlay on {}", rootfs());
}

std::string StepMount::run(const std::function<std::string(int rootfd)>& fn,
                           const StepMount* source) const {
  if (!in_user_namespace()) return fn(rootfd_.get());
  return in_user_namespace_or_throw("", [&] {
    if (::unshare(CLONE_NEWNS) != 0) fail_errno("creating a mount namespace for the build step");
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
      fail_errno("making the build step's mounts private");
    mount_here();
    if (source && source->in_user_namespace()) source->mount_here();
    UniqueFd root(::open(rootfs().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!root) fail_errno("opening {}", rootfs());
    return fn(root.get());
  });
}

void StepMount::unmount() {
  rootfd_.reset();
  unmount_rootfs(dir_);
}

void StepMount::cleanup() {
  rootfd_.reset();
  try {
    unmount_rootfs(dir_);
    remove_container_tree(dir_);  // a user's step left subordinate ids' files
  } catch (const Error&) {
  }
}

}  // namespace vessel::manager
