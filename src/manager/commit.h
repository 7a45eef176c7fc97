// Images made from a container's writable layer (vessel commit, and every step of vessel
// build), and the changes in that layer (vessel diff).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "image/dockerfile.h"
#include "manager/store.h"

namespace vessel::manager {

// What the overlay upper directory of a container holds, as docker diff prints it:
// 'A' added, 'C' changed, 'D' deleted; sorted by path.
struct PathChange {
  char kind;
  std::string path;  // absolute, in the container
};
// The paths the runtime itself creates or mounts over (they are no change of the user's).
const std::vector<std::string>& runtime_paths();
std::vector<PathChange> upper_changes(Store& store, const ImageRecord& img,
                                      const std::string& upper);
std::vector<PathChange> container_changes(Store& store, const std::string& ref);

// One history entry of an image config.
struct HistoryEntry {
  std::string created_by;
  std::string comment;
  std::string author;
  bool empty_layer = false;
};

// A new image: `parent`'s layers (none for a null parent: FROM scratch), plus the layer packed
// from `upper` unless it is empty, with `config` (the whole image config: its "config"
// section, architecture, os…; rootfs and history are filled in) and a history entry added.
// `tags` name it. The layer's blob goes into the store; the image is registered.
ImageRecord commit_upper(Store& store, const ImageRecord* parent, nlohmann::json config,
                         const std::string& upper, const HistoryEntry& history,
                         const std::vector<std::string>& tags);

// Applies a Containerfile instruction that only changes the config: CMD, ENTRYPOINT, ENV,
// EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL, SHELL, HEALTHCHECK, ONBUILD. `lookup`
// resolves the variables in it.
void apply_instruction(nlohmann::json& config_section, const image::dockerfile::Instruction& ins,
                       const image::dockerfile::Lookup& lookup, char escape);
// The same for one line of `docker commit --change` (variables from the config's Env).
void apply_change(nlohmann::json& config_section, const std::string& line);

struct CommitOptions {
  std::vector<std::string> changes;
  std::string message;
  std::string author;
  bool pause = false;
};
// vessel commit: the container's writable layer on top of its image, as `name`.
ImageRecord commit_container(Store& store, const std::string& ref, const std::string& name,
                             const CommitOptions& opts);

// The name an image made here is stored under: "name" -> "localhost/name:latest".
std::string local_image_name(const std::string& ref);

}  // namespace vessel::manager
