// The `vessel` manager end to end: real containers from the busybox template, each test with
// its own store (--root) under a temp dir, checked from inside the containers and from the
// host, and nothing left behind (containers, mounts, monitors).
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <thread>

#include "harness.h"

namespace itest {
namespace {

// Runs `f` at the end of the scope (cleanups that must run when an assertion returns early).
struct Defer {
  explicit Defer(std::function<void()> fn) : f(std::move(fn)) {}
  Defer(const Defer&) = delete;
  Defer& operator=(const Defer&) = delete;
  ~Defer() { f(); }
  std::function<void()> f;
};

class ManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (runtime_is_runc()) GTEST_SKIP() << "manager tests run once, with vessel's own runtime";
    char tmpl[] = "/tmp/vessel-mtest-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    root_ = dir_ + "/store";
    mounts_before_ = mount_count_under(dir_);
  }
  void TearDown() override {
    if (root_.empty()) return;
    auto ids = split_lines(v({"ps", "-aq", "--no-trunc"}).out);
    for (const auto& id : ids)
      if (!trim(id).empty()) v({"rm", "-f", trim(id)});
    EXPECT_EQ(trim(v({"ps", "-aq"}).out), "");
    EXPECT_EQ(mount_count_under(dir_), mounts_before_) << "mounts left behind";
    if (!getenv("VESSEL_TEST_KEEP")) remove_tree(dir_);
  }

  Result v(const std::vector<std::string>& args, Millis timeout = kTimeout,
           const SpawnOptions& o = {}) {
    std::vector<std::string> argv = {VESSEL_MANAGER_BIN, "--root", root_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_cmd(argv, timeout, o);
  }
  Child v_spawn(const std::vector<std::string>& args, const SpawnOptions& o = {}) {
    std::vector<std::string> argv = {VESSEL_MANAGER_BIN, "--root", root_};
    argv.insert(argv.end(), args.begin(), args.end());
    return spawn(argv, o);
  }
  json inspect(const std::string& name) {
    auto r = v({"inspect", name});
    if (!r.ok()) return json();
    return json::parse(r.out).at(0);
  }
  std::string state_of(const std::string& name) {
    auto j = inspect(name);
    return j.is_null() ? "" : j["State"]["Status"].get<std::string>();
  }
  // The container's process has exited and its monitor is gone.
  bool settled(const std::string& name) {
    auto j = inspect(name);
    if (j.is_null()) return true;
    pid_t mon = j["State"]["MonitorPid"].get<pid_t>();
    return j["State"]["Status"] == "exited" && (mon == 0 || ::kill(mon, 0) != 0);
  }
  size_t entries(const std::string& path) {
    auto r = run_cmd({"ls", "-A", path});
    size_t n = 0;
    for (const auto& l : split_lines(r.out)) n += !trim(l).empty();
    return n;
  }
  static std::string sha256_of(const std::string& path) {
    return "sha256:" + run_cmd({"sha256sum", path}).out.substr(0, 64);
  }
  // "layered:1": the busybox template plus a second, uncompressed layer with whiteouts (of
  // /etc/os-release; /usr opaque), a hard link, a device node, a symlink, and a file with an
  // owner, a mode, an mtime and an xattr of its own.
  void build_layered_image() {
    ASSERT_TRUE(v({"template", "build", "busybox"}).ok());
    std::string l2 = dir_ + "/layer2";
    mkdirs(l2 + "/etc");
    mkdirs(l2 + "/usr");
    mkdirs(l2 + "/data");
    write_text(l2 + "/etc/.wh.os-release", "");
    write_text(l2 + "/usr/.wh..wh..opq", "");
    write_text(l2 + "/usr/newfile", "new\n");
    write_text(l2 + "/data/one", "linked\n");
    ASSERT_EQ(::link((l2 + "/data/one").c_str(), (l2 + "/data/two").c_str()), 0);
    ASSERT_EQ(::mknod((l2 + "/data/null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
    ASSERT_EQ(::symlink("one", (l2 + "/data/link").c_str()), 0);
    std::string owned = l2 + "/data/owned";
    write_text(owned, "owned\n", 0640);
    ASSERT_EQ(::chown(owned.c_str(), 1234, 5678), 0);
    ASSERT_EQ(::chmod(owned.c_str(), 0640), 0);
    ASSERT_EQ(::setxattr(owned.c_str(), "user.vessel", "yes", 3, 0), 0);
    struct timeval times[2] = {{1000000000, 0}, {1000000000, 0}};
    ASSERT_EQ(::utimes(owned.c_str(), times), 0);
    std::string layer = dir_ + "/layer2.tar";
    auto tar = run_cmd({"tar", "--format=posix", "--xattrs", "--xattrs-include=*",
                        "--numeric-owner", "-C", l2, "-cf", layer, "etc", "usr", "data"});
    ASSERT_TRUE(tar.ok()) << tar.describe();

    std::string archive = dir_ + "/layered";
    ASSERT_TRUE(v({"save", "--format", "oci-dir", "-o", archive, "busybox"}).ok());
    auto blob = [&](const std::string& d) { return archive + "/blobs/sha256/" + d.substr(7); };
    std::string layer_digest = sha256_of(layer);
    ASSERT_TRUE(run_cmd({"cp", layer, blob(layer_digest)}).ok());
    auto index = json::parse(read_text(archive + "/index.json"));
    auto manifest = json::parse(read_text(blob(index["manifests"][0]["digest"])));
    auto config = json::parse(read_text(blob(manifest["config"]["digest"])));
    config["rootfs"]["diff_ids"].push_back(layer_digest);
    std::string cfg_text = config.dump();
    write_text(dir_ + "/cfg.json", cfg_text);
    std::string cfg_digest = sha256_of(dir_ + "/cfg.json");
    write_text(blob(cfg_digest), cfg_text);
    manifest["config"]["digest"] = cfg_digest;
    manifest["config"]["size"] = cfg_text.size();
    manifest["layers"].push_back({{"mediaType", "application/vnd.oci.image.layer.v1.tar"},
                                  {"digest", layer_digest},
                                  {"size", read_text(layer).size()}});
    std::string man_text = manifest.dump();
    write_text(dir_ + "/man.json", man_text);
    std::string man_digest = sha256_of(dir_ + "/man.json");
    write_text(blob(man_digest), man_text);
    index["manifests"] =
        json::array({{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                      {"digest", man_digest},
                      {"size", man_text.size()},
                      {"annotations", {{"org.opencontainers.image.ref.name", "layered:1"}}}}});
    write_text(archive + "/index.json", index.dump());
    auto loaded = v({"load", "-i", archive});
    ASSERT_TRUE(loaded.ok()) << loaded.describe();
  }
  bool mounted(const std::string& path) {
    return find_mount(parse_mountinfo(read_text("/proc/self/mountinfo")), path).has_value();
  }

  std::string dir_, root_;
  size_t mounts_before_ = 0;
};

TEST_F(ManagerTest, RunRmShowsPid1OwnHostnameAndLeavesNothing) {
  auto r = v({"run", "--rm", "busybox", "sh", "-c", "hostname; id -u; echo $$"});
  ASSERT_TRUE(r.ok()) << r.describe();
  auto lines = split_lines(r.out);
  ASSERT_GE(lines.size(), 3u) << r.describe();
  EXPECT_EQ(lines[0].size(), 12u) << "hostname is the short container ID: " << lines[0];
  EXPECT_NE(lines[0], trim(read_text("/proc/sys/kernel/hostname")));
  EXPECT_EQ(lines[1], "0");
  EXPECT_EQ(lines[2], "1");
  EXPECT_EQ(trim(v({"ps", "-aq"}).out), "");
  EXPECT_EQ(entries(root_ + "/containers"), 0u);

  auto h = v({"run", "--rm", "-h", "box1", "-e", "GREETING=hi there", "-w", "/tmp", "busybox", "sh",
              "-c", "hostname; echo $GREETING; pwd"});
  ASSERT_TRUE(h.ok()) << h.describe();
  EXPECT_EQ(h.out, "box1\nhi there\n/tmp\n");
}

TEST_F(ManagerTest, ExitCodesPropagate) {
  EXPECT_EQ(v({"run", "--rm", "busybox", "sh", "-c", "exit 3"}).exit_code(), 3);
  auto missing = v({"run", "--rm", "busybox", "no-such-command"});
  EXPECT_EQ(missing.exit_code(), 127) << missing.describe();
  EXPECT_TRUE(contains(missing.err, "no-such-command")) << missing.err;
  // A signal from outside: 128+N.
  ASSERT_TRUE(v({"run", "-d", "--name", "victim", "busybox", "sleep", "300"}).ok());
  ASSERT_EQ(::kill(inspect("victim")["State"]["Pid"].get<pid_t>(), SIGKILL), 0);
  EXPECT_EQ(trim(v({"wait", "victim"}).out), "137");
  ASSERT_TRUE(v({"rm", "victim"}).ok());
  EXPECT_EQ(trim(v({"ps", "-aq"}).out), "");
}

TEST_F(ManagerTest, BadInputIsOneClearLineAndLeavesNothing) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  std::vector<Case> cases = {
      {{"run", "--rm", "-m", "12xb", "busybox", "true"}, "--memory"},
      {{"run", "--rm", "-v", dir_ + "/missing:/data", "busybox", "true"}, "does not exist"},
      {{"run", "--rm", "no-such-image", "true"}, "image not known"},
      {{"run", "--rm", "--restart", "always", "busybox", "true"}, "--rm"},
      {{"run", "--rm", "--restart", "sometimes", "busybox", "true"}, "--restart"},
      {{"run", "--rm", "--cap-add", "CAP_NOPE", "busybox", "true"}, "CAP_NOPE"},
      {{"run", "--rm", "--name", "bad/name", "busybox", "true"}, "bad/name"},
      {{"run", "--rm", "--ulimit", "nofile=10:5", "busybox", "true"}, "soft limit"},
  };
  for (const auto& c : cases) {
    auto r = v(c.args);
    EXPECT_EQ(r.exit_code(), 125) << r.describe();
    EXPECT_TRUE(contains(r.err, c.message)) << r.describe();
    EXPECT_EQ(split_lines(trim(r.err)).size(), 1u) << r.describe();
  }
  EXPECT_EQ(trim(v({"ps", "-aq"}).out), "");
  EXPECT_EQ(entries(root_ + "/containers"), 0u);

  ASSERT_TRUE(v({"create", "--name", "taken", "busybox", "true"}).ok());
  auto dup = v({"create", "--name", "taken", "busybox", "true"});
  EXPECT_NE(dup.exit_code(), 0);
  EXPECT_TRUE(contains(dup.err, "already in use")) << dup.describe();
  EXPECT_EQ(entries(root_ + "/containers"), 1u);
}

TEST_F(ManagerTest, DetachedContainerLogsExecStopRm) {
  auto r = v({"run", "-d", "--name", "ticker", "busybox", "sh", "-c",
              "trap 'echo bye; exit 0' TERM; i=0; while true; do echo tick $i; i=$((i+1)); "
              "sleep 0.1; done"});
  ASSERT_TRUE(r.ok()) << r.describe();
  std::string id = trim(r.out);
  EXPECT_EQ(id.size(), 64u);
  EXPECT_EQ(state_of("ticker"), "running");
  EXPECT_TRUE(contains(v({"ps"}).out, "ticker"));
  ASSERT_TRUE(wait_until([&] { return contains(v({"logs", "ticker"}).out, "tick 3"); }));

  auto follow = v_spawn({"logs", "-f", "--tail", "1", "ticker"});
  auto e = v({"exec", "ticker", "sh", "-c", "echo from exec; echo $$; cat /proc/1/cmdline"});
  ASSERT_TRUE(e.ok()) << e.describe();
  EXPECT_TRUE(contains(e.out, "from exec"));
  EXPECT_TRUE(contains(e.out, "while true")) << e.out;
  EXPECT_EQ(v({"exec", "ticker", "sh", "-c", "exit 5"}).exit_code(), 5);

  // Several ticks (one each 0.1 s) must reach the follower before the stop: the execs above can
  // take less than one tick now.
  std::this_thread::sleep_for(500ms);
  auto stop = v({"stop", "-t", "5", id.substr(0, 8)});
  ASSERT_TRUE(stop.ok()) << stop.describe();
  EXPECT_EQ(state_of("ticker"), "exited");
  EXPECT_EQ(inspect("ticker")["State"]["ExitCode"], 0) << "the TERM trap ran and exited 0";
  auto followed = follow.wait();
  EXPECT_TRUE(followed.ok()) << followed.describe();
  EXPECT_TRUE(contains(followed.out, "bye")) << "logs -f printed until the end";
  EXPECT_GT(split_lines(followed.out).size(), 2u) << "logs -f kept following";

  auto exec_stopped = v({"exec", "ticker", "true"});
  EXPECT_NE(exec_stopped.exit_code(), 0);
  EXPECT_TRUE(contains(exec_stopped.err, "not running")) << exec_stopped.describe();
  EXPECT_TRUE(v({"rm", "ticker"}).ok());
  EXPECT_FALSE(v({"inspect", "ticker"}).ok());
  EXPECT_EQ(entries(root_ + "/containers"), 0u);
}

TEST_F(ManagerTest, RestartOnFailureGivesUpAfterThreeRetries) {
  ASSERT_TRUE(v({"run", "-d", "--name", "flaky", "--restart", "on-failure:3", "busybox", "sh", "-c",
                 "echo attempt; exit 1"})
                  .ok());
  ASSERT_TRUE(wait_until([&] { return settled("flaky"); }, 30s));
  auto j = inspect("flaky");
  EXPECT_EQ(j["RestartCount"], 3);
  EXPECT_EQ(j["State"]["ExitCode"], 1);
  EXPECT_EQ(j["State"]["Status"], "exited");
  auto logs = v({"logs", "flaky"}).out;
  EXPECT_EQ(split_lines(logs).size(), 4u) << logs;
}

TEST_F(ManagerTest, RestartAlwaysBringsBackAKilledContainerButStopIsFinal) {
  ASSERT_TRUE(
      v({"run", "-d", "--name", "phoenix", "--restart", "always", "busybox", "sleep", "300"}).ok());
  pid_t first = inspect("phoenix")["State"]["Pid"].get<pid_t>();
  ASSERT_GT(first, 0);
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  ASSERT_TRUE(wait_until([&] {
    auto j = inspect("phoenix");
    return j["State"]["Status"] == "running" && j["State"]["Pid"] != first &&
           j["State"]["Pid"] != 0;
  })) << inspect("phoenix").dump();
  EXPECT_EQ(inspect("phoenix")["RestartCount"], 1);
  ASSERT_TRUE(v({"stop", "-t", "1", "phoenix"}).ok());
  usleep(500 * 1000);
  EXPECT_EQ(state_of("phoenix"), "exited");
  EXPECT_TRUE(settled("phoenix"));
}

TEST_F(ManagerTest, VolumesOutliveContainersTheRootfsDoesNot) {
  std::string host = dir_ + "/hostdata";
  mkdirs(host);
  auto r = v({"run", "--name", "writer", "-v", host + ":/data", "busybox", "sh", "-c",
              "echo kept > /data/file; echo lost > /etc/scratch; cat /etc/scratch"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.out, "lost\n");
  ASSERT_TRUE(v({"rm", "writer"}).ok());
  EXPECT_EQ(read_text(host + "/file"), "kept\n");
  auto fresh =
      v({"run", "--rm", "busybox", "sh", "-c", "cat /etc/scratch 2>/dev/null || echo absent"});
  EXPECT_EQ(fresh.out, "absent\n");

  ASSERT_TRUE(
      v({"run", "--rm", "-v", "shared1:/vol", "busybox", "sh", "-c", "echo across > /vol/x"}).ok());
  auto second = v({"run", "--rm", "-v", "shared1:/vol:ro", "busybox", "sh", "-c",
                   "cat /vol/x; touch /vol/y 2>/dev/null && echo writable || echo readonly"});
  EXPECT_EQ(second.out, "across\nreadonly\n") << second.describe();
  EXPECT_TRUE(contains(v({"volume", "ls"}).out, "shared1"));

  ASSERT_TRUE(v({"create", "--name", "holder", "-v", "shared1:/vol", "busybox", "true"}).ok());
  auto busy = v({"volume", "rm", "shared1"});
  EXPECT_NE(busy.exit_code(), 0);
  EXPECT_TRUE(contains(busy.err, "in use")) << busy.describe();
  ASSERT_TRUE(v({"rm", "holder"}).ok());
  EXPECT_TRUE(v({"volume", "rm", "shared1"}).ok());
  EXPECT_FALSE(contains(v({"volume", "ls"}).out, "shared1"));
}

TEST_F(ManagerTest, ImageVolumesBecomeAnonymousVolumesRemovedWithRmV) {
  // An image that declares /data a volume (imported, then given a config with Volumes).
  std::string src = dir_ + "/volroot";
  mkdirs(src + "/bin");
  ASSERT_TRUE(run_cmd({"cp", "/bin/busybox", src + "/bin/busybox"}).ok());
  ASSERT_TRUE(run_cmd({"ln", "-s", "busybox", src + "/bin/sh"}).ok());
  ASSERT_TRUE(run_cmd({"tar", "-C", src, "-cf", dir_ + "/volroot.tar", "."}).ok());
  ASSERT_TRUE(v({"import", dir_ + "/volroot.tar", "plain:1"}).ok());
  std::string archive = dir_ + "/plain";
  ASSERT_TRUE(v({"save", "--format", "oci-dir", "-o", archive, "plain:1"}).ok());
  // Rewrite the config with Volumes and load it back under a new name.
  auto index = json::parse(read_text(archive + "/index.json"));
  std::string mdigest = index["manifests"][0]["digest"];
  auto blob = [&](const std::string& d) { return archive + "/blobs/sha256/" + d.substr(7); };
  auto manifest = json::parse(read_text(blob(mdigest)));
  auto config = json::parse(read_text(blob(manifest["config"]["digest"])));
  config["config"]["Volumes"] = {{"/data", json::object()}};
  std::string cfg_text = config.dump();
  write_text(dir_ + "/cfg.json", cfg_text);
  auto sum = run_cmd({"sha256sum", dir_ + "/cfg.json"});
  std::string cfg_digest = "sha256:" + sum.out.substr(0, 64);
  write_text(blob(cfg_digest), cfg_text);
  manifest["config"]["digest"] = cfg_digest;
  manifest["config"]["size"] = cfg_text.size();
  std::string man_text = manifest.dump();
  write_text(dir_ + "/man.json", man_text);
  std::string man_digest = "sha256:" + run_cmd({"sha256sum", dir_ + "/man.json"}).out.substr(0, 64);
  write_text(blob(man_digest), man_text);
  index["manifests"] =
      json::array({{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                    {"digest", man_digest},
                    {"size", man_text.size()},
                    {"annotations", {{"org.opencontainers.image.ref.name", "withvol:1"}}}}});
  write_text(archive + "/index.json", index.dump());
  auto loaded = v({"load", "-i", archive});
  ASSERT_TRUE(loaded.ok()) << loaded.describe();

  auto r = v({"run", "--name", "vol-user", "withvol:1", "/bin/sh", "-c",
              "/bin/busybox mount | /bin/busybox grep -c ' /data '; echo kept > /data/f"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(trim(r.out), "1") << "/data is a mount: " << r.describe();
  auto vols = split_lines(trim(v({"volume", "ls", "-q"}).out));
  ASSERT_EQ(vols.size(), 1u);
  auto vj = json::parse(v({"volume", "inspect", trim(vols[0])}).out)[0];
  EXPECT_EQ(read_text(vj["Mountpoint"].get<std::string>() + "/f"), "kept\n");
  ASSERT_TRUE(v({"rm", "-v", "vol-user"}).ok());
  EXPECT_EQ(trim(v({"volume", "ls", "-q"}).out), "") << "rm -v removed the anonymous volume";
  // A user volume on the declared path replaces the anonymous one.
  ASSERT_TRUE(v({"run", "--rm", "-v", "mine:/data", "withvol:1", "/bin/sh", "-c", "true"}).ok());
  EXPECT_EQ(trim(v({"volume", "ls", "-q"}).out), "mine");
}

TEST_F(ManagerTest, ReadOnlyRootWithTmpfs) {
  auto r = v({"run", "--rm", "--read-only", "--tmpfs", "/scratch", "busybox", "sh", "-c",
              "touch /x 2>/dev/null && echo rootfs-writable; touch /scratch/y && echo tmpfs-ok"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.out, "tmpfs-ok\n");
}

TEST_F(ManagerTest, ResourceLimitsAreInTheContainersCgroup) {
  // v1: the controllers' own files; v2: the unified ones. The container sees its cgroup at /.
  auto r =
      v({"run", "--rm", "-m", "64m", "--pids-limit", "20", "--cpus", "0.5", "busybox", "sh", "-c",
         "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max 2>/dev/null;"
         "cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max 2>/dev/null;"
         "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu.max 2>/dev/null; true"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(contains(r.out, "67108864")) << r.out;
  EXPECT_TRUE(contains(r.out, "20\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "50000")) << r.out;
}

TEST_F(ManagerTest, AKilledMonitorIsNoticedAndRepaired) {
  ASSERT_TRUE(v({"run", "-d", "--name", "orphan", "busybox", "sleep", "300"}).ok());
  auto j = inspect("orphan");
  pid_t monitor = j["State"]["MonitorPid"].get<pid_t>();
  pid_t pid = j["State"]["Pid"].get<pid_t>();
  ASSERT_GT(monitor, 0);
  ASSERT_EQ(::kill(monitor, SIGKILL), 0);
  ASSERT_TRUE(wait_until([&] { return ::kill(monitor, 0) != 0; }));
  // The container still runs: ps shows it running.
  EXPECT_TRUE(contains(v({"ps"}).out, "orphan"));
  EXPECT_EQ(state_of("orphan"), "running");
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(wait_until([&] { return state_of("orphan") == "exited"; }));
  EXPECT_TRUE(contains(v({"ps", "-a"}).out, "Exited")) << v({"ps", "-a"}).out;
  EXPECT_TRUE(v({"rm", "orphan"}).ok());
}

TEST_F(ManagerTest, ImagesSaveLoadAndImport) {
  ASSERT_TRUE(v({"template", "build", "busybox"}).ok());
  auto images = json::parse(v({"images", "--format", "json"}).out);
  ASSERT_EQ(images.size(), 1u);
  EXPECT_EQ(images[0]["Names"][0], "localhost/busybox:latest");

  for (std::string format : {"oci-archive", "docker-archive"}) {
    std::string archive = dir_ + "/busybox-" + format + ".tar";
    auto saved = v({"save", "--format", format, "-o", archive, "busybox"});
    ASSERT_TRUE(saved.ok()) << saved.describe();
    std::vector<std::string> other = {VESSEL_MANAGER_BIN, "--root", dir_ + "/other-" + format};
    auto load = run_cmd({other[0], other[1], other[2], "load", "-i", archive});
    ASSERT_TRUE(load.ok()) << load.describe();
    EXPECT_TRUE(contains(load.out, "busybox")) << load.out;
    auto ran = run_cmd({other[0], other[1], other[2], "run", "--rm", "localhost/busybox", "echo",
                        "loaded " + format});
    EXPECT_EQ(ran.out, "loaded " + format + "\n") << ran.describe();
  }

  std::string tarball = dir_ + "/rootfs.tar";
  std::string src = dir_ + "/plainroot";
  mkdirs(src + "/bin");
  ASSERT_TRUE(run_cmd({"cp", "/bin/busybox", src + "/bin/busybox"}).ok());
  ASSERT_TRUE(run_cmd({"ln", "-s", "busybox", src + "/bin/sh"}).ok());
  write_text(src + "/hello.txt", "imported\n");
  ASSERT_TRUE(run_cmd({"tar", "-C", src, "-cf", tarball, "."}).ok());
  ASSERT_TRUE(v({"import", tarball, "mine:1"}).ok());
  auto r = v({"run", "--rm", "mine:1", "/bin/sh", "-c", "/bin/busybox cat /hello.txt"});
  EXPECT_EQ(r.out, "imported\n") << r.describe();

  auto in_use = v({"create", "--name", "user1", "mine:1", "/bin/sh"});
  ASSERT_TRUE(in_use.ok());
  EXPECT_NE(v({"rmi", "mine:1"}).exit_code(), 0);
  ASSERT_TRUE(v({"rm", "user1"}).ok());
  EXPECT_TRUE(v({"rmi", "mine:1"}).ok());
}

// What a container sees of "layered:1" (build_layered_image), the same with either driver.
const char* kLayeredChecks =
    "ls /usr; test -e /etc/os-release && echo os-release present || echo os-release gone;"
    "test -e /etc/passwd && echo passwd present;"
    "[ $(stat -c %i /data/one) = $(stat -c %i /data/two) ] && echo hardlinked;"
    "stat -c '%h' /data/one; stat -c '%F %t:%T' /data/null; stat -c '%a %u:%g %Y' /data/owned;"
    "readlink /data/link; cat /data/two";
const char* kLayeredExpected =
    "newfile\nos-release gone\npasswd present\nhardlinked\n2\ncharacter special file 1:3\n"
    "640 1234:5678 1000000000\none\nlinked\n";

TEST_F(ManagerTest, VfsDriverGivesEachContainerAPrivateCopy) {
  build_layered_image();
  if (HasFatalFailure()) return;
  auto vfs = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--storage-driver", "vfs"});
    return v(args);
  };
  auto r = vfs({"run", "-d", "--network", "none", "--name", "keeper", "layered:1", "sleep", "300"});
  ASSERT_TRUE(r.ok()) << r.describe();
  std::string cdir = root_ + "/containers/" + trim(r.out);
  EXPECT_EQ(read_text(cdir + "/storage-driver"), "vfs\n");
  EXPECT_FALSE(mounted(cdir + "/rootfs")) << "vfs mounts nothing";
  EXPECT_FALSE(exists(cdir + "/upper"));
  EXPECT_FALSE(exists(root_ + "/storage-driver")) << "no automatic choice was made";

  auto seen = v({"exec", "keeper", "sh", "-c", kLayeredChecks});
  ASSERT_TRUE(seen.ok()) << seen.describe();
  EXPECT_EQ(seen.out, kLayeredExpected);
  char value[16] = {};
  EXPECT_EQ(::lgetxattr((cdir + "/rootfs/data/owned").c_str(), "user.vessel", value, sizeof value),
            3);
  EXPECT_STREQ(value, "yes");

  ASSERT_TRUE(v({"exec", "keeper", "sh", "-c", "echo written > /etc/written"}).ok());
  EXPECT_EQ(v({"exec", "keeper", "cat", "/etc/written"}).out, "written\n");
  EXPECT_EQ(read_text(cdir + "/rootfs/etc/written"), "written\n") << "the write is in the copy";
  auto fresh = vfs({"run", "--rm", "--network", "none", "layered:1", "sh", "-c",
                    "cat /etc/written 2>/dev/null || echo absent"});
  EXPECT_EQ(fresh.out, "absent\n") << fresh.describe();

  // The overlay driver shows the same image.
  auto ov = v({"--storage-driver", "overlay", "run", "--rm", "--network", "none", "layered:1", "sh",
               "-c", kLayeredChecks});
  EXPECT_EQ(ov.out, kLayeredExpected) << ov.describe();

  ASSERT_TRUE(v({"rm", "-f", "keeper"}).ok());
  EXPECT_FALSE(exists(cdir));
  EXPECT_EQ(entries(root_ + "/containers"), 0u);

  // VESSEL_STORAGE_DRIVER chooses too; a container keeps its driver whatever the flag says
  // when it is started again, and both kinds live in one store.
  std::vector<std::string> by_env = {"env",
                                     "VESSEL_STORAGE_DRIVER=vfs",
                                     VESSEL_MANAGER_BIN,
                                     "--root",
                                     root_,
                                     "create",
                                     "--network",
                                     "none",
                                     "--name",
                                     "copied",
                                     "layered:1",
                                     "sh",
                                     "-c",
                                     "cat /usr/newfile"};
  auto created = run_cmd(by_env);
  ASSERT_TRUE(created.ok()) << created.describe();
  std::string copied = root_ + "/containers/" + trim(created.out);
  EXPECT_EQ(read_text(copied + "/storage-driver"), "vfs\n");
  ASSERT_TRUE(v({"--storage-driver", "overlay", "create", "--network", "none", "--name", "stacked",
                 "layered:1", "sh", "-c", "cat /usr/newfile"})
                  .ok());
  std::string stacked = root_ + "/containers/" + inspect("stacked")["Id"].get<std::string>();
  EXPECT_EQ(read_text(stacked + "/storage-driver"), "overlay\n");
  EXPECT_TRUE(mounted(stacked + "/rootfs"));
  for (int i = 0; i < 2; ++i) {
    auto a = v({"--storage-driver", "overlay", "start", "-a", "copied"});
    EXPECT_EQ(a.out, "new\n") << a.describe();
    EXPECT_FALSE(mounted(copied + "/rootfs"));
    auto b = vfs({"start", "-a", "stacked"});
    EXPECT_EQ(b.out, "new\n") << b.describe();
  }
  EXPECT_TRUE(v({"rm", "copied"}).ok());
  EXPECT_TRUE(vfs({"rm", "stacked"}).ok());
  EXPECT_FALSE(exists(copied));
  EXPECT_FALSE(exists(stacked));

  auto bad = v({"--storage-driver", "zfs", "ps"});
  EXPECT_NE(bad.exit_code(), 0);
  EXPECT_TRUE(contains(bad.err, "--storage-driver")) << bad.describe();
}

TEST_F(ManagerTest, StoreWhereOverlayFailsFallsBackToVfsWithAWarning) {
  // A store inside an overlayfs mount: overlayfs refuses another overlay's directories as its
  // upper layer.
  std::string ovl = dir_ + "/ovl";
  for (const char* d : {"/lower", "/upper", "/work", "/merged"}) mkdirs(ovl + d);
  std::string merged = ovl + "/merged";
  std::string opts =
      "lowerdir=" + ovl + "/lower,upperdir=" + ovl + "/upper,workdir=" + ovl + "/work";
  if (::mount("overlay", merged.c_str(), "overlay", 0, opts.c_str()) != 0)
    GTEST_SKIP() << "cannot mount an overlay here: " << strerror(errno);
  std::string store = root_;
  root_ = merged + "/store";
  Defer cleanup{[&] {
    for (const auto& id : split_lines(v({"ps", "-aq", "--no-trunc"}).out))
      if (!trim(id).empty()) v({"rm", "-f", trim(id)});
    ::umount2(merged.c_str(), MNT_DETACH);
    root_ = store;
  }};

  auto r = v(
      {"run", "--rm", "--network", "none", "busybox", "sh", "-c", "echo hi > /tmp/x; cat /tmp/x"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.out, "hi\n");
  EXPECT_TRUE(contains(r.err, "warning: overlayfs cannot be used")) << r.describe();
  EXPECT_TRUE(contains(r.err, "vfs")) << r.describe();
  EXPECT_EQ(split_lines(trim(r.err)).size(), 1u) << r.describe();
  EXPECT_EQ(read_text(root_ + "/storage-driver"), "vfs\n");

  auto again = v({"run", "-d", "--network", "none", "--name", "second", "busybox", "sleep", "300"});
  ASSERT_TRUE(again.ok()) << again.describe();
  EXPECT_EQ(trim(again.err), "") << "the warning is printed once per store";
  std::string cdir = root_ + "/containers/" + trim(again.out);
  EXPECT_EQ(read_text(cdir + "/storage-driver"), "vfs\n");
  EXPECT_EQ(v({"exec", "second", "cat", "/etc/passwd"}).out.substr(0, 5), "root:");
  ASSERT_TRUE(v({"rm", "-f", "second"}).ok());
  EXPECT_FALSE(exists(cdir));

  // Asked for explicitly, overlay is an error that says what to do, and leaves nothing.
  auto forced =
      v({"--storage-driver", "overlay", "run", "--rm", "--network", "none", "busybox", "true"});
  EXPECT_EQ(forced.exit_code(), 125) << forced.describe();
  EXPECT_TRUE(contains(forced.err, "--storage-driver vfs")) << forced.describe();
  EXPECT_EQ(trim(v({"ps", "-aq"}).out), "");
  EXPECT_EQ(entries(root_ + "/containers"), 0u);
}

TEST_F(ManagerTest, SavedArchivesLoadIntoPodmanAndSkopeo) {
  for (const char* tool : {"podman", "skopeo"})
    if (!run_cmd({"sh", "-c", std::string("command -v ") + tool}).ok())
      GTEST_SKIP() << tool << " is not installed";
  ASSERT_TRUE(v({"template", "build", "busybox"}).ok());
  // podman with everything private to the test's directory (see tests/engines/run.sh).
  std::string p = dir_ + "/podman";
  for (const char* d : {"/root", "/runroot", "/tmp"}) mkdirs(p + d);
  write_text(p + "/containers.conf",
             "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=4096:4096\"]\nnetns = "
             "\"none\"\n"
             "[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n"
             "events_logfile_path = \"" +
                 p + "/events.log\"\n");
  write_text(p + "/storage.conf", "[storage]\ndriver = \"vfs\"\ngraphroot = \"" + p +
                                      "/root\"\nrunroot = \"" + p + "/runroot\"\n");
  auto podman = [&](std::vector<std::string> args, Millis timeout = 60s) {
    std::vector<std::string> argv = {"env",
                                     "CONTAINERS_CONF=" + p + "/containers.conf",
                                     "CONTAINERS_STORAGE_CONF=" + p + "/storage.conf",
                                     "podman",
                                     "--root",
                                     p + "/root",
                                     "--runroot",
                                     p + "/runroot",
                                     "--tmpdir",
                                     p + "/tmp",
                                     "--storage-driver",
                                     "vfs",
                                     "--cgroup-manager",
                                     "cgroupfs",
                                     "--events-backend",
                                     "file"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_cmd(argv, timeout);
  };
  std::string runc = trim(run_cmd({"sh", "-c", "command -v runc"}).out);
  std::string cgparent = dir_.substr(dir_.rfind('/') + 1);
  Defer reset{[&] {
    podman({"system", "reset", "-f"});
    for (const auto& mp : cgroup_mount_points())
      if (exists(mp + "/" + cgparent))
        run_cmd({"find", mp + "/" + cgparent, "-depth", "-type", "d", "-exec", "rmdir", "{}", ";"});
    // Whatever podman left mounted under its directory.
    auto mounts = parse_mountinfo(read_text("/proc/self/mountinfo"));
    for (auto it = mounts.rbegin(); it != mounts.rend(); ++it)
      if (it->mount_point.rfind(p + "/", 0) == 0) ::umount2(it->mount_point.c_str(), MNT_DETACH);
  }};

  for (std::string format : {"docker-archive", "oci-archive"}) {
    std::string archive = dir_ + "/busybox-" + format + ".tar";
    auto saved = v({"save", "--format", format, "-o", archive, "busybox"});
    ASSERT_TRUE(saved.ok()) << saved.describe();
    auto inspected = run_cmd({"skopeo", "inspect", format + ":" + archive}, 60s);
    ASSERT_TRUE(inspected.ok()) << inspected.describe();
    auto info = json::parse(inspected.out);
    EXPECT_EQ(info["Layers"].size(), 1u) << inspected.out;
    EXPECT_EQ(info["Os"], "linux") << inspected.out;

    auto loaded = podman({"load", "-i", archive});
    ASSERT_TRUE(loaded.ok()) << loaded.describe();
    auto images = podman({"images", "--format", "{{.Repository}}:{{.Tag}}"});
    ASSERT_TRUE(images.ok()) << images.describe();
    EXPECT_TRUE(contains(images.out, "localhost/busybox:latest")) << images.describe();
    // crun refuses this host's hybrid cgroups: runc, under a cgroup parent of the test's own.
    if (runc.empty()) continue;
    auto ran = podman({"run", "--rm", "--network", "none", "--runtime", runc, "--cgroup-parent",
                       "/" + cgparent, "localhost/busybox:latest", "echo", "hi from " + format});
    EXPECT_EQ(ran.out, "hi from " + format + "\n") << ran.describe();
    ASSERT_TRUE(podman({"rmi", "-f", "localhost/busybox:latest"}).ok());
  }
}

TEST_F(ManagerTest, ConcurrentRunsAllSucceed) {
  std::vector<Child> kids;
  for (int i = 0; i < 4; ++i)
    kids.push_back(v_spawn({"run", "--rm", "busybox", "echo", "n" + std::to_string(i)}));
  for (int i = 0; i < 4; ++i) {
    auto r = kids[i].wait(60s);
    EXPECT_TRUE(r.ok()) << r.describe();
    EXPECT_EQ(r.out, "n" + std::to_string(i) + "\n");
  }
  EXPECT_EQ(json::parse(v({"images", "--format", "json"}).out).size(), 1u)
      << "the template is built once";
}

TEST_F(ManagerTest, PauseAndUnpause) {
  ASSERT_TRUE(v({"run", "-d", "--name", "sleeper", "busybox", "sleep", "300"}).ok());
  ASSERT_TRUE(v({"pause", "sleeper"}).ok());
  EXPECT_EQ(state_of("sleeper"), "paused");
  EXPECT_NE(v({"exec", "sleeper", "true"}).exit_code(), 0);
  ASSERT_TRUE(v({"unpause", "sleeper"}).ok());
  EXPECT_EQ(state_of("sleeper"), "running");
  EXPECT_TRUE(v({"exec", "sleeper", "true"}).ok());
  EXPECT_TRUE(v({"rm", "-f", "sleeper"}).ok());
}

TEST_F(ManagerTest, InitForwardsSignalsAndIsPid1) {
  auto r =
      v({"run", "--rm", "--init", "busybox", "sh", "-c", "cat /proc/1/cmdline; echo; echo $$"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(contains(r.out, "/run/vessel-init")) << r.out;
  EXPECT_FALSE(contains(r.out, "\n1\n")) << "the command is not PID 1 under --init";

  // sh as PID 1 would ignore SIGTERM; under vessel-init it gets it and its trap runs.
  ASSERT_TRUE(v({"run", "-d", "--init", "--name", "trapper", "busybox", "sh", "-c",
                 "trap 'exit 9' TERM; while true; do sleep 0.1; done"})
                  .ok());
  ASSERT_TRUE(v({"stop", "-t", "10", "trapper"}).ok());
  EXPECT_EQ(inspect("trapper")["State"]["ExitCode"], 9);
}

TEST_F(ManagerTest, AttachFollowsOutputUntilExit) {
  ASSERT_TRUE(v({"run", "-d", "--name", "talker", "busybox", "sh", "-c",
                 "trap 'echo leaving; exit 4' TERM; while true; do echo talking; sleep 0.1; done"})
                  .ok());
  auto att = v_spawn({"attach", "--no-stdin", "talker"});
  usleep(500 * 1000);
  ASSERT_TRUE(v({"stop", "talker"}).ok());
  auto r = att.wait();
  EXPECT_EQ(r.exit_code(), 4) << r.describe();
  EXPECT_TRUE(contains(r.out, "talking")) << r.describe();
  EXPECT_TRUE(contains(r.out, "leaving")) << r.describe();
  EXPECT_NE(v({"attach", "talker"}).exit_code(), 0) << "attach to a stopped container fails";
}

TEST_F(ManagerTest, TerminalForRunAndExec) {
  // `script` gives the command a pseudo-terminal, as a person's shell would.
  std::string vessel = std::string(VESSEL_MANAGER_BIN) + " --root " + root_;
  auto r = run_cmd(
      {"script", "-qec", vessel + " run -it --rm busybox sh -c 'tty; echo $TERM'", "/dev/null"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(contains(r.out, "/dev/pts/0")) << r.describe();
  EXPECT_TRUE(contains(r.out, "xterm")) << r.describe();

  ASSERT_TRUE(v({"run", "-d", "--name", "shellbox", "busybox", "sleep", "300"}).ok());
  auto e =
      run_cmd({"script", "-qec", vessel + " exec -it shellbox sh -c 'tty; exit 6'", "/dev/null"});
  EXPECT_TRUE(contains(e.out, "/dev/pts/")) << e.describe();
  auto plain = v({"exec", "shellbox", "sh", "-c", "tty || true"});
  EXPECT_TRUE(contains(plain.out, "not a tty")) << plain.describe();
}

}  // namespace
}  // namespace itest
