// Layer tarballs. Reading and writing the tar format is libarchive's job; every filesystem
// write of an unpack is ours, made relative to directory fds that were opened with
// openat2(RESOLVE_BENEATH), so no path and no symlink in the archive can reach outside the
// target directory. Unpacking is here; packing in layer_pack.cc, the fd-relative helpers both use
// in layer_fs.cc.
#include "image/layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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
#include "image/layer_fs.h"
#include "util/error.h"
#include "util/file.h"
#include "util/progress.h"

namespace vessel::image {

using namespace layer_fs;

namespace {

// ---- unpacking -----------------------------------------------------------------------------

// Feeds the tar reader with the decompressed stream of a "raw" reader and hashes every byte
// it passes on: the diff_id is computed in the same pass as the extraction.
struct RawSource {
  struct archive* raw = nullptr;
  Sha256 hash;
  std::vector<char> buf = std::vector<char>(1 << 16);
  std::string error;
  bool eof = false;

  la_ssize_t next(const void** out) {
    if (eof) return 0;
    la_ssize_t n = archive_read_data(raw, buf.data(), buf.size());
    if (n < 0) {
      error = archive_err(raw);
      return -1;
    }
    if (n == 0) eof = true;
    hash.update(buf.data(), static_cast<size_t>(n));
    *out = buf.data();
    return n;
  }
  void drain() {
    const void* p;
    while (!eof)
      if (next(&p) < 0) fail("{}", error);
  }
};

la_ssize_t raw_source_read(struct archive* a, void* client, const void** out) {
  auto* src = static_cast<RawSource*>(client);
  la_ssize_t n = src->next(out);
  if (n < 0) archive_set_error(a, EIO, "%s", src->error.c_str());
  return n;
}

struct DeferredDir {
  std::string path;
  mode_t mode;
  struct timespec times[2];
  bool has_times;
};

// Whether this process is root of the host: uid 0 in the initial user namespace (whose
// uid_map maps all 2^32 ids onto themselves), not root of a user namespace of its own.
bool running_as_host_root() {
  if (::geteuid() != 0) return false;
  int fd = ::open("/proc/self/uid_map", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return true;
  char buf[128] = {0};
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  unsigned long inside = 1, outside = 1, count = 0;
  if (n <= 0 || std::sscanf(buf, "%lu %lu %lu", &inside, &outside, &count) != 3) return true;
  return inside == 0 && outside == 0 && count == 4294967295ul;
}

// Whether this process may give files away: root, or the creator of a user namespace in which
// the user is not root (a --userns=keep-id mapping), who keeps every capability there.
bool can_chown() {
  if (::geteuid() == 0) return true;
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (::syscall(SYS_capget, &header, data) != 0) return false;
  return (data[0].effective & (1u << CAP_CHOWN)) != 0;
}

class Unpacker {
 public:
  Unpacker(int root, const UnpackOptions& opts)
      : root_(root), opts_(opts), host_root_(running_as_host_root()), can_chown_(can_chown()) {}

  void entry(struct archive* a, archive_entry* e, UnpackStats& stats);
  void finish();

 private:
  UniqueFd parent_dir(const std::vector<std::string>& comps, bool create);
  void whiteout(const std::vector<std::string>& comps, const std::string& base);
  void make_room(int dirfd, const std::string& name, bool keep_dir);
  void set_owner(int fd, const char* name, archive_entry* e, int flags);
  void set_xattrs(int fd, archive_entry* e, bool special);
  static bool entry_times(archive_entry* e, struct timespec times[2]);
  bool created_under(const std::string& path) const;

  int root_;
  const UnpackOptions& opts_;
  // Root of the host (not an ordinary user, nor root of a user's user namespace, where
  // rootless vessel unpacks its layers): may make devices and set trusted.* attributes.
  bool host_root_;
  bool can_chown_;
  std::set<std::string> created_;  // paths this layer put in place (for opaque in Apply mode)
  std::vector<DeferredDir> dirs_;  // directory modes and mtimes, set at the end
};

UniqueFd Unpacker::parent_dir(const std::vector<std::string>& comps, bool create) {
  size_t n = comps.size() - 1;
  std::string rel = join(comps, n);
  int fd = open_beneath(root_, rel, O_RDONLY | O_DIRECTORY);
  if (fd >= 0) return UniqueFd(fd);
  if (errno != ENOENT || !create) {
    if (errno == ENOENT) return UniqueFd();
    fail_open("parent directory", rel, errno);
  }
  // Create the missing directories one at a time, each under one that was opened beneath
  // the root.
  UniqueFd cur(open_beneath(root_, "", O_RDONLY | O_DIRECTORY));
  if (!cur) fail_errno("open root");
  for (size_t i = 0; i < n; ++i) {
    std::string prefix = join(comps, i + 1);
    fd = open_beneath(root_, prefix, O_RDONLY | O_DIRECTORY);
    if (fd < 0 && errno == ENOENT) {
      if (::mkdirat(cur.get(), comps[i].c_str(), 0755) < 0 && errno != EEXIST)
        fail_errno("mkdir \"{}\"", prefix);
      created_.insert(prefix);
      fd = open_beneath(root_, prefix, O_RDONLY | O_DIRECTORY);
    }
    if (fd < 0) fail_open("parent directory", prefix, errno);
    cur.reset(fd);
  }
  return cur;
}

bool Unpacker::created_under(const std::string& path) const {
  if (created_.count(path)) return true;
  std::string prefix = path + "/";
  auto it = created_.lower_bound(prefix);
  return it != created_.end() && it->compare(0, prefix.size(), prefix) == 0;
}

void Unpacker::whiteout(const std::vector<std::string>& comps, const std::string& base) {
  std::string dir = join(comps, comps.size() - 1);
  bool overlay = opts_.whiteouts == WhiteoutMode::Overlay;
  UniqueFd parent = parent_dir(comps, overlay);
  if (!parent) return;  // Apply mode: nothing below to hide
  if (base == kOpaqueMarker) {
    if (overlay) {
      // An ordinary user's layers are stacked by an overlay mounted in a user namespace
      // (option userxattr), which reads the user.overlay.* names instead.
      const char* opaque = host_root_ ? "trusted.overlay.opaque" : "user.overlay.opaque";
      if (::fsetxattr(parent.get(), opaque, "y", 1, 0) < 0)
        fail_errno("set {} on \"{}\"", opaque, dir.empty() ? "/" : dir);
      return;
    }
    for (const auto& child : list_dir(parent.get())) {
      std::string path = dir.empty() ? child : dir + "/" + child;
      if (!created_under(path)) remove_at(parent.get(), child);
    }
    return;
  }
  if (base.rfind(kWhiteoutMetaPrefix, 0) == 0) return;  // other aufs metadata: not content
  std::string name = base.substr(kWhiteoutPrefix.size());
  if (name.empty() || name == "." || name == "..") fail("invalid whiteout name");
  remove_at(parent.get(), name);
  if (overlay) {
    if (::mknodat(parent.get(), name.c_str(), S_IFCHR, makedev(0, 0)) < 0)
      fail_errno("create whiteout device \"{}\"", name);
  }
}

// Clears the way for a new entry `name`: a non-directory is removed; a directory is removed
// (whole tree) unless the new entry is a directory too (`keep_dir`).
void Unpacker::make_room(int dirfd, const std::string& name, bool keep_dir) {
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT) return;
    fail_errno("stat existing");
  }
  if (S_ISDIR(st.st_mode) && keep_dir) return;
  remove_at(dirfd, name);
}

void Unpacker::set_owner(int fd, const char* name, archive_entry* e, int flags) {
  // An ordinary user (rootless vessel) cannot give files away: they stay the user's.
  if (!opts_.same_owner || !can_chown_) return;
  auto uid = static_cast<uid_t>(archive_entry_uid(e));
  auto gid = static_cast<gid_t>(archive_entry_gid(e));
  if (::fchownat(fd, name, uid, gid, flags) < 0) {
    // In a user's user namespace, an id beyond its mapping (65536 ids) cannot be given: the
    // file stays the namespace's root's (the user's), as an ordinary user's unpack leaves it.
    if (errno == EINVAL && !host_root_) return;
    fail_errno("chown to {}:{}", uid, gid);
  }
}

void Unpacker::set_xattrs(int fd, archive_entry* e, bool special) {
  if (archive_entry_xattr_reset(e) == 0) return;
  const char* name;
  const void* value;
  size_t size;
  // Special files (fifos, devices) cannot be opened for fsetxattr: go through the O_PATH fd's
  // /proc entry, which is safe because the fd pins the inode (never a symlink here).
  std::string proc = fmt::format("/proc/self/fd/{}", fd);
  while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
    std::string_view n = name;
    // Overlay metadata would let a layer steer overlayfs (redirects, opaque dirs): never taken
    // from content.
    if (n.rfind("trusted.overlay.", 0) == 0 || n.rfind("user.overlay.", 0) == 0) continue;
    int r = special ? ::setxattr(proc.c_str(), name, value, size, 0)
                    : ::fsetxattr(fd, name, value, size, 0);
    if (r < 0) {
      if (errno == ENOTSUP || (errno == EPERM && (special || !opts_.same_owner || !host_root_)))
        continue;
      fail_errno("set xattr {}", name);
    }
  }
}

bool Unpacker::entry_times(archive_entry* e, struct timespec times[2]) {
  if (!archive_entry_mtime_is_set(e)) return false;
  times[1].tv_sec = archive_entry_mtime(e);
  times[1].tv_nsec = archive_entry_mtime_nsec(e);
  if (archive_entry_atime_is_set(e)) {
    times[0].tv_sec = archive_entry_atime(e);
    times[0].tv_nsec = archive_entry_atime_nsec(e);
  } else {
    times[0] = times[1];
  }
  return true;
}

void Unpacker::entry(struct archive* a, archive_entry* e, UnpackStats& stats) {
  const char* raw_name = archive_entry_pathname(e);
  std::vector<std::string> comps = split_entry_path(raw_name ? raw_name : "");
  std::string path = join(comps, comps.size());
  mode_t perm = archive_entry_perm(e) & 07777;
  struct timespec times[2];
  bool has_times = entry_times(e, times);

  if (comps.empty()) {  // the root itself ("./"): its metadata only
    if (archive_entry_filetype(e) != AE_IFDIR) fail("the root entry is not a directory");
    set_owner(root_, "", e, AT_EMPTY_PATH);
    set_xattrs(root_, e, false);
    dirs_.push_back({"", perm, {times[0], times[1]}, has_times});
    return;
  }
  const std::string& base = comps.back();
  if (opts_.interpret_whiteouts && base.rfind(kWhiteoutPrefix, 0) == 0) {
    whiteout(comps, base);
    return;
  }

  UniqueFd parent = parent_dir(comps, true);
  int dfd = parent.get();
  const char* bname = base.c_str();

  if (const char* link = archive_entry_hardlink(e)) {
    std::vector<std::string> tcomps = split_entry_path(link);
    std::string target = join(tcomps, tcomps.size());
    if (tcomps.empty()) fail("hard link to the root");
    if (target == path) return;  // a link to itself: the file is already there
    UniqueFd tparent(open_beneath(root_, join(tcomps, tcomps.size() - 1), O_RDONLY | O_DIRECTORY));
    if (!tparent) fail_open("hard link target", target, errno);
    struct stat st;
    if (::fstatat(tparent.get(), tcomps.back().c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
      fail_errno("hard link target \"{}\"", target);
    if (S_ISDIR(st.st_mode)) fail("hard link target \"{}\" is a directory", target);
    make_room(dfd, base, false);
    if (::linkat(tparent.get(), tcomps.back().c_str(), dfd, bname, 0) < 0)
      fail_errno("hard link to \"{}\"", target);
    created_.insert(path);
    return;
  }

  switch (archive_entry_filetype(e)) {
    case AE_IFREG: {
      make_room(dfd, base, false);
      UniqueFd fd(::openat(dfd, bname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
      if (!fd) fail_errno("create file");
      created_.insert(path);
      const void* buf;
      size_t size;
      la_int64_t offset;
      for (;;) {
        int r = archive_read_data_block(a, &buf, &size, &offset);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN) fail("read content: {}", archive_err(a));
        const char* p = static_cast<const char*>(buf);
        auto off = static_cast<off_t>(offset);
        while (size > 0) {
          ssize_t n = retry_eintr([&] { return ::pwrite(fd.get(), p, size, off); });
          if (n < 0) fail_errno("write");
          p += n;
          off += n;
          size -= static_cast<size_t>(n);
          stats.bytes += static_cast<uint64_t>(n);
        }
      }
      if (archive_entry_size_is_set(e) && ::ftruncate(fd.get(), archive_entry_size(e)) < 0)
        fail_errno("truncate");
      set_owner(fd.get(), "", e, AT_EMPTY_PATH);
      if (::fchmod(fd.get(), perm) < 0) fail_errno("chmod");
      set_xattrs(fd.get(), e, false);
      if (has_times && ::futimens(fd.get(), times) < 0) fail_errno("set times");
      return;
    }
    case AE_IFDIR: {
      make_room(dfd, base, true);
      if (::mkdirat(dfd, bname, 0700) < 0 && errno != EEXIST) fail_errno("mkdir");
      created_.insert(path);
      UniqueFd fd(::openat(dfd, bname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd) fail_errno("open directory");
      set_owner(fd.get(), "", e, AT_EMPTY_PATH);
      set_xattrs(fd.get(), e, false);
      dirs_.push_back({path, perm, {times[0], times[1]}, has_times});
      return;
    }
    case AE_IFLNK: {
      const char* target = archive_entry_symlink(e);
      make_room(dfd, base, false);
      // Stored as is, wherever it points: nothing here ever follows it.
      if (::symlinkat(target ? target : "", dfd, bname) < 0) fail_errno("symlink");
      created_.insert(path);
      set_owner(dfd, bname, e, AT_SYMLINK_NOFOLLOW);
      if (has_times && ::utimensat(dfd, bname, times, AT_SYMLINK_NOFOLLOW) < 0)
        fail_errno("set times");
      return;
    }
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO: {
      make_room(dfd, base, false);
      mode_t type = archive_entry_filetype(e);
      dev_t dev = type == AE_IFIFO ? 0 : archive_entry_rdev(e);
      if (::mknodat(dfd, bname, type | 0600, dev) < 0) {
        // Device nodes are root's: an ordinary user's copy goes without them (the runtime
        // gives a container its standard devices anyway).
        if (errno == EPERM && type != AE_IFIFO && !host_root_) return;
        fail_errno("mknod");
      }
      created_.insert(path);
      UniqueFd fd(::openat(dfd, bname, O_PATH | O_NOFOLLOW | O_CLOEXEC));
      if (!fd) fail_errno("open");
      set_owner(fd.get(), "", e, AT_EMPTY_PATH);
      std::string proc = fmt::format("/proc/self/fd/{}", fd.get());
      if (::chmod(proc.c_str(), perm) < 0) fail_errno("chmod");
      set_xattrs(fd.get(), e, true);
      if (has_times && ::utimensat(fd.get(), "", times, AT_EMPTY_PATH) < 0) {
        // utimensat with AT_EMPTY_PATH needs a newer kernel; the name works the same here.
        if (::utimensat(dfd, bname, times, AT_SYMLINK_NOFOLLOW) < 0) fail_errno("set times");
      }
      return;
    }
    case AE_IFSOCK:
      return;  // sockets are not content
    default:
      fail("unsupported entry type {:o}", archive_entry_filetype(e));
  }
}

void Unpacker::finish() {
  // Modes and mtimes of directories last: creating their children changed the mtimes, and a
  // read-only directory would have refused the children.
  for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
    UniqueFd fd(open_beneath(root_, it->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, false));
    if (!fd) continue;  // replaced by a later entry
    if (::fchmod(fd.get(), it->mode) < 0) fail_errno("chmod directory \"{}\"", it->path);
    if (it->has_times && ::futimens(fd.get(), it->times) < 0)
      fail_errno("set times of directory \"{}\"", it->path);
  }
}

}  // namespace

UnpackStats unpack_layer(const std::string& archive_path, const std::string& target,
                         const UnpackOptions& opts) {
  UniqueFd in = open_or_throw(archive_path, O_RDONLY);
  UniqueFd root = open_or_throw(target, O_RDONLY | O_DIRECTORY);
  return unpack_tar_fd(in.get(), root.get(), archive_path, opts);
}

UnpackStats unpack_tar_fd(int in_fd, int target_fd, const std::string& archive_path,
                          const UnpackOptions& opts) {
  UniqueFd root(::openat(target_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root) fail_errno("unpack {}: open the target directory", archive_path);
  ReadArchive raw(archive_read_new());
  if (!raw) fail("unpack {}: out of memory", archive_path);
  archive_read_support_filter_all(raw.get());
  archive_read_support_format_raw(raw.get());
  if (archive_read_open_fd(raw.get(), in_fd, 1 << 16) != ARCHIVE_OK)
    fail("unpack {}: {}", archive_path, archive_err(raw.get()));
  archive_entry* raw_entry;
  int r = archive_read_next_header(raw.get(), &raw_entry);
  if (r == ARCHIVE_EOF) fail("unpack {}: empty file", archive_path);
  if (r < ARCHIVE_WARN) fail("unpack {}: {}", archive_path, archive_err(raw.get()));

  RawSource source;
  source.raw = raw.get();
  ReadArchive tar(archive_read_new());
  if (!tar) fail("unpack {}: out of memory", archive_path);
  archive_read_support_format_tar(tar.get());
  if (archive_read_open2(tar.get(), &source, nullptr, raw_source_read, nullptr, nullptr) !=
      ARCHIVE_OK)
    fail("unpack {}: {}", archive_path, archive_err(tar.get()));

  UnpackStats stats;
  Unpacker unpacker(root.get(), opts);
  for (;;) {
    archive_entry* e;
    r = archive_read_next_header(tar.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN)
      fail("unpack {}: not a valid layer: {}", archive_path, archive_err(tar.get()));
    if (++stats.entries > opts.max_entries)
      fail("unpack {}: more than {} entries, refused", archive_path, opts.max_entries);
    const char* name = archive_entry_pathname(e);
    try {
      unpacker.entry(tar.get(), e, stats);
    } catch (const Error& err) {
      throw Error(
          fmt::format("unpack {}: entry \"{}\": {}", archive_path, name ? name : "", err.what()),
          err.error_code());
    }
  }
  unpacker.finish();
  try {
    source.drain();
  } catch (const Error& err) {
    fail("unpack {}: {}", archive_path, err.what());
  }
  stats.diff_id = source.hash.digest();
  return stats;
}

}  // namespace vessel::image
