// The root filesystem of a build step that vessel itself writes (COPY, ADD, WORKDIR; RUN steps
// are containers): the image's layers under a fresh upper layer, whose content becomes the
// step's layer.
//  - As root: an overlay mounted on the host under the store's tmp directory.
//  - As an ordinary user whose containers get overlayfs in their user namespace: nothing is
//    mounted on the host; each piece of work runs in a child process in a user namespace
//    with the store's mapping and a mount namespace of its own, where the overlay (and a
//    --from source's) is mounted. There root may read every file and give every id of the
//    image, as in a RUN step, so COPY into a directory of another id and --chown work as
//    they do for root.
//  - Else (a user's store on fuse-overlayfs): fuse-overlayfs on the host, written as the user.
#pragma once

#include <functional>
#include <string>

#include "manager/store.h"
#include "util/fd.h"

namespace vessel::manager {

class StepMount {
 public:
  StepMount(Store& store, const ImageRecord& img, bool read_only);
  StepMount(const StepMount&) = delete;
  StepMount& operator=(const StepMount&) = delete;
  ~StepMount();

  // Runs `fn` with the root filesystem open (an O_DIRECTORY fd) where it is mounted: here, or
  // in the child process described above, in which `source` (a --from image's StepMount) is
  // mounted at its rootfs() path too. An error `fn` throws there comes back as an Error with
  // its message, and so does what it returns; what else it changes in this process's memory
  // there does not.
  std::string run(const std::function<std::string(int rootfd)>& fn,
                  const StepMount* source = nullptr) const;

  std::string rootfs() const { return dir_ + "/rootfs"; }
  std::string upper() const { return dir_ + "/upper"; }
  // Whether the work runs in a user namespace of the store's mapping (no chown needed after).
  bool in_user_namespace() const { return !overlay_options_.empty(); }
  // Unmounts it (before its upper layer is committed).
  void unmount();

 private:
  void mount_here() const;  // in the child's mount namespace
  void cleanup();

  std::string dir_;
  bool read_only_ = false;
  std::string overlay_options_;  // an ordinary user's in-namespace overlay; "" otherwise
  UniqueFd rootfd_;              // where it is mounted on the host
};

}  // namespace vessel::manager
