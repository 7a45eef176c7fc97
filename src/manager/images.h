// Image operations of the manager: templates, load/import/save, lookup, removal.
#pragma once

#include <string>
#include <vector>

#include "image/archive.h"
#include "manager/store.h"

namespace vessel::manager {

struct TemplateInfo {
  std::string name;
  std::string description;
};
std::vector<TemplateInfo> templates();

// Builds a base-OS template into an image tagged `tag` (default localhost/NAME:latest).
ImageRecord build_template(Store& store, const std::string& name, const std::string& tag = "");

// The image a reference names; a template's short name ("busybox") is built on first use.
ImageRecord resolve_image(Store& store, const std::string& ref);

// Registers images read by image::load_images; `names` override the archive's own.
std::vector<ImageRecord> register_images(Store& store,
                                         const std::vector<image::StoredImage>& loaded,
                                         const std::vector<std::string>& extra_names = {});
// `vessel import rootfs.tar NAME:TAG`: a plain root filesystem tarball as a one-layer image.
ImageRecord import_rootfs(Store& store, const std::string& tarball, const std::string& name);

image::StoredImage stored_image(Store& store, const ImageRecord& img);
// The names `vessel save REF` writes the image under: the one tag REF names (never the image's
// other tags, so the archive holds exactly one image for skopeo and podman); for an ID, every
// tag in a docker-archive (one entry lists them all) and, in an OCI layout, its only tag or no
// name at all when it has several (one index entry per name would be several images).
std::vector<std::string> save_names(const ImageRecord& img, const std::string& ref,
                                    const std::string& format);
nlohmann::json image_config(Store& store, const ImageRecord& img);

// Removes an image (all its tags unless `ref` names one of several tags, which only untags),
// refusing while a container uses it unless `force`. Returns what was untagged/deleted.
std::vector<std::string> remove_image(Store& store, const std::string& ref, bool force);
// Deletes layers and blobs no image references. Returns bytes freed.
uint64_t collect_garbage(Store& store);

}  // namespace vessel::manager
