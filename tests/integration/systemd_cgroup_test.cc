// The systemd cgroup driver (--systemd-cgroup). Without systemd as init (this build host) only
// the clear-error test runs; the others skip. With systemd they start real transient scopes:
// tests/systemd/run-in-v2vm.sh runs them in a VM where systemd is PID 1 of a namespace.
#include <unistd.h>

#include <thread>

#include "harness.h"

namespace itest {
namespace {

constexpr const char* kPrivateSocket = "/run/systemd/private";

bool systemd_running() { return exists(kPrivateSocket); }

class SystemdCgroupBase : public ContainerTest {
 protected:
  // A config in the unit "vessel-<id>.scope" of system.slice (or the default path when
  // `default_path`), with the limits the tests read back.
  json scope_config(const std::string& id, std::vector<std::string> args, bool default_path) {
    json cfg = config(std::move(args));
    if (default_path)
      cfg["linux"].erase("cgroupsPath");
    else
      cfg["linux"]["cgroupsPath"] = "system.slice:vessel:" + id;
    cfg["linux"]["resources"]["memory"] = {{"limit", 64 << 20}};
    cfg["linux"]["resources"]["pids"] = {{"limit", 64}};
    cfg["linux"]["resources"]["cpu"] = {{"quota", 50000}, {"period", 100000}};
    return cfg;
  }

  static std::string unit_of(const std::string& id) { return "vessel-" + id + ".scope"; }
  static std::string cgroup_of(const std::string& id) { return "/system.slice/" + unit_of(id); }

  // The unit's file `name` in whichever hierarchy has it ("" if none does).
  static std::string unit_file(const std::string& id, const std::string& name) {
    for (const auto& d : cgroup_dirs(cgroup_of(id)))
      if (exists(d + "/" + name)) return d + "/" + name;
    return "";
  }

  // `systemctl show -p PROP --value UNIT`, or "" when systemctl is not there.
  static std::string unit_property(const std::string& unit, const std::string& prop) {
    for (const char* systemctl : {"/usr/bin/systemctl", "/bin/systemctl"}) {
      if (!exists(systemctl)) continue;
      Result r = run_cmd({systemctl, "show", "-p", prop, "--value", unit});
      return trim(r.out);
    }
    return "";
  }
  static bool have_systemctl() { return exists("/usr/bin/systemctl") || exists("/bin/systemctl"); }

  Result sd(std::vector<std::string> args) {
    args.insert(args.begin(), "--systemd-cgroup");
    return rt(args);
  }
};

// The tests that need systemd: skipped without it.
class SystemdCgroupTest : public SystemdCgroupBase {
 protected:
  void SetUp() override {
    SystemdCgroupBase::SetUp();
    if (!systemd_running())
      GTEST_SKIP() << "needs systemd as init (no " << kPrivateSocket
                   << "); tests/systemd/run-in-v2vm.sh runs these with systemd";
  }
};

// The one that needs its absence (the build host).
class SystemdCgroupAbsentTest : public SystemdCgroupBase {};

// Runs on hosts without systemd (the build host): one clear line, and nothing left behind.
TEST_F(SystemdCgroupAbsentTest, CreateAndRunFailClearlyAndLeaveNothing) {
  if (systemd_running()) GTEST_SKIP() << "systemd is running here; this is the no-systemd case";
  if (runtime_is_runc()) GTEST_SKIP() << "runc's own wording";
  for (const char* command : {"create", "run"}) {
    std::string id = new_id("sd");
    json cfg = config({"true"});
    std::string cgroups_path = cfg["linux"]["cgroupsPath"];
    cfg["linux"]["cgroupsPath"] = "system.slice:vessel:" + id;
    std::string bundle = write_bundle(cfg);
    HostSnapshot before = snapshot();
    Result r = sd({command, "-b", bundle, id});
    EXPECT_FALSE(r.ok()) << r.describe();
    EXPECT_NE(r.exit_code(), 0) << r.describe();
    EXPECT_TRUE(contains(r.err,
                         "--systemd-cgroup: systemd is not running as init (no "
                         "/run/systemd/private)"))
        << r.describe();
    std::vector<std::string> lines;
    for (const auto& l : split_lines(r.err))
      if (!trim(l).empty()) lines.push_back(l);
    EXPECT_EQ(lines.size(), 1u) << "one line expected: " << r.describe();
    EXPECT_FALSE(exists(state_root() + "/" + id)) << "a state directory was left for " << id;
    expect_nothing_left(before, id, cgroups_path);
    EXPECT_TRUE(cgroup_dirs(cgroup_of(id)).empty());
  }
}

TEST_F(SystemdCgroupTest, FeaturesSaySystemd) {
  const auto& f = runtime_features();
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ((*f)["linux"]["cgroup"]["systemd"], true) << f->dump();
}

TEST_F(SystemdCgroupTest, ScopeWithLimitsUpdatePauseResumeDelete) {
  std::string id = new_id("sd");
  // Without a cgroup namespace, /proc/self/cgroup names the scope, and the cgroup2 mount shows
  // the whole hierarchy (or, where the runtime binds it, just the container's own cgroup).
  json cfg = scope_config(
      id,
      {"sh", "-c",
       "cat /proc/self/cgroup > /shared/cgroup; p=$(sed -n 's/^0:://p' /proc/self/cgroup); "
       "cat /sys/fs/cgroup$p/memory.max > /shared/memory.max 2>/dev/null || "
       "cat /sys/fs/cgroup/memory.max > /shared/memory.max; touch /shared/started; "
       "i=0; while :; do i=$((i+1)); echo $i > /shared/count; usleep 50000; done"},
      false);
  cfg["mounts"].push_back(mount_entry("/sys/fs/cgroup", "cgroup", "cgroup",
                                      {"nosuid", "noexec", "nodev", "relatime", "ro"}));
  Result c = sd({"create", "-b", write_bundle(cfg), id});
  ASSERT_TRUE(c.ok()) << c.describe();

  // The unit exists, is active, and owns the cgroup.
  std::string unit = unit_of(id);
  ASSERT_FALSE(cgroup_dirs(cgroup_of(id)).empty()) << "no cgroup " << cgroup_of(id);
  if (have_systemctl()) {
    EXPECT_EQ(unit_property(unit, "ActiveState"), "active");
    EXPECT_EQ(unit_property(unit, "ControlGroup"), cgroup_of(id));
    EXPECT_EQ(unit_property(unit, "Delegate"), "yes");
  }
  // state.json records the driver, so later commands (run without the flag) find the unit.
  std::string saved = read_text(state_root() + "/" + id + "/state.json");
  json record = json::parse(saved, nullptr, false);
  EXPECT_EQ(record.is_object() ? record["cgroup"].value("driver", "") : "", "systemd") << saved;
  if (record.is_object()) {
    EXPECT_EQ(record["cgroup"].value("unit", ""), unit) << saved;
  }

  Result s = rt({"start", id});
  ASSERT_TRUE(s.ok()) << s.describe();
  ASSERT_TRUE(wait_until([&] { return exists(shared_dir() + "/started"); }));

  // Inside: the container's cgroup is the scope.
  std::string inside = read_text(shared_dir() + "/cgroup");
  EXPECT_TRUE(contains(inside, cgroup_of(id))) << inside;

  // The limits, in the files (written by systemd and by the cgroupfs manager alike).
  std::string memory_max = unit_file(id, "memory.max");
  if (!memory_max.empty()) {
    EXPECT_EQ(trim(read_text(memory_max)), std::to_string(64 << 20));
    EXPECT_EQ(trim(read_text(unit_file(id, "pids.max"))), "64");
    EXPECT_EQ(trim(read_text(unit_file(id, "cpu.max"))), "50000 100000");
    EXPECT_EQ(trim(read_text(shared_dir() + "/memory.max")), std::to_string(64 << 20));
  } else {  // v1 memory controller
    EXPECT_EQ(trim(read_text(unit_file(id, "memory.limit_in_bytes"))), std::to_string(64 << 20));
  }
  if (have_systemctl()) {
    EXPECT_EQ(unit_property(unit, "MemoryMax"), std::to_string(64 << 20));
    EXPECT_EQ(unit_property(unit, "TasksMax"), "64");
  }

  // ps lists the init.
  Result ps = rt({"ps", "--format", "json", id});
  ASSERT_TRUE(ps.ok()) << ps.describe();
  auto st = state(id);
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(contains(ps.out, std::to_string(st->value("pid", 0)))) << ps.out;

  // update --memory: the file and the unit's property follow.
  Result u = rt({"update", "--memory", "128M", id});
  ASSERT_TRUE(u.ok()) << u.describe();
  if (!memory_max.empty()) {
    EXPECT_EQ(trim(read_text(memory_max)), std::to_string(128 << 20));
    if (have_systemctl()) {
      EXPECT_EQ(unit_property(unit, "MemoryMax"), std::to_string(128 << 20));
    }
  }

  // exec joins the scope too.
  Result ex = rt({"exec", id, "cat", "/proc/self/cgroup"});
  ASSERT_TRUE(ex.ok()) << ex.describe();
  EXPECT_TRUE(contains(ex.out, cgroup_of(id))) << ex.out;

  // events --stats reads the unit's cgroup.
  Result ev = rt({"events", "--stats", id});
  ASSERT_TRUE(ev.ok()) << ev.describe();
  EXPECT_TRUE(contains(ev.out, "\"memory\"")) << ev.out;

  // pause / resume.
  auto count = [&] {
    std::string v = trim(read_text(shared_dir() + "/count"));
    try {
      return v.empty() ? -1L : std::stol(v);
    } catch (const std::exception&) {
      return -1L;
    }
  };
  ASSERT_TRUE(wait_until([&] { return count() > 0; }));
  Result p = rt({"pause", id});
  ASSERT_TRUE(p.ok()) << p.describe();
  EXPECT_EQ(status(id), "paused");
  std::this_thread::sleep_for(200ms);
  long frozen_at = count();
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(count(), frozen_at) << "the container ran while paused";
  Result r = rt({"resume", id});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(status(id), "running");
  EXPECT_TRUE(wait_until([&] { return count() > frozen_at; }, 5s)) << "did not resume";

  // kill --all reaches the scope's processes; delete stops the unit and its cgroup goes.
  Result k = rt({"kill", "--all", id, "KILL"});
  ASSERT_TRUE(k.ok()) << k.describe();
  EXPECT_TRUE(wait_status(id, "stopped"));
  Result d = rt({"delete", id});
  ASSERT_TRUE(d.ok()) << d.describe();
  EXPECT_TRUE(wait_until([&] { return cgroup_dirs(cgroup_of(id)).empty(); }, 5s))
      << "cgroup " << cgroup_of(id) << " is still there";
  if (have_systemctl()) {
    EXPECT_TRUE(wait_until(
        [&] {
          std::string load = unit_property(unit, "LoadState");
          std::string active = unit_property(unit, "ActiveState");
          return load == "not-found" || active == "inactive";
        },
        5s))
        << "unit " << unit << " is still " << unit_property(unit, "ActiveState");
  }
  EXPECT_FALSE(exists(state_root() + "/" + id));
}

TEST_F(SystemdCgroupTest, DefaultPathRunAndDeleteForceOfARunningContainer) {
  // Foreground run with an empty cgroupsPath: system.slice:vessel:<id>.
  std::string id = new_id("sd");
  json cfg = scope_config(id, {"cat", "/proc/self/cgroup"}, true);
  Result r = sd({"run", "-b", write_bundle(cfg), id});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(contains(r.out, cgroup_of(id))) << r.out;
  EXPECT_TRUE(wait_until([&] { return cgroup_dirs(cgroup_of(id)).empty(); }, 5s))
      << "run left " << cgroup_of(id);

  // delete --force of a running container stops its unit.
  std::string id2 = new_id("sd");
  json cfg2 = scope_config(id2, {"sleep", "1000"}, false);
  Result c = sd({"run", "-d", "-b", write_bundle(cfg2), id2});
  ASSERT_TRUE(c.ok()) << c.describe();
  ASSERT_FALSE(cgroup_dirs(cgroup_of(id2)).empty());
  Result d = rt({"delete", "--force", id2});
  ASSERT_TRUE(d.ok()) << d.describe();
  EXPECT_TRUE(wait_until([&] { return cgroup_dirs(cgroup_of(id2)).empty(); }, 5s))
      << "delete --force left " << cgroup_of(id2);
  if (have_systemctl()) {
    EXPECT_NE(unit_property(unit_of(id2), "ActiveState"), "active");
  }
}

TEST_F(SystemdCgroupTest, MalformedCgroupsPathIsAClearErrorAndLeavesNothing) {
  std::string id = new_id("sd");
  json cfg = config({"true"});
  std::string cgroups_path = cfg["linux"]["cgroupsPath"];  // "/vessel-itest-...": cgroupfs style
  HostSnapshot before = snapshot();
  Result c = sd({"create", "-b", write_bundle(cfg), id});
  EXPECT_FALSE(c.ok()) << c.describe();
  EXPECT_TRUE(contains(c.err, "linux.cgroupsPath")) << c.describe();
  EXPECT_TRUE(contains(c.err, cgroups_path)) << c.describe();
  EXPECT_TRUE(contains(c.err, "slice:prefix:name")) << c.describe();
  expect_nothing_left(before, id, cgroups_path);
}

}  // namespace
}  // namespace itest
