// CDI devices (`--device vendor.com/class=name`, `--gpus`) from spec files the test writes into
// a directory of its own ($VESSEL_CDI_SPEC_DIRS); log rotation (`--log-opt max-size,max-file`)
// and `logs` across the rotated files; the OOM killer seen as an `oom` event and
// State.OOMKilled.
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <map>

#include "harness.h"

namespace itest {
namespace {

class DevicesLogsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (runtime_is_runc()) GTEST_SKIP() << "manager tests run once, with vessel's own runtime";
    char tmpl[] = "/tmp/vessel-devlogtest-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    root_ = dir_ + "/store";
  }
  void TearDown() override {
    ::unsetenv("VESSEL_CDI_SPEC_DIRS");
    if (root_.empty()) return;
    for (const auto& id : split_lines(v({"ps", "-aq", "--no-trunc"}).out))
      if (!trim(id).empty()) v({"rm", "-f", trim(id)});
    EXPECT_EQ(trim(v({"ps", "-aq"}).out), "");
    if (!getenv("VESSEL_TEST_KEEP")) remove_tree(dir_);
  }
  Result v(const std::vector<std::string>& args, Millis timeout = kTimeout) {
    std::vector<std::string> argv = {VESSEL_MANAGER_BIN, "--root", root_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_cmd(argv, timeout);
  }
  static std::string now_text() {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%lld.%09ld", static_cast<long long>(ts.tv_sec), ts.tv_nsec);
    return buf;
  }
  // Nothing of a failed run stays: no container, no container directory.
  void expect_nothing_left() {
    EXPECT_EQ(trim(v({"ps", "-aq"}).out), "");
    if (exists(root_ + "/containers")) {
      EXPECT_EQ(run_cmd({"ls", "-A", root_ + "/containers"}).out, "");
    }
  }

  std::string dir_, root_;
};

TEST_F(DevicesLogsTest, CdiDeviceGivesNodeEnvMountAndHook) {
  mkdirs(dir_ + "/cdi");
  mkdirs(dir_ + "/share");
  write_text(dir_ + "/share/f", "shared-by-cdi\n");
  write_text(dir_ + "/cdi/vessel-test.yaml",
             "cdiVersion: \"0.6.0\"\n"
             "kind: vessel.test/dev\n"
             "containerEdits:\n"
             "  env: [FROM_SPEC=1]\n"
             "devices:\n"
             "  - name: null0\n"
             "    containerEdits:\n"
             "      env: [FOO=bar]\n"
             "      deviceNodes:\n"
             "        - path: /dev/vessel-cdi-null\n"
             "          hostPath: /dev/null\n"
             "      mounts:\n"
             "        - hostPath: " +
                 dir_ +
                 "/share\n"
                 "          containerPath: /cdi-share\n"
                 "          options: [ro]\n"
                 "      hooks:\n"
                 "        - hookName: createRuntime\n"
                 "          path: /bin/sh\n"
                 "          args: [sh, -c, \"echo hook-ran >> " +
                 dir_ +
                 "/hook.out\"]\n"
                 "  - name: zero0\n"
                 "    containerEdits:\n"
                 "      deviceNodes: [{path: /dev/vessel-cdi-zero, hostPath: /dev/zero}]\n");
  ::setenv("VESSEL_CDI_SPEC_DIRS", (dir_ + "/none:" + dir_ + "/cdi").c_str(), 1);
  auto r = v({"run", "--rm", "--network", "none", "--device", "vessel.test/dev=null0", "busybox",
              "sh", "-c",
              "stat -c '%F %t:%T' /dev/vessel-cdi-null; echo \"$FOO $FROM_SPEC\"; "
              "cat /cdi-share/f; echo x > /dev/vessel-cdi-null && echo wrote; "
              "touch /cdi-share/g 2>/dev/null || echo read-only; "
              "[ -e /dev/vessel-cdi-zero ] || echo no-zero"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.out, "character special file 1:3\nbar 1\nshared-by-cdi\nwrote\nread-only\nno-zero\n");
  EXPECT_EQ(read_text(dir_ + "/hook.out"), "hook-ran\n");

  // =all: every device of the kind.
  r = v({"run", "--rm", "--network", "none", "--device", "vessel.test/dev=all", "busybox", "sh",
         "-c", "stat -c '%t:%T' /dev/vessel-cdi-null /dev/vessel-cdi-zero"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.out, "1:3\n1:5\n");
}

TEST_F(DevicesLogsTest, UnknownCdiDevicesAndGpusWithoutASpecAreErrorsThatLeaveNothing) {
  mkdirs(dir_ + "/cdi");
  ::setenv("VESSEL_CDI_SPEC_DIRS", (dir_ + "/cdi").c_str(), 1);
  auto r = v(
      {"run", "--rm", "--network", "none", "--device", "vessel.test/dev=nope", "busybox", "true"});
  EXPECT_EQ(r.exit_code(), 125) << r.describe();
  EXPECT_TRUE(contains(r.err, "unknown CDI device \"vessel.test/dev=nope\"")) << r.err;
  EXPECT_EQ(split_lines(trim(r.err)).size(), 1u) << r.err;
  expect_nothing_left();
  r = v({"run", "--network", "none", "--gpus", "all", "busybox", "true"});
  EXPECT_EQ(r.exit_code(), 125) << r.describe();
  EXPECT_TRUE(contains(r.err, "unknown CDI device \"nvidia.com/gpu=all\"")) << r.err;
  expect_nothing_left();
  r = v({"create", "--network", "none", "--gpus", "2", "busybox", "true"});
  EXPECT_EQ(r.exit_code(), 125) << r.describe();
  EXPECT_TRUE(contains(r.err, "invalid --gpus \"2\"")) << r.err;
  expect_nothing_left();
}

TEST_F(DevicesLogsTest, LogOptRotatesIntoMaxFilesAndLogsReadsThemInOrder) {
  auto r = v({"run", "--network", "none", "--name", "l", "--log-opt", "max-size=1k", "--log-opt",
              "max-file=3", "busybox", "sh", "-c",
              "i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done"});
  ASSERT_TRUE(r.ok()) << r.describe();
  std::string log = trim(v({"inspect", "--format", "{{.LogPath}}", "l"}).out);
  ASSERT_TRUE(exists(log));
  EXPECT_TRUE(exists(log + ".1"));
  EXPECT_TRUE(exists(log + ".2"));
  EXPECT_FALSE(exists(log + ".3"));
  for (const auto& f : {log, log + ".1", log + ".2"}) {
    struct stat st {};
    ASSERT_EQ(::stat(f.c_str(), &st), 0) << f;
    EXPECT_LE(st.st_size, 1024 + 200) << f;
  }
  auto logs = v({"logs", "l"});
  ASSERT_TRUE(logs.ok()) << logs.describe();
  auto lines = split_lines(logs.out);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back(), "line-299");
  EXPECT_GT(lines.size(), split_lines(read_text(log)).size()) << "only the current file was read";
  int first = std::stoi(lines.front().substr(5));
  for (size_t i = 0; i < lines.size(); ++i)
    ASSERT_EQ(lines[i], "line-" + std::to_string(first + static_cast<int>(i))) << logs.out;
  EXPECT_EQ(v({"logs", "--tail", "2", "l"}).out, "line-298\nline-299\n");

  // max-size alone keeps one file, as docker's json-file driver.
  r = v({"run", "--network", "none", "--name", "one", "--log-opt", "max-size=1k", "busybox", "sh",
         "-c", "i=0; while [ $i -lt 100 ]; do echo line-$i; i=$((i+1)); done"});
  ASSERT_TRUE(r.ok()) << r.describe();
  log = trim(v({"inspect", "--format", "{{.LogPath}}", "one"}).out);
  EXPECT_FALSE(exists(log + ".1"));
  EXPECT_EQ(split_lines(v({"logs", "one"}).out).back(), "line-99");
}

TEST_F(DevicesLogsTest, BadLogOptsAreErrorsThatLeaveNothing) {
  for (auto [opt, msg] : std::vector<std::pair<std::string, std::string>>{
           {"max-file=0", "invalid --log-opt max-file \"0\""},
           {"max-size=1k,max-file=x", "invalid --log-opt max-file \"x\""},
           {"max-size=lots", "--log-opt max-size"},
           {"color=red", "unknown --log-opt \"color\""},
           {"max-file=2", "max-file needs max-size"},
           {"max-size", "expected max-size=SIZE"}}) {
    auto r = v({"run", "--network", "none", "--log-opt", opt, "busybox", "true"});
    EXPECT_EQ(r.exit_code(), 125) << r.describe();
    EXPECT_TRUE(contains(r.err, msg)) << opt << ": " << r.err;
  }
  expect_nothing_left();
}

TEST_F(DevicesLogsTest, OomKillIsAnEventBeforeDieAndStateOomKilled) {
  std::string t0 = now_text();
  auto r = v({"run", "--network", "none", "--name", "hog", "-m", "16m", "busybox", "sh", "-c",
              "x=aaaaaaaa; while true; do x=$x$x; done"},
             60s);
  EXPECT_EQ(r.exit_code(), 137) << r.describe();
  EXPECT_EQ(trim(v({"inspect", "--format", "{{.State.OOMKilled}} {{.State.ExitCode}}", "hog"}).out),
            "true 137");
  auto ev = v({"events", "--since", t0, "--until", now_text(), "--filter", "container=hog",
               "--format", "{{.Action}}"});
  ASSERT_TRUE(ev.ok()) << ev.describe();
  auto actions = split_lines(ev.out);
  auto oom = std::find(actions.begin(), actions.end(), "oom");
  auto die = std::find(actions.begin(), actions.end(), "die");
  ASSERT_NE(oom, actions.end()) << ev.out;
  ASSERT_NE(die, actions.end()) << ev.out;
  EXPECT_LT(oom - actions.begin(), die - actions.begin()) << ev.out;

  // A container that was not OOM-killed, and the same one started again.
  ASSERT_TRUE(
      v({"run", "--network", "none", "--name", "calm", "-m", "16m", "busybox", "true"}).ok());
  EXPECT_EQ(trim(v({"inspect", "--format", "{{.State.OOMKilled}}", "calm"}).out), "false");
  EXPECT_FALSE(contains(v({"events", "--since", t0, "--until", now_text(), "--filter",
                           "container=calm", "--format", "{{.Action}}"})
                            .out,
                        "oom"));
}

TEST_F(DevicesLogsTest, PsSizeShowsWhatAContainerWrote) {
  ASSERT_TRUE(v({"run", "--network", "none", "--name", "big", "busybox", "sh", "-c",
                 "head -c 300000 /dev/zero > /big"})
                  .ok());
  ASSERT_TRUE(v({"run", "--network", "none", "--name", "small", "busybox", "true"}).ok());
  auto ps = v({"ps", "-a", "--size", "--format", "json"});
  ASSERT_TRUE(ps.ok()) << ps.describe();
  json rows = json::parse(ps.out);
  std::map<std::string, uint64_t> rw, total;
  for (const auto& r : rows) {
    rw[r["Names"][0]] = r["SizeRw"];
    total[r["Names"][0]] = r["SizeRootFs"];
  }
  EXPECT_GE(rw["big"], 300000u);
  EXPECT_LT(rw["big"], 400000u);
  EXPECT_LT(rw["small"], 10000u);
  EXPECT_GT(total["small"], rw["small"]);  // the image counts in the virtual size
  auto table = v({"ps", "-a", "-s"});
  EXPECT_TRUE(contains(split_lines(table.out)[0], "SIZE")) << table.out;
  EXPECT_TRUE(contains(table.out, "(virtual ")) << table.out;
}

}  // namespace
}  // namespace itest
