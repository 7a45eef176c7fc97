// Layer tarballs. Reading and writing the tar format is libarchive's job; every filesystem
// write of an unpack is ours, made relative to directory fds that were opened with
// openat2(RESOLVE_BENEATH), so no path and no symlink in the archive can reach outside the
// target directory.
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
#include "util/error.h"
#include "util/file.h"
#include "util/progress.h"

namespace vessel::image {

namespace {

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

std::string archive_err(struct archive* a) {
  const char* s = archive_error_string(a);
  return s ? s : "unknown libarchive error";
}

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";
constexpr std::string_view kWhiteoutMetaPrefix = ".wh..wh.";

// ---- paths ---------------------------------------------------------------------------------

// An entry name as components under the root: a leading "/" is dropped (as tar does), "." and
// empty components are dropped, ".." removes the previous component and may never climb above
// the root.
std::vector<std::string> split_entry_path(std::string_view name) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= name.size()) {
    size_t end = name.find('/', pos);
    if (end == std::string_view::npos) end = name.size();
    std::string_view comp = name.substr(pos, end - pos);
    pos = end + 1;
    if (comp.empty() || comp == ".") continue;
    if (comp == "..") {
      if (out.empty()) fail("path \"{}\" climbs above the root with \"..\"", name);
      out.pop_back();
      continue;
    }
    out.emplace_back(comp);
  }
  return out;
}

std::string join(const std::vector<std::string>& comps, size_t n) {
  std::string s;
  for (size_t i = 0; i < n && i < comps.size(); ++i) {
    if (!s.empty()) s += '/';
    s += comps[i];
  }
  return s;
}

bool openat2_supported() {
  static const bool supported = [] {
    struct open_how how {};
    how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH;
    long fd = ::syscall(SYS_openat2, AT_FDCWD, ".", &how, sizeof how);
    if (fd >= 0) {
      ::close(static_cast<int>(fd));
      return true;
    }
    return errno != ENOSYS;
  }();
  return supported;
}

// Opens the directory `rel` (components, "" = the root itself) under `root` without leaving
// it: with openat2 symlinks inside the root are followed only while they stay beneath it
// (absolute symlinks and ".." out fail with EXDEV); without openat2 every component is opened
// with O_NOFOLLOW, so no symlink is followed at all. Returns -1 with errno set on failure.
int open_beneath(int root, const std::string& rel, int flags, bool follow_symlinks = true) {
  std::string path = rel.empty() ? "." : rel;
  if (openat2_supported()) {
    struct open_how how {};
    how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    if (!follow_symlinks) how.resolve |= RESOLVE_NO_SYMLINKS;
    return retry_eintr([&] {
      return static_cast<int>(::syscall(SYS_openat2, root, path.c_str(), &how, sizeof how));
    });
  }
  std::vector<std::string> comps;
  try {
    comps = split_entry_path(rel);
  } catch (const Error&) {
    errno = EXDEV;
    return -1;
  }
  UniqueFd cur(::openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cur) return -1;
  for (size_t i = 0; i < comps.size(); ++i) {
    int f = (i + 1 == comps.size()) ? flags : (O_RDONLY | O_DIRECTORY);
    int fd = ::openat(cur.get(), comps[i].c_str(), f | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return -1;
    cur.reset(fd);
  }
  return cur.release();
}

[[noreturn]] void fail_open(const std::string& what, const std::string& rel, int err) {
  if (err == EXDEV || err == ELOOP)
    fail("{} \"{}\" leads outside the root (through a symlink or \"..\")", what, rel);
  if (err == ENOTDIR) fail("{} \"{}\": a component is not a directory", what, rel);
  throw_errno(fmt::format("open {} \"{}\"", what, rel), err);
}

// ---- removal -------------------------------------------------------------------------------

std::vector<std::string> list_dir(int dirfd) {
  int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail_errno("open directory");
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    fail_errno("fdopendir");
  }
  std::unique_ptr<DIR, int (*)(DIR*)> guard(d, ::closedir);
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* de = ::readdir(d)) {
    std::string_view n = de->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
    errno = 0;
  }
  if (errno != 0) fail_errno("readdir");
  return names;
}

// Removes `name` in `dirfd` (a whole tree for a directory) without following any symlink.
void remove_at(int dirfd, const std::string& name) {
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT) return;
    fail_errno("stat {}", name);
  }
  if (S_ISDIR(st.st_mode)) {
    UniqueFd sub(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub) fail_errno("open {}", name);
    for (const auto& child : list_dir(sub.get())) remove_at(sub.get(), child);
    if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) < 0 && errno != ENOENT)
      fail_errno("remove directory {}", name);
  } else if (::unlinkat(dirfd, name.c_str(), 0) < 0 && errno != ENOENT) {
    fail_errno("remove {}", name);
  }
}

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
