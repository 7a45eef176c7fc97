#include "manager/rootfs.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "image/digest.h"
#include "image/layer.h"
#include "manager/rootfs_idmap.h"
#include "manager/rootfs_keep_id.h"
#include "manager/rootfs_rootless.h"
#include "manager/rootless.h"
#include "manager/store_userns.h"
#include "util/error.h"
#include "util/file.h"
#include "util/scratch.h"

namespace vessel::manager {

namespace {

enum class Driver { Auto, Overlay, Fuse, Vfs };

Driver g_driver = Driver::Auto;  // what new containers get (set_storage_driver)

constexpr const char* kOverlay = "overlay";
constexpr const char* kVfs = "vfs";
constexpr const char* kFuse = "fuse-overlayfs";

const char* driver_name(Driver d) {
  return d == Driver::Vfs ? kVfs : d == Driver::Fuse ? kFuse : kOverlay;
}

// Removes a directory tree when it goes out of scope, unless released.
class TreeGuard {
 public:
  explicit TreeGuard(std::string path) : path_(std::move(path)) {}
  TreeGuard(const TreeGuard&) = delete;
  TreeGuard& operator=(const TreeGuard&) = delete;
  ~TreeGuard() {
    if (path_.empty()) return;
    try {
      remove_tree(path_);
    } catch (const Error&) {
    }
  }
  void release() { path_.clear(); }

 private:
  std::string path_;
};

// Detaches a mount when it goes out of scope.
class MountGuard {
 public:
  explicit MountGuard(std::string target) : target_(std::move(target)) {}
  MountGuard(const MountGuard&) = delete;
  MountGuard& operator=(const MountGuard&) = delete;
  ~MountGuard() { ::umount2(target_.c_str(), MNT_DETACH); }

 private:
  std::string target_;
};

// The errors with which the kernel says overlayfs cannot be used here (no overlay module,
// an upper directory on a filesystem overlayfs refuses, such as another overlayfs).
bool overlay_unavailable(int err) { return err == ENODEV || err == EINVAL || err == EOPNOTSUPP; }

std::string marker_path(const std::string& dir) { return dir + "/storage-driver"; }

// The store remembers what the automatic choice found (<root>/storage-driver): "overlay", or
// "vfs" once overlayfs failed there, so that the warning is printed once per store.
std::string auto_record_path(const Store& store) { return store.paths().root + "/storage-driver"; }

void warn_fallback(const Store& store, const std::string& why) {
  std::fprintf(stderr,
               "vessel: warning: overlayfs cannot be used for the store %s (%s): using the vfs "
               "storage driver (a full copy of the image per container)\n",
               store.paths().root.c_str(), why.c_str());
}

void record_auto(const Store& store, const char* driver) {
  write_file_atomic(auto_record_path(store), std::string(driver) + "\n", 0644);
}

// Mounts a throwaway overlay under the store's tmp directory: 0 if it works, else the errno.
int probe_overlay(const Store& store) {
  std::string base =
      store.paths().tmp() + "/" + scratch_prefix("overlay-probe") + random_hex_id().substr(0, 16);
  TreeGuard cleanup(base);
  for (const char* sub : {"/lower", "/upper", "/work", "/merged"}) mkdir_p(base + sub, 0700);
  std::string opts =
      "lowerdir=" + base + "/lower,upperdir=" + base + "/upper,workdir=" + base + "/work";
  std::string merged = base + "/merged";
  if (::mount("overlay", merged.c_str(), "overlay", 0, opts.c_str()) != 0) return errno;
  MountGuard unmount(merged);
  return 0;
}

// An ordinary user's automatic choice: overlayfs in the container's user namespace, else
// fuse-overlayfs, else vfs (with a warning naming why each failed).
Driver auto_driver_rootless(const Store& store) {
  std::string base = store.paths().tmp() + "/overlay-probe-" + random_hex_id().substr(0, 16);
  std::string why;
  {
    TreeGuard cleanup(base);
    int err = probe_userns_overlay(base);
    if (err == 0) {
      record_auto(store, kOverlay);
      return Driver::Overlay;
    }
    why = std::string("overlayfs in a user namespace: ") + std::strerror(err);
  }
  {
    TreeGuard cleanup(base);
    std::string fuse = probe_fuse_overlayfs(base);
    if (fuse.empty()) {
      std::fprintf(stderr,
                   "vessel: warning: %s; using the fuse-overlayfs storage driver for the store "
                   "%s\n",
                   why.c_str(), store.paths().root.c_str());
      record_auto(store, kFuse);
      return Driver::Fuse;
    }
    why += "; " + fuse;
  }
  warn_fallback(store, why);
  record_auto(store, kVfs);
  return Driver::Vfs;
}

// The driver the automatic choice gives a new container in this store.
Driver auto_driver(const Store& store) {
  std::string record = auto_record_path(store);
  if (path_exists(record)) {
    std::string name = read_file(record);
    if (name.rfind(kVfs, 0) == 0) return Driver::Vfs;
    if (name.rfind(kFuse, 0) == 0) return Driver::Fuse;
    if (name.rfind(kOverlay, 0) == 0) return Driver::Overlay;
  }
  if (::geteuid() != 0) return auto_driver_rootless(store);
  int err = probe_overlay(store);
  if (err == 0) {
    record_auto(store, kOverlay);
    return Driver::Overlay;
  }
  if (!overlay_unavailable(err)) return Driver::Overlay;  // the real mount will say why
  warn_fallback(store, std::string("mounting overlay: ") + std::strerror(err));
  record_auto(store, kVfs);
  return Driver::Vfs;
}

// The driver a new container gets now.
Driver new_container_driver(const Store& store) {
  return g_driver == Driver::Auto ? auto_driver(store) : g_driver;
}

void unpack_missing_layers(Store& store, const ImageRecord& img) {
  const auto& paths = store.paths();
  // An ordinary user's layers are unpacked in the user's user namespace (manager/store_userns.h),
  // so that their files keep the image's ids.
  const int wanted = store_in_user_namespace() ? 2 : 1;
  for (const auto& layer : img.layers) {
    std::string dest = paths.layer(layer.diff_id);
    int state = store.layer_unpack_state(layer.diff_id);
    bool exists = path_exists(dest);
    if (state == wanted && exists) continue;
    // A user's layer that an older vessel unpacked as the user (every file the user's): unpacked
    // again, swapped in, and the old tree kept for the containers that may run on it until
    // `vessel system prune` (old_layers_dir).
    bool migrate = exists && state == 1 && wanted == 2;
    std::string tmp = paths.tmp() + "/" + scratch_prefix("layer") + random_hex_id().substr(0, 16);
    mkdir_p(tmp, 0755);
    std::string blob = store.blobs().path(layer.blob_digest);
    try {
      std::string swapped = in_user_namespace_or_throw("", [&] {
        auto stats = image::unpack_layer(blob, tmp);
        if (!stats.diff_id.empty() && stats.diff_id != layer.diff_id)
          fail("layer {}: its content is {}, not the diff_id {} the image config names",
               layer.blob_digest, stats.diff_id, layer.diff_id);
        if (::chmod(tmp.c_str(), 0755) != 0) fail_errno("chmod {}", tmp);
        if (migrate) {
          if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, dest.c_str(), RENAME_EXCHANGE) == 0)
            return std::string("swapped");
          if (errno != ENOENT) fail_errno("exchanging {} with {}", tmp, dest);
        }
        if (::rename(tmp.c_str(), dest.c_str()) != 0) {
          if (errno != EEXIST && errno != ENOTEMPTY) fail_errno("rename {} to {}", tmp, dest);
          remove_tree(tmp);  // another command unpacked it first
        }
        return std::string();
      });
      if (!swapped.empty()) {
        std::string old = old_layers_dir(paths.root);
        mkdir_p(old, 0700);
        std::string to = old + "/" + layer.diff_id.substr(layer.diff_id.find(':') + 1) + "-" +
                         random_hex_id().substr(0, 8);
        if (::rename(tmp.c_str(), to.c_str()) != 0) fail_errno("moving {} to {}", tmp, to);
      }
    } catch (...) {
      if (path_exists(tmp)) remove_container_tree(tmp);
      throw;
    }
    store.mark_layer_unpacked(layer.diff_id, wanted);
  }
}

// Removes <dir>/rootfs if it is an empty directory (left by a failed overlay mount).
void remove_empty_rootfs(const std::string& rootfs) {
  if (::rmdir(rootfs.c_str()) != 0 && errno != ENOENT)
    fail_errno("removing {} to copy the image there", rootfs);
}

// vfs: applies the image's layer blobs in order (whiteouts applied, not kept) into a private
// directory that becomes <dir>/rootfs once complete. Unpacking restores owners, modes,
// xattrs, symlinks, hard links, device nodes and timestamps.
void copy_rootfs(Store& store, const ImageRecord& img, const std::string& dir) {
  std::string rootfs = dir + "/rootfs";
  std::string partial = dir + "/rootfs.partial";
  remove_container_tree(partial);  // an interrupted copy
  mkdir_p(partial, 0755);
  image::UnpackOptions opts;
  opts.whiteouts = image::WhiteoutMode::Apply;
  // A keep-id container's copy is made with its own mapping (manager/rootfs_keep_id.h).
  std::optional<RootlessMappings> keep_id;
  if (is_keep_id_rootfs(dir)) keep_id = keep_id_mappings();
  try {
    // An ordinary user's copy is made in the user's user namespace (manager/store_userns.h):
    // its files keep the image's ids.
    in_user_namespace_or_throw(
        "",
        [&] {
          if (keep_id && ::chown(partial.c_str(), 0, 0) != 0) fail_errno("chown {}", partial);
          for (const auto& layer : img.layers) {
            std::string blob = store.blobs().path(layer.blob_digest);
            image::UnpackStats stats;
            try {
              stats = image::unpack_layer(blob, partial, opts);
            } catch (const Error& e) {
              fail("copying layer {} into {}: {}", layer.blob_digest, rootfs, e.what());
            }
            if (!stats.diff_id.empty() && stats.diff_id != layer.diff_id)
              fail("layer {}: its content is {}, not the diff_id {} the image config names",
                   layer.blob_digest, stats.diff_id, layer.diff_id);
          }
          if (::chmod(partial.c_str(), 0755) != 0) fail_errno("chmod {}", partial);
          remove_empty_rootfs(rootfs);
          if (::rename(partial.c_str(), rootfs.c_str()) != 0)
            fail_errno("renaming {} to {}", partial, rootfs);
          return std::string();
        },
        0, keep_id ? &*keep_id : nullptr);
  } catch (...) {
    try {
      if (path_exists(partial)) remove_container_tree(partial);
    } catch (const Error&) {
    }
    throw;
  }
}

void write_marker(const std::string& dir, const char* driver) {
  write_file_atomic(marker_path(dir), std::string(driver) + "\n", 0644);
}

// The image's unpacked layers, top first as overlayfs wants them (an empty directory for an
// image without layers).
std::vector<std::string> layer_dirs(Store& store, const ImageRecord& img, const std::string& dir) {
  std::vector<std::string> lowers;
  bool keep_id = is_keep_id_rootfs(dir);
  for (auto it = img.layers.rbegin(); it != img.layers.rend(); ++it)
    lowers.push_back(keep_id ? keep_id_layer_dir(store.paths(), it->diff_id)
                             : store.paths().layer(it->diff_id));
  if (lowers.empty()) {
    std::string empty = dir + "/empty";
    mkdir_p(empty, 0755);
    lowers.push_back(empty);
  }
  return lowers;
}

std::string join_lowers(const std::vector<std::string>& lowers) {
  std::string out;
  for (const auto& l : lowers) out += (out.empty() ? "" : ":") + l;
  return out;
}

// An ordinary user's layers and upper layer for an overlay (the kernel's or fuse-overlayfs):
// a keep-id container's are the keep-id copies (manager/rootfs_keep_id.h), and its new upper
// layer's root gets the owner of the top layer's root as it sees it. Returns the lower layers.
std::vector<std::string> prepare_user_layers(Store& store, const ImageRecord& img,
                                             const std::string& dir) {
  bool keep_id = is_keep_id_rootfs(dir);
  if (keep_id)
    ensure_keep_id_layers(store, img);
  else
    unpack_missing_layers(store, img);
  auto lowers = layer_dirs(store, img, dir);
  std::string upper = dir + "/upper";
  bool fresh = !path_exists(upper);
  mkdir_p(upper, 0755);
  mkdir_p(dir + "/work", 0700);
  if (keep_id && fresh) chown_like_in_keep_id(upper, lowers.front());
  return lowers;
}

// An ordinary user's overlay container: the layers and an upper layer made ready for the
// runtime, which mounts them in the container's user namespace (nothing on the host).
void prepare_userns_overlay(Store& store, const ImageRecord& img, const std::string& dir) {
  mkdir_p(dir + "/rootfs", 0755);
  prepare_user_layers(store, img, dir);
}

// fuse-overlayfs on <dir>/rootfs (an ordinary user's fallback); read-only: no upper layer.
void mount_fuse(Store& store, const ImageRecord& img, const std::string& dir, bool read_only) {
  std::string rootfs = dir + "/rootfs";
  mkdir_p(rootfs, 0755);
  if (rootfs_mounted(dir)) return;
  std::vector<std::string> lowers;
  if (::geteuid() != 0) {
    lowers = prepare_user_layers(store, img, dir);
  } else {
    unpack_missing_layers(store, img);
    lowers = layer_dirs(store, img, dir);
    mkdir_p(dir + "/upper", 0755);
    mkdir_p(dir + "/work", 0700);
  }
  mount_fuse_overlayfs(join_lowers(lowers), dir + "/upper", dir + "/work", rootfs);
  if (read_only && ::geteuid() == 0)
    ::mount(nullptr, rootfs.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr);
}

// Mounts the overlay; returns 0, or the errno of a mount that overlayfs refused as
// unavailable when `may_fall_back` (other failures throw).
int mount_overlay(Store& store, const ImageRecord& img, const std::string& dir, bool read_only,
                  bool may_fall_back, const std::optional<IdRange>& ids, bool throwaway) {
  std::string rootfs = dir + "/rootfs";
  mkdir_p(rootfs, 0755);
  if (rootfs_mounted(dir)) return 0;
  unpack_missing_layers(store, img);
  std::vector<std::string> lowers = layer_dirs(store, img, dir);
  // --userns=auto: the layers through idmapped mounts, detached again once overlayfs holds
  // its own copies (it needs two lower layers when there is no upper one).
  std::optional<IdmappedLayers> shifted;
  if (ids) {
    if (read_only && lowers.size() == 1) {
      std::string empty = dir + "/empty";
      mkdir_p(empty, 0755);
      lowers.push_back(empty);
    }
    shifted.emplace(lowers, dir, *ids);
    lowers = shifted->paths();
  }
  std::string lowerdir = join_lowers(lowers);
  if (read_only && lowers.size() == 1) {
    if (::mount(lowers[0].c_str(), rootfs.c_str(), nullptr, MS_BIND, nullptr) != 0)
      fail_errno("bind-mounting layer {} on {}", lowers[0], rootfs);
    if (::mount(nullptr, rootfs.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) != 0) {
      int saved = errno;
      ::umount2(rootfs.c_str(), MNT_DETACH);
      throw_errno("remounting " + rootfs + " read-only", saved);
    }
    return 0;
  }
  std::string opts = "lowerdir=" + lowerdir;
  if (!read_only) {
    mkdir_p(dir + "/upper", 0755);
    mkdir_p(dir + "/work", 0700);
    opts += ",upperdir=" + dir + "/upper,workdir=" + dir + "/work";
    // The merged root's owner is the upper layer's root's: the image's, shifted.
    if (ids) chown_shifted_like(dir + "/upper", lowers[0], IdRange{0, 0xFFFFFFFFu});
  }
  if (opts.size() >= 4000)
    fail("the image has too many layers ({}) for one overlay mount", img.layers.size());
  unsigned long flags = read_only ? MS_RDONLY : 0;
  // An upper layer that goes with the container (--rm) need not reach the disk: "volatile"
  // (Linux 5.10) spares the sync of the whole upper filesystem when the overlay is unmounted,
  // which on a busy ext4 is a journal commit, tens of ms. Older kernels refuse the option.
  if (throwaway && !read_only &&
      ::mount("overlay", rootfs.c_str(), "overlay", flags, (opts + ",volatile").c_str()) == 0)
    return 0;
  if (::mount("overlay", rootfs.c_str(), "overlay", flags, opts.c_str()) == 0) return 0;
  int err = errno;
  if (may_fall_back && overlay_unavailable(err)) return err;
  std::string hint = overlay_unavailable(err)
                         ? " (overlayfs cannot be used on this store's filesystem: use "
                           "--storage-driver vfs)"
                         : "";
  throw_errno("mounting the overlay root filesystem on " + rootfs + hint, err);
}

}  // namespace

void set_storage_driver(const std::string& name) {
  if (name.empty())
    g_driver = Driver::Auto;
  else if (name == kOverlay)
    g_driver = Driver::Overlay;
  else if (name == kVfs)
    g_driver = Driver::Vfs;
  else if (name == kFuse)
    g_driver = Driver::Fuse;
  else
    fail("unknown storage driver \"{}\": overlay, fuse-overlayfs or vfs", name);
}

void ensure_layers(Store& store, const ImageRecord& img) {
  if (new_container_driver(store) == Driver::Vfs) return;
  unpack_missing_layers(store, img);
}

void mount_rootfs(Store& store, const ImageRecord& img, const std::string& dir, bool read_only,
                  const std::optional<IdRange>& ids, bool throwaway) {
  std::string rootfs = dir + "/rootfs";
  bool recorded = path_exists(marker_path(dir));
  // A container from before drivers were recorded has its spec (or an upper layer): overlay.
  bool legacy = !recorded && (path_exists(dir + "/config.json") || path_exists(dir + "/upper"));
  std::string driver = recorded ? container_storage_driver(dir) : legacy ? kOverlay : "";
  if (driver.empty()) {  // a new container
    driver = driver_name(new_container_driver(store));
    write_marker(dir, driver.c_str());
  }
  if (driver == kVfs) {
    if (ids) fail("--userns=auto needs the overlay storage driver (this container uses vfs)");
    if (!rootfs_mounted(dir)) copy_rootfs(store, img, dir);
    return;
  }
  if (driver == kFuse) {
    if (ids) fail("--userns=auto needs the overlay storage driver (this container uses {})", kFuse);
    mount_fuse(store, img, dir, read_only);
    return;
  }
  if (::geteuid() != 0) {
    prepare_userns_overlay(store, img, dir);
    return;
  }
  bool may_fall_back = !recorded && !legacy && g_driver == Driver::Auto && !ids;
  int err = mount_overlay(store, img, dir, read_only, may_fall_back, ids, throwaway);
  if (err == 0) return;
  // Automatic choice, and overlayfs refused this container: a copy instead, and the store
  // remembers it.
  warn_fallback(store, "mounting " + rootfs + ": " + std::strerror(err));
  record_auto(store, kVfs);
  remove_tree(dir + "/upper");
  remove_tree(dir + "/work");
  remove_tree(dir + "/empty");
  write_marker(dir, kVfs);
  copy_rootfs(store, img, dir);
}

std::optional<nlohmann::json> runtime_root_mount(Store& store, const ImageRecord& img,
                                                 const std::string& dir) {
  if (::geteuid() == 0 || container_storage_driver(dir) != kOverlay) return std::nullopt;
  return userns_overlay_mount(join_lowers(layer_dirs(store, img, dir)), dir + "/upper",
                              dir + "/work");
}

std::string user_lookup_root(Store& store, const ImageRecord& img, const std::string& dir) {
  if (!runtime_root_mount(store, img, dir)) return dir + "/rootfs";
  for (const auto& l : layer_dirs(store, img, dir))
    if (path_exists(l + "/etc/passwd")) return l;
  return layer_dirs(store, img, dir).front();
}

std::string new_container_storage_driver(const Store& store) {
  return driver_name(new_container_driver(store));
}

std::string describe_storage_driver(const Store& store) {
  Driver d = new_container_driver(store);
  if (d == Driver::Overlay && ::geteuid() != 0)
    return "overlay (mounted by the runtime in each container's user namespace, userxattr)";
  if (d == Driver::Fuse)
    return ::geteuid() == 0 ? "fuse-overlayfs"
                            : "fuse-overlayfs (mounted on the host by fusermount3, served from the "
                              "store's user namespace)";
  return driver_name(d);
}

}  // namespace vessel::manager
