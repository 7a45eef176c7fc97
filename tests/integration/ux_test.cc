// What docker users reach for next, end to end on real containers: `--format` Go templates on
// the listing and inspect commands, `vessel events` (the append-only events log written by the
// CLI and the monitors), healthchecks, and `vessel update`.
// Each test has its own store; the test process's own network namespace holds any bridge.
#include <unistd.h>

#include <ctime>

#include "harness.h"

namespace itest {
namespace {

class UxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (runtime_is_runc()) GTEST_SKIP() << "manager tests run once, with vessel's own runtime";
    char tmpl[] = "/tmp/vessel-uxtest-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    root_ = dir_ + "/store";
  }
  void TearDown() override {
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
  Child v_spawn(const std::vector<std::string>& args, const SpawnOptions& o) {
    std::vector<std::string> argv = {VESSEL_MANAGER_BIN, "--root", root_};
    argv.insert(argv.end(), args.begin(), args.end());
    return spawn(argv, o);
  }
  static std::string now_text() {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%lld.%09ld", static_cast<long long>(ts.tv_sec), ts.tv_nsec);
    return buf;
  }
  bool exited(const std::string& name) {
    return trim(v({"inspect", "--format", "{{.State.Status}}", name}).out) == "exited";
  }

  std::string dir_, root_;
};

TEST_F(UxTest, TemplatesOnPsInspectImagesAndVolumes) {
  auto run = v({"run", "-d", "--network", "none", "--name", "web", "--label", "app=shop", "-e",
                "X=1", "busybox", "sleep", "300"});
  ASSERT_TRUE(run.ok()) << run.describe();
  std::string id = trim(run.out);

  auto ps = v({"ps", "--format", "{{.Names}} {{.State}} {{.Label \"app\"}} {{.Labels}} {{.ID}}"});
  ASSERT_TRUE(ps.ok()) << ps.describe();
  EXPECT_EQ(ps.out, "web running shop app=shop " + id.substr(0, 12) + "\n");
  auto table = v({"ps", "--format", "table {{.Names}}\\t{{.Status}}\\t{{.Image | upper}}"});
  ASSERT_TRUE(table.ok()) << table.describe();
  auto lines = split_lines(table.out);
  ASSERT_EQ(lines.size(), 2u) << table.out;
  EXPECT_EQ(lines[0].substr(0, 10), "NAMES     ") << table.out;  // cells at least 10 wide
  EXPECT_TRUE(contains(lines[0], "STATUS") && contains(lines[0], "IMAGE")) << table.out;
  EXPECT_EQ(lines[1].substr(0, 10), "web       ") << table.out;
  EXPECT_TRUE(contains(lines[1], "Up ") && contains(lines[1], "BUSYBOX")) << table.out;

  auto insp = v({"inspect", "--format",
                 "{{.State.Status}} {{.Name}} {{json .Config.Labels}} "
                 "{{range .Config.Env}}{{if eq . \"X=1\"}}found{{end}}{{end}} "
                 "{{len .Config.Cmd}} {{index .Config.Cmd 0}} {{join .Config.Cmd \",\"}}",
                 "web"});
  ASSERT_TRUE(insp.ok()) << insp.describe();
  EXPECT_EQ(insp.out, "running web {\"app\":\"shop\"} found 2 sleep sleep,300\n");
  EXPECT_EQ(v({"inspect", "-f", "{{.Id}}", "web"}).out, id + "\n");

  // Outside the subset or the data: one clear error naming the place, and no output.
  auto bad = v({"inspect", "--format", "{{.State.Nope}}", "web"});
  EXPECT_NE(bad.exit_code(), 0);
  EXPECT_EQ(bad.out, "");
  EXPECT_TRUE(contains(bad.err, "line 1, column 3") && contains(bad.err, "no field \"Nope\""))
      << bad.err;
  auto unclosed = v({"ps", "--format", "{{.Names"});
  EXPECT_NE(unclosed.exit_code(), 0);
  EXPECT_TRUE(contains(unclosed.err, "unclosed action")) << unclosed.err;
  auto nofunc = v({"ps", "--format", "{{.Names | shout}}"});
  EXPECT_NE(nofunc.exit_code(), 0);
  EXPECT_TRUE(contains(nofunc.err, "function \"shout\" not defined")) << nofunc.err;

  auto images = v({"images", "--format", "{{.Repository}}:{{.Tag}} {{len .ID}}"});
  ASSERT_TRUE(images.ok()) << images.describe();
  EXPECT_TRUE(contains(images.out, "busybox:latest 12")) << images.out;
  EXPECT_EQ(trim(v({"image", "inspect", "-f", "{{.Os}}", "busybox"}).out), "linux");

  ASSERT_TRUE(v({"volume", "create", "data1"}).ok());
  EXPECT_EQ(v({"volume", "ls", "--format", "{{.Name}}/{{.Driver}}"}).out, "data1/local\n");
  EXPECT_EQ(v({"volume", "inspect", "-f", "{{.Name}} {{.Driver}}", "data1"}).out, "data1 local\n");
  auto vt = v({"volume", "ls", "--format", "table {{.Name}}"});
  EXPECT_EQ(vt.out, "VOLUME NAME\ndata1\n");
  // The defaults are as before: a bare "table", and json.
  EXPECT_TRUE(contains(v({"ps", "--format", "table"}).out, "CONTAINER ID"));
  EXPECT_EQ(json::parse(v({"ps", "--format", "json"}).out).at(0)["Names"][0], "web");
  EXPECT_TRUE(v({"rm", "-f", "web"}).ok());
  EXPECT_TRUE(v({"volume", "rm", "data1"}).ok());
}

TEST_F(UxTest, EventsRecordTheLifecycleAndFilter) {
  ASSERT_TRUE(v({"template", "build", "busybox"}).ok());  // before t0: no image events from it
  std::string t0 = now_text();
  ASSERT_TRUE(v({"create", "--network", "none", "--name", "ev1", "busybox", "sleep", "300"}).ok());
  ASSERT_TRUE(v({"start", "ev1"}).ok());
  ASSERT_TRUE(v({"pause", "ev1"}).ok());
  ASSERT_TRUE(v({"unpause", "ev1"}).ok());
  ASSERT_TRUE(v({"kill", "ev1"}).ok());
  ASSERT_TRUE(wait_until([&] { return exited("ev1"); })) << "ev1 did not exit";
  ASSERT_TRUE(v({"run", "--network", "none", "--name", "ev2", "busybox", "sh", "-c", "exit 3"})
                  .exit_code() == 3);
  ASSERT_TRUE(v({"rm", "ev1", "ev2"}).ok());
  ASSERT_TRUE(v({"volume", "create", "evvol"}).ok());
  ASSERT_TRUE(v({"volume", "rm", "evvol"}).ok());
  ASSERT_TRUE(v({"tag", "busybox", "mine:1"}).ok());
  ASSERT_TRUE(v({"rmi", "mine:1"}).ok());
  std::string t1 = now_text();

  auto all = v({"events", "--since", t0, "--until", t1, "--format",
                "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"});
  ASSERT_TRUE(all.ok()) << all.describe();
  EXPECT_EQ(all.out,
            "container create ev1\n"
            "container start ev1\n"
            "container pause ev1\n"
            "container unpause ev1\n"
            "container kill ev1\n"
            "container die ev1\n"
            "container create ev2\n"
            "container start ev2\n"
            "container die ev2\n"
            "container destroy ev1\n"
            "container destroy ev2\n"
            "volume create <no value>\n"
            "volume destroy <no value>\n"
            "image tag mine:1\n"
            "image untag mine:1\n")
      << all.out;
  // The die event carries the exit code; filters of one key OR, of different keys AND.
  EXPECT_EQ(v({"events", "--since", t0, "--until", t1, "--filter", "event=die", "--format",
               "{{.Actor.Attributes.name}}={{.Actor.Attributes.exitCode}}"})
                .out,
            "ev1=137\nev2=3\n");
  EXPECT_EQ(v({"events", "--since", t0, "--until", t1, "--filter", "container=ev2", "--filter",
               "event=start", "--filter", "event=destroy", "--format", "{{.Status}}"})
                .out,
            "start\ndestroy\n");
  EXPECT_EQ(v({"events", "--since", t0, "--until", t1, "--filter", "type=volume", "--format",
               "{{.ID}} {{.Action}}"})
                .out,
            "evvol create\nevvol destroy\n");
  // The default line, and json (the log's own lines).
  auto plain = v({"events", "--since", t0, "--until", t1, "--filter", "event=create", "--filter",
                  "type=volume"});
  EXPECT_TRUE(contains(plain.out, " volume create evvol (driver=local)\n")) << plain.out;
  auto js =
      v({"events", "--since", t0, "--until", t1, "--filter", "event=tag", "--format", "json"});
  auto e = json::parse(trim(js.out));
  EXPECT_EQ(e["Type"], "image");
  EXPECT_EQ(e["Actor"]["Attributes"]["name"], "mine:1");
  EXPECT_GT(e["timeNano"].get<long long>(), 0);

  // Bad input: one line, non-zero.
  auto badf = v({"events", "--filter", "colour=red"});
  EXPECT_NE(badf.exit_code(), 0);
  EXPECT_TRUE(contains(badf.err, "unknown key \"colour\"")) << badf.err;
  auto badt = v({"events", "--since", "yesterday"});
  EXPECT_NE(badt.exit_code(), 0);
  EXPECT_TRUE(contains(badt.err, "--since yesterday")) << badt.err;
}

TEST_F(UxTest, EventsFollowsNewEventsUntilInterrupted) {
  std::string out = dir_ + "/events.out";
  std::string t0 = now_text();  // from t0 on: nothing made after it can be missed
  SpawnOptions o;
  o.stdout_path = out;
  Child follow = v_spawn(
      {"events", "--since", t0, "--filter", "type=volume", "--format", "{{.Action}} {{.ID}}"}, o);
  ASSERT_TRUE(v({"volume", "create", "f1"}).ok());
  EXPECT_TRUE(wait_until([&] { return read_text(out) == "create f1\n"; })) << read_text(out);
  ASSERT_TRUE(v({"volume", "rm", "f1"}).ok());
  EXPECT_TRUE(wait_until([&] { return read_text(out) == "create f1\ndestroy f1\n"; }))
      << read_text(out);
  EXPECT_TRUE(follow.running()) << "events stopped without --until";
  follow.kill_group(SIGTERM);
  follow.wait();
}

TEST_F(UxTest, HealthcheckRunRecordsStatusStreakAndLog) {
  std::string t0 = now_text();
  // A long interval: the periodic runner does not check during this test; `healthcheck run`
  // does, step by step.
  auto run = v({"run", "-d", "--network", "none", "--name", "hc", "--health-cmd", "test -e /tmp/ok",
                "--health-interval", "1h", "--health-retries", "2", "busybox", "sleep", "300"});
  ASSERT_TRUE(run.ok()) << run.describe();
  auto health = [&] {
    auto r = v({"inspect", "--format", "{{json .State.Health}}", "hc"});
    return r.ok() ? json::parse(r.out) : json();
  };
  EXPECT_EQ(health()["Status"], "starting");
  EXPECT_TRUE(contains(v({"ps", "--format", "{{.Status}}"}).out, "(health: starting)"));
  EXPECT_EQ(trim(v({"inspect", "-f",
                    "{{index .Config.Healthcheck.Test 1}} {{.Config.Healthcheck.Retries}}", "hc"})
                     .out),
            "test -e /tmp/ok 2");

  auto first = v({"healthcheck", "run", "hc"});
  EXPECT_EQ(first.exit_code(), 1);
  EXPECT_EQ(trim(first.out), "starting");  // one failure of the two retries
  auto second = v({"healthcheck", "run", "hc"});
  EXPECT_EQ(second.exit_code(), 1);
  EXPECT_EQ(trim(second.out), "unhealthy");
  auto h = health();
  EXPECT_EQ(h["FailingStreak"], 2);
  ASSERT_EQ(h["Log"].size(), 2u);
  EXPECT_EQ(h["Log"][1]["ExitCode"], 1);
  EXPECT_TRUE(contains(v({"ps", "--format", "{{.Status}}"}).out, "(unhealthy)"));

  ASSERT_TRUE(v({"exec", "hc", "touch", "/tmp/ok"}).ok());
  auto ok = v({"healthcheck", "run", "hc"});
  EXPECT_EQ(ok.exit_code(), 0) << ok.describe();
  EXPECT_EQ(trim(ok.out), "healthy");
  for (int i = 0; i < 4; ++i) EXPECT_EQ(v({"healthcheck", "run", "hc"}).exit_code(), 0);
  h = health();
  EXPECT_EQ(h["Status"], "healthy");
  EXPECT_EQ(h["FailingStreak"], 0);
  ASSERT_EQ(h["Log"].size(), 5u);  // the last five
  EXPECT_EQ(h["Log"][4]["ExitCode"], 0);
  EXPECT_FALSE(h["Log"][4]["Start"].get<std::string>().empty());
  EXPECT_TRUE(contains(v({"ps", "--format", "{{.Status}}"}).out, "(healthy)"));
  EXPECT_EQ(v({"events", "--since", t0, "--until", now_text(), "--filter", "event=health_status",
               "--format", "{{.Action}}"})
                .out,
            "health_status: unhealthy\nhealth_status: healthy\n");

  // Errors: no check, conflicting or bad flags (nothing created).
  ASSERT_TRUE(
      v({"run", "-d", "--network", "none", "--name", "plain", "busybox", "sleep", "300"}).ok());
  auto none = v({"healthcheck", "run", "plain"});
  EXPECT_NE(none.exit_code(), 0);
  EXPECT_TRUE(contains(none.err, "has no healthcheck")) << none.err;
  auto conflict = v({"run", "-d", "--no-healthcheck", "--health-cmd", "true", "busybox", "true"});
  EXPECT_NE(conflict.exit_code(), 0);
  EXPECT_TRUE(contains(conflict.err, "--no-healthcheck")) << conflict.err;
  auto bad =
      v({"run", "-d", "--health-cmd", "true", "--health-interval", "soon", "busybox", "true"});
  EXPECT_NE(bad.exit_code(), 0);
  EXPECT_TRUE(contains(bad.err, "--health-interval")) << bad.err;
  EXPECT_EQ(split_lines(trim(v({"ps", "-aq"}).out)).size(), 2u);
}

TEST_F(UxTest, HealthcheckRunnerChecksPeriodicallyAndActsOnFailure) {
  // The runner process, every 200 ms: unhealthy after one failure, healthy once the file is there.
  ASSERT_TRUE(
      v({"run", "-d", "--network", "none", "--name", "loop", "--health-cmd", "test -e /tmp/ok",
         "--health-interval", "200ms", "--health-retries", "1", "busybox", "sleep", "300"})
          .ok());
  auto status = [&](const std::string& n) {
    return trim(v({"inspect", "--format", "{{.State.Health.Status}}", n}).out);
  };
  EXPECT_TRUE(wait_until([&] { return status("loop") == "unhealthy"; })) << status("loop");
  ASSERT_TRUE(v({"exec", "loop", "touch", "/tmp/ok"}).ok());
  EXPECT_TRUE(wait_until([&] { return status("loop") == "healthy"; })) << status("loop");

  // --health-on-failure kill: the first unhealthy result kills it.
  ASSERT_TRUE(v({"run", "-d", "--network", "none", "--name", "doomed", "--health-cmd", "false",
                 "--health-interval", "1h", "--health-retries", "1", "--health-on-failure", "kill",
                 "busybox", "sleep", "300"})
                  .ok());
  EXPECT_EQ(trim(v({"healthcheck", "run", "doomed"}).out), "unhealthy");
  EXPECT_TRUE(wait_until([&] { return exited("doomed"); }));
  EXPECT_EQ(trim(v({"inspect", "-f", "{{.State.ExitCode}}", "doomed"}).out), "137");

  // A check past its --health-timeout fails with the reason in its log.
  ASSERT_TRUE(v({"run", "-d", "--network", "none", "--name", "slow", "--health-cmd", "sleep 30",
                 "--health-timeout", "300ms", "--health-interval", "1h", "busybox", "sleep", "300"})
                  .ok());
  EXPECT_EQ(v({"healthcheck", "run", "slow"}).exit_code(), 1);
  EXPECT_TRUE(contains(v({"inspect", "-f", "{{(index .State.Health.Log 0).Output}}", "slow"}).out,
                       "exceeded timeout"));
}

// The container's cgroup file for `controller` (v1 hierarchy, else the unified one).
std::string cgroup_file(pid_t pid, const std::string& v1_controller, const std::string& v1_file,
                        const std::string& v2_file) {
  std::string unified;
  for (const auto& line : split_lines(read_text("/proc/" + std::to_string(pid) + "/cgroup"))) {
    auto a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string ctrls = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    for (size_t from = 0;;) {
      auto comma = ctrls.find(',', from);
      if (ctrls.substr(from, comma - from) == v1_controller)
        return "/sys/fs/cgroup/" + ctrls + path + "/" + v1_file;
      if (comma == std::string::npos) break;
      from = comma + 1;
    }
    if (ctrls.empty()) unified = "/sys/fs/cgroup" + path + "/" + v2_file;
  }
  return unified;
}

TEST_F(UxTest, UpdateChangesLimitsLiveAndRecordsThem) {
  ASSERT_TRUE(
      v({"run", "-d", "--network", "none", "--name", "up", "-m", "32m", "busybox", "sleep", "300"})
          .ok());
  pid_t pid = std::stoi(trim(v({"inspect", "-f", "{{.State.Pid}}", "up"}).out));
  std::string mem = cgroup_file(pid, "memory", "memory.limit_in_bytes", "memory.max");
  std::string pids = cgroup_file(pid, "pids", "pids.max", "pids.max");
  std::string quota = cgroup_file(pid, "cpu", "cpu.cfs_quota_us", "cpu.max");
  ASSERT_FALSE(mem.empty());
  EXPECT_EQ(trim(read_text(mem)), "33554432");

  auto up = v({"update", "--memory", "64m", "--cpus", "0.5", "--pids-limit", "50", "--restart",
               "on-failure:2", "up"});
  ASSERT_TRUE(up.ok()) << up.describe();
  EXPECT_EQ(trim(read_text(mem)), "67108864");
  EXPECT_EQ(trim(read_text(pids)), "50");
  EXPECT_TRUE(contains(read_text(quota), "50000")) << read_text(quota);
  EXPECT_EQ(
      trim(v({"inspect", "-f",
              "{{.HostConfig.Resources.memory.limit}} {{.HostConfig.Resources.pids.limit}} "
              "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}",
              "up"})
               .out),
      "67108864 50 on-failure:2");
  // Kept for the next start.
  ASSERT_TRUE(v({"restart", "-t", "0", "up"}).ok());
  pid = std::stoi(trim(v({"inspect", "-f", "{{.State.Pid}}", "up"}).out));
  EXPECT_EQ(trim(read_text(cgroup_file(pid, "memory", "memory.limit_in_bytes", "memory.max"))),
            "67108864");

  // Bad input: one line, non-zero, nothing changed.
  auto small = v({"update", "--memory", "1k", "up"});
  EXPECT_NE(small.exit_code(), 0);
  EXPECT_TRUE(contains(small.err, "minimum is 6m")) << small.err;
  auto nothing = v({"update", "up"});
  EXPECT_NE(nothing.exit_code(), 0);
  EXPECT_TRUE(contains(nothing.err, "nothing to change")) << nothing.err;
  EXPECT_NE(v({"update", "--memory", "64m", "nosuch"}).exit_code(), 0);
  EXPECT_NE(v({"update", "--restart", "sometimes", "up"}).exit_code(), 0);
  EXPECT_EQ(trim(v({"inspect", "-f", "{{.HostConfig.Resources.memory.limit}}", "up"}).out),
            "67108864");
}

TEST_F(UxTest, LogsUntilLeavesOutLaterLinesAndEndsAFollow) {
  ASSERT_TRUE(v({"run", "--network", "none", "--name", "lg", "busybox", "echo", "hello"}).ok());
  EXPECT_EQ(v({"logs", "--until", "2999-01-01T00:00:00Z", "lg"}).out, "hello\n");
  EXPECT_EQ(v({"logs", "--until", "2000-01-01T00:00:00Z", "lg"}).out, "");
  auto bad = v({"logs", "--until", "whenever", "lg"});
  EXPECT_NE(bad.exit_code(), 0);
  EXPECT_TRUE(contains(bad.err, "invalid --until")) << bad.err;
  // A follow whose --until has passed ends although the container runs on.
  ASSERT_TRUE(
      v({"run", "-d", "--network", "none", "--name", "lg2", "busybox", "sleep", "300"}).ok());
  auto f = v({"logs", "-f", "--until", "2000-01-01T00:00:00Z", "lg2"});
  EXPECT_TRUE(f.ok()) << f.describe();
}

}  // namespace
}  // namespace itest
