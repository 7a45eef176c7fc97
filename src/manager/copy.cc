#include "manager/copy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <ctime>
#include <memory>
#include <optional>
#include <thread>

#include "image/layer.h"
#include "image/tree_tar.h"
#include "manager/container_tree.h"
#include "manager/containers.h"
#include "manager/rootfs.h"
#include "manager/rootfs_keep_id.h"
#include "manager/rootless.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif

namespace vessel::manager {

namespace {

// ---- the container's root ----------------------------------------------------------------

// A container's root filesystem, open: a private clone of the rootfs mount (without what is
// mounted below it), or the directory itself where the kernel cannot clone. A stopped
// container's overlay is mounted for the time of the copy and unmounted after.
class ContainerRoot {
 public:
  ContainerRoot(Store& store, const std::string& ref) : store_(store) {
    auto c = find_or_fail(store, ref);
    id_ = c.id;
    name_ = c.name;
    dir_ = container_dir(store, c.id);
    // An ordinary user's overlay is mounted in the container's own mount namespace only: a
    // running container's root is reached through its init; a stopped one has none.
    if (::geteuid() != 0 && container_storage_driver(dir_) == "overlay") {
      if (c.pid <= 0 || (c.state != "running" && c.state != "paused"))
        fail(
            "container {} is not running: a user's overlay root filesystem is mounted only "
            "while its container runs",
            c.name);
      std::string root = "/proc/" + std::to_string(c.pid) + "/root";
      userns_pid_ = c.pid;
      fd_.reset(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (!fd_)
        throw_errno("opening the root filesystem of container " + c.name + " (" + root + ")",
                    errno);
      // Through the init's root its volumes and bind mounts are where the container has them.
      tree_ = std::make_unique<ContainerTree>(fd_.get(), std::vector<ContainerTree::Mount>{});
      return;
    }
    // A stopped keep-id container's files are seen through its own mapping.
    if (is_keep_id_rootfs(dir_)) keep_id_ = keep_id_mappings();
    if (!rootfs_mounted(dir_)) {
      auto img = store.image_by_id(c.image_id);
      if (!img) fail("the image of container {} is gone", c.name);
      mount_rootfs(store, *img, dir_, false);
      mounted_here_ = container_storage_driver(dir_) == "overlay";
    }
    std::string rootfs = dir_ + "/rootfs";
    fd_.reset(static_cast<int>(
        ::syscall(SYS_open_tree, AT_FDCWD, rootfs.c_str(), OPEN_TREE_CLONE | O_CLOEXEC)));
    if (!fd_) fd_.reset(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!fd_) {
      int err = errno;
      release();
      throw_errno("opening the root filesystem of container " + c.name, err);
    }
    try {
      tree_ =
          std::make_unique<ContainerTree>(fd_.get(), container_bind_mounts(dir_ + "/config.json"));
    } catch (...) {
      release();
      throw;
    }
  }
  ContainerRoot(const ContainerRoot&) = delete;
  ContainerRoot& operator=(const ContainerRoot&) = delete;
  ~ContainerRoot() { release(); }

  int fd() const { return fd_.get(); }
  // A running user's overlay container's init (whose user namespace a copy joins), else 0.
  pid_t userns_pid() const { return userns_pid_; }
  // Else the mapping of the user namespace to make for it: a keep-id container's, or nullptr
  // for the user's.
  const RootlessMappings* userns_mappings() const { return keep_id_ ? &*keep_id_ : nullptr; }
  const std::string& name() const { return name_; }
  // The root filesystem with the container's volumes and bind mounts over it.
  const ContainerTree& tree() const { return *tree_; }

 private:
  void release() {
    fd_.reset();
    if (!mounted_here_) return;
    mounted_here_ = false;
    try {
      // Started meanwhile: the container uses this mount now.
      auto c = store_.container_by_id(id_);
      if (c && (c->state == "running" || c->state == "paused" || c->state == "restarting" ||
                monitor_alive(*c)))
        return;
      unmount_rootfs(dir_);
    } catch (const std::exception& e) {
      log::warn(e.what());
    }
  }

  Store& store_;
  std::string id_, name_, dir_;
  UniqueFd fd_;
  std::unique_ptr<ContainerTree> tree_;
  bool mounted_here_ = false;
  pid_t userns_pid_ = 0;
  std::optional<RootlessMappings> keep_id_;
};

// ---- resolution ----------------------------------------------------------------------------

// One side's namespace of paths: the host (no tree: relative paths from the working
// directory), or a container's tree (every path inside it, ".." and absolute symlinks stopped
// at its "/", volumes and bind mounts where the container has them).
struct Side {
  const ContainerTree* tree = nullptr;
  std::string container;  // for messages

  std::string show(const std::string& path) const { return tree ? container + ":" + path : path; }

  // An O_PATH fd of `path`; errno and an invalid fd when it cannot be opened. `readonly`
  // (when given) says whether it lies in a read-only mount of the container.
  UniqueFd open(const std::string& path, bool follow, bool* readonly = nullptr,
                const ContainerTree::Mount** mount = nullptr) const {
    if (readonly) *readonly = false;
    if (mount) *mount = nullptr;
    if (!tree) {
      return UniqueFd(::openat(AT_FDCWD, path.empty() ? "." : path.c_str(),
                               O_PATH | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW)));
    }
    auto r = tree->resolve(path, follow);
    if (!r.fd) errno = r.error;
    if (readonly) *readonly = r.readonly;
    if (mount) *mount = r.mount;
    return std::move(r.fd);
  }
};

std::string strip_trailing_slashes(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

std::string dirname_of(const std::string& p) {
  size_t i = p.rfind('/');
  if (i == std::string::npos) return "";
  if (i == 0) return "/";
  return p.substr(0, i);
}

std::string basename_of(const std::string& p) {
  size_t i = p.rfind('/');
  return i == std::string::npos ? p : p.substr(i + 1);
}

struct Source {
  UniqueFd fd;
  struct stat st {};
  std::string name;  // entry name for the copy: the source's base name ("" = contents only)
  bool contents_only = false;
};

Source resolve_source(const Side& side, const std::string& path, bool follow) {
  Source s;
  bool trailing = !path.empty() && path.back() == '/';
  std::string p = path;
  if (p == "." || (p.size() >= 2 && p.compare(p.size() - 2, 2, "/.") == 0)) {
    s.contents_only = true;
    p = p.size() > 1 ? p.substr(0, p.size() - 1) : ".";
    trailing = true;
  }
  p = strip_trailing_slashes(p);
  s.fd = side.open(p, follow || trailing);
  if (!s.fd) fail_errno("{}: cannot open the source", side.show(path));
  if (::fstat(s.fd.get(), &s.st) < 0) fail_errno("{}: stat", side.show(path));
  if (trailing && !S_ISDIR(s.st.st_mode)) fail("{}: not a directory", side.show(path));
  std::string base = basename_of(p);
  if (base.empty() || base == "." || base == ".." || p == "/") s.contents_only = true;
  s.name = s.contents_only ? "" : base;
  return s;
}

struct Dest {
  UniqueFd dir;      // the directory the copy lands in
  std::string name;  // the name to create there ("" = the directory itself exists)
  bool exists = false;
  bool is_dir = false;
  bool readonly = false;  // in a read-only volume or bind mount of the container
};

// Follows symlinks in the destination as the copy would (inside the side's root), and stops
// at the last directory that exists: a missing destination is created by the copy.
Dest resolve_dest(const Side& side, const std::string& path) {
  std::string p = strip_trailing_slashes(path.empty() ? "/" : path);
  for (int links = 0; links < 40; ++links) {
    std::string base = basename_of(p);
    if (p == "/" || base.empty() || base == "." || base == "..") {
      Dest d;
      d.dir = side.open(p, true, &d.readonly);
      if (!d.dir) fail_errno("{}: cannot open the destination", side.show(path));
      struct stat st;
      if (::fstat(d.dir.get(), &st) < 0 || !S_ISDIR(st.st_mode))
        fail("{}: not a directory", side.show(path));
      d.exists = d.is_dir = true;
      return d;
    }
    std::string parent = dirname_of(p);
    bool parent_ro = false;
    UniqueFd dir = side.open(parent, true, &parent_ro);
    if (!dir)
      fail_errno("{}: the destination's directory {} cannot be opened", side.show(path),
                 parent.empty() ? "." : parent);
    struct stat st;
    if (::fstat(dir.get(), &st) < 0 || !S_ISDIR(st.st_mode))
      fail("{}: {} is not a directory", side.show(path), parent);
    // The last component through the side too: it may be a volume's or a bind's destination.
    bool ro = false;
    const ContainerTree::Mount* mount = nullptr;
    UniqueFd last = side.open(p, false, &ro, &mount);
    if (!last) {
      if (errno != ENOENT) fail_errno("{}: stat", side.show(path));
      return Dest{std::move(dir), base, false, false, parent_ro};
    }
    if (::fstat(last.get(), &st) < 0) fail_errno("{}: stat", side.show(path));
    if (S_ISLNK(st.st_mode)) {
      char target[PATH_MAX];
      ssize_t n = ::readlinkat(last.get(), "", target, sizeof target - 1);
      if (n < 0) fail_errno("{}: readlink", side.show(path));
      target[n] = '\0';
      std::string t = strip_trailing_slashes(target);
      if (t.empty()) fail("{}: an empty symlink", side.show(path));
      p = t[0] == '/' ? t : (parent.empty() ? t : parent + "/" + t);
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      Dest d;
      d.dir.reset(::openat(last.get(), ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (!d.dir) fail_errno("{}: open", side.show(path));
      d.exists = d.is_dir = true;
      d.readonly = ro;
      return d;
    }
    if (mount) {
      // A file bound in from the host: it is replaced where it lives, in the source's
      // directory (an administrator's path, trusted as the mount itself is).
      UniqueFd src_dir(
          ::open(dirname_of(mount->source).empty() ? "." : dirname_of(mount->source).c_str(),
                 O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (!src_dir) fail_errno("{}: open the directory of {}", side.show(path), mount->source);
      return Dest{std::move(src_dir), basename_of(mount->source), true, false, ro};
    }
    return Dest{std::move(dir), base, true, false, parent_ro};
  }
  fail("{}: too many levels of symbolic links", side.show(path));
}

// Streams the tree behind `src` as `name` into the directory `target` through a pipe: a
// thread writes the tar, this one unpacks it (every write under `target`, see unpack_tar_fd).
void transfer(int src, const std::string& name, int target, const std::string& what,
              bool same_owner) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) fail_errno("pipe");
  UniqueFd rd(p[0]), wr(p[1]);
  // The side that failed first says why: the other one fails only because of it (a cut
  // stream, a closed pipe).
  std::atomic<int> first_failure{0};
  std::string writer_error;
  std::thread writer([&] {
    try {
      image::write_tree_tar(src, name, wr.get());
    } catch (const std::exception& e) {
      writer_error = e.what();
      int none = 0;
      first_failure.compare_exchange_strong(none, 1);
    }
    wr.reset();
  });
  std::string reader_error;
  try {
    image::UnpackOptions o;
    o.same_owner = same_owner;
    o.interpret_whiteouts = false;
    image::unpack_tar_fd(rd.get(), target, what, o);
  } catch (const std::exception& e) {
    reader_error = e.what();
    int none = 0;
    first_failure.compare_exchange_strong(none, 2);
  }
  rd.reset();  // a writer still going gets EPIPE
  writer.join();
  if (first_failure == 1) fail("{}", writer_error);
  if (first_failure == 2) fail("{}", reader_error);
}

}  // namespace

CopyEndpoint CopyEndpoint::parse(const std::string& arg) {
  CopyEndpoint e;
  if (arg == "-") {
    e.stream = true;
    return e;
  }
  size_t colon = arg.find(':');
  bool local = arg.empty() || arg[0] == '/' || arg[0] == '.' || colon == std::string::npos ||
               arg.find('/') < colon;
  if (local) {
    e.path = arg;
    return e;
  }
  e.container = arg.substr(0, colon);
  e.path = arg.substr(colon + 1);
  if (e.container.empty()) fail("{}: no container name before \":\"", arg);
  if (e.path.empty()) e.path = "/";
  return e;
}

namespace {
void copy_in_root(ContainerRoot& root, const CopyEndpoint& src, const CopyEndpoint& dest,
                  const CopyOptions& opts);
}  // namespace

void copy_files(Store& store, const CopyEndpoint& src, const CopyEndpoint& dest,
                const CopyOptions& opts) {
  if (src.stream && dest.stream) fail("cp: source and destination cannot both be \"-\"");
  if (src.container.empty() && dest.container.empty())
    fail("cp: one of SRC and DEST must be a container path (NAME:PATH)");
  if (!src.container.empty() && !dest.container.empty())
    fail("cp: copying from one container to another is not supported");
  if (!src.stream && src.path.empty()) fail("cp: the source path is empty");
  if (!dest.stream && dest.path.empty()) fail("cp: the destination path is empty");

  const bool from_container = !src.container.empty();
  ContainerRoot root(store, from_container ? src.container : dest.container);
  // An ordinary user copies from the container's user namespace (a running overlay
  // container's own, else one with the same mapping): the files' ids are the container's, and
  // container root may read and give them (manager/store_userns.h).
  in_user_namespace_or_throw(
      "",
      [&] {
        copy_in_root(root, src, dest, opts);
        return std::string();
      },
      root.userns_pid(), root.userns_mappings());
}

namespace {

void copy_in_root(ContainerRoot& root, const CopyEndpoint& src, const CopyEndpoint& dest,
                  const CopyOptions& opts) {
  const bool from_container = !src.container.empty();
  Side inside{&root.tree(), root.name()};
  Side host{nullptr, ""};
  const Side& src_side = from_container ? inside : host;
  const Side& dest_side = from_container ? host : inside;

  if (src.stream) {  // a tar on stdin, unpacked into a directory of the container
    Dest d = resolve_dest(dest_side, dest.path);
    if (!d.exists || !d.is_dir)
      fail("{}: the destination must be an existing directory when the source is \"-\"",
           dest_side.show(dest.path));
    if (d.readonly) fail("{}: a read-only mount of the container", dest_side.show(dest.path));
    image::UnpackOptions o;
    o.same_owner = opts.archive;
    o.interpret_whiteouts = false;
    image::unpack_tar_fd(src.fd >= 0 ? src.fd : STDIN_FILENO, d.dir.get(),
                         src.fd >= 0 ? "the tar stream" : "stdin", o);
    return;
  }

  Source s = resolve_source(src_side, src.path, opts.follow_link);
  if (dest.stream) {  // a tar of the source on stdout
    image::write_tree_tar(s.fd.get(), s.name, dest.fd >= 0 ? dest.fd : STDOUT_FILENO);
    return;
  }

  const bool src_dir = S_ISDIR(s.st.st_mode);
  const bool dest_trailing = dest.path.size() > 1 && dest.path.back() == '/';
  Dest d = resolve_dest(dest_side, dest.path);
  if (d.readonly) fail("{}: a read-only mount of the container", dest_side.show(dest.path));
  std::string name;
  if (d.exists && d.is_dir) {
    name = s.name;  // into the directory, under the source's own name ("" = its contents)
  } else if (d.exists) {
    if (src_dir)
      fail("cannot copy the directory {} onto the file {}", src_side.show(src.path),
           dest_side.show(dest.path));
    if (dest_trailing) fail("{}: not a directory", dest_side.show(dest.path));
    name = d.name;  // overwrite the file
  } else {
    if (dest_trailing && !src_dir)
      fail("{}: the destination directory does not exist", dest_side.show(dest.path));
    name = d.name;  // created: the file, or a directory with the source's contents
  }
  if (name.empty() && !src_dir) fail("cp: nothing to name the copy of {}", src.path);
  transfer(s.fd.get(), name, d.dir.get(), dest_side.show(dest.path), opts.archive);
}

}  // namespace

PathStat stat_container_path(Store& store, const std::string& ref, const std::string& path) {
  ContainerRoot root(store, ref);
  Side inside{&root.tree(), root.name()};
  std::string p = strip_trailing_slashes(path.empty() ? "/" : path);
  UniqueFd fd = inside.open(p, false);
  if (!fd && (errno == ENOENT || errno == ENOTDIR))
    fail("no such file or directory: {}", inside.show(path));
  if (!fd) fail_errno("{}: cannot open", inside.show(path));
  struct stat st;
  if (::fstat(fd.get(), &st) < 0) fail_errno("{}: stat", inside.show(path));
  PathStat out;
  out.name = p == "/" ? "/" : basename_of(p);
  out.size = st.st_size;
  out.mode = st.st_mode & 07777;
  if (S_ISDIR(st.st_mode)) out.mode |= 1u << 31;
  if (S_ISLNK(st.st_mode)) {
    out.mode |= 1u << 27;
    char target[PATH_MAX];
    ssize_t n = ::readlinkat(fd.get(), "", target, sizeof target - 1);
    if (n >= 0) out.link_target.assign(target, static_cast<size_t>(n));
  }
  char buf[64];
  std::tm tm{};
  ::gmtime_r(&st.st_mtim.tv_sec, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  out.mtime = buf;
  return out;
}

void export_container(Store& store, const std::string& ref, int out_fd) {
  ContainerRoot root(store, ref);
  // As copy_files: a user's export records the container's ids.
  in_user_namespace_or_throw(
      "",
      [&] {
        image::write_tree_tar(root.fd(), "", out_fd);
        return std::string();
      },
      root.userns_pid(), root.userns_mappings());
}

}  // namespace vessel::manager
