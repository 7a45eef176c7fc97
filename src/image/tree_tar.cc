#include "image/tree_tar.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "util/error.h"
#include "util/fd.h"
#include "util/file.h"

#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x00001000U
#endif

namespace vessel::image {

namespace {

struct WriteArchiveFree {
  void operator()(struct archive* a) const { archive_write_free(a); }
};
struct EntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
using WriteArchive = std::unique_ptr<struct archive, WriteArchiveFree>;
using Entry = std::unique_ptr<archive_entry, EntryFree>;

std::string archive_err(struct archive* a) {
  const char* s = archive_error_string(a);
  return s ? s : "unknown libarchive error";
}

struct Sink {
  int fd;
  std::string error;
};

la_ssize_t sink_write(struct archive* a, void* client, const void* buf, size_t n) {
  auto* s = static_cast<Sink*>(client);
  try {
    write_all(s->fd, buf, n);
  } catch (const Error& e) {
    s->error = e.what();
    archive_set_error(a, EIO, "%s", e.what());
    return -1;
  }
  return static_cast<la_ssize_t>(n);
}

// The mount ID of the object behind `fd` (0 where statx cannot tell).
uint64_t mount_id(int fd) {
  struct statx stx {};
  if (::statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &stx) != 0) return 0;
  return (stx.stx_mask & STATX_MNT_ID) ? stx.stx_mnt_id : 0;
}

std::vector<std::string> sorted_names(int dirfd, const std::string& rel) {
  int d = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d < 0) fail_errno("open directory {}", rel);
  DIR* dir = ::fdopendir(d);
  if (!dir) {
    ::close(d);
    fail_errno("open directory {}", rel);
  }
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* de = ::readdir(dir)) {
    if (std::strcmp(de->d_name, ".") != 0 && std::strcmp(de->d_name, "..") != 0)
      names.emplace_back(de->d_name);
    errno = 0;
  }
  int err = errno;
  ::closedir(dir);
  if (err != 0) throw_errno("read directory " + rel, err);
  std::sort(names.begin(), names.end());
  return names;
}

void add_xattrs(archive_entry* e, int fd, const std::string& rel) {
  std::string names(4096, '\0');
  ssize_t n;
  for (;;) {
    n = ::flistxattr(fd, names.data(), names.size());
    if (n >= 0) break;
    if (errno == ENOTSUP || errno == EBADF) return;
    if (errno != ERANGE) fail_errno("list xattrs of {}", rel);
    names.resize(names.size() * 4);
  }
  for (size_t pos = 0; pos < static_cast<size_t>(n);) {
    const char* name = names.data() + pos;
    pos += std::strlen(name) + 1;
    std::string value(256, '\0');
    ssize_t v;
    for (;;) {
      v = ::fgetxattr(fd, name, value.data(), value.size());
      if (v >= 0 || errno == ENODATA) break;
      if (errno != ERANGE) fail_errno("read xattr {} of {}", name, rel);
      value.resize(value.size() * 4);
    }
    if (v >= 0) archive_entry_xattr_add_entry(e, name, value.data(), static_cast<size_t>(v));
  }
}

class TreeWriter {
 public:
  TreeWriter(int out_fd, uint64_t root_mnt) : sink_{out_fd, {}}, root_mnt_(root_mnt) {
    tar_.reset(archive_write_new());
    if (!tar_) fail("tar: out of memory");
    archive_write_set_format_pax_restricted(tar_.get());
    archive_write_set_bytes_in_last_block(tar_.get(), 1);
    if (archive_write_open2(tar_.get(), &sink_, nullptr, sink_write, nullptr, nullptr) !=
        ARCHIVE_OK)
      fail("tar: {}", archive_err(tar_.get()));
  }

  // The object `fd` (already opened without following a symlink; O_PATH for what is neither a
  // regular file nor a directory), stored as `rel` ("" = a directory's contents only).
  void object(int fd, const struct stat& st, const std::string& rel, int parent, const char* base);
  void close() {
    if (archive_write_close(tar_.get()) != ARCHIVE_OK)
      fail("tar: {}", sink_.error.empty() ? archive_err(tar_.get()) : sink_.error);
  }
  TreeTarStats stats;

 private:
  void children(int dirfd, const std::string& rel);
  void header(archive_entry* e, const std::string& rel) {
    if (archive_write_header(tar_.get(), e) < ARCHIVE_WARN)
      fail("tar: {}: {}", rel, sink_.error.empty() ? archive_err(tar_.get()) : sink_.error);
    ++stats.entries;
  }

  Sink sink_;
  uint64_t root_mnt_;
  WriteArchive tar_;
  std::map<std::pair<dev_t, ino_t>, std::string> links_;
  std::vector<char> buf_ = std::vector<char>(1 << 16);
};

void TreeWriter::object(int fd, const struct stat& st, const std::string& rel, int parent,
                        const char* base) {
  if (S_ISSOCK(st.st_mode)) return;
  const bool dir = S_ISDIR(st.st_mode);
  if (!rel.empty()) {
    Entry e(archive_entry_new());
    archive_entry_copy_stat(e.get(), &st);
    archive_entry_unset_atime(e.get());
    archive_entry_unset_ctime(e.get());
    archive_entry_unset_birthtime(e.get());
    archive_entry_set_pathname(e.get(), dir ? (rel + "/").c_str() : rel.c_str());
    if (!S_ISREG(st.st_mode)) archive_entry_set_size(e.get(), 0);
    if (S_ISLNK(st.st_mode)) {
      std::string target(PATH_MAX + 1, '\0');
      ssize_t len = parent >= 0 ? ::readlinkat(parent, base, target.data(), target.size())
                                : ::readlinkat(fd, "", target.data(), target.size());
      if (len < 0) fail_errno("readlink {}", rel);
      target.resize(static_cast<size_t>(len));
      archive_entry_set_symlink(e.get(), target.c_str());
    } else if (S_ISREG(st.st_mode) || dir) {
      add_xattrs(e.get(), fd, rel);
    }
    bool hardlink = false;
    if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
      auto [it, inserted] = links_.try_emplace({st.st_dev, st.st_ino}, rel);
      if (!inserted) {
        archive_entry_set_hardlink(e.get(), it->second.c_str());
        archive_entry_set_size(e.get(), 0);
        hardlink = true;
      }
    }
    header(e.get(), rel);
    if (S_ISREG(st.st_mode) && !hardlink) {
      off_t left = st.st_size;
      while (left > 0) {
        ssize_t r = retry_eintr([&] { return ::read(fd, buf_.data(), buf_.size()); });
        if (r < 0) fail_errno("read {}", rel);
        size_t len = r == 0 ? std::min(buf_.size(), static_cast<size_t>(left))
                            : std::min(static_cast<size_t>(r), static_cast<size_t>(left));
        if (r == 0) std::memset(buf_.data(), 0, len);  // it shrank meanwhile: zeros, as tar does
        if (archive_write_data(tar_.get(), buf_.data(), len) < 0)
          fail("tar: {}: {}", rel, archive_err(tar_.get()));
        left -= static_cast<off_t>(len);
        stats.bytes += len;
      }
    }
  }
  if (!dir) return;
  // What another mount (proc, a volume, a bind mount) shows on this directory is not the
  // tree's content.
  if (root_mnt_ != 0 && !rel.empty() && mount_id(fd) != root_mnt_) return;
  children(fd, rel);
}

void TreeWriter::children(int dirfd, const std::string& rel) {
  for (const auto& name : sorted_names(dirfd, rel.empty() ? "." : rel)) {
    std::string child = rel.empty() ? name : rel + "/" + name;
    struct stat st;
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno == ENOENT) continue;  // removed meanwhile
      fail_errno("stat {}", child);
    }
    int flags = O_NOFOLLOW | O_CLOEXEC;
    if (S_ISDIR(st.st_mode))
      flags |= O_RDONLY | O_DIRECTORY;
    else if (S_ISREG(st.st_mode))
      flags |= O_RDONLY | O_NONBLOCK | O_NOCTTY;
    else
      flags |= O_PATH;
    UniqueFd fd(::openat(dirfd, name.c_str(), flags));
    if (!fd) {
      if (errno == ENOENT) continue;
      fail_errno("open {}", child);
    }
    // Checked on the fd: what was listed may have been swapped meanwhile (for a symlink, say).
    struct stat now;
    if (::fstat(fd.get(), &now) < 0) fail_errno("stat {}", child);
    if ((now.st_mode & S_IFMT) != (st.st_mode & S_IFMT))
      fail("{} changed while being copied", child);
    object(fd.get(), now, child, dirfd, name.c_str());
  }
}

}  // namespace

TreeTarStats write_tree_tar(int src, const std::string& name, int out_fd) {
  struct stat st;
  if (::fstat(src, &st) < 0) fail_errno("stat {}", name.empty() ? "." : name);
  if (name.empty() && !S_ISDIR(st.st_mode)) fail("tar: the contents of a non-directory");
  UniqueFd fd;
  if (S_ISDIR(st.st_mode)) {
    fd.reset(::openat(src, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  } else if (S_ISREG(st.st_mode)) {
    // The magic link reopens exactly the inode behind `src`: nothing is resolved again.
    fd.reset(::open(("/proc/self/fd/" + std::to_string(src)).c_str(),
                    O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  } else {
    fd.reset(::fcntl(src, F_DUPFD_CLOEXEC, 3));
  }
  if (!fd) fail_errno("open {}", name.empty() ? "." : name);
  TreeWriter w(out_fd, mount_id(fd.get()));
  w.object(fd.get(), st, name, -1, nullptr);
  w.close();
  return w.stats;
}

}  // namespace vessel::image
