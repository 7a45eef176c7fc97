// vessel build: a Containerfile's instructions run one after another, each making an image
// (RUN in a real container on an overlay over the previous image; COPY/ADD into an overlay;
// the rest changing the config only), with a layer cache keyed by the parent image, the
// instruction and what it reads.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "manager/store.h"

namespace vessel::manager {

struct BuildOptions {
  std::string context;  // directory
  std::string file;     // the Containerfile; empty: <context>/Containerfile, else Dockerfile
  std::vector<std::string> tags;
  std::vector<std::pair<std::string, std::string>> build_args;
  std::string target;  // stage name; empty: the last stage
  bool no_cache = false;
  std::string network = "none";  // for RUN: none or host
  std::vector<std::pair<std::string, std::string>> labels;
  bool quiet = false;
  // The image's media types: "oci" (the default, as podman's) or "docker" (Docker schema 2).
  // OCI configs cannot hold HEALTHCHECK and SHELL: with "oci" the image is made without them
  // (a warning says so; SHELL still applies to the build's own RUN steps), as podman does.
  std::string format = "oci";
  // Where step headers and RUN output go (stdout unless quiet).
  std::function<void(const std::string&)> out;
};

ImageRecord build_image(Store& store, const BuildOptions& opts);

// Images that are only build steps (in the layer cache, with no name): `vessel images` hides
// them.
std::set<std::string> build_cache_images(Store& store);

}  // namespace vessel::manager
