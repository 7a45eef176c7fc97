// `exec`: a new process in a running container joins the init's namespaces and cgroup, gets
// its protections (capabilities, no_new_privs), takes the flags and --process file, passes
// stdout and the exit code back, runs detached with --pid-file, reports a missing program,
// refuses containers that are not running, and leaves no process behind.
#include <signal.h>
#include <unistd.h>

#include <map>
#include <set>
#include <thread>

#include "harness.h"

namespace itest {
namespace {

class ExecTest : public ContainerTest {
 protected:
  // create + start a container running `sleep 1000`; returns its host PID.
  pid_t start_sleeper() {
    id_ = new_id("exec");
    json cfg = config({"sleep", "1000"});
    cgroup_ = cfg["linux"]["cgroupsPath"];
    Result c = create(id_, write_bundle(cfg));
    EXPECT_TRUE(c.ok()) << c.describe();
    Result s = rt({"start", id_});
    EXPECT_TRUE(s.ok()) << s.describe();
    EXPECT_TRUE(wait_status(id_, "running"));
    auto st = state(id_);
    return st ? st->value("pid", 0) : 0;
  }
  Result exec(std::vector<std::string> args, const RtOptions& o = {}) {
    args.insert(args.begin(), "exec");
    return rt(args, o);
  }
  // "Key:\tvalue" lines of a /proc/<pid>/status text.
  static std::map<std::string, std::string> fields(const std::string& text) {
    std::map<std::string, std::string> m;
    for (const auto& l : split_lines(text)) {
      auto c = l.find(':');
      if (c != std::string::npos) m[l.substr(0, c)] = trim(l.substr(c + 1));
    }
    return m;
  }
  static std::string ns_of(pid_t pid, const std::string& name) {
    char buf[256];
    std::string p = "/proc/" + std::to_string(pid) + "/ns/" + name;
    ssize_t n = ::readlink(p.c_str(), buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }

  std::string id_;
  std::string cgroup_;
};

TEST_F(ExecTest, JoinsEveryNamespaceOfTheInit) {
  pid_t init = start_sleeper();
  ASSERT_GT(init, 0);
  const std::vector<std::string> names = {"pid", "mnt", "net", "uts", "ipc", "user", "cgroup"};
  Result r = exec({id_, "sh", "-c",
                   "for n in pid mnt net uts ipc user cgroup; do readlink /proc/self/ns/$n; done"});
  ASSERT_TRUE(r.ok()) << r.describe();
  auto l = split_lines(r.out);
  ASSERT_EQ(l.size(), names.size()) << r.describe();
  for (size_t i = 0; i < names.size(); ++i)
    EXPECT_EQ(l[i], ns_of(init, names[i])) << names[i] << r.describe();
  for (const char* n : {"pid", "mnt", "net", "uts", "ipc"})
    EXPECT_NE(ns_of(init, n), host_ns(n)) << n << ": the container should have its own";
}

TEST_F(ExecTest, StdoutExitCodeAndVerbatimArgs) {
  start_sleeper();
  Result r = exec({id_, "echo", "hi"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.out, "hi\n");

  r = exec({id_, "sh", "-c", "exit 3"});
  EXPECT_EQ(r.exit_code(), 3) << r.describe();

  // Arguments that look like flags belong to the command.
  r = exec({id_, "ls", "-la", "/"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(contains(r.out, "bin")) << r.describe();

  // "--" ends the flags before the ID (runc 1.1 passes a "--" after the ID on as the command).
  r = exec({"--", id_, "sh", "-c", "echo $0 $1", "-x", "--y"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.out, "-x --y\n");
}

TEST_F(ExecTest, EnvCwdAndUserFlags) {
  start_sleeper();
  Result r = exec({"-e", "FOO=bar baz", "-e", "PATH=/bin:/sbin", "--cwd", "/etc", "-u", "1000:1000",
                   "-g", "10", "-g", "20", id_, "sh", "-c",
                   "echo \"$FOO\"; pwd; id -u; id -g; id -G; echo $PATH"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(split_lines(r.out), (std::vector<std::string>{"bar baz", "/etc", "1000", "1000",
                                                          "1000 10 20", "/bin:/sbin"}))
      << r.describe();

  // Without flags: the container's own process settings (root, cwd "/").
  r = exec({id_, "sh", "-c", "id -u; pwd"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.out, "0\n/\n");
}

TEST_F(ExecTest, SameCgroupAsTheInit) {
  pid_t init = start_sleeper();
  ASSERT_GT(init, 0);
  Result r = exec({id_, "cat", "/proc/self/cgroup"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.out, read_text("/proc/" + std::to_string(init) + "/cgroup"));
}

TEST_F(ExecTest, CapabilitiesAndNoNewPrivsOfTheInit) {
  pid_t init = start_sleeper();
  ASSERT_GT(init, 0);
  auto want = fields(read_text("/proc/" + std::to_string(init) + "/status"));
  Result r = exec({id_, "cat", "/proc/self/status"});
  ASSERT_TRUE(r.ok()) << r.describe();
  auto got = fields(r.out);
  for (const char* f : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"})
    EXPECT_EQ(got[f], want[f]) << f;
  EXPECT_EQ(got["NoNewPrivs"], "1") << "the default config sets noNewPrivileges";

  // --cap adds to the sets: CAP_SYS_ADMIN (21) is not in the default ones.
  ASSERT_EQ(want["CapEff"].size(), 16u);
  uint64_t base = std::stoull(want["CapEff"], nullptr, 16);
  ASSERT_EQ(base & (1ull << 21), 0u);
  r = exec({"--cap", "CAP_SYS_ADMIN", id_, "cat", "/proc/self/status"});
  ASSERT_TRUE(r.ok()) << r.describe();
  got = fields(r.out);
  EXPECT_EQ(std::stoull(got["CapEff"], nullptr, 16), base | (1ull << 21)) << r.describe();
  EXPECT_NE(std::stoull(got["CapBnd"], nullptr, 16) & (1ull << 21), 0u) << r.describe();
}

TEST_F(ExecTest, ProcessFile) {
  start_sleeper();
  json p = {{"args", {"sh", "-c", "echo $A; pwd; id -u"}},
            {"env", {"PATH=/bin", "A=from-file"}},
            {"cwd", "/tmp"},
            {"user", {{"uid", 1000}, {"gid", 1000}}},
            {"terminal", false}};
  std::string file = dir() + "/process.json";
  write_text(file, p.dump());
  Result r = exec({"--process", file, id_});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.out, "from-file\n/tmp\n1000\n");
}

TEST_F(ExecTest, DetachedWithPidFile) {
  pid_t init = start_sleeper();
  ASSERT_GT(init, 0);
  std::string pid_file = dir() + "/exec.pid";
  auto t0 = std::chrono::steady_clock::now();
  Result r = exec({"-d", "--pid-file", pid_file, id_, "sleep", "999"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s) << "exec -d waited for the process";
  pid_t pid = std::stoi(read_text(pid_file));
  ASSERT_GT(pid, 0);
  // runc 1.1 returns just before its process calls execve(): allow it a moment.
  std::string cmdline_path = "/proc/" + std::to_string(pid) + "/cmdline";
  EXPECT_TRUE(wait_until([&] {
    return read_text(cmdline_path) == std::string("sleep\0999\0", 10);
  })) << read_text(cmdline_path);
  EXPECT_EQ(ns_of(pid, "pid"), ns_of(init, "pid"));
  EXPECT_EQ(ns_of(pid, "mnt"), ns_of(init, "mnt"));
  EXPECT_EQ(read_text("/proc/" + std::to_string(pid) + "/cgroup"),
            read_text("/proc/" + std::to_string(init) + "/cgroup"));
  ::kill(pid, SIGKILL);  // ours: the exec'd process named by the pid file
  EXPECT_TRUE(wait_until([&] {
    return !exists("/proc/" + std::to_string(pid) + "/cmdline") ||
           read_text("/proc/" + std::to_string(pid) + "/cmdline").empty();
  }));
}

TEST_F(ExecTest, MissingProgramFailsClearly) {
  start_sleeper();
  HostSnapshot before = snapshot();
  Result r = exec({id_, "nosuch"});
  EXPECT_FALSE(r.ok()) << r.describe();
  EXPECT_NE(r.exit_code(), 0);
  EXPECT_TRUE(contains(r.err, "nosuch")) << r.describe();
  EXPECT_TRUE(contains(r.err, "executable file not found in $PATH")) << r.describe();
  EXPECT_EQ(status(id_), "running");
  EXPECT_EQ(stray_children(), before.children) << describe_pids(stray_children());
}

TEST_F(ExecTest, StoppedContainerIsRefused) {
  std::string id = new_id("stopped");
  Result c = create(id, write_bundle(config({"true"})));
  ASSERT_TRUE(c.ok()) << c.describe();
  ASSERT_TRUE(rt({"start", id}).ok());
  ASSERT_TRUE(wait_status(id, "stopped"));
  Result r = exec({id, "echo", "hi"});
  EXPECT_FALSE(r.ok()) << r.describe();
  EXPECT_TRUE(contains(r.err, "stopped")) << r.describe();
  EXPECT_EQ(r.out, "");
}

// An exec in a created container runs (as with runc): ParityCliState.ExecWorksOnACreatedContainer.

TEST_F(ExecTest, SignalsAreForwarded) {
  start_sleeper();
  std::string ready = shared_dir() + "/trap-ready";
  Child c =
      rt_spawn({"exec", id_, "sh", "-c",
                "trap 'exit 7' TERM; touch /shared/trap-ready; while :; do sleep 1 & wait; done"});
  ASSERT_TRUE(wait_until([&] { return exists(ready); })) << "the exec'd program never ran";
  ::kill(c.pid(), SIGTERM);  // the runtime, which passes it on
  Result r = c.wait();
  EXPECT_EQ(r.exit_code(), 7) << r.describe();
}

TEST_F(ExecTest, NothingLeftBehind) {
  start_sleeper();
  HostSnapshot before = snapshot();
  for (int i = 0; i < 5; ++i) {
    Result r = exec({id_, "sh", "-c", "sleep 0.01 & echo $$"});
    ASSERT_TRUE(r.ok()) << r.describe();
  }
  Result r = exec({id_, "nosuch-either"});
  EXPECT_FALSE(r.ok());
  // The container's init is our stray child already (we are a subreaper); nothing else is.
  EXPECT_EQ(stray_children(), before.children) << describe_pids(stray_children());
  EXPECT_EQ(snapshot().mounts, before.mounts);
  // Only the init is left in the container's cgroup (the background sleeps may linger briefly).
  std::vector<std::string> dirs = cgroup_dirs(cgroup_);
  ASSERT_FALSE(dirs.empty());
  EXPECT_TRUE(wait_until([&] {
    return split_lines(read_text(dirs[0] + "/cgroup.procs")).size() == 1;
  })) << read_text(dirs[0] + "/cgroup.procs");
}

// --no-new-privs sets it for the exec'd process even when the container's init runs without.
TEST_F(ExecTest, NoNewPrivsFlag) {
  id_ = new_id("exec");
  json cfg = config({"sleep", "1000"});
  cfg["process"]["noNewPrivileges"] = false;
  ASSERT_TRUE(create(id_, write_bundle(cfg)).ok());
  ASSERT_TRUE(rt({"start", id_}).ok());
  Result plain = exec({id_, "grep", "NoNewPrivs", "/proc/self/status"});
  ASSERT_TRUE(plain.ok()) << plain.describe();
  EXPECT_TRUE(contains(plain.out, "\t0")) << plain.out;
  Result nnp = exec({"--no-new-privs", id_, "grep", "NoNewPrivs", "/proc/self/status"});
  ASSERT_TRUE(nnp.ok()) << nnp.describe();
  EXPECT_TRUE(contains(nnp.out, "\t1")) << nnp.out;
}

// --preserve-fds N hands fds 3..3+N-1 of the caller to the process; nothing else passes.
TEST_F(ExecTest, PreserveFdsPassesExactlyTheGivenFds) {
  start_sleeper();
  std::string secret = dir() + "/preserved";
  write_text(secret, "through-fd-3\n");
  auto via_shell = [&](const std::string& flags) {
    std::string cmd =
        "exec 3<" + secret + " 4<" + secret + "; exec " + runtime_path() + " --root " +
        state_root() + " exec " + flags + " " + id_ +
        " sh -c 'cat <&3; for f in 3 4 5; do [ -e /proc/$$/fd/$f ] && echo $f; done; true'";
    return run_cmd({"sh", "-c", cmd});
  };
  Result one = via_shell("--preserve-fds 1");
  ASSERT_TRUE(one.ok()) << one.describe();
  auto lines = split_lines(trim(one.out));
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0], "through-fd-3");
  std::set<std::string> fds(lines.begin() + 1, lines.end());
  EXPECT_TRUE(fds.count("3")) << one.out;
  EXPECT_FALSE(fds.count("4")) << "only the preserved fds pass: " << one.out;
  Result none = via_shell("");
  EXPECT_FALSE(contains(none.out, "through-fd-3")) << none.describe();
  EXPECT_NE(exec({"--preserve-fds=-1", id_, "true"}).exit_code(), 0);
}

// --apparmor and --process-label are refused where their LSM is off (never ignored).
TEST_F(ExecTest, LsmFlagsNeedTheirLsm) {
  start_sleeper();
  if (!contains(read_text("/sys/module/apparmor/parameters/enabled"), "Y")) {
    Result r = exec({"--apparmor", "unconfined", id_, "true"});
    EXPECT_NE(r.exit_code(), 0);
    EXPECT_TRUE(contains(r.err, "AppArmor is not enabled")) << r.describe();
  }
  if (!exists("/sys/fs/selinux/enforce")) {
    Result r = exec({"--process-label", "system_u:system_r:container_t:s0", id_, "true"});
    EXPECT_NE(r.exit_code(), 0);
    EXPECT_TRUE(contains(r.err, "SELinux is not enabled")) << r.describe();
  }
}

// A paused container refuses exec unless --ignore-paused; then the process runs once the
// container is resumed.
TEST_F(ExecTest, PausedContainerNeedsIgnorePaused) {
  start_sleeper();
  ASSERT_TRUE(rt({"pause", id_}).ok());
  Result refused = exec({id_, "true"});
  EXPECT_NE(refused.exit_code(), 0);
  EXPECT_TRUE(contains(refused.err, "paused")) << refused.describe();
  std::string mark = "/shared/ran-while-paused";
  Child late = rt_spawn({"exec", "--ignore-paused", id_, "sh", "-c", "echo ok > " + mark});
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_FALSE(exists(shared_dir() + "/ran-while-paused")) << "a frozen process ran";
  ASSERT_TRUE(rt({"resume", id_}).ok());
  Result r = late.wait();
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(read_text(shared_dir() + "/ran-while-paused"), "ok\n");
}

// --cgroup puts the process into an existing sub-cgroup of the container's.
TEST_F(ExecTest, SubCgroupFlag) {
  start_sleeper();
  auto dirs = cgroup_dirs(cgroup_);
  ASSERT_FALSE(dirs.empty());
  for (const auto& d : dirs) {
    mkdirs(d + "/sub");
    // A v1 cpuset cgroup takes no process before it has CPUs and memory nodes (as runc, the
    // runtime leaves a sub-cgroup to whoever made it).
    // (On v2 the sub-cgroup has no cpuset files: nothing enables controllers below the
    // container's cgroup.)
    for (const char* f : {"cpuset.cpus", "cpuset.mems"})
      if (exists(d + "/sub/" + f)) write_text(d + "/sub/" + f, read_text(d + "/" + f));
  }
  Result r = exec({"--cgroup", "sub", id_, "cat", "/proc/self/cgroup"});
  EXPECT_TRUE(r.ok()) << r.describe();
  for (const auto& l : split_lines(trim(r.out)))
    EXPECT_TRUE(l.size() >= 4 && l.substr(l.size() - 4) == "/sub") << r.out;
  Result missing = exec({"--cgroup", "nosuch", id_, "true"});
  EXPECT_NE(missing.exit_code(), 0);
  EXPECT_TRUE(contains(missing.err, "does not exist")) << missing.describe();
  Result escape = exec({"--cgroup", "../..", id_, "true"});
  EXPECT_NE(escape.exit_code(), 0);
  for (const auto& d : dirs) ::rmdir((d + "/sub").c_str());
}

}  // namespace
}  // namespace itest
