// What `vessel run --rm` (attached), `rm -f` and `stop` + `rm` have finished when they return:
// a script that lists, removes or deletes the store right after must find nothing of the
// container, and no monitor still at work on it. The test process is a child subreaper
// (harness.h): a monitor that outlives the command that spawned it becomes our child, which is
// how these tests see one that is still finishing.
#include <dirent.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <unistd.h>

#include <cstring>

#include "harness.h"

namespace itest {
namespace {

class RemovalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (runtime_is_runc()) GTEST_SKIP() << "manager tests run once, with vessel's own runtime";
    char tmpl[] = "/tmp/vessel-rmtest-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    root_ = dir_ + "/store";
    mounts_before_ = mount_count_under(dir_);
    strays_before_ = stray_children(0ms);
    ASSERT_TRUE(v({"template", "build", "busybox"}).ok());
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
    std::vector<std::string> argv = {VESSEL_MANAGER_BIN, "--root", root_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_cmd(argv, timeout);
  }

  // Entries of `dir` whose names start with `prefix`.
  static std::vector<std::string> entries(const std::string& dir, const std::string& prefix = "") {
    std::vector<std::string> out;
    DIR* d = ::opendir(dir.c_str());
    if (!d) return out;
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != ".." && n.starts_with(prefix)) out.push_back(n);
    }
    ::closedir(d);
    return out;
  }

  // An exited process not yet reaped: it has closed its files and done its work.
  static bool is_zombie(pid_t pid) {
    std::string st = read_text("/proc/" + std::to_string(pid) + "/stat");
    auto rp = st.rfind(')');
    return rp == std::string::npos || (rp + 2 < st.size() && st[rp + 2] == 'Z');
  }

  // What is left of the container whose ID starts with `id` (12 characters), looked at first
  // where a finishing monitor would be seen soonest: its attach socket, its monitor process,
  // then the rest. Other containers of the store may run meanwhile.
  std::string left_of(const std::string& id) {
    std::string left;
    for (const auto& e : entries(root_ + "/run/attach", id)) left += " run/attach/" + e + ";";
    std::set<pid_t> strays;
    for (pid_t p : stray_children(0ms))
      if (!strays_before_.count(p) && !is_zombie(p) &&
          contains(read_text("/proc/" + std::to_string(p) + "/cmdline"), id))
        strays.insert(p);
    if (!strays.empty()) left += " monitor still running:" + describe_pids(strays) + ";";
    for (const auto& e : entries(root_ + "/run/runtime", id)) left += " run/runtime/" + e + ";";
    for (const auto& e : entries(root_ + "/containers", id)) left += " containers/" + e + ";";
    for (const auto& m : cgroup_mount_points())
      for (const auto& e : entries(m, "vessel-" + id)) left += " cgroup " + m + "/" + e + ";";
    return left;
  }

  std::string dir_, root_;
  size_t mounts_before_ = 0;
  std::set<pid_t> strays_before_;
};

// The state of `pid` in /proc/PID/stat ('R', 'S', 't' for a ptrace stop, ...), 0 if gone.
char proc_state(pid_t pid) {
  std::string st = read_text("/proc/" + std::to_string(pid) + "/stat");
  auto rp = st.rfind(')');
  return rp == std::string::npos || rp + 2 >= st.size() ? 0 : st[rp + 2];
}

// Holds a process at its exit (PTRACE_EVENT_EXIT: after all its own work, before the kernel
// closes its files) until released or destroyed.
class ExitHold {
 public:
  explicit ExitHold(pid_t pid) : pid_(pid) {
    if (::ptrace(PTRACE_SEIZE, pid, nullptr, PTRACE_O_TRACEEXIT) == 0) seized_ = true;
  }
  ~ExitHold() { release(); }
  bool seized() const { return seized_; }
  // Waits until the process stops at its exit. (The harness's reaper thread collects the
  // stop notifications, so the stop is seen in /proc; a signal stop on the way is resumed.)
  bool wait_for_exit_stop() {
    return wait_until([&] {
      if (proc_state(pid_) != 't') return false;
      siginfo_t si{};
      if (::ptrace(PTRACE_GETSIGINFO, pid_, nullptr, &si) != 0) return false;
      if (si.si_signo == SIGTRAP && (si.si_code >> 8) == PTRACE_EVENT_EXIT) return true;
      ::ptrace(PTRACE_CONT, pid_, nullptr, si.si_signo);
      return false;
    });
  }
  void release() {
    if (seized_) ::ptrace(PTRACE_DETACH, pid_, nullptr, 0);
    seized_ = false;
  }

 private:
  pid_t pid_;
  bool seized_ = false;
};

// The container waits for a gate file, then prints its hostname (the first 12 characters of
// its ID) and exits. The test holds its monitor at the monitor's exit, once it has done all
// its work and sent the exit code but before its files are closed: `vessel run --rm` must not
// have returned by then (before the fix it had, every time), and once the monitor is let go,
// the command returns with the container's record, state, runtime state, cgroup, root
// filesystem, attach socket and monitor all gone. Then plain runs in a row, checked the same
// way the moment each returns.
TEST_F(RemovalTest, AttachedRunRmReturnsOnlyOnceTheContainerIsGone) {
  std::string gate = dir_ + "/gate";
  Child run = spawn({VESSEL_MANAGER_BIN, "--root", root_, "run", "--rm", "--name", "held",
                     "--network", "none", "-v", dir_ + ":/gate-dir", "busybox", "sh", "-c",
                     "while [ ! -e /gate-dir/gate ]; do sleep 0.02; done; hostname"});
  pid_t mon = 0;
  ASSERT_TRUE(wait_until([&] {
    auto r = v({"inspect", "-f", "{{.State.Status}} {{.State.MonitorPid}}", "held"});
    if (!r.ok() || !trim(r.out).starts_with("running ")) return false;
    mon = std::stoi(trim(r.out).substr(8));
    return mon > 0;
  })) << run.wait(1s).describe();
  ExitHold hold(mon);
  ASSERT_TRUE(hold.seized()) << "PTRACE_SEIZE " << mon << ": " << strerror(errno);
  write_text(gate, "");
  ASSERT_TRUE(hold.wait_for_exit_stop()) << "the monitor did not reach its exit";
  // The monitor is done with everything but its exit: the command must still wait for it. A
  // command that returns does so within moments of the exit code (as the old one did).
  EXPECT_FALSE(wait_until([&] { return !run.running(); }, 2s))
      << "vessel run --rm returned while its monitor had not ended";
  hold.release();
  auto r = run.wait();
  ASSERT_TRUE(r.ok()) << r.describe();
  std::string id = trim(r.out);
  ASSERT_EQ(id.size(), 12u) << r.describe();
  EXPECT_EQ(left_of(id), "");

  std::string failures;
  for (int i = 0; i < 8; ++i) {
    r = v({"run", "--rm", "--network", "none", "busybox", "hostname"});
    ASSERT_TRUE(r.ok()) << r.describe();
    id = trim(r.out);
    ASSERT_EQ(id.size(), 12u) << r.describe();
    std::string left = left_of(id);
    if (!left.empty()) failures += "\nrun " + std::to_string(i) + ":" + left;
  }
  EXPECT_EQ(failures, "");
  auto ps = v({"ps", "-aq"});
  EXPECT_EQ(trim(ps.out), "") << ps.describe();
  EXPECT_EQ(mount_count_under(dir_), mounts_before_) << "mounts left behind";
}

// rm -f of a running container returns once its monitor has ended and everything is removed.
TEST_F(RemovalTest, RmForceOfARunningContainerReturnsOnlyOnceItIsGone) {
  std::string failures;
  for (int i = 0; i < 4; ++i) {
    auto r = v({"run", "-d", "--network", "none", "busybox", "sleep", "600"});
    ASSERT_TRUE(r.ok()) << r.describe();
    std::string id = trim(r.out).substr(0, 12);
    auto rm = v({"rm", "-f", id});
    ASSERT_TRUE(rm.ok()) << rm.describe();
    std::string left = left_of(id);
    if (!left.empty()) failures += "\nrm -f " + std::to_string(i) + ":" + left;
  }
  EXPECT_EQ(failures, "");
  EXPECT_EQ(trim(v({"ps", "-aq"}).out), "");
}

// stop returns once the monitor has recorded the exit and torn the container down (its root
// filesystem unmounted, runtime state and cgroup gone); rm then removes the rest. A -d --rm
// container is gone when stop returns.
TEST_F(RemovalTest, StopThenRmAndStopOfADetachedRmContainer) {
  auto r = v({"run", "-d", "--name", "s1", "--network", "none", "busybox", "sleep", "600"});
  ASSERT_TRUE(r.ok()) << r.describe();
  std::string id = trim(r.out).substr(0, 12);
  auto stop = v({"stop", "-t", "0", "s1"});
  ASSERT_TRUE(stop.ok()) << stop.describe();
  std::string left = left_of(id);
  EXPECT_EQ(left, " containers/" + entries(root_ + "/containers", id).at(0) + ";")
      << "after stop only the container's own directory stays";
  auto state = v({"inspect", "-f", "{{.State.Status}}", "s1"});
  EXPECT_EQ(trim(state.out), "exited") << state.describe();
  auto rm = v({"rm", "s1"});
  ASSERT_TRUE(rm.ok()) << rm.describe();
  EXPECT_EQ(left_of(id), "");

  r = v({"run", "-d", "--rm", "--network", "none", "busybox", "sleep", "600"});
  ASSERT_TRUE(r.ok()) << r.describe();
  id = trim(r.out).substr(0, 12);
  stop = v({"stop", "-t", "0", id});
  ASSERT_TRUE(stop.ok()) << stop.describe();
  EXPECT_EQ(left_of(id), "");
  EXPECT_EQ(trim(v({"ps", "-aq"}).out), "");
}

}  // namespace
}  // namespace itest
