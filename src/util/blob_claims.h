// Claims on blobs a command is writing or about to use, so that a command killed with SIGKILL
// between storing a blob and recording the image that uses it leaves nothing behind, and so
// that no cleanup removes a blob a live command still needs.
//
// Each process that stores (or reuses without storing) a blob first appends its digest to its
// own claim file, <dir>/claims-p<PID>-<start time>-<N>, under a shared lock of <dir>; the file goes
// when the process ends normally (its images are recorded or its command failed). A claim file
// whose process is gone (no such PID, or a PID reused by a process started at another time) is
// stale. Whoever removes blobs (the next command's cleanup of dead commands' blobs, image
// garbage collection, `system check --repair`) takes the exclusive lock, reads the claims, then
// the database, and leaves every blob a live claim names; a writer's claim comes before it looks
// for or renames its blob, so it either is seen or comes after the removal (and stores the blob
// again).
#pragma once

#include <sys/types.h>

#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "util/fd.h"

namespace vessel {

// This process's claim file in `dir` (made on the first claim, removed on destruction by the
// process that made it: a forked child leaves it alone).
class BlobClaims {
 public:
  explicit BlobClaims(std::string dir) : dir_(std::move(dir)) {}
  ~BlobClaims();
  BlobClaims(const BlobClaims&) = delete;
  BlobClaims& operator=(const BlobClaims&) = delete;

  // Records `digest` (thread-safe). Throws on a write error (no claim, no blob).
  void add(const std::string& digest);
  // Drops every claim (removes the file): the images that use the blobs are recorded, or the
  // work failed. For a long-lived process (the API server) at the end of a request.
  void release();
  const std::string& path() const { return path_; }

 private:
  std::string dir_;
  std::mutex mu_;
  std::string path_;
  pid_t owner_ = 0;
  UniqueFd fd_;
  std::set<std::string> added_;
};

// The claims of `dir` read under its exclusive lock, held while this object lives.
class ClaimsLock {
 public:
  explicit ClaimsLock(const std::string& dir);  // mkdir -p; blocks for the lock
  ClaimsLock(const ClaimsLock&) = delete;
  ClaimsLock& operator=(const ClaimsLock&) = delete;

  std::set<std::string> live;            // digests claimed by running processes
  std::set<std::string> stale;           // digests claimed only by processes that are gone
  std::vector<std::string> stale_files;  // their claim files (remove once handled)

 private:
  UniqueFd lock_;
};

// Whether `dir` holds a claim file of a process that is gone (one readdir; no lock).
bool has_stale_claims(const std::string& dir);

// A new claim file name for this process ("claims-p<PID>-<start time>-<N>", N counts up: each
// BlobClaims of a process has its own file).
std::string claim_file_name();

}  // namespace vessel
