// Reliability (docs/reliability.md): `vessel system check [--repair]` against a store damaged
// on purpose, a monitor killed with SIGKILL while its container runs, and the fault-injection
// driver (tests/faults/killpoints.py) over a small sample of kill points.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "harness.h"

namespace itest {
namespace {

class ReliabilityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (runtime_is_runc()) GTEST_SKIP() << "manager tests run once, with vessel's own runtime";
    char tmpl[] = "/tmp/vessel-rtest-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    root_ = dir_ + "/store";
    mounts_before_ = mount_count_under(dir_);
  }
  void TearDown() override {
    if (root_.empty()) return;
    for (const auto& id : split_lines(v({"ps", "-aq", "--no-trunc"}).out))
      if (!trim(id).empty()) v({"rm", "-f", trim(id)});
    EXPECT_EQ(trim(v({"ps", "-aq"}).out), "");
    EXPECT_EQ(mount_count_under(dir_), mounts_before_) << "mounts left behind";
    if (!getenv("VESSEL_TEST_KEEP")) remove_tree(dir_);
  }
  Result v(const std::vector<std::string>& args, Millis timeout = kTimeout) {
    std::vector<std::string> argv = {VESSEL_MANAGER_BIN, "--root", root_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_cmd(argv, timeout);
  }
  json inspect(const std::string& name) {
    auto r = v({"inspect", name});
    if (!r.ok()) return json();
    return json::parse(r.out).at(0);
  }
  std::vector<std::string> ls(const std::string& path) {
    std::vector<std::string> out;
    for (const auto& l : split_lines(run_cmd({"ls", "-A", path}).out))
      if (!trim(l).empty()) out.push_back(trim(l));
    return out;
  }
  std::string dir_, root_;
  size_t mounts_before_ = 0;
};

TEST_F(ReliabilityTest, SystemCheckReportsDamageAndRepairFixesIt) {
  auto run = v({"run", "--rm", "busybox", "true"});
  ASSERT_TRUE(run.ok()) << run.describe();
  auto clean = v({"system", "check"});
  ASSERT_TRUE(clean.ok()) << clean.describe();
  EXPECT_NE(clean.out.find("no problem found"), std::string::npos) << clean.out;

  // The damage: the largest blob (the layer) rewritten, an unpacked layer's directory gone,
  // a valid blob no image uses, a scratch file, a container directory without a row.
  std::string blobs = root_ + "/blobs/sha256";
  std::string biggest;
  off_t size = -1;
  for (const auto& b : ls(blobs)) {
    struct stat st;
    ASSERT_EQ(::stat((blobs + "/" + b).c_str(), &st), 0);
    if (st.st_size > size) size = st.st_size, biggest = b;
  }
  ASSERT_FALSE(biggest.empty());
  write_text(blobs + "/" + biggest, "not the layer any more");
  auto layers = ls(root_ + "/layers");
  ASSERT_FALSE(layers.empty());
  remove_tree(root_ + "/layers/" + layers[0]);
  write_text(dir_ + "/orphan", "nobody's blob\n");
  std::string orphan = run_cmd({"sha256sum", dir_ + "/orphan"}).out.substr(0, 64);
  write_text(blobs + "/" + orphan, "nobody's blob\n");
  mkdirs(root_ + "/tmp/layer-0123456789abcdef/etc");
  mkdirs(root_ + "/containers/" + std::string(64, 'e'));

  auto bad = v({"system", "check"});
  EXPECT_EQ(bad.exit_code(), 1) << bad.describe();
  for (const std::string& what :
       {"corrupt-blob\t" + blobs + "/" + biggest,
        "missing-layer\t" + root_ + "/layers/" + layers[0], "orphan-blob\t" + blobs + "/" + orphan,
        "orphan-tmp\t" + root_ + "/tmp/layer-0123456789abcdef",
        "orphan-container-dir\t" + root_ + "/containers/" + std::string(64, 'e'),
        std::string("missing-blob\t")})
    EXPECT_NE(bad.out.find(what), std::string::npos) << what << "\nin:\n" << bad.out;
  // Without --repair nothing changed.
  EXPECT_TRUE(exists(blobs + "/" + orphan));

  auto repair = v({"system", "check", "--repair"});
  // The image whose layer blob was corrupt cannot be repaired from here: it is reported.
  EXPECT_EQ(repair.exit_code(), 1) << repair.describe();
  EXPECT_FALSE(exists(blobs + "/" + orphan));
  EXPECT_FALSE(exists(blobs + "/" + biggest));
  EXPECT_FALSE(exists(root_ + "/tmp/layer-0123456789abcdef"));
  EXPECT_FALSE(exists(root_ + "/containers/" + std::string(64, 'e')));
  auto after = v({"system", "check"});
  EXPECT_EQ(after.exit_code(), 1);
  auto lines = split_lines(trim(after.out));
  ASSERT_EQ(lines.size(), 2u) << after.out;
  EXPECT_EQ(lines[0].rfind("missing-blob\t", 0), 0u) << after.out;
  // Once that image is gone (or pulled again) the store is consistent.
  auto rmi = v({"rmi", "-f", "busybox"});
  ASSERT_TRUE(rmi.ok()) << rmi.describe();
  auto final_check = v({"system", "check"});
  EXPECT_TRUE(final_check.ok()) << final_check.describe();
}

TEST_F(ReliabilityTest, KilledMonitorIsRepairedByTheNextCommand) {
  auto run = v({"run", "-d", "--name", "mon", "busybox", "sleep", "1000"});
  ASSERT_TRUE(run.ok()) << run.describe();
  json j = inspect("mon");
  ASSERT_FALSE(j.is_null());
  pid_t monitor = j["State"]["MonitorPid"].get<pid_t>();
  pid_t init = j["State"]["Pid"].get<pid_t>();
  ASSERT_GT(monitor, 0);
  ASSERT_GT(init, 0);
  ASSERT_EQ(::kill(monitor, SIGKILL), 0);
  // The container outlives its monitor, and says so.
  auto ps = v({"ps"});
  ASSERT_TRUE(ps.ok()) << ps.describe();
  EXPECT_NE(ps.out.find("mon"), std::string::npos) << ps.out;
  EXPECT_EQ(inspect("mon")["State"]["Status"], "running");
  // Once its process is gone too, the record is finished: exited, exit code unknown (255).
  ASSERT_EQ(::kill(init, SIGKILL), 0);
  json after;
  wait_until([&] {
    after = inspect("mon");
    return after["State"]["Status"] == "exited";
  });
  EXPECT_EQ(after["State"]["Status"], "exited") << after.dump();
  EXPECT_EQ(after["State"]["ExitCode"], 255) << after.dump();
  auto rm = v({"rm", "mon"});
  EXPECT_TRUE(rm.ok()) << rm.describe();
  EXPECT_EQ(ls(root_ + "/containers").size(), 0u);
}

// A monitor killed with SIGKILL, then its container: the next command finishes the record and
// applies the restart policy the monitor would have applied (a new monitor, a new process).
TEST_F(ReliabilityTest, KilledMonitorStillRestartsAContainerWithARestartPolicy) {
  auto run = v({"run", "-d", "--name", "always", "--network", "none", "--restart", "always",
                "busybox", "sleep", "1000"});
  ASSERT_TRUE(run.ok()) << run.describe();
  json j = inspect("always");
  pid_t monitor = j["State"]["MonitorPid"].get<pid_t>();
  pid_t init = j["State"]["Pid"].get<pid_t>();
  ASSERT_GT(monitor, 0);
  ASSERT_GT(init, 0);
  ASSERT_EQ(::kill(monitor, SIGKILL), 0);
  ASSERT_EQ(::kill(init, SIGKILL), 0);
  ASSERT_TRUE(wait_until([&] { return ::kill(init, 0) != 0; }));
  auto ps = v({"ps"});  // the next command
  ASSERT_TRUE(ps.ok()) << ps.describe();
  json after = inspect("always");
  EXPECT_EQ(after["State"]["Status"], "running") << after.dump();
  EXPECT_EQ(after["RestartCount"], 1) << after.dump();
  pid_t monitor2 = after["State"]["MonitorPid"].get<pid_t>();
  pid_t init2 = after["State"]["Pid"].get<pid_t>();
  EXPECT_NE(monitor2, monitor);
  EXPECT_NE(init2, init);
  EXPECT_EQ(::kill(monitor2, 0), 0) << "the new monitor runs";
  EXPECT_EQ(::kill(init2, 0), 0) << "the new container process runs";
  // Without a policy (or after `stop`) the record is only finished: see the test above.
  auto rm = v({"rm", "-f", "always"});
  EXPECT_TRUE(rm.ok()) << rm.describe();
  EXPECT_EQ(ls(root_ + "/containers").size(), 0u);
}

// What a runtime killed between the state directory's mkdir and its first record leaves (an
// empty directory, or one with a half-written temporary file): delete --force removes it, and
// the ID can be used again.
TEST(PartialState, DeleteForceRemovesAStateDirectoryWithoutARecord) {
  if (runtime_is_runc()) GTEST_SKIP() << "vessel's state layout";
  char tmpl[] = "/tmp/vessel-rtest-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string root = tmpl;
  mkdirs(root + "/empty");
  mkdirs(root + "/halfwritten");
  write_text(root + "/halfwritten/state.json.tmp.12345", "{\"id\": \"half");
  mkdirs(root + "/corrupt");
  write_text(root + "/corrupt/state.json", "{\"id\": \"corr");
  for (const std::string id : {"empty", "halfwritten", "corrupt"}) {
    auto r = run_cmd({VESSEL_RUNTIME_BIN, "--root", root, "delete", "--force", id});
    EXPECT_TRUE(r.ok()) << id << ": " << r.describe();
    EXPECT_FALSE(exists(root + "/" + id)) << id;
  }
  // Without --force, what has no record does not exist.
  mkdirs(root + "/empty");
  auto plain = run_cmd({VESSEL_RUNTIME_BIN, "--root", root, "delete", "empty"});
  EXPECT_FALSE(plain.ok());
  EXPECT_NE(plain.err.find("does not exist"), std::string::npos) << plain.describe();
  remove_tree(root);
}

// tests/faults/NAME, found above the build directory (build/bin/vessel-runtime), or "".
std::string fault_script(const std::string& name) {
  for (std::string dir = VESSEL_RUNTIME_BIN; dir.rfind('/') != std::string::npos;) {
    dir.resize(dir.rfind('/'));
    if (exists(dir + "/tests/faults/" + name)) return dir + "/tests/faults/" + name;
  }
  return "";
}

// The driver over a sample of kill points of each command (the full sweep: `make faults`).
TEST(FaultInjection, KillAtSampledSyscallsLeavesNothingAfterDeleteForce) {
  if (runtime_is_runc()) GTEST_SKIP() << "the driver sweeps vessel-runtime (runc: make faults)";
  if (!exists("/usr/bin/strace")) GTEST_SKIP() << "strace is not installed";
  std::string script = fault_script("killpoints.py");
  if (script.empty())
    GTEST_SKIP() << "tests/faults/killpoints.py not found above " << VESSEL_RUNTIME_BIN;
  auto r = run_cmd({"python3", script, "--runtime", VESSEL_RUNTIME_BIN, "--sample", "6"},
                   std::chrono::minutes(5));
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_NE(r.out.find(", 0 left something behind"), std::string::npos) << r.out;
}

// `vessel` itself killed at sampled syscalls of run -d, rm -f, pull, load and build, then what
// a user does next (rm -f, or the same command again): no mount, cgroup, process, row, scratch
// file, half-written blob or complete blob no image uses is left: `system check` finds nothing
// without --repair. The kill points include the first and the last right after a blob is
// renamed into place (tests/faults/manager_kills.py; the sweep and the two-builds-at-once
// check: `make faults`).
TEST(FaultInjection, ManagerKilledAtSampledSyscallsLeavesNothing) {
  if (runtime_is_runc()) GTEST_SKIP() << "manager tests run once, with vessel's own runtime";
  if (!exists("/usr/bin/strace")) GTEST_SKIP() << "strace is not installed";
  std::string script = fault_script("manager_kills.py");
  if (script.empty()) GTEST_SKIP() << "tests/faults/manager_kills.py not found";
  std::string commands = exists("/usr/bin/docker-registry") && exists("/usr/bin/skopeo")
                             ? "run,rm,pull,load,build"
                             : "run,rm,load,build";
  auto r = run_cmd(
      {"python3", script, "--vessel", VESSEL_MANAGER_BIN, "--sample", "3", "--commands", commands},
      std::chrono::minutes(6));
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_NE(r.out.find(", 0 left something behind"), std::string::npos) << r.out;
}

// A store on a 48 MiB tmpfs filled so that pull, load, commit and build run out of space:
// one line naming the lack of space, no half-written blob, layer, scratch file or row, the
// space given back, and the same command succeeds once there is room (full_disk.py).
TEST(FullDisk, PullLoadCommitAndBuildFailCleanlyOnAFullStore) {
  if (runtime_is_runc()) GTEST_SKIP() << "manager tests run once, with vessel's own runtime";
  std::string script = fault_script("full_disk.py");
  if (script.empty()) GTEST_SKIP() << "tests/faults/full_disk.py not found";
  std::string commands = exists("/usr/bin/docker-registry") && exists("/usr/bin/skopeo")
                             ? "pull,load,commit,build"
                             : "load,commit,build";
  auto r = run_cmd({"python3", script, "--vessel", VESSEL_MANAGER_BIN, "--commands", commands},
                   std::chrono::minutes(4));
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_NE(r.out.find(" 0 failed"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace itest
