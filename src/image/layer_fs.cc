// Filesystem access beneath a root directory for layer unpacking and packing (layer_fs.h).
#include "image/layer_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "util/error.h"
#include "util/fd.h"
#include "util/file.h"

namespace vessel::image::layer_fs {

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
int open_beneath(int root, const std::string& rel, int flags, bool follow_symlinks) {
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

}  // namespace vessel::image::layer_fs
