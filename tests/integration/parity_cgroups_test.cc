// runc 1.1 parity of the cgroup layer: a pre-existing frozen or populated cgroup at create,
// the device cgroup's fixed default allow list, v1 cpuset levels that already exist with
// empty cpus/mems, `exec --cgroup`, and the v1 error for linux.resources.unified.
// Each test encodes what runc 1.1 does (run them with VESSEL_TEST_RUNTIME=$(which runc)).
#include <sys/stat.h>
#include <unistd.h>

#include <set>

#include "harness.h"

namespace itest {
namespace {

bool host_is_v2() { return exists("/sys/fs/cgroup/cgroup.controllers"); }

// The mount of the v1 hierarchy that carries `controller` ("" on v2 or when it is absent).
std::string v1_mount(const std::string& controller) {
  if (host_is_v2()) return "";
  for (const std::string& m : cgroup_mount_points()) {
    std::string base = m.substr(m.rfind('/') + 1);
    for (size_t pos = 0; pos <= base.size();) {
      size_t comma = base.find(',', pos);
      if (comma == std::string::npos) comma = base.size();
      if (base.substr(pos, comma - pos) == controller) return m;
      pos = comma + 1;
    }
  }
  return "";
}

// The lines of a devices.list, as a set.
std::set<std::string> line_set(const std::string& text) {
  std::set<std::string> out;
  for (const std::string& l : split_lines(text))
    if (!trim(l).empty()) out.insert(trim(l));
  return out;
}

class ParityCgroupsTest : public ContainerTest {
 protected:
  // Removes, at TearDown, the directory `rel` (a cgroup path) in every hierarchy it exists in.
  void remove_cgroup_later(const std::string& rel) {
    defer([rel] {
      for (const std::string& d : cgroup_dirs(rel)) ::rmdir(d.c_str());
    });
  }

  // create + start a container running `sleep 1000`.
  void start_sleeper(const std::string& id, const json& cfg) {
    Result c = create(id, write_bundle(cfg));
    ASSERT_TRUE(c.ok()) << c.describe();
    Result s = rt({"start", id});
    ASSERT_TRUE(s.ok()) << s.describe();
    ASSERT_TRUE(wait_status(id, "running"));
  }
};

// ---------------------------------------------------------------------------------------------
// Item 8: a pre-existing frozen cgroup is refused before anything is created (it used to hang
// `create` with the init stuck in the frozen cgroup); a populated one only gets a warning.

TEST_F(ParityCgroupsTest, CreateRefusesAPreExistingFrozenCgroup) {
  std::string id = new_id();
  json cfg = config({"true"});
  std::string path = cfg["linux"]["cgroupsPath"];
  std::string dir, file, frozen;
  if (host_is_v2()) {
    dir = "/sys/fs/cgroup" + path;
    file = dir + "/cgroup.freeze";
    frozen = "1";
  } else {
    std::string mount = v1_mount("freezer");
    if (mount.empty()) GTEST_SKIP() << "no freezer hierarchy on this host";
    dir = mount + path;
    file = dir + "/freezer.state";
    frozen = "FROZEN";
  }
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0) << dir << ": " << strerror(errno);
  defer([dir, file, host_v2 = host_is_v2()] {
    write_text(file, host_v2 ? "0" : "THAWED");
    ::rmdir(dir.c_str());
  });
  write_text(file, frozen);
  ASSERT_TRUE(wait_until([&] { return trim(read_text(file)) == frozen; }, 5s))
      << "could not freeze " << dir;

  Result c = create(id, write_bundle(cfg), {}, RtOptions{.timeout = 10s});
  ASSERT_FALSE(c.timed_out) << "create hung on the frozen cgroup" << c.describe();
  EXPECT_NE(c.exit_code(), 0) << c.describe();
  EXPECT_TRUE(contains(c.err, "frozen")) << c.describe();
  // Refused before anything was made: no container, no other cgroup directory.
  EXPECT_EQ(status(id), "") << "a container record was left";
  for (const std::string& d : cgroup_dirs(path))
    EXPECT_EQ(d, dir) << "create made a cgroup before refusing";
}

TEST_F(ParityCgroupsTest, CreateInAPopulatedCgroupWarnsAndRuns) {
  std::string id = new_id();
  json cfg = config({"sleep", "1000"});
  std::string path = cfg["linux"]["cgroupsPath"];
  // runc looks at one hierarchy for the processes: the devices one on v1.
  std::string mount = host_is_v2() ? "/sys/fs/cgroup" : v1_mount("devices");
  if (mount.empty()) GTEST_SKIP() << "no devices hierarchy on this host";
  std::string dir = mount + path;
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0) << dir << ": " << strerror(errno);
  Child squatter = spawn({"sleep", "1000"});
  write_text(dir + "/cgroup.procs", std::to_string(squatter.pid()));
  // Out again before TearDown's delete, which kills what the cgroup holds.
  defer(
      [mount, pid = squatter.pid()] { write_text(mount + "/cgroup.procs", std::to_string(pid)); });
  ASSERT_TRUE(contains(read_text(dir + "/cgroup.procs"), std::to_string(squatter.pid())));

  Result c = create(id, write_bundle(cfg), {}, RtOptions{.timeout = 10s});
  ASSERT_TRUE(c.ok()) << "a populated cgroup is a warning, not an error" << c.describe();
  EXPECT_TRUE(contains(c.err, "container's cgroup is not empty")) << c.describe();
  EXPECT_EQ(status(id), "created");
  Result d = rt({"delete", "--force", id});
  EXPECT_TRUE(d.ok()) << d.describe();
}

// ---------------------------------------------------------------------------------------------
// Item 12: after the spec's rules, exactly runc's default allow list; linux.devices only makes
// nodes and grants nothing.

// What runc 1.1 adds after linux.resources.devices, as devices.list shows it.
const std::set<std::string> kDefaultAllow = {"c *:* m",   "b *:* m",     "c 1:3 rwm",   "c 1:5 rwm",
                                             "c 1:7 rwm", "c 1:8 rwm",   "c 1:9 rwm",   "c 5:0 rwm",
                                             "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm"};

// A node that linux.devices makes but no rule allows; opening it is harmless.
json fuse_device() {
  return {{"path", "/dev/fuse"}, {"type", "c"}, {"major", 10}, {"minor", 229},
          {"fileMode", 0666},    {"uid", 0},    {"gid", 0}};
}

TEST_F(ParityCgroupsTest, DevicesListIsTheSpecRulesThenTheDefaultAllowList) {
  std::string mount = v1_mount("devices");
  if (mount.empty()) GTEST_SKIP() << "needs the v1 devices controller (devices.list)";
  std::string id = new_id();
  json cfg = config({"sleep", "1000"});
  cfg["linux"]["devices"] = json::array({fuse_device()});
  ASSERT_NO_FATAL_FAILURE(start_sleeper(id, cfg));
  std::string list =
      read_text(mount + cfg["linux"]["cgroupsPath"].get<std::string>() + "/devices.list");
  EXPECT_EQ(line_set(list), kDefaultAllow) << list;
}

TEST_F(ParityCgroupsTest, DevicesDefaultListAppliesWithoutResourcesDevices) {
  std::string mount = v1_mount("devices");
  if (mount.empty()) GTEST_SKIP() << "needs the v1 devices controller (devices.list)";
  std::string id = new_id();
  json cfg = config({"sleep", "1000"});
  cfg["linux"].erase("resources");
  ASSERT_NO_FATAL_FAILURE(start_sleeper(id, cfg));
  std::string list =
      read_text(mount + cfg["linux"]["cgroupsPath"].get<std::string>() + "/devices.list");
  EXPECT_EQ(line_set(list), kDefaultAllow) << list;
}

// The same from inside, which is how the v2 eBPF filter is checked: a node opens unless the
// device cgroup says EPERM.
TEST_F(ParityCgroupsTest, DevicesOpenedFromInsideFollowTheDefaultList) {
  for (bool with_resources : {true, false}) {
    SCOPED_TRACE(with_resources ? "linux.resources.devices: deny all" : "no linux.resources");
    json cfg = config({"sh", "-c",
                       "mknod /dev/tun c 10 200 || exit 9; "
                       "for d in /dev/fuse /dev/tun /dev/null; do "
                       "if (: < $d) 2>&1 | grep -q 'not permitted'; then echo $d denied; "
                       "else echo $d allowed; fi; done"});
    cfg["linux"]["devices"] = json::array({fuse_device()});
    if (!with_resources) cfg["linux"].erase("resources");
    for (const char* set : {"bounding", "effective", "permitted"})
      cfg["process"]["capabilities"][set].push_back("CAP_MKNOD");
    Result r = run_container(cfg);
    ASSERT_TRUE(r.ok()) << r.describe();
    EXPECT_EQ(line_set(r.out),
              (std::set<std::string>{"/dev/fuse denied", "/dev/tun allowed", "/dev/null allowed"}))
        << r.describe();
  }
}

// ---------------------------------------------------------------------------------------------
// Item 15: every level of the v1 cpuset hierarchy whose cpus/mems are empty is filled from its
// parent, also levels that existed before (the pod cgroup an engine made).

TEST_F(ParityCgroupsTest, CpusetFillsEmptyLevelsThatAlreadyExisted) {
  std::string mount = v1_mount("cpuset");
  if (mount.empty()) GTEST_SKIP() << "needs the v1 cpuset hierarchy";
  std::string top = new_cgroup_path();
  std::string pod = top + "/pod";
  std::string leaf = pod + "/ctr";
  // Deepest first at TearDown, in every hierarchy the runtime made them in.
  remove_cgroup_later(top);
  remove_cgroup_later(pod);
  remove_cgroup_later(leaf);
  for (const std::string& rel : {top, pod}) {
    std::string d = mount + rel;
    ASSERT_EQ(::mkdir(d.c_str(), 0755), 0) << d << ": " << strerror(errno);
    for (const char* f : {"cpuset.cpus", "cpuset.mems"})
      if (!trim(read_text(d + "/" + f)).empty()) write_text(d + "/" + f, "\n");
    ASSERT_EQ(trim(read_text(d + "/cpuset.cpus")), "") << d;
  }
  json cfg = config({"true"});
  cfg["linux"]["cgroupsPath"] = leaf;
  Result r = run_container(cfg);
  ASSERT_TRUE(r.ok()) << r.describe();
  for (const std::string& rel : {top, pod})
    for (const char* f : {"cpuset.cpus", "cpuset.mems"})
      EXPECT_EQ(trim(read_text(mount + rel + "/" + f)), trim(read_text(mount + "/" + f)))
          << rel << "/" << f;
}

// ---------------------------------------------------------------------------------------------
// Item 17: exec --cgroup [ctrl[,ctrl]:]path, repeatable.

class ParityCgroupsExecTest : public ParityCgroupsTest {
 protected:
  void SetUp() override {
    ParityCgroupsTest::SetUp();
    if (IsSkipped()) return;
    id_ = new_id("exec");
    json cfg = config({"sleep", "1000"});
    cgroup_ = cfg["linux"]["cgroupsPath"];
    ASSERT_NO_FATAL_FAILURE(start_sleeper(id_, cfg));
  }
  Result exec(std::vector<std::string> args) {
    args.insert(args.begin(), "exec");
    return rt(args);
  }
  // Makes `name` below the container's cgroup in the hierarchies whose mount ends in one of
  // `controllers` (all when empty), with a v1 cpuset's cpus/mems copied so it takes processes.
  void make_sub(const std::string& name, const std::vector<std::string>& controllers = {}) {
    for (const std::string& d : cgroup_dirs(cgroup_)) {
      bool chosen = controllers.empty();
      for (const std::string& c : controllers)
        chosen = chosen || contains(d, "/" + c + "/") || contains(d, "," + c);
      if (!chosen) continue;
      std::string sub = d + "/" + name;
      mkdirs(sub);
      defer([sub] { ::rmdir(sub.c_str()); });
      for (const char* f : {"cpuset.cpus", "cpuset.mems"})
        if (exists(sub + "/" + f)) write_text(sub + "/" + f, read_text(d + "/" + f));
    }
  }
  std::string id_, cgroup_;
};

TEST_F(ParityCgroupsExecTest, RefusesAPathOutsideTheContainersCgroup) {
  for (const char* bad : {"..", "../..", "a/../../b"}) {
    Result r = exec({"--cgroup", bad, id_, "true"});
    EXPECT_NE(r.exit_code(), 0) << r.describe();
    EXPECT_TRUE(contains(r.err, "not a sub cgroup path")) << r.describe();
  }
}

TEST_F(ParityCgroupsExecTest, RefusesAnUnknownController) {
  Result r = exec({"--cgroup", "whaaat:/", id_, "true"});
  EXPECT_NE(r.exit_code(), 0) << r.describe();
  EXPECT_TRUE(contains(r.err, "unknown controller")) << r.describe();
}

TEST_F(ParityCgroupsExecTest, MissingSubCgroupFailsWhenThePidIsAdded) {
  Result r = exec({"--cgroup", "nonexistent", id_, "true"});
  EXPECT_NE(r.exit_code(), 0) << r.describe();
  EXPECT_TRUE(contains(r.err, "/nonexistent/cgroup.procs")) << r.describe();
}

TEST_F(ParityCgroupsExecTest, OnlyOneArgumentMayLackAControllerPrefix) {
  make_sub("a");
  make_sub("b");
  Result r = exec({"--cgroup", "a", "--cgroup", "b", id_, "true"});
  EXPECT_NE(r.exit_code(), 0) << r.describe();
  EXPECT_TRUE(contains(r.err, "prefix")) << r.describe();
}

TEST_F(ParityCgroupsExecTest, RepeatedControllerPathsJoinEachHierarchysOwn) {
  if (host_is_v2()) GTEST_SKIP() << "controller:path needs v1 hierarchies";
  if (v1_mount("pids").empty() || v1_mount("memory").empty() || v1_mount("cpu").empty())
    GTEST_SKIP() << "needs the v1 pids, memory and cpu hierarchies";
  make_sub("p", {"pids"});
  make_sub("m", {"memory"});
  make_sub("c", {"cpu", "cpuacct"});
  Result r = exec({"--cgroup", "pids:p", "--cgroup", "memory:/m", "--cgroup", "cpu,cpuacct:c", id_,
                   "cat", "/proc/self/cgroup"});
  ASSERT_TRUE(r.ok()) << r.describe();
  for (const std::string& l : split_lines(trim(r.out))) {
    // "N:controllers:path"
    size_t a = l.find(':'), b = l.find(':', a + 1);
    std::string controllers = l.substr(a + 1, b - a - 1), where = l.substr(b + 1);
    std::string want = cgroup_;
    if (controllers == "pids") want += "/p";
    if (controllers == "memory") want += "/m";
    if (controllers == "cpu" || controllers == "cpuacct" || controllers == "cpu,cpuacct")
      want += "/c";
    if (controllers.empty()) continue;  // the unified hierarchy of a hybrid host
    EXPECT_EQ(where, want) << l << "\n" << r.out;
  }
}

// ---------------------------------------------------------------------------------------------
// Item 22b: linux.resources.unified on v1 names runc's facts; unknown access letters are ignored.

TEST_F(ParityCgroupsTest, UnifiedOnV1SaysItCannotBeUsed) {
  if (host_is_v2()) GTEST_SKIP() << "a cgroup v1 (or hybrid) host refuses unified";
  json cfg = config({"true"});
  cfg["linux"]["resources"]["unified"] = {{"pids.max", "10"}};
  Result r = run_container(cfg);
  EXPECT_NE(r.exit_code(), 0) << r.describe();
  EXPECT_TRUE(contains(r.err, "cannot use unified on cgroup v1")) << r.describe();
}

TEST_F(ParityCgroupsTest, DeviceAccessLettersBeyondRwmAreIgnored) {
  json cfg = config({"sh", "-c", "echo ok > /dev/null && echo done"});
  cfg["linux"]["resources"]["devices"].push_back(
      {{"allow", true}, {"type", "c"}, {"major", 1}, {"minor", 3}, {"access", "rwx"}});
  Result r = run_container(cfg);
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.out, "done\n");
}

}  // namespace
}  // namespace itest
