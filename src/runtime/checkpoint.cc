// `checkpoint`: CRIU dumps (or pre-dumps) the container's process tree to an image directory.
// Everything that can be refused is checked before CRIU is asked; after a final dump without
// --leave-running the container is gone, as with runc.
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "cgroups/manager.h"
#include "linux/criu.h"
#include "oci/spec.h"
#include "runtime/container.h"
#include "runtime/criu_common.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"

namespace vessel::runtime {
namespace {

std::string fd_link(pid_t pid, int fd) {
  std::string p = fmt::format("/proc/{}/fd/{}", pid, fd);
  char buf[4096];
  ssize_t n = ::readlink(p.c_str(), buf, sizeof buf - 1);
  if (n < 0) return "";
  return std::string(buf, static_cast<size_t>(n));
}

// The mount IDs of the mount namespace `pid` is in.
std::set<int> mount_ids(pid_t pid) {
  std::set<int> ids;
  std::istringstream in(read_file(fmt::format("/proc/{}/mountinfo", pid)));
  std::string line;
  while (std::getline(in, line)) {
    try {
      ids.insert(std::stoi(line));
    } catch (const std::exception&) {
    }
  }
  return ids;
}

// For an fd of `pid` that is a file on a mount outside its mount namespace (the host's
// /dev/null that conmon or a detached caller gives the container as stdin, say): CRIU's
// external-file key "file[MNT_ID:INODE]" (both hex), under which CRIU dumps it without a path
// and restore passes an fd of its own (inherit_fd). "" for anything else.
std::string external_file_key(pid_t pid, int fd, const std::set<int>& container_mounts) {
  std::string link = fd_link(pid, fd);
  if (link.empty() || link[0] != '/') return "";  // pipe:[..], socket:[..], anon_inode:..
  int mnt_id = -1;
  try {
    std::istringstream in(read_file(fmt::format("/proc/{}/fdinfo/{}", pid, fd)));
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("mnt_id:", 0) == 0) mnt_id = std::stoi(line.substr(7));
  } catch (const std::exception&) {
    return "";
  }
  if (mnt_id < 0 || container_mounts.count(mnt_id)) return "";
  struct stat st {};
  if (::stat(fmt::format("/proc/{}/fd/{}", pid, fd).c_str(), &st) < 0) return "";
  // Terminals are CRIU's tty files, never regular ones.
  unsigned maj = major(st.st_rdev);
  if (S_ISCHR(st.st_mode) && (maj == 4 || maj == 5 || (maj >= 136 && maj <= 143))) return "";
  return fmt::format("file[{:x}:{:x}]", mnt_id, static_cast<uint64_t>(st.st_ino));
}

// "net[4026532008]:extRootNetNS": the namespace at `path` is not dumped but named by key.
std::string external_namespace(const std::string& kind, const std::string& path, const char* key) {
  struct stat st {};
  if (::stat(path.c_str(), &st) < 0) fail_errno("checkpoint: the joined namespace {}", path);
  return fmt::format("{}[{}]:{}", kind, st.st_ino, key);
}

std::string freezer_dir(const ContainerRecord& rec) {
  std::string path = cgroups::load_manager(rec.cgroup)->directories().path();
  if (path_exists("/sys/fs/cgroup/freezer" + path)) return "/sys/fs/cgroup/freezer" + path;
  return "/sys/fs/cgroup" + path;
}

void validate(const CheckpointOptions& o) {
  if (o.common.image_path.empty()) fail("checkpoint: --image-path is required");
  if (!o.parent_path.empty() && o.parent_path[0] == '/')
    fail("checkpoint: --parent-path must be relative to --image-path, not absolute ({})",
         o.parent_path);
  if (o.pre_dump && o.leave_running)
    fail("checkpoint: --pre-dump always leaves the container running; drop --leave-running");
  if (!o.page_server.empty()) {
    size_t colon = o.page_server.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == o.page_server.size())
      fail("checkpoint: --page-server must be ADDRESS:PORT, not \"{}\"", o.page_server);
  }
  if (o.common.lazy_pages && o.page_server.empty() && o.pre_dump)
    fail("checkpoint: --lazy-pages cannot be combined with --pre-dump");
}

}  // namespace

void Runtime::checkpoint(const CheckpointOptions& o) {
  validate(o);
  linux::criu::Opts opts = criu_base_opts(o.common, "checkpoint");
  ContainerDir dir = store_.open(o.id);
  ContainerRecord rec = dir.load();
  std::string status = container_status(rec);
  if (status != "running" && status != "paused")
    fail("cannot checkpoint container \"{}\": it is {}, not running", o.id, status);
  oci::Spec spec = oci::parse_spec(rec.config.dump());
  check_joined_namespaces(spec, "checkpoint");
  std::string criu = require_criu(o.common, "checkpoint");
  if (o.common.lazy_pages) {
    linux::criu::Swrk probe({criu, {}, ""});
    linux::criu::Opts none;
    none.images_dir_fd = -1;
    auto r = probe.call(linux::criu::ReqType::feature_check, none);
    if (!r.feature_lazy_pages)
      fail(
          "checkpoint: --lazy-pages: CRIU reports no lazy-pages support on this kernel "
          "(userfaultfd)");
  }

  // Nothing has changed so far; from here the image directory is made.
  const std::string image = o.common.image_path;
  bool made_image = !path_exists(image);
  mkdir_p(image, 0700);
  UniqueFd image_fd = open_directory(image, "checkpoint: --image-path");
  UniqueFd work_fd;
  if (!o.common.work_path.empty()) {
    mkdir_p(o.common.work_path, 0700);
    work_fd = open_directory(o.common.work_path, "checkpoint: --work-path");
  }
  if (!o.parent_path.empty() && !path_exists(image + "/" + o.parent_path + "/inventory.img")) {
    if (made_image) ::rmdir(image.c_str());
    fail("checkpoint: --parent-path {}: no checkpoint in {}/{}", o.parent_path, image,
         o.parent_path);
  }

  opts.images_dir_fd = image_fd.get();
  opts.work_dir_fd = work_fd ? work_fd.get() : -1;
  opts.pid = rec.pid;
  opts.root = rec.rootfs;
  opts.leave_running = o.leave_running;
  opts.auto_dedup = o.auto_dedup;
  opts.parent_img = o.parent_path;
  opts.track_mem = o.pre_dump || !o.parent_path.empty();
  // A terminal's master is outside the container (the console socket's receiver holds it):
  // CRIU dumps the slave alone and makes a new master at restore.
  opts.orphan_pts_master = true;
  // A paused container (containerd pauses before it checkpoints): CRIU is given the frozen
  // cgroup, which it freezes as it seizes the tasks and leaves as it found it.
  if (status == "paused") opts.freeze_cgroup = freezer_dir(rec);
  opts.log_file = o.pre_dump ? "pre-dump.log" : "dump.log";
  if (!o.page_server.empty()) {
    size_t colon = o.page_server.rfind(':');
    opts.ps_address = o.page_server.substr(0, colon);
    opts.ps_port = std::stoi(o.page_server.substr(colon + 1));
  }
  for (const oci::Mount* m : bind_mounts(spec))
    opts.ext_mnt.emplace_back(m->destination, m->destination);
  nlohmann::json joined = nlohmann::json::object();
  if (const oci::Namespace* ns = spec.find_namespace(oci::NamespaceType::network);
      ns && !ns->path.empty()) {
    opts.external.push_back(external_namespace("net", ns->path, kExtNetNs));
    joined["network"] = ns->path;
  }
  if (const oci::Namespace* ns = spec.find_namespace(oci::NamespaceType::pid);
      ns && !ns->path.empty()) {
    opts.external.push_back(external_namespace("pid", ns->path, kExtPidNs));
    joined["pid"] = ns->path;
  }
  nlohmann::json desc = {{"stdio", nlohmann::json::array()}, {"joined", joined}, {"id", o.id}};
  std::set<int> container_mounts = mount_ids(rec.pid);
  for (int fd = 0; fd < 3; ++fd) {
    std::string key = external_file_key(rec.pid, fd, container_mounts);
    if (!key.empty()) opts.external.push_back(key);
    desc["stdio"].push_back(key.empty() ? fd_link(rec.pid, fd) : key);
  }
  write_file_atomic(image + "/" + kCheckpointDescriptors, desc.dump(2) + "\n", 0600);

  log::debug(fmt::format("checkpoint {}: {} of pid {} into {}", o.id,
                         o.pre_dump ? "pre-dump" : "dump", rec.pid, image));
  linux::criu::Swrk swrk({criu, {}, ""});
  auto resp =
      swrk.call(o.pre_dump ? linux::criu::ReqType::pre_dump : linux::criu::ReqType::dump, opts);
  if (!resp.success) {
    std::string log_dir = o.common.work_path.empty() ? image : o.common.work_path;
    std::string log = log_dir + "/" + opts.log_file;
    std::string why = linux::criu::last_log_error(log);
    if (why.empty()) why = resp.cr_errmsg;
    fail("checkpoint of container \"{}\" failed: {} (CRIU's log: {})", o.id,
         why.empty() ? "CRIU reported no reason" : why, log);
  }
  if (o.pre_dump || o.leave_running) return;
  // The dump ended the container's processes: it is removed, as runc does.
  log::debug(fmt::format("checkpoint {}: dumped; removing the container", o.id));
  destroy_locked(dir, rec);
}

}  // namespace vessel::runtime
