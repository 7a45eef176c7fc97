// What the v1 and v2 managers share: the directories they own, cgroup file I/O with errors
// that name the setting, and the create / add / pids / kill / destroy logic that does not
// depend on the cgroup version.
#pragma once

#include <time.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cgroups/manager.h"

namespace vessel::cgroups {

// The container's directory in one hierarchy.
struct CgroupDir {
  std::vector<std::string> controllers;  // v1: {"memory"}, {"name=systemd"}; empty: unified
  std::string mount;                     // the hierarchy's mount point
  std::string dir;                       // the container's cgroup, below `mount`
  // Directories create() made itself, parents first. destroy() removes exactly these, so a
  // parent that existed before (or that another container also lives in) is left alone.
  std::vector<std::string> created;

  bool unified() const { return controllers.empty(); }
  bool has(std::string_view controller) const;
};

// Writes `value` with a single write(2) (cgroup files take one value per write).
// Returns 0 or the errno.
int write_value(const std::string& path, const std::string& value);
// Throws "<what>: write <value> to <path>: <strerror><hint>" carrying `err`.
[[noreturn]] void fail_write(const std::string& what, const std::string& path,
                             const std::string& value, int err, const std::string& hint = {});
// fail_write hints for the errnos of the settings v1 and v2 share: cpuset.cpus/mems
// (`file`) and rdma.max.
std::string cpuset_hint(int err, const std::string& file);
std::string rdma_device_hint(int err);
// write_value, throwing fail_write on error. `what` is the OCI field (or the operation).
void write_setting(const std::string& what, const std::string& path, const std::string& value);
// The file's content without the trailing newline; nullopt if it does not exist.
std::optional<std::string> read_value(const std::string& path);
// PIDs in cgroup.procs of `dir` and of every cgroup below it; empty if `dir` is gone.
std::vector<pid_t> read_pids(const std::string& dir);

class ManagerBase : public Manager {
 public:
  ManagerBase(Layout layout, std::string path, std::vector<CgroupDir> dirs);

  void create() override;
  void add_process(pid_t pid) override;
  bool open_placement(Placement& out) const override;
  std::vector<pid_t> pids() const override;
  void kill_all(int sig) override;
  void destroy() override;
  nlohmann::json to_json() const override;
  nlohmann::json planned_json() const override;
  std::string path() const override { return path_; }
  bool frozen() const override { return is_frozen(); }

  Layout layout() const { return layout_; }
  const std::vector<CgroupDir>& dirs() const { return dirs_; }

 protected:
  // Called for every existing ancestor `parent` of a directory about to be made or checked
  // on the way down to the container's cgroup (v2 enables controllers there).
  virtual void before_child(CgroupDir& d, const std::string& parent) = 0;
  // Called for every level below the mount on the way down, once create() made `dir` or found
  // it there already (v1 fills in empty cpuset.cpus/mems there).
  virtual void after_level(CgroupDir& d, const std::string& dir) = 0;
  // Whether freeze() can work at all on this host (a freezer to write to).
  virtual bool can_freeze() const = 0;
  virtual bool is_frozen() const = 0;
  // v2 can kill a whole cgroup in one write (cgroup.kill); true when that was done.
  virtual bool kill_by_kernel(int sig) = 0;

  const CgroupDir* find_dir(std::string_view controller) const;

  Layout layout_;
  std::string path_;
  std::vector<CgroupDir> dirs_;

 private:
  // mkdir from the mount down to d.dir, recording what it made.
  void make_chain(CgroupDir& d);
  void remove_created(CgroupDir& d, std::string* first_error);
};

// Rebuilds the common part from ManagerBase::to_json(), checking that every path stays inside
// its hierarchy's mount (state.json is not trusted to name arbitrary directories).
void dirs_from_json(const nlohmann::json& saved, Layout& layout, std::string& path,
                    std::vector<CgroupDir>& dirs);

// Polls `done`, sleeping 1 ms at first and up to ~20 ms later, until it returns true or
// `limit` passes. False: it never did.
bool wait_until(std::chrono::milliseconds limit, auto&& done) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    struct timespec ts = {0, static_cast<long>(pause.count()) * 1000000L};
    nanosleep(&ts, nullptr);
    if (pause < std::chrono::milliseconds(20)) pause *= 2;
  }
}

}  // namespace vessel::cgroups
