#include "manager/store_userns.h"

#include <sstream>

#include "manager/rootless.h"
#include "util/error.h"
#include "util/file.h"

namespace vessel::manager {

image::UnpackStats unpack_in_store_userns(const std::string& archive, const std::string& target,
                                          const image::UnpackOptions& opts) {
  if (!store_in_user_namespace()) return image::unpack_layer(archive, target, opts);
  std::string answer = in_user_namespace_or_throw("unpacking " + archive, [&] {
    auto s = image::unpack_layer(archive, target, opts);
    return std::to_string(s.entries) + " " + std::to_string(s.bytes) + " " + s.diff_id;
  });
  image::UnpackStats stats;
  std::istringstream in(answer);
  in >> stats.entries >> stats.bytes >> stats.diff_id;
  return stats;
}

image::PackedLayer pack_in_store_userns(const std::string& dir, const std::string& out,
                                        const image::PackOptions& opts,
                                        const RootlessMappings* mappings) {
  if (!store_in_user_namespace()) return image::pack_layer(dir, out, opts);
  image::PackOptions in_ns = opts;
  in_ns.uids.clear();
  in_ns.gids.clear();
  // Under another mapping the user is not root there: its files are recorded as they are
  // seen, not as root's (pack_layer's rule for a user's files without a mapping).
  if (mappings) {
    in_ns.uids = {{0, 0, 0xFFFFFFFFu}};
    in_ns.gids = {{0, 0, 0xFFFFFFFFu}};
  }
  std::string answer = in_user_namespace_or_throw(
      "packing " + dir,
      [&] {
        auto p = image::pack_layer(dir, out, in_ns);

        return p.digest + " " + p.diff_id + " " + std::to_string(p.size);
      },
      0, mappings);
  image::PackedLayer packed;
  std::istringstream in(answer);
  in >> packed.digest >> packed.diff_id >> packed.size;
  if (packed.digest.empty() || packed.diff_id.empty())
    fail("packing {}: no digest came back from the user namespace", dir);
  return packed;
}

std::string old_layers_dir(const std::string& store_root) { return store_root + "/layers-old"; }

void remove_old_layer_trees(const std::string& store_root) {
  std::string dir = old_layers_dir(store_root);
  if (path_exists(dir)) remove_container_tree(dir);
}

}  // namespace vessel::manager
