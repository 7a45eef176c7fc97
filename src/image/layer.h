// Image layers: packing a directory into a layer tarball and unpacking layer tarballs
// (tar, tar+gzip, tar+zstd — detected from the content) safely into a directory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vessel::image {

// How whiteouts (".wh.NAME", ".wh..wh..opq") in a layer are treated.
enum class WhiteoutMode {
  // The layer is unpacked into its own directory that overlayfs stacks later: ".wh.NAME"
  // becomes a 0:0 character device NAME, ".wh..wh..opq" sets trusted.overlay.opaque="y" on
  // its directory.
  Overlay,
  // Layers are applied one after another into one directory (no overlayfs): ".wh.NAME"
  // removes NAME, ".wh..wh..opq" empties its directory of what lower layers put there.
  Apply,
};

struct UnpackOptions {
  WhiteoutMode whiteouts = WhiteoutMode::Overlay;
  // chown entries to their uid/gid: as root, or as root of an ordinary user's user namespace
  // (rootless vessel unpacks its layers there: ids beyond its mapping stay the user's)
  bool same_owner = true;
  uint64_t max_entries = 2'000'000;  // refuse archives with more entries than this
  // false: ".wh.*" entries are ordinary files (for extracting image archives, not layers).
  bool interpret_whiteouts = true;
};

struct UnpackStats {
  uint64_t entries = 0;
  uint64_t bytes = 0;   // file content bytes written
  std::string diff_id;  // sha256 of the uncompressed tar stream
};

// Unpacks `archive` into the existing directory `target`. Every path is resolved under
// `target` without following symlinks out of it: entries with ".." that escape, absolute
// paths, symlinks followed by a later entry to outside, and hard links to outside are
// refused with an error naming the entry; nothing is ever written outside `target`.
// Restores modes, ownership (same_owner), xattrs, mtimes, device nodes, fifos, hard links.
UnpackStats unpack_layer(const std::string& archive, const std::string& target,
                         const UnpackOptions& opts = {});

// The same from an open stream (a file, a pipe: read to its end) into the directory `target_fd`
// (any fd that can be reopened as that directory, O_PATH included); `what` names the stream in
// errors.
UnpackStats unpack_tar_fd(int in_fd, int target_fd, const std::string& what,
                          const UnpackOptions& opts = {});

struct PackedLayer {
  std::string digest;   // sha256 of the compressed blob
  std::string diff_id;  // sha256 of the uncompressed tar
  uint64_t size = 0;    // compressed size
};

struct PackOptions {
  // `dir` is an overlayfs upper directory: a 0:0 character device NAME becomes a ".wh.NAME"
  // whiteout, a directory with trusted.overlay.opaque="y" gets a ".wh..wh..opq" entry, and
  // overlayfs's own trusted.overlay.* attributes are left out.
  bool overlay_upper = false;
  // Paths (relative, no leading "/") left out with everything under them.
  std::vector<std::string> exclude;
  // Host ids to the ids the layer records, as a user namespace's mapping: {inside, host,
  // count} ranges (an ordinary user's: the user is 0, the subordinate range 1..N); a host id
  // outside them is 65534. Empty: an ordinary user's own ids are recorded as 0, others as on
  // disk.
  struct IdRange {
    uint32_t inside = 0, host = 0, count = 0;
  };
  std::vector<IdRange> uids, gids;
};

// Packs the contents of `dir` (paths relative to it, ownership and modes kept, sorted for a
// reproducible result, mtimes as on disk) into a gzip-compressed tar at `out`.
PackedLayer pack_layer(const std::string& dir, const std::string& out,
                       const PackOptions& opts = {});

}  // namespace vessel::image
