// The root filesystem of an ordinary user's --userns=keep-id container. The store keeps each
// layer with the image's ids as the user's own user namespace maps them (the user is 0, the
// subordinate range 1..65536: manager/store_userns.h). A keep-id container maps the same host
// ids differently (the user's uid is itself, 0.. the subordinate range), so through it those
// layers would show the image's root files as the user's and every other id shifted by one.
// As podman keeps a chowned copy of the layers per mapping, vessel unpacks a second copy of
// each layer such a container uses, inside a user namespace with the keep-id mapping, under
// <store>/layers-keep-id: there the image's ids are the container's again. The copies are
// shared by every keep-id container of the store, and go with their layer.
#pragma once

#include <string>

#include "manager/rootless.h"
#include "manager/store.h"

namespace vessel::manager {

// Records that the container in `dir` is a keep-id one, before its root filesystem is made:
// every driver then stacks (or copies) the keep-id layers.
void mark_keep_id_rootfs(const std::string& dir);
// Whether the container in `dir` is one (only an ordinary user's can be).
bool is_keep_id_rootfs(const std::string& dir);

// This user's keep-id mapping (rootless_mappings with keep_id).
RootlessMappings keep_id_mappings();

// Where the keep-id copy of layer `diff_id` lives.
std::string keep_id_layer_dir(const StorePaths& paths, const std::string& diff_id);
// Unpacks the keep-id copies of the image's layers that are not there yet (concurrent callers
// are safe: each unpacks into a private directory and the first rename wins).
void ensure_keep_id_layers(Store& store, const ImageRecord& img);
// Removes the keep-id copy of a layer that is being removed, if there is one.
void remove_keep_id_layer(const StorePaths& paths, const std::string& diff_id);

// Gives `path` (an upper layer, a copy's root) the owner and group that `like` has as a
// keep-id container sees them: the merged root's owner is the upper layer's root's.
void chown_like_in_keep_id(const std::string& path, const std::string& like);

}  // namespace vessel::manager
