// An ordinary user's store keeps the image's file ownership: its layers, vfs copies and the
// layers it commits are written and read from a user namespace with the user's mapping (the
// user is 0 there, the subordinate range 1..65536, manager/rootless.h), whose root may give
// files the image's ids and read every file of them (a mode-0600 file of a subordinate id
// included). On disk the files carry those ids as the namespace maps them: the image's uid
// 1000 is the user's subordinate id 1000 (first subordinate id + 999), which the container
// (same mapping) and an overlay mounted in it show as 1000 again. As root these run here.
#pragma once

#include <string>

#include "image/layer.h"
#include "manager/rootless.h"

namespace vessel::manager {

// image::unpack_layer, in the store's user namespace.
image::UnpackStats unpack_in_store_userns(const std::string& archive, const std::string& target,
                                          const image::UnpackOptions& opts = {});
// image::pack_layer, in the store's user namespace: the layer records the ids as the
// container sees them (no mapping to give: opts.uids/gids are for packing on the host);
// `mappings`: a user namespace with those instead of the user's (a keep-id container's).
image::PackedLayer pack_in_store_userns(const std::string& dir, const std::string& out,
                                        const image::PackOptions& opts = {},
                                        const RootlessMappings* mappings = nullptr);

// Where the trees of layers unpacked by an older vessel as an ordinary user (every file the
// user's) go once unpacked again with the image's ids: containers that run on them keep them
// until `vessel system prune` removes them (remove_old_layer_trees).
std::string old_layers_dir(const std::string& store_root);
// Removes those trees (the files of subordinate ids from the user namespace).
void remove_old_layer_trees(const std::string& store_root);

}  // namespace vessel::manager
