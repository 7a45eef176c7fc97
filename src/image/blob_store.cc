#include "image/blob_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "image/digest.h"
#include "util/error.h"
#include "util/file.h"
#include "util/progress.h"
#include "util/scratch.h"

namespace vessel::image {

namespace {

// A temporary file in `dir`, removed on destruction unless released.
class TempFile {
 public:
  explicit TempFile(const std::string& dir) : path_(dir + "/" + scratch_prefix(".tmp") + "XXXXXX") {
    int fd = ::mkostemp(path_.data(), O_CLOEXEC);
    if (fd < 0) fail_errno("create temporary file in {}", dir);
    fd_.reset(fd);
  }
  ~TempFile() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }
  void close() { fd_.reset(); }
  void release() { path_.clear(); }

 private:
  std::string path_;
  UniqueFd fd_;
};

void check_expected(const std::string& expected, const std::string& actual) {
  if (!expected.empty() && expected != actual)
    fail("blob {}: digest mismatch, content is {}", expected, actual);
}

}  // namespace

namespace {
std::string trimmed(std::string root) {
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  return root;
}
}  // namespace

BlobStore::BlobStore(std::string root)
    : root_(trimmed(std::move(root))), claims_(claims_dir(root_)) {
  mkdir_p(root_ + "/blobs/sha256");
  // Half-written blobs of a command killed with SIGKILL (never renamed to their digest).
  remove_stale_scratch(root_ + "/blobs/sha256", ".tmp-p");
}

std::string BlobStore::path(const std::string& digest) const {
  return root_ + "/blobs/sha256/" + digest_hex(digest);
}

std::string BlobStore::tmp_dir() const {
  std::string dir = root_ + "/tmp";
  mkdir_p(dir, 0700);
  return dir;
}

bool BlobStore::has(const std::string& digest) const {
  if (!is_valid_digest(digest)) return false;
  struct stat st;
  return ::stat(path(digest).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

uint64_t BlobStore::size(const std::string& digest) const {
  std::string p = path(digest);
  struct stat st;
  if (::stat(p.c_str(), &st) < 0) {
    if (errno == ENOENT) fail("blob {} is not in the store ({})", digest, root_);
    fail_errno("stat blob {}", p);
  }
  return static_cast<uint64_t>(st.st_size);
}

std::string BlobStore::read(const std::string& digest) const {
  if (!has(digest)) fail("blob {} is not in the store ({})", digest, root_);
  return read_file(path(digest));
}

bool BlobStore::claim(const std::string& digest) {
  if (!is_valid_digest(digest)) return false;
  claims_.add(digest);
  return has(digest);
}

void BlobStore::install(const std::string& tmp, const std::string& digest) {
  claims_.add(digest);  // before the blob exists under its name: see util/blob_claims.h
  if (::chmod(tmp.c_str(), 0644) < 0) fail_errno("chmod {}", tmp);
  std::string dest = path(digest);
  // rename() is atomic: readers see no blob or the whole verified blob; two writers of the
  // same blob both succeed and leave identical content.
  if (::rename(tmp.c_str(), dest.c_str()) < 0) fail_errno("rename {} to {}", tmp, dest);
}

std::string BlobStore::put(const std::string& data) {
  std::string digest = sha256_digest(data);
  if (claim(digest)) return digest;
  TempFile tmp(root_ + "/blobs/sha256");
  write_all(tmp.fd(), data.data(), data.size());
  tmp.close();
  install(tmp.path(), digest);
  tmp.release();
  return digest;
}

std::string BlobStore::put_file(const std::string& src, const std::string& expected) {
  if (!expected.empty() && !is_valid_digest(expected))
    fail("blob {}: invalid digest (want sha256:<64 hex>)", expected);
  UniqueFd in = open_or_throw(src, O_RDONLY);
  TempFile tmp(root_ + "/blobs/sha256");
  Sha256 hash;
  std::string buf(1 << 16, '\0');
  for (;;) {
    ssize_t n = retry_eintr([&] { return ::read(in.get(), buf.data(), buf.size()); });
    if (n < 0) fail_errno("read {}", src);
    if (n == 0) break;
    hash.update(buf.data(), static_cast<size_t>(n));
    write_all(tmp.fd(), buf.data(), static_cast<size_t>(n));
    progress_bytes(static_cast<uint64_t>(n));
  }
  tmp.close();
  std::string digest = hash.digest();
  check_expected(expected, digest);
  install(tmp.path(), digest);
  tmp.release();
  return digest;
}

std::string BlobStore::adopt_file(const std::string& src, const std::string& expected) {
  if (!expected.empty() && !is_valid_digest(expected))
    fail("blob {}: invalid digest (want sha256:<64 hex>)", expected);
  std::string digest = sha256_file_digest(src);
  check_expected(expected, digest);
  claims_.add(digest);
  if (::chmod(src.c_str(), 0644) < 0) fail_errno("chmod {}", src);
  std::string dest = path(digest);
  if (::rename(src.c_str(), dest.c_str()) < 0) {
    if (errno != EXDEV) fail_errno("rename {} to {}", src, dest);
    put_file(src, digest);
    ::unlink(src.c_str());
  }
  return digest;
}

void BlobStore::remove(const std::string& digest) {
  std::string p = path(digest);
  if (::unlink(p.c_str()) < 0 && errno != ENOENT) fail_errno("remove blob {}", p);
}

}  // namespace vessel::image
