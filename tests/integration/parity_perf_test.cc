// The start path's costs that vessel-runtime avoids (bench/README.md has the time budget of a
// `run`). No test here times anything: each one checks the mechanism that makes the
// difference, so a regression shows whatever the machine's load.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

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
  std::string readelf = find_program("readelf");
  if (readelf.empty()) GTEST_SKIP() << "no readelf (binutils)";
  Result r = run_cmd({readelf, "-d", runtime_path()});
  ASSERT_TRUE(r.ok()) << r.describe();
  std::string other;
  for (const std::string& l : split_lines(r.out)) {
    if (!contains(l, "(NEEDED)")) continue;
    if (contains(l, "[libc.so.") || contains(l, "[libm.so.") || contains(l, "[ld-linux")) continue;
    other += l + "\n";
  }
  EXPECT_EQ(other, "") << "shared libraries beyond glibc";
}

// CVE-2019-5736 without a copy: as root the runtime re-executes itself through a read-only bind
// mount of its own binary that no mount namespace holds (linux/self_exec.h), not a memfd copy
// of it. The created container's init runs that view: /proc/PID/exe names "/", a write through
// it fails (ETXTBSY while it runs, EROFS after), and the binary's pages are the page cache's.
TEST_F(ParityPerf, RuntimeRunsFromAReadOnlyViewOfItsBinaryNotACopy) {
  if (runtime_is_runc()) GTEST_SKIP() << "runc 1.1 runs from a memfd copy";
  if (::geteuid() != 0) GTEST_SKIP() << "rootless runs from the sealed memfd copy";
  std::string id = new_id("view");
  Result c = create(id, write_bundle(config({"true"})));
  ASSERT_TRUE(c.ok()) << c.describe();
  auto st = state(id);
  ASSERT_TRUE(st && st->contains("pid"));
  const std::string exe = "/proc/" + std::to_string((*st)["pid"].get<int>()) + "/exe";
  char link[256] = {};
  ASSERT_GT(::readlink(exe.c_str(), link, sizeof link - 1), 0);
  EXPECT_STREQ(link, "/") << "the created init's binary";
  errno = 0;
  EXPECT_LT(::open(exe.c_str(), O_WRONLY | O_CLOEXEC), 0);
  EXPECT_TRUE(errno == EROFS || errno == ETXTBSY) << std::strerror(errno);
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

// `make install` (cmake --install) installs stripped programs, each with a .gnu_debuglink to its
// debug info under PREFIX/lib/debug/.build-id/ (scripts/split-debug.sh): an installed
// vessel-runtime is ~2.6 MB, not ~80 MB, and gdb still finds the symbols.
TEST_F(ParityPerf, InstallStripsProgramsAndKeepsDebugInfoApart) {
  if (runtime_is_runc()) GTEST_SKIP() << "vessel's own install";
  const std::string bin = runtime_path().substr(0, runtime_path().rfind('/'));
  const std::string build = bin.substr(0, bin.rfind('/'));
  std::string cmake = find_program("cmake"), readelf = find_program("readelf");
  if (cmake.empty() || readelf.empty()) GTEST_SKIP() << "needs cmake and readelf";
  if (!exists(build + "/CMakeCache.txt") || !exists(bin + "/vessel") ||
      !exists(bin + "/vessel-monitor"))
    GTEST_SKIP() << "the runtime is not in a full CMake build tree: " << build;
  const std::string prefix = dir() + "/prefix";
  Result inst = run_cmd({cmake, "--install", build, "--prefix", prefix}, 300s);
  ASSERT_TRUE(inst.ok()) << inst.describe();
  for (const char* name : {"vessel-runtime", "vessel", "vessel-monitor", "vessel-monitor-ctl"}) {
    const std::string installed = prefix + "/bin/" + name;
    Result sections = run_cmd({readelf, "-S", "-W", installed});
    ASSERT_TRUE(sections.ok()) << sections.describe();
    EXPECT_FALSE(contains(sections.out, ".debug_info")) << name << " is not stripped";
    EXPECT_TRUE(contains(sections.out, ".gnu_debuglink")) << name << " names no debug file";
    Result notes = run_cmd({readelf, "-n", installed});
    size_t at = notes.out.find("Build ID: ");
    ASSERT_NE(at, std::string::npos) << notes.describe();
    std::string id = trim(notes.out.substr(at + 10, notes.out.find('\n', at) - at - 10));
    ASSERT_GT(id.size(), 2u);
    std::string debug =
        prefix + "/lib/debug/.build-id/" + id.substr(0, 2) + "/" + id.substr(2) + ".debug";
    Result dbg = run_cmd({readelf, "-S", "-W", debug});
    EXPECT_TRUE(dbg.ok() && contains(dbg.out, ".debug_info")) << name << ": " << debug;
  }
  Result v = run_cmd({prefix + "/bin/vessel-runtime", "--version"});
  EXPECT_TRUE(v.ok()) << v.describe();
}

}  // namespace
}  // namespace itest
