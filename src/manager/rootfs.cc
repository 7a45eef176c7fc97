#include "manager/rootfs.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/digest.h"
#include "image/layer.h"
#include "util/error.h"
#include "util/file.h"

namespace vessel::manager {

void ensure_layers(Store& store, const ImageRecord& img) {
  const auto& paths = store.paths();
  for (const auto& layer : img.layers) {
    std::string dest = paths.layer(layer.diff_id);
    if (store.layer_unpacked(layer.diff_id) && path_exists(dest)) continue;
    std::string tmp = paths.tmp() + "/layer-" + random_hex_id().substr(0, 16);
    mkdir_p(tmp, 0755);
    try {
      auto stats = image::unpack_layer(store.blobs().path(layer.blob_digest), tmp);
      if (!stats.diff_id.empty() && stats.diff_id != layer.diff_id)
        fail("layer {}: its content is {}, not the diff_id {} the image config names",
             layer.blob_digest, stats.diff_id, layer.diff_id);
      if (::chmod(tmp.c_str(), 0755) != 0) fail_errno("chmod {}", tmp);
      if (::rename(tmp.c_str(), dest.c_str()) != 0) {
        if (errno != EEXIST && errno != ENOTEMPTY) fail_errno("rename {} to {}", tmp, dest);
        remove_tree(tmp);  // another command unpacked it first
      }
    } catch (...) {
      remove_tree(tmp);
      throw;
    }
    store.mark_layer_unpacked(layer.diff_id);
  }
}

void mount_rootfs(Store& store, const ImageRecord& img, const std::string& dir, bool read_only) {
  std::string rootfs = dir + "/rootfs";
  mkdir_p(rootfs, 0755);
  if (rootfs_mounted(dir)) return;
  const auto& paths = store.paths();
  std::vector<std::string> lowers;  // top layer first, as overlayfs wants them
  for (auto it = img.layers.rbegin(); it != img.layers.rend(); ++it)
    lowers.push_back(paths.layer(it->diff_id));
  if (lowers.empty()) {
    std::string empty = dir + "/empty";
    mkdir_p(empty, 0755);
    lowers.push_back(empty);
  }
  std::string lowerdir;
  for (const auto& l : lowers) lowerdir += (lowerdir.empty() ? "" : ":") + l;
  if (read_only && lowers.size() == 1) {
    if (::mount(lowers[0].c_str(), rootfs.c_str(), nullptr, MS_BIND, nullptr) != 0)
      fail_errno("bind-mounting layer {} on {}", lowers[0], rootfs);
    if (::mount(nullptr, rootfs.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) != 0) {
      int saved = errno;
      ::umount2(rootfs.c_str(), MNT_DETACH);
      throw_errno("remounting " + rootfs + " read-only", saved);
    }
    return;
  }
  std::string opts = "lowerdir=" + lowerdir;
  if (!read_only) {
    mkdir_p(dir + "/upper", 0755);
    mkdir_p(dir + "/work", 0700);
    opts += ",upperdir=" + dir + "/upper,workdir=" + dir + "/work";
  }
  if (opts.size() >= 4000)
    fail("the image has too many layers ({}) for one overlay mount", img.layers.size());
  unsigned long flags = read_only ? MS_RDONLY : 0;
  if (::mount("overlay", rootfs.c_str(), "overlay", flags, opts.c_str()) != 0)
    fail_errno("mounting the overlay root filesystem on {}", rootfs);
}

}  // namespace vessel::manager
