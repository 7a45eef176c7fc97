// `vessel system check [--repair]`: the store checked against itself. Every blob against its
// digest, every image's blobs present, every unpacked layer row against its directory, and
// what no row accounts for (blobs no image uses, layer and container directories without a
// row, scratch files) reported as orphans; the database in WAL mode and intact. --repair
// removes corrupt blobs and orphans, forgets layer rows whose directory is gone (the layer is
// unpacked again on next use) and sets WAL mode. Blobs and scratch files of a command at work
// (claimed, util/blob_claims.h; named with a live PID, util/scratch.h) are left out.
#pragma once

#include <string>
#include <vector>

#include "manager/store.h"

namespace vessel::manager {

struct CheckFinding {
  std::string kind;    // corrupt-blob, missing-blob, orphan-blob, missing-layer, ...
  std::string path;    // the file or directory concerned (or the database)
  std::string detail;  // one line for the user
  bool repaired = false;
};

struct CheckReport {
  size_t blobs = 0, images = 0, layers = 0, containers = 0;  // what was looked at
  std::vector<CheckFinding> findings;
  // Findings not repaired (all of them without --repair).
  size_t unresolved() const;
};

CheckReport check_store(Store& store, bool repair);

}  // namespace vessel::manager
