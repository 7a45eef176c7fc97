// `vessel system restart-all` after a simulated reboot: monitors and containers killed, their
// root filesystems unmounted and the runtime state directory emptied (as a reboot clears /run).
// --restart always comes back, unless-stopped comes back unless the user stopped it, no and
// on-failure do not; the boot units are in packaging/.
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "harness.h"

namespace itest {
namespace {

class RestartAllTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (runtime_is_runc()) GTEST_SKIP() << "manager tests run once, with vessel's own runtime";
    char tmpl[] = "/tmp/vessel-rtest-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    root_ = dir_ + "/store";
  }
  void TearDown() override {
    if (root_.empty()) return;
    for (const auto& id : split_lines(v({"ps", "-aq", "--no-trunc"}).out))
      if (!trim(id).empty()) v({"rm", "-f", trim(id)});
    EXPECT_EQ(trim(v({"ps", "-aq"}).out), "");
    for (const auto& l : split_lines(read_text("/proc/self/mountinfo")))
      EXPECT_FALSE(contains(l, " " + dir_ + "/")) << "left mounted: " << l;
    if (!getenv("VESSEL_TEST_KEEP")) remove_tree(dir_);
  }
  Result v(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {VESSEL_MANAGER_BIN, "--root", root_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_cmd(argv);
  }
  json inspect(const std::string& name) {
    auto r = v({"inspect", name});
    return r.ok() ? json::parse(r.out).at(0) : json();
  }
  std::string status(const std::string& name) {
    return inspect(name)["State"]["Status"].get<std::string>();
  }
  std::string dir_, root_;
};

TEST_F(RestartAllTest, PolicyContainersComeBackAfterASimulatedReboot) {
  ASSERT_TRUE(v({"template", "build", "busybox"}).ok());
  struct C {
    const char* name;
    const char* policy;
  };
  for (C c : {C{"always", "always"}, C{"unless", "unless-stopped"}, C{"stopped", "unless-stopped"},
              C{"stopped-always", "always"}, C{"never", "no"}, C{"onfail", "on-failure"}}) {
    auto r = v({"run", "-d", "--network", "none", "--name", c.name, "--restart", c.policy,
                "busybox", "sleep", "1000"});
    ASSERT_TRUE(r.ok()) << r.describe();
  }
  ASSERT_TRUE(v({"stop", "-t", "1", "stopped"}).ok());
  ASSERT_TRUE(v({"stop", "-t", "1", "stopped-always"}).ok());
  // The reboot: every monitor and container process dies, mounts go, /run is empty.
  std::map<std::string, pid_t> old_pid;
  for (const char* n : {"always", "unless", "never", "onfail"}) {
    json j = inspect(n);
    pid_t mon = j["State"]["MonitorPid"].get<pid_t>(), pid = j["State"]["Pid"].get<pid_t>();
    ASSERT_GT(mon, 0);
    ASSERT_GT(pid, 0);
    old_pid[n] = pid;
    ::kill(mon, SIGKILL);
    ::kill(pid, SIGKILL);
    ASSERT_TRUE(wait_until([&] { return ::kill(pid, 0) != 0 && ::kill(mon, 0) != 0; }));
    std::string rootfs = root_ + "/containers/" + j["Id"].get<std::string>() + "/rootfs";
    ::umount2(rootfs.c_str(), MNT_DETACH);
    // A reboot starts with empty cgroup hierarchies: the dead containers' cgroups go too (their
    // runtime records, which name them, go with /run below).
    for (const auto& mp : cgroup_mount_points()) {
      std::string cg = mp + "/vessel-" + j["Id"].get<std::string>();
      ASSERT_TRUE(wait_until([&] { return ::rmdir(cg.c_str()) == 0 || errno == ENOENT; }))
          << cg << ": " << std::strerror(errno);
    }
  }
  for (const auto& e : split_lines(run_cmd({"ls", "-A", root_ + "/run"}).out))
    if (!trim(e).empty()) remove_tree(root_ + "/run/" + trim(e));

  auto r = v({"system", "restart-all"});
  ASSERT_TRUE(r.ok()) << r.describe();
  auto started = split_lines(trim(r.out));
  std::sort(started.begin(), started.end());
  EXPECT_EQ(started, (std::vector<std::string>{"always", "stopped-always", "unless"})) << r.out;
  for (const char* n : {"always", "unless", "stopped-always"}) {
    EXPECT_EQ(status(n), "running") << n;
    EXPECT_NE(inspect(n)["State"]["Pid"].get<pid_t>(), old_pid[n]) << n;
    auto e = v({"exec", n, "echo", "back"});
    EXPECT_EQ(e.out, "back\n") << n << ": " << e.describe();
  }
  for (const char* n : {"stopped", "never", "onfail"}) EXPECT_EQ(status(n), "exited") << n;
  // Running containers are left alone: a second call starts nothing.
  auto again = v({"system", "restart-all"});
  EXPECT_TRUE(again.ok() && trim(again.out).empty()) << again.describe();
}

// make install (cmake --install) puts both units where systemd looks, and they run restart-all.
TEST(RestartAllUnits, SystemAndUserUnitsAreInstalledAndRunRestartAll) {
  std::string build = VESSEL_MANAGER_BIN;
  build = build.substr(0, build.rfind("/bin/"));
  std::string install = read_text(build + "/cmake_install.cmake");
  std::string src;
  for (const auto& l : split_lines(read_text(build + "/CMakeCache.txt")))
    if (l.rfind("CMAKE_HOME_DIRECTORY:INTERNAL=", 0) == 0) src = trim(l.substr(l.find('=') + 1));
  ASSERT_FALSE(src.empty());
  EXPECT_TRUE(contains(install, "lib/systemd/system")) << "not installed";
  EXPECT_TRUE(contains(install, "lib/systemd/user")) << "not installed";
  for (std::string unit :
       {"packaging/vessel-restart.service", "packaging/user/vessel-restart.service"}) {
    EXPECT_TRUE(contains(install, src + "/" + unit)) << unit;
    std::string text = read_text(src + "/" + unit);
    EXPECT_TRUE(contains(text, "ExecStart=/usr/bin/env vessel system restart-all")) << unit;
    EXPECT_TRUE(contains(text, "Type=oneshot")) << unit;
    EXPECT_TRUE(contains(text, "[Install]")) << unit;
  }
}

}  // namespace
}  // namespace itest
