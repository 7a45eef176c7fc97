// The per-container monitor (docs/architecture.md, "The monitor: one process, two programs"):
// while a container runs, its monitor process is the small static C vessel-monitor, with no
// libstdc++ or SQLite mapped; the exit goes back to vessel-monitor-ctl in the same process, and
// where that exec fails the exit code still reaches the record (through <container dir>/exit).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>

#include "harness.h"

namespace itest {
namespace {

class MonitorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (runtime_is_runc()) GTEST_SKIP() << "manager tests run once, with vessel's own runtime";
    char tmpl[] = "/tmp/vessel-montest-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    root_ = dir_ + "/store";
    // A private copy of the programs: this test removes vessel-monitor-ctl from it.
    bin_ = dir_ + "/bin";
    mkdirs(bin_);
    std::string src = std::string(VESSEL_MANAGER_BIN);
    src = src.substr(0, src.rfind('/'));
    for (const char* name : {"vessel", "vessel-monitor", "vessel-monitor-ctl", "vessel-init"}) {
      if (!exists(src + "/" + name)) continue;
      std::filesystem::copy_file(src + "/" + name, bin_ + "/" + name);
    }
    mounts_before_ = mount_count_under(dir_);
  }
  void TearDown() override {
    if (root_.empty()) return;
    auto ids = split_lines(v({"ps", "-aq", "--no-trunc"}).out);
    for (const auto& id : ids)
      if (!trim(id).empty()) v({"rm", "-f", trim(id)});
    EXPECT_EQ(trim(v({"ps", "-aq"}).out), "");
    EXPECT_EQ(mount_count_under(dir_), mounts_before_) << "mounts left behind";
    if (!getenv("VESSEL_TEST_KEEP")) remove_tree(dir_);
  }
  Result v(const std::vector<std::string>& args, Millis timeout = kTimeout) {
    std::vector<std::string> argv = {bin_ + "/vessel", "--root", root_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_cmd(argv, timeout);
  }
  json inspect(const std::string& name) {
    auto r = v({"inspect", name});
    if (!r.ok()) return json();
    return json::parse(r.out).at(0);
  }
  std::string dir_, root_, bin_;
  size_t mounts_before_ = 0;
};

TEST_F(MonitorTest, RunningContainersMonitorIsTheSmallProgramAndTheExitReachesTheRecord) {
  ASSERT_TRUE(v({"template", "build", "busybox"}).ok());
  std::string gate = dir_ + "/gate";
  // The container exits 5 once the test creates the gate file in its bind mount.
  auto r =
      v({"run", "-d", "--network", "none", "--name", "m1", "-v", dir_ + ":/gate-dir", "busybox",
         "sh", "-c", "echo started; while [ ! -e /gate-dir/gate ]; do sleep 0.05; done; exit 5"});
  ASSERT_TRUE(r.ok()) << r.describe();
  auto j = inspect("m1");
  ASSERT_FALSE(j.is_null());
  pid_t mon = j["State"]["MonitorPid"].get<pid_t>();
  ASSERT_GT(mon, 0);

  // Resident: vessel-monitor, nothing of C++ or SQLite mapped.
  char exe[4096] = {};
  ASSERT_GT(::readlink(("/proc/" + std::to_string(mon) + "/exe").c_str(), exe, sizeof exe - 1), 0);
  EXPECT_EQ(std::string(exe), bin_ + "/vessel-monitor");
  std::string maps = read_text("/proc/" + std::to_string(mon) + "/maps");
  ASSERT_FALSE(maps.empty());
  EXPECT_FALSE(contains(maps, "libstdc++")) << maps;
  EXPECT_FALSE(contains(maps, "sqlite")) << maps;
  EXPECT_FALSE(contains(maps, "libfmt")) << maps;
  // The container's output still reaches its log through the C monitor.
  ASSERT_TRUE(wait_until([&] { return contains(v({"logs", "m1"}).out, "started"); }));

  // vessel-monitor-ctl is gone: the exec back fails, and the exit code goes through the file.
  ASSERT_EQ(::unlink((bin_ + "/vessel-monitor-ctl").c_str()), 0);
  write_text(gate, "");
  ASSERT_TRUE(wait_until([&] { return ::kill(mon, 0) != 0; }));
  ASSERT_TRUE(wait_until([&] {
    auto s = inspect("m1");
    return !s.is_null() && s["State"]["Status"] == "exited";
  }));
  j = inspect("m1");
  EXPECT_EQ(j["State"]["ExitCode"].get<int>(), 5) << j.dump();
  EXPECT_TRUE(contains(j["State"]["Error"].get<std::string>(), "could not record")) << j.dump();
  std::string log = read_text(root_ + "/containers/" + j["Id"].get<std::string>() + "/monitor.log");
  EXPECT_TRUE(contains(log, "vessel-monitor-ctl")) << log;
}

// The default seccomp profile is compiled once per store (runtime/container.cc compiles in the
// parent; <runroot>/seccomp keeps the program, linux/seccomp_cache.h) and the program read back
// from there still filters: unshare(CLONE_NEWUSER), which the profile refuses and the kernel
// would allow, fails in both runs, and works when the profile is off.
TEST_F(MonitorTest, SeccompProgramIsCompiledOnceAndTheCachedOneStillFilters) {
  ASSERT_TRUE(v({"template", "build", "busybox"}).ok());
  const std::string probe =
      "grep Seccomp: /proc/self/status; unshare -U true && echo unshared || echo refused";
  auto first = v({"run", "--rm", "--network", "none", "busybox", "sh", "-c", probe});
  ASSERT_TRUE(first.ok()) << first.describe();
  EXPECT_TRUE(contains(first.out, "Seccomp:\t2")) << first.out;
  EXPECT_TRUE(contains(first.out, "refused")) << first.out;

  const std::string cache = root_ + "/run/seccomp";
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(cache)) files.push_back(e.path());
  ASSERT_EQ(files.size(), 1u) << "one program for the default profile";
  struct stat before {};
  ASSERT_EQ(::stat(files[0].c_str(), &before), 0);
  EXPECT_EQ(before.st_mode & 0777, 0600u);

  auto second = v({"run", "--rm", "--network", "none", "busybox", "sh", "-c", probe});
  ASSERT_TRUE(second.ok()) << second.describe();
  EXPECT_TRUE(contains(second.out, "Seccomp:\t2")) << second.out;
  EXPECT_TRUE(contains(second.out, "refused")) << second.out;
  struct stat after {};
  ASSERT_EQ(::stat(files[0].c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino) << "read back, not compiled and written again";

  auto off = v({"run", "--rm", "--network", "none", "--security-opt", "seccomp=unconfined",
                "busybox", "sh", "-c", probe});
  ASSERT_TRUE(off.ok()) << off.describe();
  EXPECT_TRUE(contains(off.out, "Seccomp:\t0")) << off.out;
  EXPECT_TRUE(contains(off.out, "unshared")) << off.out;
}

// `vessel run`/`start` start the monitor with one posix_spawn in a session of its own (not fork,
// setsid, fork: then the session would be the vanished middle process's), and a monitor that
// logs nothing leaves no monitor.log. What the other shell needs still works meanwhile (ps,
// inspect, stop), a foreground run still gives the container's exit code, and --rm leaves
// nothing behind.
TEST_F(MonitorTest, TheCommandSpawnsTheMonitorInItsOwnSessionAndAQuietOneWritesNoLog) {
  ASSERT_TRUE(v({"template", "build", "busybox"}).ok());
  auto fg = v({"run", "--name", "fg", "--network", "none", "busybox", "sh", "-c", "exit 3"});
  EXPECT_EQ(fg.exit_code(), 3) << fg.err;
  json j = inspect("fg");
  ASSERT_FALSE(j.is_null());
  std::string cdir = root_ + "/containers/" + j["Id"].get<std::string>();
  EXPECT_TRUE(exists(cdir + "/config.json"));
  EXPECT_FALSE(exists(cdir + "/monitor.log")) << read_text(cdir + "/monitor.log");

  ASSERT_TRUE(v({"run", "-d", "--name", "bg", "--network", "none", "busybox", "sleep", "60"}).ok());
  j = inspect("bg");
  ASSERT_EQ(j["State"]["Status"], "running") << j.dump();
  pid_t init = j["State"]["Pid"].get<pid_t>();
  auto stat_fields = [](pid_t pid) {
    std::string st = read_text("/proc/" + std::to_string(pid) + "/stat");
    std::vector<long> f;  // state is skipped: ppid, pgrp, session, ...
    auto rp = st.rfind(')');
    if (rp == std::string::npos) return f;
    std::istringstream is(st.substr(rp + 4));
    long x;
    while (f.size() < 3 && is >> x) f.push_back(x);
    return f;
  };
  auto init_f = stat_fields(init);
  ASSERT_EQ(init_f.size(), 3u);
  pid_t monitor = static_cast<pid_t>(init_f[0]);
  auto mon_f = stat_fields(monitor);
  ASSERT_EQ(mon_f.size(), 3u);
  EXPECT_EQ(mon_f[2], monitor) << "the monitor leads a session of its own";
  EXPECT_EQ(mon_f[1], monitor) << "and its process group";
  EXPECT_TRUE(contains(v({"ps"}).out, "bg"));
  EXPECT_TRUE(v({"stop", "-t", "1", "bg"}).ok());
  j = inspect("bg");
  EXPECT_EQ(j["State"]["Status"], "exited") << j.dump();

  auto rm = v({"run", "--rm", "--name", "gone", "--network", "none", "busybox", "true"});
  EXPECT_TRUE(rm.ok()) << rm.err;
  EXPECT_TRUE(inspect("gone").is_null()) << "--rm left its record";
}

}  // namespace
}  // namespace itest
