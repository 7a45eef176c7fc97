// Process settings beyond the basics, --no-pivot, and kill --all, checked from inside.
#include "harness.h"

namespace itest {
namespace {

class ProcessExtraTest : public ContainerTest {};

TEST_F(ProcessExtraTest, PersonalityLinux32) {
  json cfg = config({"uname", "-m"});
  cfg["linux"]["personality"] = {{"domain", "LINUX32"}};
  Result r = run_container(cfg);
  ASSERT_TRUE(r.ok()) << r.describe();
  if (runtime_is_runc() && trim(r.out) == "x86_64") GTEST_SKIP() << "runc 1.1 ignores personality";
  EXPECT_TRUE(trim(r.out) == "i686" || trim(r.out) == "i386" || trim(r.out) == "armv8l")
      << r.describe();
}

TEST_F(ProcessExtraTest, SchedulerAndIoPriority) {
  // /proc/self/sched shows the policy (3 = SCHED_BATCH); /proc/self/io has no priority, so the
  // I/O class is read with the ioprio_get that busybox's ionice does.
  json cfg = config({"sh", "-c", "grep '^policy' /proc/self/sched; ionice -p $$"});
  cfg["process"]["scheduler"] = {{"policy", "SCHED_BATCH"}, {"nice", 5}};
  cfg["process"]["ioPriority"] = {{"class", "IOPRIO_CLASS_IDLE"}, {"priority", 0}};
  Result r = run_container(cfg);
  if (runtime_is_runc() && (!r.ok() || !contains(r.out, "idle")))
    GTEST_SKIP() << "runc 1.1 has no scheduler/ioPriority";
  ASSERT_TRUE(r.ok()) << r.describe();
  auto l = split_lines(r.out);
  ASSERT_FALSE(l.empty());
  EXPECT_EQ(l[0].back(), '3') << "SCHED_BATCH is policy 3" << r.describe();
  EXPECT_TRUE(contains(r.out, "idle")) << r.describe();
}

TEST_F(ProcessExtraTest, NoPivotStillConfinesTheRoot) {
  json cfg = config({"sh", "-c", "ls / | tr '\\n' ' '; ls /tmp"});
  std::string bundle = write_bundle(cfg);
  std::string id = new_id("nopivot");
  Result r = rt({"run", "--no-pivot", "-b", bundle, id});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(contains(r.out, "bin")) << r.describe();
  EXPECT_FALSE(contains(r.out, "vessel-itest")) << "the host's /tmp is visible" << r.describe();
  EXPECT_FALSE(contains(r.out, "vmlinuz")) << r.describe();
}

TEST_F(ProcessExtraTest, KillAllReachesEveryProcessInTheCgroup) {
  json cfg = config({"sh", "-c", "sleep 1000 & sleep 1000 & echo ready > /shared/ready; wait"});
  std::string id = new_id("killall");
  ASSERT_TRUE(create(id, write_bundle(cfg)).ok());
  ASSERT_TRUE(rt({"start", id}).ok());
  ASSERT_TRUE(wait_until([&] { return exists(shared_dir() + "/ready"); }));
  std::string cg = cfg["linux"]["cgroupsPath"];
  std::string procs = "/sys/fs/cgroup/pids" + cg + "/cgroup.procs";
  if (!exists(procs)) procs = "/sys/fs/cgroup" + cg + "/cgroup.procs";
  EXPECT_GE(split_lines(read_text(procs)).size(), 3u) << read_text(procs);
  Result k = rt({"kill", "--all", id, "KILL"});
  ASSERT_TRUE(k.ok()) << k.describe();
  EXPECT_TRUE(wait_status(id, "stopped"));
  EXPECT_TRUE(wait_until([&] { return trim(read_text(procs)).empty(); }))
      << "left in the cgroup: " << read_text(procs);
  ASSERT_TRUE(rt({"delete", id}).ok());
}

TEST_F(ProcessExtraTest, StatusCycleCreatedRunningStopped) {
  json cfg = config({"sh", "-c", "read line < /shared/fifo"});
  ASSERT_EQ(run_cmd({"mkfifo", shared_dir() + "/fifo"}).exit_code(), 0);
  std::string id = new_id("status");
  ASSERT_TRUE(create(id, write_bundle(cfg)).ok());
  EXPECT_EQ(status(id), "created");
  ASSERT_TRUE(rt({"start", id}).ok());
  EXPECT_EQ(status(id), "running");
  Result again = rt({"start", id});
  EXPECT_FALSE(again.ok()) << "a second start must fail";
  write_text(shared_dir() + "/fifo", "go\n");
  EXPECT_TRUE(wait_status(id, "stopped"));
  auto st = state(id);
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(!st->contains("pid") || (*st)["pid"] == 0) << st->dump();
}

}  // namespace
}  // namespace itest

namespace itest {
namespace {

// linux.seccomp is enforced in the container's process, with and without noNewPrivileges.
TEST_F(ProcessExtraTest, SeccompFilterIsEnforced) {
  for (bool nnp : {true, false}) {
    SCOPED_TRACE(nnp ? "noNewPrivileges" : "without noNewPrivileges");
    json cfg = config({"sh", "-c", "mkdir /tmp/blocked && echo made; grep Seccomp: /proc/self/status"});
    cfg["process"]["noNewPrivileges"] = nnp;
    cfg["mounts"].push_back({{"destination", "/tmp"}, {"type", "tmpfs"}, {"source", "tmpfs"}});
    cfg["linux"]["seccomp"] = {
        {"defaultAction", "SCMP_ACT_ALLOW"},
        {"architectures", {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}},
        {"syscalls",
         {{{"names", {"mkdir", "mkdirat"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 13}}}}};
    Result r = run_container(cfg);
    ASSERT_TRUE(r.ok()) << r.describe();
    EXPECT_FALSE(contains(r.out, "made")) << r.describe();
    EXPECT_TRUE(contains(r.err, "Permission denied")) << r.describe();
    EXPECT_TRUE(contains(r.out, "Seccomp:\t2")) << r.describe();
  }
}

TEST_F(ProcessExtraTest, BadSeccompIsAClearErrorAndLeavesNothing) {
  HostSnapshot before = snapshot();
  json cfg = config({"true"});
  cfg["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_NOPE"}};
  std::string cg = cfg["linux"]["cgroupsPath"];
  std::string id = new_id();
  Result r = rt({"create", "-b", write_bundle(cfg), id});
  EXPECT_FALSE(r.ok());
  if (!runtime_is_runc()) {
    EXPECT_TRUE(contains(r.err, "linux.seccomp")) << r.describe();
  }
  expect_nothing_left(before, id, cg);
}

}  // namespace
}  // namespace itest
