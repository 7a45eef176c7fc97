// The start path's costs that vessel-runtime avoids (bench/README.md has the time budget of a
// `run`). No test here times anything: each one checks the mechanism that makes the
// difference, so a regression shows whatever the machine's load.
#include <unistd.h>

#include <cstdlib>

#include "harness.h"

namespace itest {
namespace {

// The full path of `prog` on PATH, or "".
std::string find_program(const std::string& prog) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/sbin:/usr/bin:/sbin:/bin";
  size_t start = 0;
  for (;;) {
    size_t colon = dirs.find(':', start);
    std::string dir = dirs.substr(start, colon == std::string::npos ? colon : colon - start);
    std::string candidate = dir + "/" + prog;
    if (!dir.empty() && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    if (colon == std::string::npos) return "";
    start = colon + 1;
  }
}

class ParityPerf : public ContainerTest {
 protected:
  void SetUp() override {
    ContainerTest::SetUp();
    strace_ = find_program("strace");
  }
  // RUNTIME --root <state> args..., under `strace -f -y -e trace=write`: every write of the
  // runtime and its children, with the path of the file written to.
  Result traced(const std::vector<std::string>& args, std::string& trace) {
    std::string out = dir() + "/trace." + std::to_string(++traces_);
    std::vector<std::string> argv = {strace_,        "-f",          "-qq",       "-y",
                                     "-e",           "trace=write", "-o",        out,
                                     runtime_path(), "--root",      state_root()};
    argv.insert(argv.end(), args.begin(), args.end());
    Result r = run_cmd(argv);
    trace = read_text(out);
    return r;
  }
  // Lines of /proc/PID/cgroup output that do not name the container's cgroup.
  static std::string lines_outside(const std::string& proc_cgroup, const std::string& cg) {
    std::string bad;
    for (const std::string& l : split_lines(proc_cgroup))
      if (!l.empty() && l.substr(l.rfind(':') + 1) != cg) bad += l + "\n";
    return bad;
  }
  static std::string pid_writes(const std::string& trace) {
    std::string found;
    for (const std::string& l : split_lines(trace))
      if (contains(l, "cgroup.procs>") || (contains(l, "/tasks>, \"") && !contains(l, "\"0\"")))
        found += l + "\n";
    return found;
  }
  std::string strace_;
  int traces_ = 0;
};

// vessel-runtime is loaded twice per create, run and exec (the sealed-copy re-exec of
// CVE-2019-5736): it links nothing but glibc, and libsystemd is dlopened by --systemd-cgroup.
TEST_F(ParityPerf, RuntimeNeedsOnlyGlibc) {
  if (runtime_is_runc()) GTEST_SKIP() << "vessel's own link";
  Result r = run_cmd({"readelf", "-d", runtime_path()});
  ASSERT_TRUE(r.ok()) << r.describe();
  std::string other;
  for (const std::string& l : split_lines(r.out)) {
    if (!contains(l, "(NEEDED)")) continue;
    if (contains(l, "[libc.so.") || contains(l, "[libm.so.") || contains(l, "[ld-linux")) continue;
    other += l + "\n";
  }
  EXPECT_EQ(other, "") << "shared libraries beyond glibc";
}

// Writing another process's PID to cgroup.procs waits for an RCU grace period in the kernel
// (cgroups/placement.h). The init is born in its cgroup2 directory (clone3 CLONE_INTO_CGROUP)
// and enters the v1 ones itself ("0" to `tasks`): it ends up in every hierarchy all the same.
TEST_F(ParityPerf, InitEntersItsCgroupsWithoutAPidWrite) {
  if (strace_.empty()) GTEST_SKIP() << "no strace";
  json cfg = config({"cat", "/proc/self/cgroup"});
  const std::string cg = cfg["linux"]["cgroupsPath"];
  std::string trace;
  Result r = traced({"run", "-b", write_bundle(cfg), new_id()}, trace);
  ASSERT_TRUE(r.ok()) << r.describe();
  ASSERT_NE(trace, "");
  EXPECT_NE(trim(r.out), "");
  EXPECT_EQ(lines_outside(r.out, cg), "") << "in /proc/self/cgroup:\n" << r.out;
  if (runtime_is_runc()) return;  // runc writes the PID
  EXPECT_EQ(pid_writes(trace), "") << "a PID written to a cgroup file";
}

// The same for `exec`: the intermediate process is born in the cgroup2 directory, the final
// one enters the v1 hierarchies itself.
TEST_F(ParityPerf, ExecEntersTheCgroupsWithoutAPidWrite) {
  if (strace_.empty()) GTEST_SKIP() << "no strace";
  std::string id = new_id("exec");
  json cfg = config({"sleep", "1000"});
  const std::string cg = cfg["linux"]["cgroupsPath"];
  Result c = create(id, write_bundle(cfg));
  ASSERT_TRUE(c.ok()) << c.describe();
  ASSERT_TRUE(rt({"start", id}).ok());
  ASSERT_TRUE(wait_status(id, "running"));
  std::string trace;
  Result r = traced({"exec", id, "cat", "/proc/self/cgroup"}, trace);
  ASSERT_TRUE(r.ok()) << r.describe();
  ASSERT_NE(trace, "");
  EXPECT_NE(trim(r.out), "");
  EXPECT_EQ(lines_outside(r.out, cg), "") << "in /proc/self/cgroup:\n" << r.out;
  if (runtime_is_runc()) return;
  EXPECT_EQ(pid_writes(trace), "") << "a PID written to a cgroup file";
}

// Under a pids limit on cgroup2 the exec'd process is still moved in by its PID, as before:
// a moved process never fails on the limit, while one forked inside the cgroup would. Checked
// where the pids controller is on cgroup2 (pure v2); the exec must succeed and land inside.
TEST_F(ParityPerf, ExecIntoAPidsLimitedContainerStillWorks) {
  std::string id = new_id("pids");
  json cfg = config({"sleep", "1000"});
  cfg["linux"]["resources"]["pids"] = {{"limit", 1}};
  const std::string cg = cfg["linux"]["cgroupsPath"];
  Result c = create(id, write_bundle(cfg));
  ASSERT_TRUE(c.ok()) << c.describe();
  ASSERT_TRUE(rt({"start", id}).ok());
  ASSERT_TRUE(wait_status(id, "running"));
  // The container holds its one allowed process; the exec'd one is moved in past the limit.
  Result r = rt({"exec", id, "cat", "/proc/self/cgroup"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(lines_outside(r.out, cg), "") << "in /proc/self/cgroup:\n" << r.out;
}

}  // namespace
}  // namespace itest
