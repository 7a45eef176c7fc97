// vessel.conf's containers.runtime (manager/oci_runtime.h): with runc (or crun) configured,
// `vessel` drives that program through the OCI command line, with its state under the run dir,
// and the container is really that runtime's; a bad value names the file, the line and the key;
// nothing is left behind.
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "harness.h"

namespace itest {
namespace {

std::string find_program(const std::string& name) {
  for (const char* dir : {"/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin"}) {
    std::string p = std::string(dir) + "/" + name;
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

class OciRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (runtime_is_runc()) GTEST_SKIP() << "manager tests run once, with vessel's own runtime";
    char tmpl[] = "/tmp/vessel-rtconf-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    root_ = dir_ + "/store";
    conf_ = dir_ + "/vessel.conf";
  }
  void TearDown() override {
    if (dir_.empty()) return;
    for (const auto& id : split_lines(v({"ps", "-aq", "--no-trunc"}).out))
      if (!trim(id).empty()) v({"rm", "-f", trim(id)});
    if (!getenv("VESSEL_TEST_KEEP")) remove_tree(dir_);
  }

  Result v(const std::vector<std::string>& args, Millis timeout = 60s) {
    std::vector<std::string> argv = {VESSEL_MANAGER_BIN, "--config", conf_, "--root", root_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_cmd(argv, timeout);
  }
  // The state directory vessel gives the runtime program NAME (--root under the run dir).
  std::string runtime_root(const std::string& name) const {
    return root_ + "/run/runtimes/" + name;
  }

  // run, run -d + exec + logs + top + update + stop + rm with `program` configured.
  void lifecycle(const std::string& program) {
    std::string bin = find_program(program);
    if (bin.empty()) GTEST_SKIP() << program << " is not installed (Makefile DEB_PACKAGES)";
    write_text(conf_, "[containers]\nruntime = \"" + program + "\"\n");
    auto b = v({"template", "build", "busybox"});
    ASSERT_TRUE(b.ok()) << b.describe();

    auto once = v({"run", "--rm", "--network", "none", "busybox", "true"});
    EXPECT_TRUE(once.ok()) << once.describe();
    auto code = v({"run", "--rm", "--network", "none", "busybox", "sh", "-c", "echo out; exit 3"});
    EXPECT_EQ(code.exit_code(), 3) << code.describe();
    EXPECT_EQ(code.out, "out\n") << code.describe();

    auto d = v({"run", "-d", "--name", "rt1", "--network", "none", "busybox", "sh", "-c",
                "echo started; exec sleep 300"});
    ASSERT_TRUE(d.ok()) << d.describe();
    std::string id = trim(d.out);
    ASSERT_EQ(id.size(), 64u) << d.describe();

    // The container is the program's: its `list` and `state` show it; vessel's own has none.
    std::string rroot = runtime_root(program);
    auto list = run_cmd({bin, "--root", rroot, "list"});
    ASSERT_TRUE(list.ok()) << list.describe();
    EXPECT_TRUE(contains(list.out, id)) << list.out;
    auto state = run_cmd({bin, "--root", rroot, "state", id});
    ASSERT_TRUE(state.ok()) << state.describe();
    EXPECT_EQ(json::parse(state.out).value("status", ""), "running") << state.out;
    EXPECT_FALSE(exists(root_ + "/run/runtime/" + id)) << "not vessel's own runtime";
    // The bundle says the spec version the program takes (crun 1.8 refuses 1.3.0).
    std::string version = json::parse(read_text(root_ + "/containers/" + id + "/config.json"))
                              .value("ociVersion", "");
    EXPECT_FALSE(version.empty());
    if (program == "crun") {
      EXPECT_NE(version, "1.3.0");
    }

    auto ex = v({"exec", "-e", "FOO=bar", "rt1", "sh", "-c", "echo $FOO $((1+2)); id -u"});
    EXPECT_TRUE(ex.ok()) << ex.describe();
    EXPECT_EQ(ex.out, "bar 3\n0\n") << ex.describe();
    auto ex_user = v({"exec", "-u", "1000:1000", "-w", "/tmp", "rt1", "sh", "-c", "id -u; pwd"});
    EXPECT_TRUE(ex_user.ok()) << ex_user.describe();
    EXPECT_EQ(ex_user.out, "1000\n/tmp\n") << ex_user.describe();
    auto ex_code = v({"exec", "rt1", "sh", "-c", "exit 7"});
    EXPECT_EQ(ex_code.exit_code(), 7) << ex_code.describe();

    EXPECT_TRUE(wait_until([&] { return contains(v({"logs", "rt1"}).out, "started"); }, 10s));
    auto top = v({"top", "rt1"});
    EXPECT_TRUE(top.ok()) << top.describe();
    EXPECT_TRUE(contains(top.out, "sleep 300")) << top.describe();

    auto up = v({"update", "--pids-limit", "77", "rt1"});
    EXPECT_TRUE(up.ok()) << up.describe();
    auto pids_max = read_text("/sys/fs/cgroup/pids/vessel-" + id + "/pids.max");
    if (pids_max.empty()) pids_max = read_text("/sys/fs/cgroup/vessel-" + id + "/pids.max");
    EXPECT_EQ(trim(pids_max), "77") << "the program's update reached the cgroup";

    auto p = v({"pause", "rt1"});
    EXPECT_TRUE(p.ok()) << p.describe();
    state = run_cmd({bin, "--root", rroot, "state", id});
    EXPECT_TRUE(contains(state.out, "\"paused\"")) << state.describe();
    auto u = v({"unpause", "rt1"});
    EXPECT_TRUE(u.ok()) << u.describe();

    auto stop = v({"stop", "-t", "1", "rt1"});
    EXPECT_TRUE(stop.ok()) << stop.describe();
    EXPECT_FALSE(contains(run_cmd({bin, "--root", rroot, "list"}).out, id))
        << "the monitor deleted the program's container when it exited";
    auto ps = v({"ps", "-a"});
    EXPECT_TRUE(contains(ps.out, "Exited")) << ps.describe();
    auto rm = v({"rm", "rt1"});
    EXPECT_TRUE(rm.ok()) << rm.describe();

    // Nothing left: no container in the program's state, no cgroup, no mount under the test dir.
    auto after = run_cmd({bin, "--root", rroot, "list", "-q"});
    EXPECT_EQ(trim(after.out), "") << after.describe();
    EXPECT_TRUE(cgroup_dirs("/vessel-" + id).empty());
    EXPECT_FALSE(contains(read_text("/proc/self/mountinfo"), dir_));
    EXPECT_EQ(trim(v({"ps", "-aq"}).out), "");
  }

  std::string dir_, root_, conf_;
};

TEST_F(OciRuntimeTest, RuncConfiguredRunsExecsLogsStopsAndRemoves) { lifecycle("runc"); }

// crun (Debian 12: 1.8.1) refuses config.json's ociVersion 1.3.0; vessel writes the version the
// program takes (its `features`, else 1.0.2). crun refuses hybrid cgroups (this build host's), so
// `make test-crun-vm` runs this in the pure cgroup v2 VM (tests/runtimes/crun-in-v2vm.sh).
TEST_F(OciRuntimeTest, CrunConfiguredRunsExecsLogsStopsAndRemoves) {
  struct statfs fs {};
  if (statfs("/sys/fs/cgroup", &fs) != 0 || fs.f_type != CGROUP2_SUPER_MAGIC)
    GTEST_SKIP() << "crun refuses hybrid cgroups: make test-crun-vm runs this in a cgroup v2 VM";
  lifecycle("crun");
}

TEST_F(OciRuntimeTest, BadRuntimeValuesNameFileLineAndKey) {
  auto check = [&](const std::string& value, const std::string& why) {
    write_text(conf_, "# runtimes\n[containers]\nruntime = \"" + value + "\"\n");
    auto r = v({"ps"});
    EXPECT_EQ(r.exit_code(), 125) << r.describe();
    EXPECT_EQ(trim(r.err),
              "vessel: " + conf_ + ":3: containers.runtime: " + why + " (value \"" + value + "\")")
        << r.describe();
  };
  check("no-such-runtime-xyz", "no program of that name in $PATH");
  check("/nonexistent/runc", "no executable file at that path");
  check("bin/runc", "must be vessel-runtime, a program name (runc, crun) or an absolute path");
  check("/etc/passwd", "no executable file at that path");
  EXPECT_FALSE(exists(root_)) << "nothing was made";
}

TEST_F(OciRuntimeTest, InfoShowsTheEffectiveRuntimeAndItsVersion) {
  write_text(conf_, "");
  auto def = v({"info", "--format", "json"});
  ASSERT_TRUE(def.ok()) << def.describe();
  auto j = json::parse(def.out);
  EXPECT_TRUE(contains(j["host"]["runtime"].get<std::string>(), "vessel-runtime version"));
  EXPECT_TRUE(contains(j["host"]["runtime_program"].get<std::string>(), "built in"));
  std::string runc = find_program("runc");
  if (runc.empty()) GTEST_SKIP() << "runc is not installed";
  write_text(conf_, "[containers]\nruntime = \"runc\"\n");
  auto r = v({"info", "--format", "json"});
  ASSERT_TRUE(r.ok()) << r.describe();
  j = json::parse(r.out);
  EXPECT_EQ(j["settings"]["containers.runtime"]["value"], "runc");
  EXPECT_EQ(j["settings"]["containers.runtime"]["origin"], conf_ + ":2");
  EXPECT_TRUE(contains(j["host"]["runtime"].get<std::string>(), "runc version")) << r.out;
  EXPECT_TRUE(contains(j["host"]["runtime_program"].get<std::string>(), runtime_root("runc")))
      << r.out;
  auto text = v({"info"});
  EXPECT_TRUE(contains(text.out, "runtime: runc version")) << text.out;
  auto ver = v({"version"});
  EXPECT_TRUE(contains(ver.out, "runtime: runc version")) << ver.out;
}

}  // namespace
}  // namespace itest
