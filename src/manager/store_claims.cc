// Store::remove_blobs_of_dead_commands(): see store.h and util/blob_claims.h.
#include <unistd.h>

#include <cerrno>
#include <set>

#include "manager/store.h"
#include "util/blob_claims.h"
#include "util/error.h"
#include "util/log.h"

namespace vessel::manager {

size_t Store::remove_blobs_of_dead_commands() {
  // The claims first, then the database: a live command records its image before its claim
  // file goes, so a blob it used is either claimed or referenced by the time it is read here.
  ClaimsLock claims(paths_.blob_claims());
  if (claims.stale_files.empty()) return 0;
  std::set<std::string> referenced;
  for (auto& d : referenced_blobs()) referenced.insert(std::move(d));
  size_t removed = 0;
  for (const std::string& digest : claims.stale) {
    if (referenced.count(digest) || digest.size() != 71 || digest.rfind("sha256:", 0) != 0 ||
        digest.find_first_not_of("0123456789abcdef", 7) != std::string::npos)
      continue;
    std::string path = paths_.blobs() + "/" + digest.substr(7);
    if (::unlink(path.c_str()) == 0)
      ++removed;
    else if (errno != ENOENT)
      return removed;  // keep the claim file: the next command tries again
  }
  for (const std::string& file : claims.stale_files) ::unlink(file.c_str());
  return removed;
}

}  // namespace vessel::manager
