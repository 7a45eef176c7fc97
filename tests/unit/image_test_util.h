// Helpers shared by the image unit tests: scratch directories and tar archives built with
// libarchive's writer (so hostile names can be made on purpose).
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace vessel::image::testing {

class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = "/tmp/vessel-image-test-XXXXXX";
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp");
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

struct TarEntry {
  std::string path;
  unsigned type = AE_IFREG;  // AE_IFREG, AE_IFDIR, AE_IFLNK, AE_IFIFO, AE_IFCHR
  std::string data;
  std::string link;  // symlink target, or hard link target when hardlink
  bool hardlink = false;
  unsigned perm = 0644;
};

inline void write_tar(const std::string& path, const std::vector<TarEntry>& entries,
                      int filter = ARCHIVE_FILTER_NONE) {
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (filter != ARCHIVE_FILTER_NONE && archive_write_add_filter(a, filter) != ARCHIVE_OK)
    throw std::runtime_error(std::string("add filter: ") + archive_error_string(a));
  if (archive_write_open_filename(a, path.c_str()) != ARCHIVE_OK)
    throw std::runtime_error("open " + path);
  for (const auto& t : entries) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, t.path.c_str());
    archive_entry_set_perm(e, t.perm);
    archive_entry_set_mtime(e, 1'600'000'000, 0);
    if (t.hardlink) {
      archive_entry_set_filetype(e, AE_IFREG);
      archive_entry_set_hardlink(e, t.link.c_str());
      archive_entry_set_size(e, 0);
    } else {
      archive_entry_set_filetype(e, t.type);
      if (t.type == AE_IFLNK) archive_entry_set_symlink(e, t.link.c_str());
      archive_entry_set_size(e, t.type == AE_IFREG ? static_cast<la_int64_t>(t.data.size()) : 0);
    }
    if (archive_write_header(a, e) != ARCHIVE_OK)
      throw std::runtime_error(std::string("header: ") + archive_error_string(a));
    if (t.type == AE_IFREG && !t.hardlink && !t.data.empty())
      archive_write_data(a, t.data.data(), t.data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

// Every path under `dir` (recursively, without following symlinks), relative to it.
inline std::set<std::string> list_tree(const std::string& dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(
           dir, std::filesystem::directory_options::none, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    out.insert(it->path().lexically_relative(dir).string());
  }
  return out;
}

inline void write_text(const std::string& path, const std::string& data) {
  FILE* f = ::fopen(path.c_str(), "w");
  if (!f) throw std::runtime_error("fopen " + path);
  ::fwrite(data.data(), 1, data.size(), f);
  ::fclose(f);
}

}  // namespace vessel::image::testing
