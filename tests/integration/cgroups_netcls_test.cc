// net_cls and net_prio on a real cgroup v1 hierarchy. Hosts rarely mount them any more (this
// one has them compiled in but unmounted), so the test mounts a hierarchy with both in a
// private mount namespace of its own: a helper process (unshare -m, propagation private)
// holds it, and every runtime command runs there through nsenter, so the runtime's
// /proc/self/mountinfo shows the extra hierarchy while the host's mounts stay as they were.
// The test reads the container's net_cls.classid and net_prio.ifpriomap through
// /proc/<helper>/root, and /proc/self/cgroup from inside the container. The cgroups it made
// are removed and the hierarchy unmounted at the end, which lets the kernel drop it.
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>

#include "harness.h"

namespace itest {
namespace {

// Whether a mounted v1 hierarchy (in our mount namespace, i.e. the host's) carries `controller`.
bool mounted_v1(const std::string& controller) {
  for (const MountInfo& m : parse_mountinfo(read_text("/proc/self/mountinfo")))
    if (m.fstype == "cgroup" && has_option(m.super_opts, controller)) return true;
  return false;
}

// What /proc/cgroups says of `controller`: its v1 hierarchy (0: none) and whether it is enabled.
struct ControllerEntry {
  int hierarchy = 0;
  bool enabled = false;
};
ControllerEntry proc_cgroups_entry(const std::string& controller) {
  for (const std::string& line : split_lines(read_text("/proc/cgroups"))) {
    char name[64] = {};
    int hierarchy = 0, count = 0, enabled = 0;
    if (::sscanf(line.c_str(), "%63s %d %d %d", name, &hierarchy, &count, &enabled) == 4 &&
        controller == name)
      return {hierarchy, enabled == 1};
  }
  return {};
}
bool kernel_has(const std::string& controller) { return proc_cgroups_entry(controller).enabled; }
int hierarchy_of(const std::string& controller) { return proc_cgroups_entry(controller).hierarchy; }

void remove_cgroup_tree(const std::string& dir);

// Removes every cgroup below `dir`, deepest first.
void remove_child_cgroups(const std::string& dir) {
  if (DIR* d = ::opendir(dir.c_str())) {
    std::vector<std::string> subs;
    while (struct dirent* e = ::readdir(d))
      if (e->d_type == DT_DIR && std::strcmp(e->d_name, ".") != 0 &&
          std::strcmp(e->d_name, "..") != 0)
        subs.push_back(dir + "/" + e->d_name);
    ::closedir(d);
    for (const std::string& s : subs) remove_cgroup_tree(s);
  }
}

// Removes the cgroup `dir` and every cgroup below it, deepest first.
void remove_cgroup_tree(const std::string& dir) {
  remove_child_cgroups(dir);
  wait_until([&] { return ::rmdir(dir.c_str()) == 0 || errno != EBUSY; }, 2s);
}

class NetClsPrioTest : public ContainerTest {
 protected:
  void SetUp() override {
    ContainerTest::SetUp();
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    auto root = find_mount(parse_mountinfo(read_text("/proc/self/mountinfo")), "/sys/fs/cgroup");
    if (!root || root->fstype == "cgroup2")
      GTEST_SKIP() << "pure cgroup v2 host: net_cls and net_prio are v1 controllers";
    if (!kernel_has("net_cls") || !kernel_has("net_prio"))
      GTEST_SKIP() << "the kernel has no net_cls or net_prio controller";
    if (mounted_v1("net_cls") || mounted_v1("net_prio"))
      GTEST_SKIP() << "net_cls or net_prio is already mounted on this host";
  }

  // Starts the helper that holds a private mount namespace with a net_cls,net_prio hierarchy
  // mounted at `mount_point` (a directory of this test); cleans everything up at TearDown.
  void start_namespace() {
    mount_point_ = dir() + "/cgroup-net";
    mkdirs(mount_point_);
    helper_ =
        spawn({"unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
               "mount -t cgroup -o net_cls,net_prio none \"$0\" && exec sleep 1000", mount_point_});
    defer([this] { stop_namespace(); });
    ASSERT_TRUE(wait_until([&] { return exists(in_namespace(mount_point_ + "/net_cls.classid")); }))
        << "the helper did not mount the hierarchy: " << helper_.wait(1s).describe();
  }

  // `path` as the helper's mount namespace shows it.
  std::string in_namespace(const std::string& path) const {
    return "/proc/" + std::to_string(helper_.pid()) + "/root" + path;
  }

  // The runtime, run in the helper's mount namespace.
  Result rt_ns(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"nsenter", "--target",  std::to_string(helper_.pid()),
                                     "--mount", "--",        runtime_path(),
                                     "--root",  state_root()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_cmd(argv);
  }

  void stop_namespace() {
    if (helper_.pid() <= 0 || !helper_.running()) return;
    // Whatever a failed test left in the hierarchy, then the hierarchy itself.
    remove_child_cgroups(in_namespace(mount_point_));
    Result u = run_cmd({"nsenter", "--target", std::to_string(helper_.pid()), "--mount", "--",
                        "umount", mount_point_});
    EXPECT_TRUE(u.ok()) << u.describe();
    helper_.kill_group(SIGKILL);
    helper_.wait(5s);
    // A v1 hierarchy whose root still has a child when its last mount goes (a removed cgroup
    // the kernel has not released yet) outlives the mount, invisible but listed in every
    // process's /proc/self/cgroup. Mounting it again and unmounting it once it has no child
    // ends it; the host must be as the test found it.
    bool gone = wait_until(
        [&] {
          if (hierarchy_of("net_cls") == 0) return true;
          run_cmd({"unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                   "mount -t cgroup -o net_cls,net_prio none \"$0\" && umount \"$0\"",
                   mount_point_});
          return hierarchy_of("net_cls") == 0;
        },
        10s, 200ms);
    EXPECT_TRUE(gone) << "the test's net_cls,net_prio hierarchy outlives it";
  }

  std::string mount_point_;
  Child helper_;
};

TEST_F(NetClsPrioTest, ClassIdAndPrioritiesOnARealHierarchy) {
  ASSERT_NO_FATAL_FAILURE(start_namespace());
  json cfg = config({"sh", "-c", "cat /proc/self/cgroup > /shared/cgroup; exec sleep 1000"});
  const std::string cg = cfg["linux"]["cgroupsPath"];
  cfg["linux"]["resources"]["network"] = {{"classID", 0x100001},
                                          {"priorities", {{{"name", "lo"}, {"priority", 5}}}}};
  const std::string id = new_id("netcls");
  const std::string bundle = write_bundle(cfg);

  Result c = rt_ns({"create", "--bundle", bundle, id});
  ASSERT_TRUE(c.ok()) << c.describe();
  Result s = rt_ns({"start", id});
  ASSERT_TRUE(s.ok()) << s.describe();
  ASSERT_TRUE(wait_until([&] { return !read_text(shared_dir() + "/cgroup").empty(); }))
      << "the container never wrote /proc/self/cgroup";

  // The container's cgroup in the test's hierarchy, with both values written.
  const std::string dir = in_namespace(mount_point_ + cg);
  ASSERT_TRUE(exists(dir)) << "no cgroup " << cg << " in the net_cls,net_prio hierarchy";
  EXPECT_EQ(trim(read_text(dir + "/net_cls.classid")), std::to_string(0x100001));
  // ifpriomap lists the interfaces of the reader's network namespace, which is the runtime's
  // (nsenter changed only the mount namespace).
  bool lo_set = false;
  for (const std::string& line : split_lines(read_text(dir + "/net_prio.ifpriomap")))
    lo_set = lo_set || trim(line) == "lo 5";
  EXPECT_TRUE(lo_set) << read_text(dir + "/net_prio.ifpriomap");
  // The container's process is in it, and sees it from inside.
  std::optional<json> st = state(id);
  ASSERT_TRUE(st);
  std::string procs = read_text(dir + "/cgroup.procs");
  EXPECT_TRUE(contains(procs, std::to_string((*st)["pid"].get<int>()))) << procs;
  bool listed = false;
  for (const std::string& line : split_lines(read_text(shared_dir() + "/cgroup"))) {
    size_t c1 = line.find(':'), c2 = line.find(':', c1 + 1);
    if (c1 == std::string::npos || c2 == std::string::npos) continue;
    std::string controllers = line.substr(c1 + 1, c2 - c1 - 1);
    if (has_option(controllers, "net_cls") && has_option(controllers, "net_prio"))
      listed = listed || line.substr(c2 + 1) == cg;
  }
  EXPECT_TRUE(listed) << "no net_cls,net_prio line with " << cg << " in the container's "
                      << "/proc/self/cgroup:\n"
                      << read_text(shared_dir() + "/cgroup");

  // delete, from the same namespace, removes the cgroup there too.
  Result d = rt_ns({"delete", "--force", id});
  EXPECT_TRUE(d.ok()) << d.describe();
  EXPECT_FALSE(exists(dir)) << "the container's net_cls,net_prio cgroup is left behind";
}

// Without the hierarchy (the host as it is), a classID is an error naming the field, and
// create leaves nothing behind.
TEST_F(NetClsPrioTest, ClassIdWithoutNetClsIsAConfigError) {
  if (runtime_is_runc()) GTEST_SKIP() << "runc skips net_cls when it is not mounted";
  json cfg = config({"true"});
  const std::string cg = cfg["linux"]["cgroupsPath"];
  cfg["linux"]["resources"]["network"] = {{"classID", 0x100001}};
  const std::string id = new_id("netcls");
  HostSnapshot before = snapshot();
  Result c = create(id, write_bundle(cfg));
  EXPECT_FALSE(c.ok()) << c.describe();
  EXPECT_TRUE(contains(c.err, "config.json: linux.resources.network.classID: ")) << c.describe();
  expect_nothing_left(before, id, cg);
}

}  // namespace
}  // namespace itest
