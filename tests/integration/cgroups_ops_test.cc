// The cgroup commands on a live container: pause/resume, ps, update, events (--stats and the
// stream, with OOM events), and delete --force of a paused container.
#include <signal.h>

#include <thread>

#include "harness.h"

namespace itest {
namespace {

class CgroupsOpsTest : public ContainerTest {
 protected:
  // A counter the container bumps in /shared/count about every 50 ms, plus `extra` shell
  // commands run first.
  json counter_config(const std::string& extra = "") {
    return config({"sh", "-c",
                   extra + "i=0; touch /shared/started; while :; do i=$((i+1)); "
                           "echo $i > /shared/count; usleep 50000; done"});
  }

  // create + start, and waits until the program runs; returns the container's host PID.
  void start(const std::string& id, const json& cfg) {
    Result c = create(id, write_bundle(cfg));
    ASSERT_TRUE(c.ok()) << c.describe();
    Result s = rt({"start", id});
    ASSERT_TRUE(s.ok()) << s.describe();
    ASSERT_TRUE(wait_until([&] { return exists(shared_dir() + "/started"); }))
        << "the program never ran";
  }

  long count() {
    std::string s = trim(read_text(shared_dir() + "/count"));
    try {
      return s.empty() ? -1 : std::stol(s);
    } catch (const std::exception&) {
      return -1;  // caught between truncation and write
    }
  }
  long stable_count() {
    long c = -1;
    wait_until([&] { return (c = count()) >= 0; }, 2s, 5ms);
    return c;
  }

  // The container's directory in the hierarchy that has `file`.
  std::string cgroup_file(const std::string& cgroups_path, const std::string& file) {
    for (const auto& d : cgroup_dirs(cgroups_path))
      if (exists(d + "/" + file)) return d + "/" + file;
    return "";
  }

  pid_t init_pid(const std::string& id) {
    auto st = state(id);
    return st ? st->value("pid", 0) : 0;
  }
};

TEST_F(CgroupsOpsTest, PauseFreezesAndResumeContinues) {
  std::string id = new_id();
  ASSERT_NO_FATAL_FAILURE(start(id, counter_config()));
  ASSERT_TRUE(wait_until([&] { return count() > 0; })) << "the counter never ran";

  Result p = rt({"pause", id});
  ASSERT_TRUE(p.ok()) << p.describe();
  EXPECT_EQ(status(id), "paused");
  long before = stable_count();
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(stable_count(), before) << "the counter advanced while paused";

  Result again = rt({"pause", id});
  EXPECT_FALSE(again.ok()) << "pausing a paused container must fail" << again.describe();

  Result r = rt({"resume", id});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(status(id), "running");
  EXPECT_TRUE(wait_until([&] { return count() > before; }, 5s)) << "the counter did not resume";

  Result r2 = rt({"resume", id});
  EXPECT_FALSE(r2.ok()) << "resuming a running container must fail" << r2.describe();
}

TEST_F(CgroupsOpsTest, PsListsTheInitPid) {
  std::string id = new_id();
  ASSERT_NO_FATAL_FAILURE(start(id, counter_config()));
  pid_t pid = init_pid(id);
  ASSERT_GT(pid, 0);

  Result j = rt({"ps", "--format", "json", id});
  ASSERT_TRUE(j.ok()) << j.describe();
  json pids = json::parse(j.out, nullptr, false);
  ASSERT_TRUE(pids.is_array()) << j.describe();
  EXPECT_NE(std::find(pids.begin(), pids.end(), json(pid)), pids.end())
      << "init pid " << pid << " missing" << j.describe();

  Result t = rt({"ps", id, "-o", "pid,comm"});
  ASSERT_TRUE(t.ok()) << t.describe();
  auto lines = split_lines(t.out);
  ASSERT_GE(lines.size(), 2u) << t.describe();
  EXPECT_TRUE(contains(lines[0], "PID")) << t.describe();
  bool found = false;
  for (size_t i = 1; i < lines.size(); ++i) {
    EXPECT_FALSE(contains(lines[i], "vessel-integrat"))
        << "a host process leaked in" << t.describe();
    if (trim(lines[i]).rfind(std::to_string(pid) + " ", 0) == 0) found = true;
  }
  EXPECT_TRUE(found) << "init pid " << pid << " missing" << t.describe();
}

TEST_F(CgroupsOpsTest, UpdateSetsMemoryAndPidsLimits) {
  std::string id = new_id();
  json cfg = counter_config();
  std::string cg = cfg["linux"]["cgroupsPath"];
  ASSERT_NO_FATAL_FAILURE(start(id, cfg));

  Result u = rt({"update", "--memory", "64M", "--pids-limit", "50", id});
  ASSERT_TRUE(u.ok()) << u.describe();
  std::string mem = cgroup_file(cg, "memory.limit_in_bytes");
  if (mem.empty()) mem = cgroup_file(cg, "memory.max");
  ASSERT_FALSE(mem.empty()) << "no memory cgroup for " << cg;
  EXPECT_EQ(trim(read_text(mem)), "67108864");
  std::string pids = cgroup_file(cg, "pids.max");
  ASSERT_FALSE(pids.empty());
  EXPECT_EQ(trim(read_text(pids)), "50");

  // From a file on stdin (-r -), and a later update keeps the earlier one.
  write_text(dir() + "/res.json", R"({"pids": {"limit": 60}})");
  SpawnOptions so;
  so.stdin_path = dir() + "/res.json";
  Result f =
      run_cmd({runtime_path(), "--root", state_root(), "update", "-r", "-", id}, kTimeout, so);
  ASSERT_TRUE(f.ok()) << f.describe();
  EXPECT_EQ(trim(read_text(pids)), "60");
  EXPECT_EQ(trim(read_text(mem)), "67108864");

  Result bad = rt({"update", "--memory", "lots", id});
  EXPECT_FALSE(bad.ok()) << bad.describe();
}

TEST_F(CgroupsOpsTest, EventsStatsPrintsOneJsonLine) {
  std::string id = new_id();
  ASSERT_NO_FATAL_FAILURE(start(id, counter_config()));
  Result e = rt({"events", "--stats", id});
  ASSERT_TRUE(e.ok()) << e.describe();
  json ev = json::parse(e.out, nullptr, false);
  ASSERT_TRUE(ev.is_object()) << e.describe();
  EXPECT_EQ(ev.value("type", ""), "stats") << e.describe();
  EXPECT_EQ(ev.value("id", ""), id) << e.describe();
  const json& data = ev["data"];
  ASSERT_TRUE(data.is_object()) << e.describe();
  EXPECT_GT(data["memory"]["usage"].value("usage", 0ull), 0ull) << e.describe();
  EXPECT_GE(data["pids"].value("current", 0ull), 1ull) << e.describe();
  EXPECT_GT(data["cpu"]["usage"].value("total", 0ull), 0ull) << e.describe();
  EXPECT_FALSE(data["memory"].contains("oom_kill")) << "internal field leaked" << e.describe();
}

// hugetlb in `events --stats` and in the stream: runc's shape, keyed by page size as runc
// names it ("2MB"), with the container's configured limit (vessel adds "limit"). On a hybrid
// host hugetlb is bound to the unified hierarchy, and is read there.
TEST_F(CgroupsOpsTest, EventsStatsReportHugetlbWithTheLimit) {
  std::string size;  // the smallest page size of the host, e.g. "2MB"
  unsigned long long bytes = 0;
  for (std::string kb_name : {"hugepages-2048kB", "hugepages-1048576kB", "hugepages-64kB"})
    if (exists("/sys/kernel/mm/hugepages/" + kb_name)) {
      unsigned long long kb = std::stoull(kb_name.substr(10));
      size = kb >= 1048576 ? std::to_string(kb >> 20) + "GB"
             : kb >= 1024  ? std::to_string(kb >> 10) + "MB"
                           : std::to_string(kb) + "KB";
      bytes = kb * 1024;
      break;
    }
  if (size.empty()) GTEST_SKIP() << "no 2MB, 1GB or 64KB huge pages in /sys/kernel/mm/hugepages";
  std::string id = new_id();
  json cfg = counter_config();
  const std::string cg = cfg["linux"]["cgroupsPath"];
  const unsigned long long limit = 4 * bytes;
  cfg["linux"]["resources"]["hugepageLimits"] = {{{"pageSize", size}, {"limit", limit}}};
  ASSERT_NO_FATAL_FAILURE(start(id, cfg));
  if (cgroup_file(cg, "hugetlb." + size + ".max").empty() &&
      cgroup_file(cg, "hugetlb." + size + ".limit_in_bytes").empty())
    GTEST_SKIP() << "no hugetlb controller for the container's cgroup";

  auto check = [&](const json& data, const std::string& what) {
    ASSERT_TRUE(data.contains("hugetlb")) << what << ": " << data.dump();
    const json& h = data["hugetlb"];
    ASSERT_TRUE(h.contains(size)) << what << ": " << h.dump();
    EXPECT_EQ(h[size].value("usage", 1ull), 0ull) << what << ": nothing maps huge pages";
    EXPECT_TRUE(h[size].contains("failcnt")) << what << ": " << h.dump();
    if (!runtime_is_runc()) {
      EXPECT_EQ(h[size].value("limit", 0ull), limit) << what << ": " << h.dump();
    }
  };
  Result e = rt({"events", "--stats", id});
  ASSERT_TRUE(e.ok()) << e.describe();
  json ev = json::parse(e.out, nullptr, false);
  ASSERT_TRUE(ev.is_object()) << e.describe();
  check(ev["data"], "events --stats");

  SpawnOptions so;
  so.stdout_path = dir() + "/events.out";
  Child stream = rt_spawn({"events", "--interval", "100ms", id}, so);
  bool got = wait_until([&] { return !split_lines(read_text(so.stdout_path)).empty(); }, 5s);
  stream.kill_group(SIGKILL);
  stream.wait();
  ASSERT_TRUE(got) << "no stats from the stream";
  json first = json::parse(split_lines(read_text(so.stdout_path)).front(), nullptr, false);
  ASSERT_TRUE(first.is_object()) << read_text(so.stdout_path);
  check(first["data"], "events --interval");
}

// The stream: stats every --interval, and an "oom" event when the kernel OOM-kills a process
// in the container (here `tail /dev/zero`, started once /shared/go appears, under a 32 MiB
// limit; the host has no swap to hide in).
TEST_F(CgroupsOpsTest, EventsStreamsStatsAndOom) {
  std::string id = new_id();
  json cfg =
      counter_config("(while [ ! -e /shared/go ]; do usleep 20000; done; tail /dev/zero) & ");
  cfg["linux"]["resources"]["memory"]["limit"] = 32 * 1024 * 1024;
  ASSERT_NO_FATAL_FAILURE(start(id, cfg));

  SpawnOptions so;
  so.stdout_path = dir() + "/events.out";
  Child ev = rt_spawn({"events", "--interval", "200ms", id}, so);
  std::this_thread::sleep_for(800ms);  // the first stats, and an eventfd set up on runc
  write_text(shared_dir() + "/go", "");
  bool oom = wait_until([&] { return contains(read_text(so.stdout_path), "\"oom\""); }, 10s);
  bool events_alive = ev.running();
  ev.kill_group(SIGKILL);
  Result evr = ev.wait();
  std::string out = read_text(so.stdout_path);
  int stats = 0;
  for (const auto& line : split_lines(out)) {
    json j = json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << "not JSON: " << line;
    if (j.value("type", "") == "stats") ++stats;
    EXPECT_EQ(j.value("id", ""), id) << line;
  }
  EXPECT_GE(stats, 2) << out;
  EXPECT_TRUE(oom) << "no oom event; events " << (events_alive ? "still ran" : "had exited: ")
                   << (events_alive ? "" : evr.describe()) << "; state: " << status(id) << "\n"
                   << out;
}

TEST_F(CgroupsOpsTest, KillOfAPausedContainerStopsIt) {
  std::string id = new_id();
  ASSERT_NO_FATAL_FAILURE(start(id, counter_config()));
  ASSERT_TRUE(rt({"pause", id}).ok());
  Result k = rt({"kill", id, "KILL"});
  ASSERT_TRUE(k.ok()) << k.describe();
  bool stopped = wait_status(id, "stopped", 5s);
  if (!stopped && runtime_is_runc() && status(id) == "paused")
    GTEST_SKIP() << "runc 1.1 leaves a SIGKILLed paused container frozen until resumed";
  EXPECT_TRUE(stopped) << "status " << status(id);
}

TEST_F(CgroupsOpsTest, DeleteForceOfAPausedContainerLeavesNothing) {
  HostSnapshot before = snapshot();
  std::string id = new_id();
  json cfg = counter_config();
  std::string cg = cfg["linux"]["cgroupsPath"];
  ASSERT_NO_FATAL_FAILURE(start(id, cfg));
  ASSERT_TRUE(rt({"pause", id}).ok());
  ASSERT_EQ(status(id), "paused");

  Result plain = rt({"delete", id});
  EXPECT_FALSE(plain.ok()) << "delete without --force of a paused container" << plain.describe();

  auto t0 = std::chrono::steady_clock::now();
  Result d = rt({"delete", "--force", id});
  ASSERT_TRUE(d.ok()) << d.describe();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s) << "delete --force waited out a timeout";
  expect_nothing_left(before, id, cg);
}

}  // namespace
}  // namespace itest
