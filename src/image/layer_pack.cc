// Packing a directory into a layer tarball (pack_layer, image/layer.h): the tree walked
// through directory fds, never following a symlink, overlay whiteouts and opaque
// directories written as OCI whiteout entries; tar, gzip and both digests in one pass.
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "image/digest.h"
#include "image/layer.h"
#include "image/layer_fs.h"
#include "util/error.h"
#include "util/file.h"
#include "util/progress.h"

namespace vessel::image {

using namespace layer_fs;

// ---- packing -------------------------------------------------------------------------------

namespace {

struct FileSink {
  int fd;
  Sha256 hash;
  uint64_t size = 0;
  std::string error;
};

la_ssize_t file_sink_write(struct archive* a, void* client, const void* buf, size_t n) {
  auto* s = static_cast<FileSink*>(client);
  try {
    write_all(s->fd, buf, n);
  } catch (const Error& e) {
    s->error = e.what();
    archive_set_error(a, EIO, "%s", e.what());
    return -1;
  }
  s->hash.update(buf, n);
  s->size += n;
  return static_cast<la_ssize_t>(n);
}

// The tar writer's output: hashed (diff_id) and passed to the gzip writer.
struct TarSink {
  struct archive* gz;
  Sha256 hash;
};

la_ssize_t tar_sink_write(struct archive* a, void* client, const void* buf, size_t n) {
  auto* s = static_cast<TarSink*>(client);
  s->hash.update(buf, n);
  la_ssize_t w = archive_write_data(s->gz, buf, n);
  if (w < 0) {
    archive_set_error(a, EIO, "%s", archive_err(s->gz).c_str());
    return -1;
  }
  progress_bytes(n);
  return static_cast<la_ssize_t>(n);
}

struct Node {
  std::string rel;
  struct stat st;
};

void walk(int dirfd, const std::string& prefix, std::vector<Node>& out) {
  for (const auto& name : list_dir(dirfd)) {
    Node n{prefix.empty() ? name : prefix + "/" + name, {}};
    if (::fstatat(dirfd, name.c_str(), &n.st, AT_SYMLINK_NOFOLLOW) < 0)
      fail_errno("stat {}", n.rel);
    out.push_back(n);
    if (S_ISDIR(n.st.st_mode)) {
      UniqueFd sub(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub) fail_errno("open directory {}", n.rel);
      walk(sub.get(), n.rel, out);  // `out` grows: never pass a reference into it
    }
  }
}

void add_xattrs(archive_entry* e, const std::string& path, int fd, bool skip_overlay) {
  std::string names(4096, '\0');
  ssize_t n;
  for (;;) {
    n = fd >= 0 ? ::flistxattr(fd, names.data(), names.size())
                : ::llistxattr(path.c_str(), names.data(), names.size());
    if (n >= 0) break;
    if (errno == ENOTSUP) return;
    if (errno != ERANGE) fail_errno("list xattrs of {}", path);
    names.resize(names.size() * 4);
  }
  for (size_t pos = 0; pos < static_cast<size_t>(n);) {
    const char* name = names.data() + pos;
    pos += std::strlen(name) + 1;
    if (skip_overlay && std::strncmp(name, "trusted.overlay.", 16) == 0) continue;
    std::string value(256, '\0');
    ssize_t v;
    for (;;) {
      v = fd >= 0 ? ::fgetxattr(fd, name, value.data(), value.size())
                  : ::lgetxattr(path.c_str(), name, value.data(), value.size());
      if (v >= 0) break;
      if (errno == ENODATA) break;
      if (errno != ERANGE) fail_errno("read xattr {} of {}", name, path);
      value.resize(value.size() * 4);
    }
    if (v < 0) continue;
    archive_entry_xattr_add_entry(e, name, value.data(), static_cast<size_t>(v));
  }
}

// An empty entry (a whiteout) at `path`.
void write_marker_entry(struct archive* tar, const std::string& path, const std::string& dir) {
  Entry e(archive_entry_new());
  archive_entry_set_pathname(e.get(), path.c_str());
  archive_entry_set_filetype(e.get(), AE_IFREG);
  archive_entry_set_perm(e.get(), 0);
  archive_entry_set_size(e.get(), 0);
  if (archive_write_header(tar, e.get()) < ARCHIVE_WARN)
    fail("pack {}: {}: {}", dir, path, archive_err(tar));
}

bool overlay_opaque(int fd) {
  char v[4] = {0};
  ssize_t n = ::fgetxattr(fd, "trusted.overlay.opaque", v, sizeof v);
  if (n == 1 && v[0] == 'y') return true;
  // An upper layer of an overlay mounted in a user namespace (rootless: userxattr).
  n = ::fgetxattr(fd, "user.overlay.opaque", v, sizeof v);
  return n == 1 && v[0] == 'y';
}

}  // namespace

PackedLayer pack_layer(const std::string& dir, const std::string& out, const PackOptions& opts) {
  UniqueFd root = open_or_throw(dir, O_RDONLY | O_DIRECTORY);
  std::vector<Node> nodes;
  walk(root.get(), "", nodes);
  std::erase_if(nodes, [&](const Node& n) {
    for (const auto& ex : opts.exclude)
      if (n.rel == ex || n.rel.rfind(ex + "/", 0) == 0) return true;
    return false;
  });
  std::sort(nodes.begin(), nodes.end(), [](const Node& a, const Node& b) { return a.rel < b.rel; });

  UniqueFd outfd = open_or_throw(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  FileSink file{outfd.get(), {}, 0, {}};
  WriteArchive gz(archive_write_new());
  if (!gz) fail("pack {}: out of memory", dir);
  archive_write_set_format_raw(gz.get());
  archive_write_add_filter_gzip(gz.get());
  archive_write_set_filter_option(gz.get(), "gzip", "timestamp", nullptr);  // reproducible
  archive_write_set_bytes_in_last_block(gz.get(), 1);
  if (archive_write_open2(gz.get(), &file, nullptr, file_sink_write, nullptr, nullptr) !=
      ARCHIVE_OK)
    fail("pack {}: {}", out, archive_err(gz.get()));
  {
    Entry raw_entry(archive_entry_new());
    archive_entry_set_pathname(raw_entry.get(), "layer.tar");
    archive_entry_set_filetype(raw_entry.get(), AE_IFREG);
    if (archive_write_header(gz.get(), raw_entry.get()) != ARCHIVE_OK)
      fail("pack {}: {}", out, archive_err(gz.get()));
  }

  TarSink tarsink{gz.get(), {}};
  WriteArchive tar(archive_write_new());
  if (!tar) fail("pack {}: out of memory", dir);
  archive_write_set_format_pax_restricted(tar.get());
  archive_write_set_bytes_in_last_block(tar.get(), 1);
  if (archive_write_open2(tar.get(), &tarsink, nullptr, tar_sink_write, nullptr, nullptr) !=
      ARCHIVE_OK)
    fail("pack {}: {}", out, archive_err(tar.get()));

  std::map<std::pair<dev_t, ino_t>, std::string> links;
  std::set<std::string> opaque_dirs;  // relative paths given an opaque marker
  std::vector<char> buf(1 << 16);
  for (const Node& n : nodes) {
    const struct stat& st = n.st;
    if (S_ISSOCK(st.st_mode)) continue;
    std::string full = dir + "/" + n.rel;
    if (opts.overlay_upper && S_ISCHR(st.st_mode) && st.st_rdev == 0) {
      auto slash = n.rel.rfind('/');
      std::string wh = slash == std::string::npos
                           ? ".wh." + n.rel
                           : n.rel.substr(0, slash + 1) + ".wh." + n.rel.substr(slash + 1);
      write_marker_entry(tar.get(), wh, dir);
      continue;
    }
    // fuse-overlayfs (a user's build) marks an opaque directory with a file of the marker's
    // name too: one marker entry per directory.
    if (opts.overlay_upper && S_ISREG(st.st_mode) &&
        (n.rel == kOpaqueMarker || n.rel.ends_with("/" + std::string(kOpaqueMarker)))) {
      std::string parent = n.rel.size() > kOpaqueMarker.size()
                               ? n.rel.substr(0, n.rel.size() - kOpaqueMarker.size() - 1)
                               : "";
      if (!opaque_dirs.count(parent)) write_marker_entry(tar.get(), n.rel, dir);
      opaque_dirs.insert(parent);
      continue;
    }
    Entry e(archive_entry_new());
    archive_entry_copy_stat(e.get(), &st);
    // An ordinary user's files are container root's (rootless vessel maps the user to 0), and
    // its subordinate ids the container's others.
    auto inside = [](const std::vector<PackOptions::IdRange>& m, uint32_t host) -> uint32_t {
      for (const auto& r : m)
        if (host >= r.host && host - r.host < r.count) return r.inside + (host - r.host);
      return 65534;
    };
    if (!opts.uids.empty()) archive_entry_set_uid(e.get(), inside(opts.uids, st.st_uid));
    if (!opts.gids.empty()) archive_entry_set_gid(e.get(), inside(opts.gids, st.st_gid));
    if (opts.uids.empty() && ::geteuid() != 0 && st.st_uid == ::geteuid())
      archive_entry_set_uid(e.get(), 0);
    if (opts.gids.empty() && ::geteuid() != 0 && st.st_gid == ::getegid())
      archive_entry_set_gid(e.get(), 0);
    archive_entry_unset_atime(e.get());
    archive_entry_unset_ctime(e.get());
    archive_entry_unset_birthtime(e.get());
    archive_entry_set_pathname(e.get(),
                               S_ISDIR(st.st_mode) ? (n.rel + "/").c_str() : n.rel.c_str());
    if (!S_ISREG(st.st_mode)) archive_entry_set_size(e.get(), 0);

    // Regular files and directories are read through an fd that cannot be a symlink.
    UniqueFd fd;
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
      fd.reset(open_beneath(root.get(), n.rel,
                            (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0) | O_RDONLY | O_NOFOLLOW,
                            false));
      if (!fd) fail_errno("pack {}: open {}", dir, n.rel);
    }
    if (S_ISLNK(st.st_mode)) {
      std::string target(st.st_size > 0 ? static_cast<size_t>(st.st_size) + 1 : 4096, '\0');
      ssize_t len = ::readlinkat(root.get(), n.rel.c_str(), target.data(), target.size());
      if (len < 0) fail_errno("pack {}: readlink {}", dir, n.rel);
      target.resize(static_cast<size_t>(len));
      archive_entry_set_symlink(e.get(), target.c_str());
    } else {
      add_xattrs(e.get(), full, fd.get(), opts.overlay_upper);
    }
    bool hardlink = false;
    if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
      auto [it, inserted] = links.try_emplace({st.st_dev, st.st_ino}, n.rel);
      if (!inserted) {
        archive_entry_set_hardlink(e.get(), it->second.c_str());
        archive_entry_set_size(e.get(), 0);
        hardlink = true;
      }
    }
    if (archive_write_header(tar.get(), e.get()) < ARCHIVE_WARN)
      fail("pack {}: {}: {}", dir, n.rel, archive_err(tar.get()));
    if (opts.overlay_upper && S_ISDIR(st.st_mode) && overlay_opaque(fd.get())) {
      write_marker_entry(tar.get(), n.rel + "/.wh..wh..opq", dir);
      opaque_dirs.insert(n.rel);
    }
    if (S_ISREG(st.st_mode) && !hardlink) {
      off_t left = st.st_size;
      while (left > 0) {
        ssize_t r = retry_eintr([&] { return ::read(fd.get(), buf.data(), buf.size()); });
        if (r < 0) fail_errno("pack {}: read {}", dir, n.rel);
        if (r == 0) fail("pack {}: {} shrank while being packed", dir, n.rel);
        size_t len = std::min(static_cast<size_t>(r), static_cast<size_t>(left));
        if (archive_write_data(tar.get(), buf.data(), len) < 0)
          fail("pack {}: {}: {}", dir, n.rel, archive_err(tar.get()));
        left -= static_cast<off_t>(len);
      }
    }
  }
  if (archive_write_close(tar.get()) != ARCHIVE_OK)
    fail("pack {}: {}", out, archive_err(tar.get()));
  if (archive_write_close(gz.get()) != ARCHIVE_OK)
    fail("pack {}: {}", out, file.error.empty() ? archive_err(gz.get()) : file.error);

  PackedLayer result;
  result.diff_id = tarsink.hash.digest();
  result.digest = file.hash.digest();
  result.size = file.size;
  return result;
}

}  // namespace vessel::image
