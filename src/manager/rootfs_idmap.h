// The image layers of a --userns=auto container, seen through its id mapping: each layer
// directory gets an idmapped mount (linux/idmap.h) attached under <dir>/idmapped/<n> just
// long enough for overlayfs to take its own private copies, so that the layers on disk stay
// shared and unshifted while the container sees its own root as the owner of the image's
// files. The writable upper layer is not idmapped (overlayfs creates its work files as the
// mounter, host root, which an idmapped mount cannot represent): what the container writes
// there is stored with its shifted host ids, and the upper layer is deleted with it.
#pragma once

#include <string>
#include <vector>

#include "manager/userns.h"

namespace vessel::manager {

class IdmappedLayers {
 public:
  // Attaches the idmapped copies of `layers` (in the order given) under <dir>/idmapped.
  IdmappedLayers(const std::vector<std::string>& layers, const std::string& dir,
                 const IdRange& range);
  // Detaches every copy and removes <dir>/idmapped.
  ~IdmappedLayers();
  IdmappedLayers(const IdmappedLayers&) = delete;
  IdmappedLayers& operator=(const IdmappedLayers&) = delete;

  const std::vector<std::string>& paths() const { return paths_; }

 private:
  void clear_base();
  std::string base_;
  std::vector<std::string> paths_;
};

// The host owner `range` gives the path's on-disk owner (lstat), for the upper layer's root.
void chown_shifted_like(const std::string& path, const std::string& like, const IdRange& range);

}  // namespace vessel::manager
