#include "manager/checkpoint.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "image/layer.h"
#include "manager/events.h"
#include "manager/rootfs.h"
#include "manager/rootless.h"
#include "runtime/container.h"
#include "runtime/criu_common.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"
#include "util/scratch.h"

namespace vessel::manager {

using nlohmann::json;

namespace {

// What the archive's container.json says about its format.
constexpr int kArchiveVersion = 1;
constexpr const char* kRootfsDiff = "rootfs-diff.tar.gz";

// Removes a scratch tree when it goes out of scope, unless released.
struct TreeGuard {
  std::string path;
  ~TreeGuard() {
    if (path.empty()) return;
    try {
      remove_tree(path);
    } catch (const std::exception& e) {
      log::warn(e.what());
    }
  }
};

std::string parent_dir(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::vector<std::string> dir_entries(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) fail_errno("opening {}", dir);
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  ::closedir(d);
  return out;
}

// The checkpoint's files into `to` (a new directory): hard links, the images can be large.
void link_files(const std::string& from, const std::string& to) {
  mkdir_p(to, 0700);
  for (const auto& n : dir_entries(from)) {
    struct stat st {};
    std::string src = from + "/" + n;
    if (::lstat(src.c_str(), &st) != 0) fail_errno("stat {}", src);
    if (!S_ISREG(st.st_mode)) continue;
    if (::link(src.c_str(), (to + "/" + n).c_str()) != 0) fail_errno("linking {}", src);
  }
}

void require_running_under_vessel(const ContainerRecord& c, const char* what) {
  std::string runtime = c.options.value("runtime", std::string());
  if (!runtime.empty())
    fail("cannot {} container {}: it runs under {}; checkpoints need vessel's own runtime", what,
         c.name, runtime);
  if (c.options.value("tty", false))
    fail(
        "cannot {} container {}: it has a terminal (-t); vessel checkpoints containers whose "
        "stdio are pipes",
        what, c.name);
}

bool live(const std::string& state) {
  return state == "running" || state == "paused" || state == "restarting";
}

// Waits (60 s at most: CRIU under emulation is slow) for the monitor to record the exit.
void wait_monitor_gone(Store& store, const std::string& id) {
  for (int waited = 0; waited < 60000; waited += 20) {
    auto c = store.container_by_id(id);
    if (!c || !monitor_alive(*c)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  log::warn(fmt::format("container {}: its monitor is still running after the checkpoint", id));
}

void write_export(Store& store, const ContainerRecord& c, const std::string& out) {
  std::string dir = container_dir(store, c.id);
  std::string stage = dir + "/" + scratch_prefix("export") + random_hex_id().substr(0, 8);
  TreeGuard guard{stage};
  mkdir_p(stage, 0700);
  link_files(checkpoint_dir(store, c.id), stage + "/checkpoint");
  std::string hostname;
  try {
    hostname = read_file(dir + "/etc/hostname");
  } catch (const Error&) {
  }
  while (!hostname.empty() && (hostname.back() == '\n' || hostname.back() == ' '))
    hostname.pop_back();
  json meta = {{"version", kArchiveVersion},
               {"id", c.id},
               {"name", c.name},
               {"image_id", c.image_id},
               {"image_name", c.image_name},
               {"created", c.created},
               {"hostname", hostname},
               {"options", c.options}};
  write_file_atomic(stage + "/container.json", meta.dump(2) + "\n", 0600);
  image::PackOptions po;
  po.overlay_upper = true;
  image::pack_layer(dir + "/upper", stage + "/" + kRootfsDiff, po);
  std::string tmp = out + "." + scratch_prefix("tmp") + random_hex_id().substr(0, 8);
  try {
    image::pack_layer(stage, tmp);
    if (::rename(tmp.c_str(), out.c_str()) != 0) fail_errno("renaming {} to {}", tmp, out);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
}

}  // namespace

ContainerRecord checkpoint_container(Store& store, const CheckpointRequest& req) {
  auto c = find_or_fail(store, req.ref);
  if (c.state != "running")
    fail("cannot checkpoint container {}: it is {}, not running", c.name, c.state);
  require_running_under_vessel(c, "checkpoint");
  if (c.options.value("remove", false))
    fail(
        "cannot checkpoint container {}: it was started with --rm (it goes as soon as its "
        "processes end)",
        c.name);
  if (running_rootless()) fail("cannot checkpoint container {}: CRIU needs root", c.name);
  std::string dir = container_dir(store, c.id);
  if (!req.export_path.empty()) {
    if (container_storage_driver(dir) != "overlay")
      fail(
          "--export: container {} uses the {} storage driver; the archive carries an overlay "
          "upper layer",
          c.name, container_storage_driver(dir));
    struct stat st {};
    std::string parent = parent_dir(req.export_path);
    if (::stat(parent.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      fail("--export {}: the directory {} does not exist", req.export_path, parent);
  }
  runtime::CriuCommonOptions common;
  runtime::require_criu(common, "checkpoint");

  // Nothing has changed so far.
  std::string image = dir + "/checkpoint.new";
  if (path_exists(image)) remove_tree(image);
  TreeGuard image_guard{image};
  common.image_path = image;
  common.tcp_established = req.tcp_established;
  common.file_locks = req.file_locks;
  runtime::CheckpointOptions co;
  co.id = c.id;
  co.common = common;
  co.leave_running = req.leave_running;
  std::string marker = dir + "/" + kCheckpointingMarker;
  if (!req.leave_running) write_file_atomic(marker, "", 0600);
  try {
    runtime::Runtime(store.paths().runtime_root()).checkpoint(co);
  } catch (...) {
    ::unlink(marker.c_str());
    throw;
  }
  json meta = {{"checkpointed_at", now_rfc3339()},
               {"tcp_established", req.tcp_established},
               {"file_locks", req.file_locks},
               {"leave_running", req.leave_running}};
  write_file_atomic(image + "/" + kCheckpointMetaFile, meta.dump(2) + "\n", 0600);
  std::string kept = checkpoint_dir(store, c.id);
  if (path_exists(kept)) remove_tree(kept);
  if (::rename(image.c_str(), kept.c_str()) != 0) fail_errno("renaming {} to {}", image, kept);
  image_guard.path.clear();
  if (!req.leave_running) wait_monitor_gone(store, c.id);
  if (auto now = store.container_by_id(c.id)) c = *now;
  emit_container_event(store, c, "checkpoint");
  if (!req.export_path.empty()) {
    try {
      write_export(store, c, req.export_path);
    } catch (const std::exception& e) {
      fail("container {} was checkpointed (the checkpoint is kept), but --export {} failed: {}",
           c.name, req.export_path, e.what());
    }
  }
  return c;
}

namespace {

ContainerRecord restore_in_place(Store& store, const RestoreRequest& req) {
  auto c = find_or_fail(store, req.ref);
  if (!has_checkpoint(store, c.id))
    fail("container {} has no checkpoint (make one with vessel checkpoint {})", c.name, c.name);
  if (live(c.state) || monitor_alive(c))
    fail("cannot restore container {}: it is {}; stop it first", c.name, c.state);
  require_running_under_vessel(c, "restore");
  runtime::CriuCommonOptions common;
  runtime::require_criu(common, "restore");
  RestoreCall call{req.tcp_established};
  start_container(store, c.id, false, &call);
  if (!req.keep) remove_tree(checkpoint_dir(store, c.id));
  if (auto now = store.container_by_id(c.id)) c = *now;
  return c;
}

ContainerRecord restore_import(Store& store, const RestoreRequest& req) {
  struct stat st {};
  if (::stat(req.import_path.c_str(), &st) != 0) fail_errno("--import {}", req.import_path);
  if (!S_ISREG(st.st_mode)) fail("--import {}: not a file", req.import_path);
  if (!req.name.empty()) validate_name("container name", req.name);
  if (!configured_runtime().empty())
    fail("--import: new containers run under {} (containers.runtime); restore needs vessel's own",
         configured_runtime());
  if (running_rootless()) fail("--import: CRIU needs root");
  runtime::CriuCommonOptions common;
  runtime::require_criu(common, "restore");

  std::string tmp_root = store.paths().tmp();
  mkdir_p(tmp_root, 0700);
  remove_stale_scratch(tmp_root, "import");
  std::string stage = tmp_root + "/" + scratch_prefix("import") + random_hex_id().substr(0, 8);
  TreeGuard guard{stage};
  mkdir_p(stage, 0700);
  image::UnpackOptions uo;
  uo.interpret_whiteouts = false;
  uo.max_entries = 100000;
  try {
    image::unpack_layer(req.import_path, stage, uo);
  } catch (const std::exception& e) {
    fail("--import {}: not a checkpoint archive: {}", req.import_path, e.what());
  }
  json meta;
  try {
    meta = json::parse(read_file(stage + "/container.json"));
  } catch (const std::exception& e) {
    fail("--import {}: no readable container.json in the archive: {}", req.import_path, e.what());
  }
  if (meta.value("version", 0) != kArchiveVersion)
    fail("--import {}: archive version {} (this vessel reads {})", req.import_path,
         meta.value("version", 0), kArchiveVersion);
  if (!path_exists(stage + "/checkpoint/inventory.img") || !path_exists(stage + "/" + kRootfsDiff))
    fail("--import {}: the archive has no checkpoint/inventory.img or {}", req.import_path,
         kRootfsDiff);
  RunOptions opts;
  try {
    opts = meta.at("options").get<RunOptions>();
  } catch (const std::exception& e) {
    fail("--import {}: the container's options do not parse: {}", req.import_path, e.what());
  }
  opts.name = req.name.empty() ? meta.value("name", "") : req.name;
  if (store.find_container(opts.name))
    fail("--import: a container named {} exists already; give the restored one --name NEW",
         opts.name);
  // The processes keep the host name they had (it is in CRIU's images); so does /etc/hostname.
  if (opts.hostname.empty()) opts.hostname = meta.value("hostname", "");
  std::string image_id = meta.value("image_id", "");
  opts.image =
      !image_id.empty() && store.image_by_id(image_id) ? image_id : meta.value("image_name", "");
  opts.detach = true;

  ContainerRecord rec = create_container(store, opts);
  try {
    std::string dir = container_dir(store, rec.id);
    unmount_rootfs(dir);
    image::UnpackOptions diff;
    std::string driver = container_storage_driver(dir);
    if (driver == "overlay") {
      diff.whiteouts = image::WhiteoutMode::Overlay;
      image::unpack_layer(stage + "/" + kRootfsDiff, dir + "/upper", diff);
    } else if (driver == "vfs") {
      diff.whiteouts = image::WhiteoutMode::Apply;
      image::unpack_layer(stage + "/" + kRootfsDiff, dir + "/rootfs", diff);
    } else {
      fail("--import: the {} storage driver cannot take the archive's root filesystem changes",
           driver);
    }
    std::string images = checkpoint_dir(store, rec.id);
    if (::rename((stage + "/checkpoint").c_str(), images.c_str()) != 0)
      fail_errno("moving the checkpoint to {}", images);
    RestoreCall call{req.tcp_established};
    start_container(store, rec.id, false, &call);
    if (!req.keep) remove_tree(images);
  } catch (...) {
    try {
      remove_container(store, rec.id, true, true);
    } catch (const std::exception& e) {
      log::warn(e.what());
    }
    throw;
  }
  if (auto now = store.container_by_id(rec.id)) rec = *now;
  return rec;
}

}  // namespace

ContainerRecord restore_container(Store& store, const RestoreRequest& req) {
  if (req.import_path.empty() == req.ref.empty())
    fail("restore: give a container, or --import FILE (not both)");
  if (!req.name.empty() && req.import_path.empty())
    fail("restore: --name goes with --import (a container restored in place keeps its name)");
  return req.import_path.empty() ? restore_in_place(store, req) : restore_import(store, req);
}

}  // namespace vessel::manager
