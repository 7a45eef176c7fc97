// Content-addressable blobs on disk: <root>/blobs/sha256/<hex>, written once, verified on the
// way in (a blob whose content does not match its digest is never stored).
#pragma once

#include <cstdint>
#include <string>

#include "util/blob_claims.h"

namespace vessel::image {

class BlobStore {
 public:
  explicit BlobStore(std::string root);  // creates <root>/blobs/sha256
  const std::string& root() const { return root_; }

  bool has(const std::string& digest) const;
  // has(), for a writer that skips storing a blob it finds: first claims the digest for this
  // process (util/blob_claims.h), so that no cleanup removes the blob before the image that
  // uses it is recorded.
  bool claim(const std::string& digest);
  // Drops this process's claims (see BlobClaims::release).
  void release_claims() { claims_.release(); }
  std::string path(const std::string& digest) const;  // where the blob is (or would be)
  uint64_t size(const std::string& digest) const;
  std::string read(const std::string& digest) const;  // small blobs (manifests, configs)

  // Stores bytes and returns their digest.
  std::string put(const std::string& data);
  // Copies a file in; when `expected` is given the content must hash to it (else throws
  // "blob sha256:…: digest mismatch, content is sha256:…" and stores nothing).
  std::string put_file(const std::string& src, const std::string& expected = "");
  // Moves a file that is already on the same filesystem into place after verifying it.
  std::string adopt_file(const std::string& src, const std::string& expected = "");
  void remove(const std::string& digest);

  // <root>/tmp (created on demand): scratch space on the store's filesystem, so that files
  // made there can be adopted by rename.
  std::string tmp_dir() const;
  // Where the claims of blobs being written are (<root>/blobs/pending).
  static std::string claims_dir(const std::string& root) { return root + "/blobs/pending"; }

 private:
  // Renames a verified temporary file (in the blobs directory) to the blob's path.
  void install(const std::string& tmp, const std::string& digest);

  std::string root_;
  BlobClaims claims_;  // <root>/blobs/pending
};

}  // namespace vessel::image
