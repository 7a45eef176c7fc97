// vessel checkpoint / vessel restore end to end: counters from the busybox template, each test
// with its own store (--root). Where `criu check` fails (this host's 6.18 kernel: the vDSO) the
// tests that need CRIU skip with its reason; `make test-criu-vm` runs them in the pure cgroup
// v2 VM. Containers have no network (--network none).
#include <signal.h>
#include <unistd.h>

#include <thread>

#include "harness_criu.h"

namespace itest {
namespace {

// Prints 1, 2, 3… (a shell variable: memory) to its log every 0.1 s, after writing /marker in
// its root filesystem.
const std::vector<std::string> kCounter = {
    "sh", "-c", "echo before > /marker; i=0; while true; do i=$((i+1)); echo $i; sleep 0.1; done"};

std::vector<int> numbers(const std::string& text) {
  std::vector<int> out;
  for (const auto& l : split_lines(text)) {
    std::string t = trim(l);
    if (t.empty()) continue;
    try {
      out.push_back(std::stoi(t));
    } catch (const std::exception&) {
      out.push_back(-1);
    }
  }
  return out;
}

::testing::AssertionResult consecutive(const std::vector<int>& v) {
  for (size_t i = 1; i < v.size(); ++i)
    if (v[i] != v[i - 1] + 1)
      return ::testing::AssertionFailure()
             << "line " << i + 1 << " is " << v[i] << " after " << v[i - 1];
  return ::testing::AssertionSuccess();
}

class ManagerCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (runtime_is_runc()) GTEST_SKIP() << "manager tests run once, with vessel's own runtime";
    const char* tmp = getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/vessel-mckpt-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    root_ = dir_ + "/store";
    mounts_before_ = mount_count_under(dir_);
  }
  void TearDown() override {
    if (root_.empty()) return;
    for (const auto& root : {root_, other_root()}) {
      if (!exists(root)) continue;
      for (const auto& id : split_lines(v({"ps", "-aq", "--no-trunc"}, root).out))
        if (!trim(id).empty()) v({"rm", "-f", trim(id)}, root);
      EXPECT_EQ(trim(v({"ps", "-aq"}, root).out), "");
    }
    EXPECT_EQ(mount_count_under(dir_), mounts_before_) << "mounts left behind";
    if (!getenv("VESSEL_TEST_KEEP")) remove_tree(dir_);
  }
  std::string other_root() const { return dir_ + "/other"; }

  Result v(const std::vector<std::string>& args, const std::string& root = "",
           Millis timeout = 120s) {
    std::vector<std::string> argv = {VESSEL_MANAGER_BIN, "--root", root.empty() ? root_ : root};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_cmd(argv, timeout);
  }
  json inspect(const std::string& name, const std::string& root = "") {
    auto r = v({"inspect", name}, root);
    if (!r.ok()) return json();
    return json::parse(r.out).at(0);
  }
  std::vector<int> log_numbers(const std::string& name, const std::string& root = "") {
    return numbers(v({"logs", name}, root).out);
  }
  bool counts_past(const std::string& name, size_t n, const std::string& root = "") {
    return wait_until([&] { return log_numbers(name, root).size() > n; }, 90s, 100ms);
  }
  void run_counter(const std::string& name, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"run", "-d", "--network", "none", "--name", name};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back("busybox");
    args.insert(args.end(), kCounter.begin(), kCounter.end());
    Result r = v(args);
    ASSERT_TRUE(r.ok()) << r.describe();
    ASSERT_TRUE(counts_past(name, 3)) << v({"logs", name}).out;
  }
  // The container has stopped and its monitor is gone.
  bool settled(const std::string& name, const std::string& root = "") {
    auto j = inspect(name, root);
    if (j.is_null()) return false;
    pid_t mon = j["State"]["MonitorPid"].get<pid_t>();
    return j["State"]["Status"] == "exited" && (mon == 0 || ::kill(mon, 0) != 0);
  }
  // A failure: one line on stderr, exit 125.
  static void expect_clean_failure(const Result& r, const std::string& says) {
    EXPECT_EQ(r.exit_code(), 125) << r.describe();
    EXPECT_TRUE(contains(r.err, says)) << r.describe();
    EXPECT_EQ(split_lines(trim(r.err)).size(), 1u) << r.describe();
  }

  std::string dir_, root_;
  size_t mounts_before_ = 0;
};

TEST_F(ManagerCheckpointTest, CounterContinuesAfterCheckpointAndRestore) {
  SKIP_WITHOUT_CRIU();
  // --restart always: a checkpoint stops it all the same; after the restore the policy applies.
  ASSERT_NO_FATAL_FAILURE(run_counter("ctr", {"--restart", "always"}));
  Result c = v({"checkpoint", "ctr"});
  ASSERT_TRUE(c.ok()) << c.describe();
  EXPECT_EQ(trim(c.out), "ctr");
  ASSERT_TRUE(wait_until([&] { return settled("ctr"); }, 60s));
  json j = inspect("ctr");
  EXPECT_EQ(j["State"]["ExitCode"], 0);
  EXPECT_EQ(j["State"]["Checkpointed"], true) << j.dump(2);
  EXPECT_TRUE(contains(v({"ps", "-a"}).out, "Exited (0)")) << v({"ps", "-a"}).out;
  auto before = log_numbers("ctr");
  ASSERT_GT(before.size(), 3u);
  // The restart policy did not bring it back.
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(inspect("ctr")["State"]["Status"], "exited");
  EXPECT_EQ(log_numbers("ctr").size(), before.size());

  Result r = v({"restore", "ctr"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(inspect("ctr")["State"]["Status"], "running");
  EXPECT_EQ(inspect("ctr")["State"]["Checkpointed"], false) << "the checkpoint goes after use";
  ASSERT_TRUE(counts_past("ctr", before.size() + 3));
  auto after = log_numbers("ctr");
  EXPECT_EQ(after.front(), 1);
  EXPECT_TRUE(consecutive(after)) << "the counter continued from its memory";
  // A container like any other: exec, its monitor's restart policy, rm.
  Result e = v({"exec", "ctr", "cat", "/marker"});
  EXPECT_TRUE(e.ok()) << e.describe();
  EXPECT_EQ(trim(e.out), "before");
  ASSERT_TRUE(v({"kill", "-s", "KILL", "ctr"}).ok());
  EXPECT_TRUE(wait_until(
      [&] {
        auto s = inspect("ctr");
        return s["RestartCount"] == 1 && s["State"]["Status"] == "running";
      },
      60s))
      << inspect("ctr").dump(2);
  Result rm = v({"rm", "-f", "ctr"});
  EXPECT_TRUE(rm.ok()) << rm.describe();
}

TEST_F(ManagerCheckpointTest, LeaveRunningThenRestoreFromThatPoint) {
  SKIP_WITHOUT_CRIU();
  ASSERT_NO_FATAL_FAILURE(run_counter("ctr"));
  Result c = v({"checkpoint", "--leave-running", "ctr"});
  ASSERT_TRUE(c.ok()) << c.describe();
  size_t at_checkpoint = log_numbers("ctr").size();
  EXPECT_EQ(inspect("ctr")["State"]["Status"], "running");
  EXPECT_EQ(inspect("ctr")["State"]["Checkpointed"], true);
  ASSERT_TRUE(counts_past("ctr", at_checkpoint + 5)) << "it keeps counting";
  expect_clean_failure(v({"restore", "ctr"}), "stop it first");
  ASSERT_TRUE(v({"stop", "-t", "1", "ctr"}).ok());
  auto stopped = log_numbers("ctr");
  ASSERT_TRUE(consecutive(stopped));
  Result r = v({"restore", "ctr"});
  ASSERT_TRUE(r.ok()) << r.describe();
  ASSERT_TRUE(counts_past("ctr", stopped.size() + 3));
  auto all = log_numbers("ctr");
  std::vector<int> resumed(all.begin() + static_cast<long>(stopped.size()), all.end());
  // It went on from where the checkpoint was taken: not from 1, and not from where it stopped.
  EXPECT_GT(resumed.front(), 1);
  EXPECT_LT(resumed.front(), stopped.back() + 1);
  EXPECT_TRUE(consecutive(resumed));
}

TEST_F(ManagerCheckpointTest, ExportRestoresIntoAnotherStoreUnderNewName) {
  SKIP_WITHOUT_CRIU();
  ASSERT_NO_FATAL_FAILURE(run_counter("ctr"));
  std::string archive = dir_ + "/ctr.tar.gz";
  Result c = v({"checkpoint", "--export", archive, "ctr"});
  ASSERT_TRUE(c.ok()) << c.describe();
  ASSERT_TRUE(exists(archive));
  Result list = run_cmd({"tar", "-tzf", archive});
  EXPECT_TRUE(contains(list.out, "container.json")) << list.out;
  EXPECT_TRUE(contains(list.out, "checkpoint/inventory.img")) << list.out;
  EXPECT_TRUE(contains(list.out, "rootfs-diff.tar.gz")) << list.out;
  ASSERT_TRUE(wait_until([&] { return settled("ctr"); }, 60s));
  auto old_log = log_numbers("ctr");

  // A fresh store: the image comes from its own busybox template.
  Result r = v({"restore", "--import", archive, "--name", "moved"}, other_root());
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(trim(r.out), "moved");
  json j = inspect("moved", other_root());
  EXPECT_EQ(j["State"]["Status"], "running") << j.dump(2);
  EXPECT_NE(j["Id"], inspect("ctr")["Id"]);
  ASSERT_TRUE(counts_past("moved", 3, other_root()));
  auto moved = log_numbers("moved", other_root());
  EXPECT_GT(moved.front(), 1) << "it continues counting";
  EXPECT_LE(moved.front(), old_log.back() + 1);
  EXPECT_TRUE(consecutive(moved));
  Result e = v({"exec", "moved", "cat", "/marker"}, other_root());
  EXPECT_TRUE(e.ok()) << e.describe();
  EXPECT_EQ(trim(e.out), "before") << "the root filesystem's changes came along";
  // The original is untouched, checkpoint and all.
  EXPECT_EQ(inspect("ctr")["State"]["Checkpointed"], true);
  Result stop = v({"stop", "-t", "1", "moved"}, other_root());
  EXPECT_TRUE(stop.ok()) << stop.describe();
  EXPECT_TRUE(settled("moved", other_root()));
}

TEST_F(ManagerCheckpointTest, BadInputFailsCleanly) {
  ASSERT_TRUE(v({"create", "--network", "none", "--name", "idle", "busybox", "true"}).ok());
  auto before = v({"ps", "-a", "--no-trunc", "-q"}).out;
  expect_clean_failure(v({"checkpoint", "nosuch"}), "no such container");
  expect_clean_failure(v({"restore", "nosuch"}), "no such container");
  expect_clean_failure(v({"checkpoint", "idle"}), "not running");
  expect_clean_failure(v({"restore", "idle"}), "has no checkpoint");
  expect_clean_failure(v({"restore", "--import", dir_ + "/missing.tar.gz"}), "missing.tar.gz");
  expect_clean_failure(v({"restore", "--name", "x", "idle"}), "--name goes with --import");
  expect_clean_failure(v({"restore"}), "give a container");
  write_text(dir_ + "/garbage.tar.gz", "not an archive\n");
  Result g = v({"restore", "--import", dir_ + "/garbage.tar.gz", "--name", "g"});
  EXPECT_EQ(g.exit_code(), 125) << g.describe();
  EXPECT_EQ(split_lines(trim(g.err)).size(), 1u) << g.describe();
  // Nothing was made or changed.
  EXPECT_EQ(v({"ps", "-a", "--no-trunc", "-q"}).out, before);
  EXPECT_EQ(inspect("idle")["State"]["Status"], "created");
  EXPECT_EQ(inspect("idle")["State"]["Checkpointed"], false);
  // No unpacked archive left in the store's scratch directory (the template's lock may be).
  EXPECT_FALSE(contains(run_cmd({"ls", "-A", root_ + "/tmp"}).out, "import"))
      << run_cmd({"ls", "-A", root_ + "/tmp"}).out;

  // A running container: an export into a directory that does not exist is refused first.
  ASSERT_TRUE(
      v({"run", "-d", "--network", "none", "--name", "up", "busybox", "sleep", "600"}).ok());
  expect_clean_failure(v({"checkpoint", "--export", dir_ + "/nodir/x.tar.gz", "up"}), "nodir");
  EXPECT_EQ(inspect("up")["State"]["Status"], "running");
  EXPECT_EQ(inspect("up")["State"]["Checkpointed"], false);
  std::string cdir = inspect("up")["BundlePath"].get<std::string>();
  EXPECT_FALSE(exists(cdir + "/checkpoint.new"));
  EXPECT_FALSE(exists(cdir + "/checkpointing"));
}

TEST_F(ManagerCheckpointTest, UnusableCriuSaysWhyAndChangesNothing) {
  if (criu_unusable().empty()) GTEST_SKIP() << "CRIU works here";
  ASSERT_TRUE(
      v({"run", "-d", "--network", "none", "--name", "up", "busybox", "sleep", "600"}).ok());
  json j = inspect("up");
  Result c = v({"checkpoint", "up"});
  expect_clean_failure(c, "CRIU cannot work here");
  json now = inspect("up");
  EXPECT_EQ(now["State"]["Status"], "running");
  EXPECT_EQ(now["State"]["Pid"], j["State"]["Pid"]);
  EXPECT_EQ(now["State"]["Checkpointed"], false);
  std::string cdir = now["BundlePath"].get<std::string>();
  EXPECT_FALSE(exists(cdir + "/checkpoint.new"));
  EXPECT_FALSE(exists(cdir + "/checkpoint"));
  EXPECT_FALSE(exists(cdir + "/checkpointing"));
  write_text(dir_ + "/some.tar.gz", "x");
  expect_clean_failure(v({"restore", "--import", dir_ + "/some.tar.gz"}), "CRIU cannot work here");
  EXPECT_EQ(split_lines(trim(v({"ps", "-aq"}).out)).size(), 1u);
}

}  // namespace
}  // namespace itest
