// What unpacking and packing layers share (src/image/layer.cc, layer_pack.cc): libarchive
// handles, the whiteout names, and filesystem access that stays beneath a root directory
// (openat2 RESOLVE_BENEATH, or no symlink followed at all where the kernel lacks openat2).
// Internal to the image layer.
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace vessel::image::layer_fs {

struct ReadArchiveFree {
  void operator()(struct archive* a) const { archive_read_free(a); }
};
struct WriteArchiveFree {
  void operator()(struct archive* a) const { archive_write_free(a); }
};
struct EntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
using ReadArchive = std::unique_ptr<struct archive, ReadArchiveFree>;
using WriteArchive = std::unique_ptr<struct archive, WriteArchiveFree>;
using Entry = std::unique_ptr<archive_entry, EntryFree>;

inline std::string archive_err(struct archive* a) {
  const char* s = archive_error_string(a);
  return s ? s : "unknown libarchive error";
}

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";
constexpr std::string_view kWhiteoutMetaPrefix = ".wh..wh.";

// An entry name as components under the root: a leading "/" is dropped (as tar does), "." and
// empty components are dropped, ".." removes the previous component and may never climb above
// the root.
std::vector<std::string> split_entry_path(std::string_view name);
// The first `n` components joined with "/".
std::string join(const std::vector<std::string>& comps, size_t n);
bool openat2_supported();
// Opens the directory `rel` (components, "" = the root itself) under `root` without leaving
// it: with openat2 symlinks inside the root are followed only while they stay beneath it
// (absolute symlinks and ".." out fail with EXDEV); without openat2 every component is opened
// with O_NOFOLLOW, so no symlink is followed at all. Returns -1 with errno set on failure.
int open_beneath(int root, const std::string& rel, int flags, bool follow_symlinks = true);
// The error for a failed open_beneath of `rel` (`what`: what was opened), with `err` its errno.
[[noreturn]] void fail_open(const std::string& what, const std::string& rel, int err);
// The names in a directory, "." and ".." left out.
std::vector<std::string> list_dir(int dirfd);
// Removes `name` in `dirfd` (a whole tree for a directory) without following any symlink.
void remove_at(int dirfd, const std::string& name);

}  // namespace vessel::image::layer_fs
