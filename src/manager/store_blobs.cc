// Store::blobs(), apart from store.cc: see store.h.
#include "image/blob_store.h"
#include "manager/store.h"

namespace vessel::manager {

image::BlobStore& Store::blobs() {
  if (!blobs_) blobs_ = std::make_unique<image::BlobStore>(paths_.root);
  return *blobs_;
}

void Store::end_of_command() {
  if (blobs_) blobs_->release_claims();
}

}  // namespace vessel::manager
