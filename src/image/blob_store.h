// Content-addressable blobs on disk: <root>/blobs/sha256/<hex>, written once, verified on the
// way in (a blob whose content does not match its digest is never stored).
#pragma once

#include <cstdint>
#include <string>

namespace vessel::image {

class BlobStore {
 public:
  explicit BlobStore(std::string root);  // creates <root>/blobs/sha256
  const std::string& root() const { return root_; }

  bool has(const std::string& digest) const;
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

 private:
  // Renames a verified temporary file (in the blobs directory) to the blob's path.
  void install(const std::string& tmp, const std::string& digest);

  std::string root_;
};

}  // namespace vessel::image
