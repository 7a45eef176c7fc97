// The runtime's own command-line contract beyond the lifecycle: fd passing, logs, spec,
// version and the flags engines pass.
#include <unistd.h>

#include "harness.h"

namespace itest {
namespace {

class RuntimeCliTest : public ContainerTest {};

TEST_F(RuntimeCliTest, PreserveFdsPassesExactlyTheExtraFds) {
  write_text(dir() + "/secret", "through-fd-3\n");
  json cfg = config({"sh", "-c", "cat <&3; ls /proc/self/fd | sort -n | tr '\\n' ' '"});
  std::string bundle = write_bundle(cfg);
  std::string id = new_id("fds");
  // fd 3 is passed on; fd 4 is open in the caller too but must not reach the container.
  std::string cmd = "exec 3<'" + dir() + "/secret' 4<'" + dir() + "/secret'; exec '" +
                    runtime_path() + "' --root '" + state_root() + "' run --preserve-fds 1 -b '" +
                    bundle + "' " + id;
  Result r = run_cmd({"/bin/sh", "-c", cmd});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(contains(r.out, "through-fd-3")) << r.describe();
  // ls itself opens one directory fd (3 is taken, so it gets 4): 0 1 2 3 and that one.
  std::vector<std::string> lines = split_lines(r.out);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(trim(lines.back()), "0 1 2 3 4") << r.describe();
}

TEST_F(RuntimeCliTest, NoStrayFdsReachTheContainer) {
  Result r = run_container(config({"sh", "-c", "ls /proc/self/fd | sort -n | tr '\\n' ' '"}));
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(trim(r.out), "0 1 2 3") << r.describe();  // 3: ls's own directory fd
}

TEST_F(RuntimeCliTest, JsonLogCarriesTheError) {
  if (runtime_is_runc()) GTEST_SKIP() << "message text is vessel's";
  json cfg = config({"true"});
  cfg["process"]["cwd"] = "relative";
  std::string bundle = write_bundle(cfg);
  std::string log = dir() + "/runtime.log";
  Result r = rt({"--log", log, "--log-format", "json", "create", "-b", bundle, new_id()});
  EXPECT_FALSE(r.ok());
  std::vector<std::string> lines = split_lines(read_text(log));
  ASSERT_FALSE(lines.empty()) << "nothing logged";
  json last = json::parse(lines.back(), nullptr, false);
  ASSERT_TRUE(last.is_object()) << lines.back();
  EXPECT_EQ(last["level"], "error");
  EXPECT_TRUE(contains(last["msg"].get<std::string>(), "process.cwd")) << lines.back();
  EXPECT_TRUE(last.contains("time"));
  EXPECT_TRUE(contains(r.err, "process.cwd")) << r.describe();  // and still on stderr
}

TEST_F(RuntimeCliTest, SpecWritesAConfigThatRunsAndRefusesToOverwrite) {
  std::string bundle = dir() + "/specbundle";
  mkdirs(bundle);
  Result s = run_cmd({runtime_path(), "spec", "-b", bundle});
  ASSERT_TRUE(s.ok()) << s.describe();
  json cfg = json::parse(read_text(bundle + "/config.json"), nullptr, false);
  ASSERT_TRUE(cfg.is_object());
  EXPECT_TRUE(cfg.contains("ociVersion"));
  Result again = run_cmd({runtime_path(), "spec", "-b", bundle});
  EXPECT_FALSE(again.ok()) << "spec overwrote an existing config.json";
  // The starter config runs once it points at a rootfs and has no terminal.
  cfg["root"]["path"] = shared_rootfs();
  cfg["process"]["terminal"] = false;
  cfg["process"]["args"] = {"true"};
  cfg["linux"]["cgroupsPath"] = new_cgroup_path();
  Result r = run_container(cfg);
  EXPECT_TRUE(r.ok()) << r.describe();
}

TEST_F(RuntimeCliTest, VersionNamesTheSpec) {
  Result v = run_cmd({runtime_path(), "--version"});
  ASSERT_TRUE(v.ok()) << v.describe();
  EXPECT_TRUE(contains(v.out, "spec: 1.")) << v.out;
}

TEST_F(RuntimeCliTest, SystemdCgroupIsAClearErrorAndLeavesNothing) {
  if (runtime_is_runc()) GTEST_SKIP() << "runc has a systemd driver";
  HostSnapshot before = snapshot();
  json cfg = config({"true"});
  std::string cg = cfg["linux"]["cgroupsPath"];
  std::string id = new_id();
  Result r = rt({"--systemd-cgroup", "create", "-b", write_bundle(cfg), id});
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.err, "systemd")) << r.describe();
  expect_nothing_left(before, id, cg);
}

}  // namespace
}  // namespace itest

namespace itest {
namespace {

// `run` in the foreground with process.terminal: the container gets a pty of its own devpts,
// and the caller's terminal (here one made by script(1)) is proxied to it.
TEST_F(RuntimeCliTest, ForegroundRunWithTerminalUsesTheCallersTerminal) {
  if (!exists("/usr/bin/script")) GTEST_SKIP() << "script(1) is not installed";
  json cfg = config({"sh", "-c", "[ -t 0 ] && [ -t 1 ] && echo both-ttys; tty; exit 5"});
  cfg["process"]["terminal"] = true;
  std::string bundle = write_bundle(cfg);
  std::string id = new_id("tty");
  std::string cmd = "'" + runtime_path() + "' --root '" + state_root() + "' run -b '" + bundle +
                    "' " + id;
  Result r = run_cmd({"/usr/bin/script", "-qec", cmd, "/dev/null"});
  EXPECT_EQ(r.exit_code(), 5) << r.describe();
  EXPECT_TRUE(contains(r.out, "both-ttys")) << r.describe();
  EXPECT_TRUE(contains(r.out, "/dev/pts/0")) << "the container's own devpts numbers from 0"
                                             << r.describe();
}

}  // namespace
}  // namespace itest
