#include "manager/rootfs_keep_id.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <optional>

#include "image/layer.h"
#include "util/error.h"
#include "util/file.h"
#include "util/scratch.h"

namespace vessel::manager {

namespace {

constexpr const char* kMarker = "/userns-keep-id";

std::string keep_id_layers_root(const StorePaths& paths) { return paths.root + "/layers-keep-id"; }

}  // namespace

void mark_keep_id_rootfs(const std::string& dir) {
  write_file_atomic(dir + kMarker, "keep-id\n", 0644);
}

bool is_keep_id_rootfs(const std::string& dir) {
  return store_in_user_namespace() && path_exists(dir + kMarker);
}

RootlessMappings keep_id_mappings() {
  return rootless_mappings("/etc/subuid", "/etc/subgid", true);
}

std::string keep_id_layer_dir(const StorePaths& paths, const std::string& diff_id) {
  std::string layer = paths.layer(diff_id);  // validates the diff_id
  return keep_id_layers_root(paths) + layer.substr(layer.rfind('/'));
}

void ensure_keep_id_layers(Store& store, const ImageRecord& img) {
  const auto& paths = store.paths();
  std::optional<RootlessMappings> mappings;
  for (const auto& layer : img.layers) {
    std::string dest = keep_id_layer_dir(paths, layer.diff_id);
    if (path_exists(dest)) continue;
    if (!mappings) {
      mappings = keep_id_mappings();
      mkdir_p(keep_id_layers_root(paths), 0700);
    }
    std::string tmp =
        paths.tmp() + "/" + scratch_prefix("layer-keep-id") + random_hex_id().substr(0, 16);
    mkdir_p(tmp, 0755);
    std::string blob = store.blobs().path(layer.blob_digest);
    try {
      in_user_namespace_or_throw(
          "unpacking layer " + layer.blob_digest + " for --userns=keep-id",
          [&] {
            // The layer's root is the container's root's, as in the store's own copy.
            if (::chown(tmp.c_str(), 0, 0) != 0) fail_errno("chown {}", tmp);
            auto stats = image::unpack_layer(blob, tmp);
            if (!stats.diff_id.empty() && stats.diff_id != layer.diff_id)
              fail("its content is {}, not the diff_id {} the image config names", stats.diff_id,
                   layer.diff_id);
            if (::chmod(tmp.c_str(), 0755) != 0) fail_errno("chmod {}", tmp);
            if (::rename(tmp.c_str(), dest.c_str()) != 0) {
              if (errno != EEXIST && errno != ENOTEMPTY) fail_errno("rename {} to {}", tmp, dest);
              remove_tree(tmp);  // another command unpacked it first
            }
            return std::string();
          },
          0, &*mappings);
    } catch (...) {
      if (path_exists(tmp)) remove_container_tree(tmp);
      throw;
    }
  }
}

void remove_keep_id_layer(const StorePaths& paths, const std::string& diff_id) {
  std::string dir = keep_id_layer_dir(paths, diff_id);
  if (path_exists(dir)) remove_container_tree(dir);
}

void chown_like_in_keep_id(const std::string& path, const std::string& like) {
  RootlessMappings m = keep_id_mappings();
  in_user_namespace_or_throw(
      "",
      [&] {
        struct stat st {};
        if (::stat(like.c_str(), &st) != 0) fail_errno("stat {}", like);
        if (::chown(path.c_str(), st.st_uid, st.st_gid) != 0)
          fail_errno("chown {} to {}:{}", path, st.st_uid, st.st_gid);
        return std::string();
      },
      0, &m);
}

}  // namespace vessel::manager
