// Image archives and layouts on disk: OCI image layout directories, oci-archive tarballs
// (a layout in a tar) and docker-archive tarballs (docker save / podman save), read into a
// BlobStore and written from it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "image/blob_store.h"

namespace vessel::image {

struct LayerRef {
  std::string digest;      // blob digest (as stored)
  std::string media_type;  // e.g. application/vnd.oci.image.layer.v1.tar+gzip
  uint64_t size = 0;
  std::string diff_id;  // from the config's rootfs.diff_ids
};

// One image as stored: an OCI manifest (docker manifests are converted to OCI media types
// on load) whose blobs are all in the BlobStore.
struct StoredImage {
  std::string manifest_digest;
  std::string config_digest;
  nlohmann::json config;           // the image config (architecture, os, config, rootfs...)
  std::vector<LayerRef> layers;    // base first
  std::vector<std::string> names;  // "name:tag" references found in the archive (may be empty)
};

// Reads a directory (OCI layout) or a tar file (oci-archive or docker-archive, detected
// from its content) and stores every blob, verifying digests. Picks the linux manifest for
// the host architecture out of an index. Throws with a clear message on anything malformed.
std::vector<StoredImage> load_images(const std::string& path, BlobStore& blobs);

// Writes an image from the store: format "oci-archive" (tar of an OCI layout, with
// org.opencontainers.image.ref.name annotations) or "docker-archive" (manifest.json +
// repositories, loadable by docker/podman load), or "oci-dir" (an OCI layout directory).
void save_image(const StoredImage& image, const std::vector<std::string>& names,
                const std::string& format, const std::string& out, const BlobStore& blobs);

// The media types a manifest made here is written with: OCI, or Docker's schema 2 (manifest,
// config and layers: what `build --format docker` makes, as podman and docker do).
enum class ManifestFormat { oci, docker };

// Builds and stores a manifest for `config` and `layers` (all blobs already stored); returns
// the StoredImage with the new manifest and config digests. The layers keep their OCI media
// types in the StoredImage (that is how the store unpacks them) whatever the manifest says.
StoredImage store_image(nlohmann::json config, std::vector<LayerRef> layers, BlobStore& blobs,
                        ManifestFormat format = ManifestFormat::oci);

// The same for a config blob that is already stored (its bytes, and so its digest, kept as
// they are). Layer sizes are taken from the store; empty diff_ids from the config's
// rootfs.diff_ids; an empty media type means tar+gzip.
StoredImage store_image_with_config(const std::string& config_digest, std::vector<LayerRef> layers,
                                    BlobStore& blobs, ManifestFormat format = ManifestFormat::oci);

// The media type of a stored manifest blob (OCI's when it names none).
std::string manifest_media_type(const std::string& manifest_digest, const BlobStore& blobs);

}  // namespace vessel::image
