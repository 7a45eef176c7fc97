// Image references as registries name them: [registry[:port]/]repository[:tag][@digest],
// normalized the way docker and podman do ("busybox" is docker.io/library/busybox:latest).
#pragma once

#include <string>
#include <string_view>

namespace vessel::image {

struct Reference {
  std::string registry;    // "docker.io", "quay.io", "127.0.0.1:5000", "localhost"
  std::string repository;  // "library/busybox"
  std::string tag;         // "latest" when neither a tag nor a digest is given; may be empty
  std::string digest;      // "sha256:<hex>" or empty

  // registry/repository
  std::string name() const;
  // The full normalized reference: name[:tag][@digest].
  std::string str() const;
  // The name an image pulled by this reference is stored under: name:tag, or name@digest
  // when there is no tag.
  std::string stored_name() const;
  // The host the distribution API is served from (registry-1.docker.io for docker.io).
  std::string api_host() const;
  // What goes after /manifests/: the digest when there is one, else the tag.
  std::string manifest_ref() const;
};

// Parses and normalizes a reference; throws "invalid reference \"…\": why" on bad input.
Reference parse_reference(std::string_view ref);

}  // namespace vessel::image
