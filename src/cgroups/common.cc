#include "cgroups/common.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "cgroups/paths.h"
#include "cgroups/placement.h"
#include "util/error.h"
#include "util/fd.h"
#include "util/file.h"
#include "util/log.h"

namespace vessel::cgroups {
namespace {

using namespace std::chrono_literals;

// Sub-cgroups the container made inside its own cgroup (with a cgroup namespace, say) keep
// the container's cgroup from being removed, so they go first, deepest first.
void remove_descendants(const std::string& dir, std::string* first_error) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> subdirs;
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_type != DT_DIR) continue;
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    subdirs.push_back(dir + "/" + e->d_name);
  }
  ::closedir(d);
  for (const std::string& sub : subdirs) {
    remove_descendants(sub, first_error);
    int err = 0;
    wait_until(1000ms, [&] {
      err = ::rmdir(sub.c_str()) == 0 || errno == ENOENT ? 0 : errno;
      return err != EBUSY;
    });
    if (err && first_error->empty())
      *first_error = fmt::format("remove cgroup {}: {}", sub, std::strerror(err));
  }
}

void read_pids_into(const std::string& dir, std::vector<pid_t>& out) {
  std::optional<std::string> procs = read_value(dir + "/cgroup.procs");
  if (!procs) return;
  size_t pos = 0;
  while (pos < procs->size()) {
    size_t end = procs->find('\n', pos);
    if (end == std::string::npos) end = procs->size();
    std::string line = procs->substr(pos, end - pos);
    if (!line.empty()) out.push_back(static_cast<pid_t>(std::stol(line)));
    pos = end + 1;
  }
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> subdirs;
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_type != DT_DIR) continue;
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    subdirs.push_back(dir + "/" + e->d_name);
  }
  ::closedir(d);
  for (const std::string& sub : subdirs) read_pids_into(sub, out);
}

std::optional<Layout> layout_from_name(const std::string& s) {
  for (Layout l : {Layout::v1, Layout::hybrid, Layout::v2})
    if (s == layout_name(l)) return l;
  return std::nullopt;
}

bool has_dotdot(const std::string& path) {
  size_t pos = 0;
  while ((pos = path.find("..", pos)) != std::string::npos) {
    bool starts = pos == 0 || path[pos - 1] == '/';
    bool ends = pos + 2 == path.size() || path[pos + 2] == '/';
    if (starts && ends) return true;
    pos += 2;
  }
  return false;
}

}  // namespace

bool CgroupDir::has(std::string_view controller) const {
  return std::find(controllers.begin(), controllers.end(), controller) != controllers.end();
}

int write_value(const std::string& path, const std::string& value) {
  int fd = retry_eintr([&] { return ::open(path.c_str(), O_WRONLY | O_CLOEXEC); });
  if (fd < 0) return errno;
  UniqueFd owned(fd);
  ssize_t n = retry_eintr([&] { return ::write(fd, value.data(), value.size()); });
  if (n < 0) return errno;
  return static_cast<size_t>(n) == value.size() ? 0 : EIO;
}

void fail_write(const std::string& what, const std::string& path, const std::string& value, int err,
                const std::string& hint) {
  throw Error(fmt::format("{}: write {} to {}: {}{}", what, value, path, std::strerror(err), hint),
              err);
}

std::string cpuset_hint(int err, const std::string& file) {
  if (err == EINVAL || err == ERANGE)
    return file == "cpuset.cpus"
               ? " (expected a list of this host's CPUs, like 0-3,7, within the parent's cpuset)"
               : " (expected a list of this host's memory nodes, like 0-1, within the parent's "
                 "cpuset)";
  return "";
}

std::string rdma_device_hint(int err) {
  if (err == ENODEV || err == EINVAL || err == ENOENT)
    return " (no such RDMA device on this host; the key must name one in /sys/class/infiniband)";
  return "";
}

void write_setting(const std::string& what, const std::string& path, const std::string& value) {
  if (int err = write_value(path, value)) fail_write(what, path, value, err);
}

std::optional<std::string> read_value(const std::string& path) {
  int fd = retry_eintr([&] { return ::open(path.c_str(), O_RDONLY | O_CLOEXEC); });
  if (fd < 0) {
    if (errno == ENOENT || errno == ENODEV) return std::nullopt;  // ENODEV: cgroup just removed
    fail_errno("open {}", path);
  }
  UniqueFd owned(fd);
  std::string s;
  try {
    s = read_fd(fd);
  } catch (const Error& e) {
    if (e.error_code() == ENODEV) return std::nullopt;
    fail("read {}: {}", path, e.what());
  }
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

std::vector<pid_t> read_pids(const std::string& dir) {
  std::vector<pid_t> out;
  read_pids_into(dir, out);
  return out;
}

ManagerBase::ManagerBase(Layout layout, std::string path, std::vector<CgroupDir> dirs)
    : layout_(layout), path_(std::move(path)), dirs_(std::move(dirs)) {}

const CgroupDir* ManagerBase::find_dir(std::string_view controller) const {
  for (const CgroupDir& d : dirs_)
    if (d.has(controller)) return &d;
  return nullptr;
}

void ManagerBase::make_chain(CgroupDir& d) {
  std::string rel = d.dir.substr(d.mount.size());
  std::string parent = d.mount;
  size_t pos = 0;
  while (pos < rel.size()) {
    size_t next = rel.find('/', pos + 1);
    if (next == std::string::npos) next = rel.size();
    std::string child = d.mount + rel.substr(0, next);
    pos = next;
    before_child(d, parent);
    if (::mkdir(child.c_str(), 0755) == 0) {
      d.created.push_back(child);
    } else if (errno == EEXIST) {
      struct stat st;
      if (::stat(child.c_str(), &st) == 0 && !S_ISDIR(st.st_mode))
        fail("create cgroup {}: a file of that name exists (cgroupsPath names a control file?)",
             child);
    } else {
      fail_errno("create cgroup {}", child);
    }
    after_level(d, child);
    parent = child;
  }
}

void ManagerBase::create() {
  std::vector<size_t> made_before;
  for (const CgroupDir& d : dirs_) made_before.push_back(d.created.size());
  try {
    for (CgroupDir& d : dirs_) {
      // A shared parent can vanish between our mkdir of it (EEXIST) and of its child, when
      // another container's destroy() removes it just then; walk down again.
      for (int attempt = 0;; ++attempt) {
        try {
          make_chain(d);
          break;
        } catch (const Error& e) {
          if (e.error_code() != ENOENT || attempt == 2) throw;
        }
      }
    }
  } catch (...) {
    // Leave nothing half-made behind: undo this call's directories, newest first.
    for (size_t i = dirs_.size(); i-- > 0;) {
      std::vector<std::string>& created = dirs_[i].created;
      while (created.size() > made_before[i]) {
        ::rmdir(created.back().c_str());
        created.pop_back();
      }
    }
    throw;
  }
}

void ManagerBase::add_process(pid_t pid) {
  for (const CgroupDir& d : dirs_) {
    std::string file = d.dir + "/cgroup.procs";
    std::string value = std::to_string(pid);
    if (int err = write_value(file, value))
      fail_write(
          fmt::format("add process {} to cgroup", pid), file, value, err,
          err == ENOSPC && d.has("cpuset") ? " (its cpuset.cpus or cpuset.mems is empty)" : "");
  }
}

bool ManagerBase::open_placement(Placement& out) const {
  Placement p;
  for (const CgroupDir& d : dirs_) {
    if (d.unified()) {
      if (p.unified) return false;  // one cgroup2 hierarchy at most
      p.unified.reset(::open(d.dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (!p.unified) return false;
    } else {
      std::string tasks = d.dir + "/tasks";
      UniqueFd fd(::open(tasks.c_str(), O_WRONLY | O_CLOEXEC));
      if (!fd) return false;
      p.v1_tasks.emplace_back(std::move(tasks), std::move(fd));
    }
  }
  out = std::move(p);
  return true;
}

std::vector<pid_t> ManagerBase::pids() const {
  std::vector<pid_t> out;
  for (const CgroupDir& d : dirs_) read_pids_into(d.dir, out);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void ManagerBase::kill_all(int sig) {
  if (kill_by_kernel(sig)) return;
  auto signal = [&](pid_t pid) {
    if (::kill(pid, sig) < 0 && errno != ESRCH) fail_errno("send signal {} to {}", sig, pid);
  };

  bool frozen = false;
  bool was_frozen = false;
  if (can_freeze()) {
    try {
      was_frozen = is_frozen();
      freeze();
      frozen = true;
    } catch (const Error& e) {
      log::debug(fmt::format("kill_all: cannot freeze, signalling without: {}", e.what()));
    }
  }
  if (frozen) {
    // Frozen processes cannot fork, so one pass reaches them all.
    try {
      for (pid_t pid : pids()) signal(pid);
    } catch (...) {
      if (!was_frozen) thaw();
      throw;
    }
    // A paused container stays paused, except that SIGKILL only takes effect once thawed.
    if (!was_frozen || sig == SIGKILL) thaw();
    return;
  }
  // Without a freezer, keep signalling until a pass finds nobody new: children forked during
  // one pass get their signal in the next.
  std::set<pid_t> signalled;
  for (int pass = 0; pass < 100; ++pass) {
    bool fresh = false;
    for (pid_t pid : pids()) {
      if (!signalled.insert(pid).second) continue;
      signal(pid);
      fresh = true;
    }
    if (!fresh) break;
  }
}

void ManagerBase::destroy() {
  bool exists = std::any_of(dirs_.begin(), dirs_.end(),
                            [](const CgroupDir& d) { return path_exists(d.dir); });
  if (exists && !pids().empty()) {
    std::string kill_error;
    try {
      kill_all(SIGKILL);
    } catch (const Error& e) {
      kill_error = e.what();
    }
    // Dying processes leave cgroup.procs a moment after the signal. Signal stragglers again
    // in case one was forked past a kill_all that could not freeze.
    std::vector<pid_t> left;
    bool empty = wait_until(2000ms, [&] {
      left = pids();
      for (pid_t pid : left) ::kill(pid, SIGKILL);
      return left.empty();
    });
    if (!empty)
      fail("destroy cgroup {}: processes {} still there 2 s after SIGKILL{}", path_,
           fmt::join(left, ", "), kill_error.empty() ? "" : " (" + kill_error + ")");
  }
  std::string first_error;
  for (CgroupDir& d : dirs_) remove_created(d, &first_error);
  if (!first_error.empty()) throw Error(first_error);
}

void ManagerBase::remove_created(CgroupDir& d, std::string* first_error) {
  if (d.created.empty()) return;
  if (d.created.back() == d.dir) remove_descendants(d.dir, first_error);
  for (auto it = d.created.rbegin(); it != d.created.rend(); ++it) {
    const std::string& c = *it;
    if (c == d.dir) {
      // The cgroup stays busy for a moment after its last process exits.
      int err = 0;
      wait_until(1000ms, [&] {
        err = ::rmdir(c.c_str()) == 0 || errno == ENOENT ? 0 : errno;
        return err != EBUSY;
      });
      if (err) {
        if (first_error->empty())
          *first_error = fmt::format("remove cgroup {}: {}", c, std::strerror(err));
        return;  // its parents cannot go either
      }
      continue;
    }
    if (::rmdir(c.c_str()) == 0 || errno == ENOENT) continue;
    // A parent we made that now holds someone else's cgroup stays for them.
    if (errno == EBUSY || errno == ENOTEMPTY) continue;
    if (first_error->empty())
      *first_error = fmt::format("remove cgroup {}: {}", c, std::strerror(errno));
  }
}

nlohmann::json ManagerBase::to_json() const {
  nlohmann::json dirs = nlohmann::json::array();
  for (const CgroupDir& d : dirs_)
    dirs.push_back({{"controllers", d.controllers},
                    {"mount", d.mount},
                    {"dir", d.dir},
                    {"created", d.created}});
  return {{"version", 1}, {"layout", layout_name(layout_)}, {"path", path_}, {"dirs", dirs}};
}

nlohmann::json ManagerBase::planned_json() const {
  nlohmann::json j = to_json();
  for (size_t i = 0; i < dirs_.size(); ++i) {
    const CgroupDir& d = dirs_[i];
    std::vector<std::string> created = d.created;
    std::string rel = d.dir.substr(d.mount.size());
    size_t pos = 0;
    while (pos < rel.size()) {
      size_t next = rel.find('/', pos + 1);
      if (next == std::string::npos) next = rel.size();
      std::string level = d.mount + rel.substr(0, next);
      pos = next;
      if (!path_exists(level) && std::find(created.begin(), created.end(), level) == created.end())
        created.push_back(level);
    }
    j["dirs"][i]["created"] = created;
  }
  return j;
}

void dirs_from_json(const nlohmann::json& saved, Layout& layout, std::string& path,
                    std::vector<CgroupDir>& dirs) {
  try {
    if (saved.at("version").get<int>() != 1)
      fail("unsupported version {}", saved.at("version").dump());
    auto l = layout_from_name(saved.at("layout").get<std::string>());
    if (!l) fail("unknown layout {}", saved.at("layout").dump());
    layout = *l;
    path = saved.at("path").get<std::string>();
    for (const auto& j : saved.at("dirs")) {
      CgroupDir d;
      d.controllers = j.at("controllers").get<std::vector<std::string>>();
      d.mount = j.at("mount").get<std::string>();
      d.dir = j.at("dir").get<std::string>();
      d.created = j.at("created").get<std::vector<std::string>>();
      auto inside = [&](const std::string& p) {
        return !p.empty() && p[0] == '/' && !has_dotdot(p) && p != d.mount &&
               path_within(p, d.mount);
      };
      if (d.mount.empty() || d.mount[0] != '/' || has_dotdot(d.mount) || !inside(d.dir))
        fail("directory {} is not inside the mount {}", d.dir, d.mount);
      for (const std::string& c : d.created)
        if (!inside(c) || !path_within(d.dir, c))
          fail("created directory {} is not between {} and {}", c, d.mount, d.dir);
      dirs.push_back(std::move(d));
    }
    if (dirs.empty()) fail("no directories");
  } catch (const nlohmann::json::exception& e) {
    fail("saved cgroup state: {}", e.what());
  } catch (const Error& e) {
    fail("saved cgroup state: {}", e.what());
  }
}

}  // namespace vessel::cgroups
