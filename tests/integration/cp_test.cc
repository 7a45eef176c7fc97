// `vessel cp`, `vessel export` and `vessel save` of one name, end to end: real containers from
// the busybox template, each test with its own store, checked from inside the containers and
// from the host. The attack tests plant symlinks in a container that point at host paths
// (absolute, relative with "..", swapped in a loop while copying) and check that no copy reads
// or writes the host's files.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>

#include "harness.h"

namespace itest {
namespace {

class CpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (runtime_is_runc()) GTEST_SKIP() << "manager tests run once, with vessel's own runtime";
    char tmpl[] = "/tmp/vessel-cptest-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    root_ = dir_ + "/store";
    ASSERT_TRUE(v({"template", "build", "busybox"}, 120s).ok());
  }
  void TearDown() override {
    if (root_.empty()) return;
    for (const auto& id : split_lines(v({"ps", "-aq", "--no-trunc"}).out))
      if (!trim(id).empty()) v({"rm", "-f", trim(id)});
    EXPECT_EQ(mounts_here(), 0u) << "mounts left behind";
    if (!getenv("VESSEL_TEST_KEEP")) remove_tree(dir_);
  }

  Result v(const std::vector<std::string>& args, Millis timeout = kTimeout,
           const SpawnOptions& o = {}) {
    std::vector<std::string> argv = {VESSEL_MANAGER_BIN, "--root", root_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_cmd(argv, timeout, o);
  }
  // Runs `sh -c script` in the running container `name`; its stdout.
  std::string sh(const std::string& name, const std::string& script) {
    auto r = v({"exec", name, "sh", "-c", script});
    EXPECT_TRUE(r.ok()) << r.describe();
    return r.out;
  }
  // Exited, and its monitor (which unmounts the root filesystem) is gone.
  bool settled(const std::string& name) {
    return wait_until([&] {
      auto r = v({"inspect", name});
      if (!r.ok()) return false;
      auto st = json::parse(r.out).at(0)["State"];
      pid_t mon = st["MonitorPid"].get<pid_t>();
      return st["Status"] == "exited" && (mon == 0 || ::kill(mon, 0) != 0);
    });
  }
  void start_sleeper(const std::string& name) {
    auto r = v({"run", "-d", "--name", name, "busybox", "sleep", "600"});
    ASSERT_TRUE(r.ok()) << r.describe();
  }
  // The host's files the attacks aim at: <dir>/host/secret, and nothing else in <dir>/host.
  void make_host_canary() {
    mkdirs(host_dir());
    write_text(host_dir() + "/secret", "HOSTSECRET\n");
  }
  std::string host_dir() const { return dir_ + "/host"; }
  void expect_host_canary_untouched() {
    EXPECT_EQ(read_text(host_dir() + "/secret"), "HOSTSECRET\n");
    auto ls = run_cmd({"ls", "-A", host_dir()});
    EXPECT_EQ(trim(ls.out), "secret") << "something was written into the host directory";
  }
  // The host canary directory as a relative path that climbs out of any container path.
  std::string relative_to_host() const { return "../../../../../../../../../../.." + host_dir(); }

  // Mounts under this test's directory (the host's own count moves with other users' tests).
  size_t mounts_here() const {
    size_t n = 0;
    for (const auto& m : parse_mountinfo(read_text("/proc/self/mountinfo")))
      n += m.mount_point.rfind(dir_ + "/", 0) == 0;
    return n;
  }

  std::string dir_, root_;
};

TEST_F(CpTest, HostToContainerFollowsDockersRules) {
  start_sleeper("c");
  std::string src = dir_ + "/src";
  mkdirs(src + "/dir/sub");
  write_text(src + "/file.txt", "hello\n");
  write_text(src + "/dir/a", "A\n");
  write_text(src + "/dir/sub/b", "B\n");
  sh("c", "mkdir -p /tmp/exists /tmp/d2 && echo old > /tmp/old.txt");

  // A file to a missing path: created with that name.
  ASSERT_TRUE(v({"cp", src + "/file.txt", "c:/tmp/new.txt"}).ok());
  EXPECT_EQ(sh("c", "cat /tmp/new.txt"), "hello\n");
  // A file to an existing directory: the file's own name inside it.
  ASSERT_TRUE(v({"cp", src + "/file.txt", "c:/tmp/exists"}).ok());
  EXPECT_EQ(sh("c", "cat /tmp/exists/file.txt"), "hello\n");
  // A file onto a file: overwritten.
  ASSERT_TRUE(v({"cp", src + "/file.txt", "c:/tmp/old.txt"}).ok());
  EXPECT_EQ(sh("c", "cat /tmp/old.txt"), "hello\n");
  // A file to a missing path ending in "/": the directory must exist.
  auto r = v({"cp", src + "/file.txt", "c:/tmp/nodir/"});
  EXPECT_EQ(r.exit_code(), 125) << r.describe();
  EXPECT_EQ(split_lines(trim(r.err)).size(), 1u) << r.describe();
  EXPECT_EQ(sh("c", "ls /tmp/nodir >/dev/null 2>&1 || echo missing"), "missing\n");
  // A file onto a file path ending in "/": not a directory.
  EXPECT_FALSE(v({"cp", src + "/file.txt", "c:/tmp/old.txt/"}).ok());
  // The parent of the destination must exist.
  r = v({"cp", src + "/file.txt", "c:/no/such/dir/x"});
  EXPECT_EQ(r.exit_code(), 125) << r.describe();
  EXPECT_EQ(sh("c", "ls /no >/dev/null 2>&1 || echo missing"), "missing\n");

  // A directory to a missing path: created, with the directory's contents.
  ASSERT_TRUE(v({"cp", src + "/dir", "c:/tmp/d1"}).ok());
  EXPECT_EQ(sh("c", "cat /tmp/d1/a /tmp/d1/sub/b"), "A\nB\n");
  // A directory to an existing directory: inside it, under its own name.
  ASSERT_TRUE(v({"cp", src + "/dir", "c:/tmp/d1"}).ok());
  EXPECT_EQ(sh("c", "cat /tmp/d1/dir/a /tmp/d1/dir/sub/b"), "A\nB\n");
  // "dir/." to an existing directory: the contents only.
  ASSERT_TRUE(v({"cp", src + "/dir/.", "c:/tmp/d2"}).ok());
  EXPECT_EQ(sh("c", "ls /tmp/d2 | tr '\\n' ' '"), "a sub ");
  // A directory onto a file: refused, the file stays.
  r = v({"cp", src + "/dir", "c:/tmp/old.txt"});
  EXPECT_EQ(r.exit_code(), 125) << r.describe();
  EXPECT_TRUE(contains(r.err, "onto the file")) << r.describe();
  EXPECT_EQ(sh("c", "cat /tmp/old.txt"), "hello\n");
  // A source "file/" is not a directory.
  EXPECT_FALSE(v({"cp", src + "/file.txt/", "c:/tmp/x"}).ok());
  // Bad endpoints: one line, exit 125.
  for (auto args : std::vector<std::vector<std::string>>{{"cp", src, dir_ + "/x"},
                                                         {"cp", "c:/etc", "c:/tmp"},
                                                         {"cp", "nosuch:/etc", dir_ + "/x"},
                                                         {"cp", "c:/nosuch", dir_ + "/x"}}) {
    r = v(args);
    EXPECT_EQ(r.exit_code(), 125) << r.describe();
    EXPECT_EQ(split_lines(trim(r.err)).size(), 1u) << r.describe();
  }
  EXPECT_FALSE(exists(dir_ + "/x"));

  // Owners: the copier's (root) by default, the source's with -a.
  std::string owned = src + "/owned";
  write_text(owned, "o\n");
  ASSERT_EQ(::chown(owned.c_str(), 1234, 5678), 0);
  ASSERT_TRUE(v({"cp", owned, "c:/tmp/plain"}).ok());
  ASSERT_TRUE(v({"cp", "-a", owned, "c:/tmp/kept"}).ok());
  EXPECT_EQ(sh("c", "stat -c %u:%g /tmp/plain /tmp/kept"), "0:0\n1234:5678\n");
}

TEST_F(CpTest, ContainerToHostFollowsDockersRules) {
  start_sleeper("c");
  sh("c",
     "mkdir -p /data/sub && echo one > /data/one && echo two > /data/sub/two && "
     "ln -s /data/one /data/link && chown 1234:5678 /data/one");
  std::string out = dir_ + "/out";
  mkdirs(out);
  std::string want_passwd = sh("c", "cat /etc/passwd");

  ASSERT_TRUE(v({"cp", "c:/etc/passwd", out}).ok());  // into an existing directory
  EXPECT_EQ(read_text(out + "/passwd"), want_passwd);
  ASSERT_TRUE(v({"cp", "c:/etc/passwd", out + "/renamed"}).ok());  // a new name
  EXPECT_EQ(read_text(out + "/renamed"), want_passwd);
  ASSERT_TRUE(v({"cp", "c:/data", out + "/newdir"}).ok());  // a directory to a missing path
  EXPECT_EQ(read_text(out + "/newdir/sub/two"), "two\n");
  ASSERT_TRUE(v({"cp", "c:/data", out + "/newdir"}).ok());  // into it, under its name
  EXPECT_EQ(read_text(out + "/newdir/data/one"), "one\n");
  mkdirs(out + "/contents");
  ASSERT_TRUE(v({"cp", "c:/data/.", out + "/contents"}).ok());  // contents only
  EXPECT_EQ(read_text(out + "/contents/sub/two"), "two\n");
  EXPECT_FALSE(exists(out + "/contents/data"));

  // A symlink is copied as a symlink; -L copies what it points at (inside the container).
  ASSERT_TRUE(v({"cp", "c:/data/link", out + "/asis"}).ok());
  char target[256] = {};
  ASSERT_GT(::readlink((out + "/asis").c_str(), target, sizeof target - 1), 0);
  EXPECT_STREQ(target, "/data/one");
  ASSERT_TRUE(v({"cp", "-L", "c:/data/link", out + "/followed"}).ok());
  EXPECT_EQ(read_text(out + "/followed"), "one\n");

  // Owners: root by default, the container's with -a.
  ASSERT_TRUE(v({"cp", "c:/data/one", out + "/plain"}).ok());
  ASSERT_TRUE(v({"cp", "-a", "c:/data/one", out + "/kept"}).ok());
  struct stat st {};
  ASSERT_EQ(::stat((out + "/plain").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
  ASSERT_EQ(::stat((out + "/kept").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);
}

TEST_F(CpTest, TarStreamsOnStdinAndStdout) {
  start_sleeper("c");
  std::string t = dir_ + "/t";
  mkdirs(t + "/pkg");
  write_text(t + "/pkg/f", "from tar\n");
  ASSERT_TRUE(run_cmd({"tar", "-C", t, "-cf", dir_ + "/in.tar", "pkg"}).ok());
  SpawnOptions in;
  in.stdin_path = dir_ + "/in.tar";
  auto r = v({"cp", "-", "c:/tmp"}, kTimeout, in);
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(sh("c", "cat /tmp/pkg/f"), "from tar\n");
  // The destination of a stream must be an existing directory.
  r = v({"cp", "-", "c:/tmp/pkg/f"}, kTimeout, in);
  EXPECT_EQ(r.exit_code(), 125) << r.describe();

  SpawnOptions out;
  out.stdout_path = dir_ + "/out.tar";
  r = v({"cp", "c:/tmp/pkg", "-"}, kTimeout, out);
  ASSERT_TRUE(r.ok()) << r.describe();
  auto list = run_cmd({"tar", "-tf", dir_ + "/out.tar"});
  ASSERT_TRUE(list.ok()) << list.describe();
  EXPECT_EQ(list.out, "pkg/\npkg/f\n");
  EXPECT_EQ(run_cmd({"tar", "-xOf", dir_ + "/out.tar", "pkg/f"}).out, "from tar\n");
}

TEST_F(CpTest, StoppedContainerIsMountedForTheCopyOnly) {
  auto r = v({"run", "--name", "s", "busybox", "sh", "-c", "echo made > /made"});
  ASSERT_TRUE(r.ok()) << r.describe();
  ASSERT_TRUE(settled("s"));

  std::string out = dir_ + "/made";
  r = v({"cp", "s:/made", out});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(read_text(out), "made\n");
  write_text(dir_ + "/in", "copied in\n");
  r = v({"cp", dir_ + "/in", "s:/in"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(mounts_here(), 0u) << "the copy left a mount behind";
  // The file is in the container's own layer: the container sees it when started again.
  r = v({"start", "-a", "s"});
  ASSERT_TRUE(r.ok()) << r.describe();
  ASSERT_TRUE(settled("s"));
  SpawnOptions o;
  o.stdout_path = dir_ + "/exp.tar";
  ASSERT_TRUE(v({"export", "s"}, kTimeout, o).ok());
  EXPECT_EQ(run_cmd({"tar", "-xOf", dir_ + "/exp.tar", "in"}).out, "copied in\n");
  EXPECT_EQ(mounts_here(), 0u) << "export left a mount behind";
}

TEST_F(CpTest, VfsContainersToo) {
  auto r = v({"--storage-driver", "vfs", "run", "--name", "f", "busybox", "sh", "-c",
              "echo vfs > /made && ln -s / /tmp/up"});
  ASSERT_TRUE(r.ok()) << r.describe();
  ASSERT_TRUE(settled("f"));
  make_host_canary();
  r = v({"cp", "f:/made", dir_ + "/made"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(read_text(dir_ + "/made"), "vfs\n");
  r = v({"cp", "f:/tmp/up/../../../.." + host_dir() + "/secret", dir_ + "/stolen"});
  EXPECT_FALSE(r.ok()) << r.describe();
  EXPECT_FALSE(exists(dir_ + "/stolen"));
  SpawnOptions o;
  o.stdout_path = dir_ + "/f.tar";
  ASSERT_TRUE(v({"export", "f"}, kTimeout, o).ok());
  EXPECT_EQ(run_cmd({"tar", "-xOf", dir_ + "/f.tar", "made"}).out, "vfs\n");
  expect_host_canary_untouched();
}

TEST_F(CpTest, SymlinksInTheContainerNeverReachTheHost) {
  make_host_canary();
  start_sleeper("c");
  // Absolute and relative symlinks to the host's directory, a final-component symlink to the
  // host's file, and one to /etc (which must mean the container's /etc).
  sh("c", "ln -s " + host_dir() + " /tmp/abs && ln -s " + relative_to_host() +
              " /tmp/rel && ln -s " + host_dir() +
              "/secret /tmp/fin && ln -s /etc /tmp/etc && ln -s ../../../../etc /tmp/reletc");
  write_text(dir_ + "/payload", "PAYLOAD\n");
  std::string out = dir_ + "/out";
  mkdirs(out);

  for (const char* link : {"/tmp/abs", "/tmp/rel"}) {
    std::string l = link;
    // Out of the container through the link: the host's secret is never read.
    auto r = v({"cp", "c:" + l + "/secret", out + "/got"});
    EXPECT_FALSE(r.ok()) << r.describe();
    EXPECT_NE(read_text(out + "/got"), "HOSTSECRET\n");
    r = v({"cp", "-L", "c:" + l, out + "/gotdir"});
    EXPECT_FALSE(r.ok() && exists(out + "/gotdir/secret")) << r.describe();
    // Into the container through the link: nothing lands on the host.
    v({"cp", dir_ + "/payload", "c:" + l + "/payload"});
    v({"cp", dir_ + "/payload", "c:" + l + "/"});
    v({"cp", dir_ + "/payload", "c:" + l + "/secret"});
    expect_host_canary_untouched();
  }
  // A final symlink as destination resolves inside the container.
  v({"cp", dir_ + "/payload", "c:/tmp/fin"});
  expect_host_canary_untouched();
  // A tar on stdin whose entries go through the symlinks.
  std::string t = dir_ + "/t";
  mkdirs(t + "/abs");
  mkdirs(t + "/rel");
  write_text(t + "/abs/evil", "EVIL\n");
  write_text(t + "/rel/evil", "EVIL\n");
  ASSERT_TRUE(run_cmd({"tar", "-C", t, "-cf", dir_ + "/evil.tar", "abs", "rel"}).ok());
  SpawnOptions in;
  in.stdin_path = dir_ + "/evil.tar";
  v({"cp", "-", "c:/tmp"}, kTimeout, in);
  expect_host_canary_untouched();

  // /etc through a symlink is the container's /etc, in both directions.
  std::string container_passwd = sh("c", "cat /etc/passwd");
  ASSERT_NE(container_passwd, read_text("/etc/passwd"));
  for (const char* link : {"c:/tmp/etc/passwd", "c:/tmp/reletc/passwd"}) {
    auto r = v({"cp", link, out + "/passwd"});
    ASSERT_TRUE(r.ok()) << r.describe();
    EXPECT_EQ(read_text(out + "/passwd"), container_passwd);
  }
  std::string unique = "vessel-cp-test-" + std::to_string(::getpid());
  write_text(dir_ + "/" + unique, "in the container\n");
  auto r = v({"cp", dir_ + "/" + unique, "c:/tmp/reletc/"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(sh("c", "cat /etc/" + unique), "in the container\n");
  bool on_host = exists("/etc/" + unique);
  if (on_host) ::unlink(("/etc/" + unique).c_str());
  EXPECT_FALSE(on_host) << "cp wrote into the host's /etc";
}

// A named volume and bind mounts, as the container sees them: cp goes into the volume's and
// the bind's directories on the host, running or stopped, and a read-only mount is refused.
TEST_F(CpTest, VolumesAndBindMountsRunningAndStopped) {
  std::string bind = dir_ + "/bind", robind = dir_ + "/robind";
  mkdirs(bind);
  mkdirs(robind);
  write_text(bind + "/inbind", "BIND\n");
  write_text(dir_ + "/payload", "PAYLOAD\n");
  auto r = v({"run", "-d", "--network", "none", "--name", "c", "-v", "vol1:/data", "-v",
              bind + ":/mnt/b", "-v", robind + ":/ro:ro", "busybox", "sleep", "600"});
  ASSERT_TRUE(r.ok()) << r.describe();
  auto vi = v({"volume", "inspect", "vol1"});
  ASSERT_TRUE(vi.ok()) << vi.describe();
  std::string vol = json::parse(vi.out).at(0)["Mountpoint"];
  ASSERT_FALSE(vol.empty());
  sh("c", "echo VOL > /data/invol && ln -s /data /linkdata && mkdir /data/sub");
  std::string out = dir_ + "/out";
  mkdirs(out);

  // Running: into and out of the volume and the bind, by their paths and through a symlink.
  ASSERT_TRUE(v({"cp", dir_ + "/payload", "c:/data/p1"}).ok());
  EXPECT_EQ(read_text(vol + "/p1"), "PAYLOAD\n");
  EXPECT_EQ(sh("c", "cat /data/p1"), "PAYLOAD\n");
  ASSERT_TRUE(v({"cp", dir_ + "/payload", "c:/linkdata/sub/"}).ok());
  EXPECT_EQ(read_text(vol + "/sub/payload"), "PAYLOAD\n");
  ASSERT_TRUE(v({"cp", dir_ + "/payload", "c:/mnt/b/p2"}).ok());
  EXPECT_EQ(read_text(bind + "/p2"), "PAYLOAD\n");
  EXPECT_EQ(sh("c", "cat /mnt/b/p2"), "PAYLOAD\n");
  ASSERT_TRUE(v({"cp", "c:/data/invol", out + "/invol"}).ok());
  EXPECT_EQ(read_text(out + "/invol"), "VOL\n");
  ASSERT_TRUE(v({"cp", "c:/mnt/b/inbind", out + "/inbind"}).ok());
  EXPECT_EQ(read_text(out + "/inbind"), "BIND\n");
  // The mount point itself is the volume's root: a directory copy holds the volume's files.
  ASSERT_TRUE(v({"cp", "c:/data", out + "/data"}).ok());
  EXPECT_EQ(read_text(out + "/data/invol"), "VOL\n");
  EXPECT_EQ(read_text(out + "/data/sub/payload"), "PAYLOAD\n");
  // A read-only bind: refused with one line, nothing written.
  r = v({"cp", dir_ + "/payload", "c:/ro/x"});
  EXPECT_EQ(r.exit_code(), 125) << r.describe();
  EXPECT_TRUE(contains(r.err, "read-only")) << r.describe();
  EXPECT_EQ(split_lines(trim(r.err)).size(), 1u) << r.describe();
  EXPECT_FALSE(exists(robind + "/x"));

  // Stopped: the same paths reach the same directories.
  ASSERT_TRUE(v({"kill", "c"}).ok());
  ASSERT_TRUE(settled("c"));
  write_text(dir_ + "/payload2", "STOPPED\n");
  ASSERT_TRUE(v({"cp", dir_ + "/payload2", "c:/data/p3"}).ok());
  EXPECT_EQ(read_text(vol + "/p3"), "STOPPED\n");
  ASSERT_TRUE(v({"cp", dir_ + "/payload2", "c:/mnt/b/"}).ok());
  EXPECT_EQ(read_text(bind + "/payload2"), "STOPPED\n");
  ASSERT_TRUE(v({"cp", "c:/linkdata/p1", out + "/p1"}).ok());
  EXPECT_EQ(read_text(out + "/p1"), "PAYLOAD\n");
  ASSERT_TRUE(v({"cp", "c:/mnt/b/p2", out + "/p2"}).ok());
  EXPECT_EQ(read_text(out + "/p2"), "PAYLOAD\n");
  EXPECT_FALSE(v({"cp", dir_ + "/payload2", "c:/ro/"}).ok());
  EXPECT_FALSE(exists(robind + "/payload2"));
  EXPECT_EQ(mounts_here(), 0u) << "the copy left a mount behind";
  // Started again, the container sees what was copied while it was stopped.
  ASSERT_TRUE(v({"start", "c"}).ok());
  EXPECT_EQ(sh("c", "cat /data/p3 /mnt/b/payload2"), "STOPPED\nSTOPPED\n");
}

// A symlink inside a volume (where the container, and whoever else uses the volume, can write)
// that points at a host path is resolved in the container like any other.
TEST_F(CpTest, SymlinksInAVolumeNeverReachTheHost) {
  make_host_canary();
  write_text(dir_ + "/payload", "PAYLOAD\n");
  auto r = v({"run", "-d", "--network", "none", "--name", "c", "-v", "vol2:/data", "busybox",
              "sleep", "600"});
  ASSERT_TRUE(r.ok()) << r.describe();
  // The host's directory's path exists in the container too, with a decoy: a copy that
  // resolves in the container lands there or reads it.
  sh("c", "mkdir -p " + host_dir() + " && echo DECOY > " + host_dir() + "/secret && ln -s " +
              host_dir() + " /data/abs && ln -s " + relative_to_host() +
              " /data/rel && ln -s ../../../../../../../.. /data/up");
  std::string out = dir_ + "/out";
  mkdirs(out);
  auto attack = [&](const std::string& state) {
    for (std::string l :
         std::vector<std::string>{"/data/abs", "/data/rel", "/data/up" + host_dir()}) {
      std::string got = out + "/" + state + std::to_string(l.size());
      r = v({"cp", "c:" + l + "/secret", got});
      ASSERT_TRUE(r.ok()) << r.describe();
      // The container's decoy (or what an earlier round copied over it), never the host's.
      std::string read = read_text(got);
      EXPECT_TRUE(read == "DECOY\n" || read == "PAYLOAD\n") << l << ": " << read;
      v({"cp", dir_ + "/payload", "c:" + l + "/payload"});
      v({"cp", dir_ + "/payload", "c:" + l + "/secret"});
      v({"cp", "-L", "c:" + l, got + "-dir"});
      EXPECT_NE(read_text(got + "-dir/secret"), "HOSTSECRET\n");
      expect_host_canary_untouched();
    }
  };
  attack("running");
  // The writes went to the container's directory of that name.
  EXPECT_EQ(sh("c", "cat " + host_dir() + "/payload " + host_dir() + "/secret"),
            "PAYLOAD\nPAYLOAD\n");
  ASSERT_TRUE(v({"kill", "c"}).ok());
  ASSERT_TRUE(settled("c"));
  attack("stopped");
  EXPECT_EQ(mounts_here(), 0u);
}

TEST_F(CpTest, SymlinkSwappedDuringCopiesNeverEscapes) {
  make_host_canary();
  // The container swaps /tmp/swap between its own directory and links to the host's.
  std::string loop =
      "mkdir -p /tmp/real && echo INSIDE > /tmp/real/secret && while :; do "
      "ln -sfn /tmp/real /tmp/swap; ln -sfn " +
      host_dir() + " /tmp/swap; ln -sfn " + relative_to_host() + " /tmp/swap; done";
  auto r = v({"run", "-d", "--name", "racer", "busybox", "sh", "-c", loop});
  ASSERT_TRUE(r.ok()) << r.describe();
  write_text(dir_ + "/payload", "PAYLOAD\n");
  std::string out = dir_ + "/out";
  mkdirs(out);
  int copied_in = 0, copied_out = 0;
  for (int i = 0; i < 25; ++i) {
    copied_in += v({"cp", dir_ + "/payload", "racer:/tmp/swap/p" + std::to_string(i)}).ok();
    std::string got = out + "/s" + std::to_string(i);
    if (v({"cp", "racer:/tmp/swap/secret", got}).ok()) {
      ++copied_out;
      EXPECT_EQ(read_text(got), "INSIDE\n");
    }
    if (v({"cp", "-L", "racer:/tmp/swap", out + "/d" + std::to_string(i)}).ok()) {
      EXPECT_NE(read_text(out + "/d" + std::to_string(i) + "/secret"), "HOSTSECRET\n");
    }
  }
  expect_host_canary_untouched();
  // The race was real: some copies went through the container's own directory.
  EXPECT_GT(copied_in + copied_out, 0);
}

TEST_F(CpTest, ExportWritesTheMergedRootFilesystem) {
  start_sleeper("c");
  sh("c", "echo exported > /root/newfile && rm /etc/os-release && mkdir /newdir");
  std::string file = dir_ + "/c.tar";
  auto r = v({"export", "c", "-o", file});
  ASSERT_TRUE(r.ok()) << r.describe();
  auto list = run_cmd({"tar", "-tf", file});
  ASSERT_TRUE(list.ok()) << list.describe();
  auto lines = split_lines(list.out);
  std::set<std::string> names(lines.begin(), lines.end());
  EXPECT_TRUE(names.count("root/newfile"));
  EXPECT_TRUE(names.count("newdir/"));
  EXPECT_TRUE(names.count("bin/sh"));
  EXPECT_FALSE(names.count("etc/os-release")) << "a deleted file was exported";
  EXPECT_TRUE(names.count("proc/"));
  for (const auto& n : names) {
    EXPECT_EQ(n.find(".wh."), std::string::npos) << n;
    EXPECT_NE(n.rfind("proc/", 0) == 0 && n != "proc/", true) << "proc content: " << n;
    EXPECT_NE(n.rfind("sys/", 0) == 0 && n != "sys/", true) << "sys content: " << n;
  }
  EXPECT_EQ(run_cmd({"tar", "-xOf", file, "root/newfile"}).out, "exported\n");
  // The same on stdout.
  SpawnOptions o;
  o.stdout_path = dir_ + "/stdout.tar";
  ASSERT_TRUE(v({"export", "c"}, kTimeout, o).ok());
  EXPECT_EQ(run_cmd({"tar", "-tf", dir_ + "/stdout.tar"}).out, list.out);
  // An unknown container: one line, nothing written.
  r = v({"export", "nosuch", "-o", dir_ + "/none.tar"});
  EXPECT_EQ(r.exit_code(), 125) << r.describe();
  EXPECT_EQ(split_lines(trim(r.err)).size(), 1u) << r.describe();
  EXPECT_FALSE(exists(dir_ + "/none.tar"));
  EXPECT_FALSE(exists(dir_ + "/none.tar.partial"));
}

TEST_F(CpTest, SaveOfOneNameWritesExactlyThatImage) {
  if (!run_cmd({"sh", "-c", "command -v skopeo"}).ok()) GTEST_SKIP() << "skopeo is not installed";
  ASSERT_TRUE(v({"tag", "busybox", "extra/other:2"}).ok());
  for (std::string format : {"oci-archive", "docker-archive"}) {
    for (std::string ref : {"busybox", "extra/other:2"}) {
      std::string want = ref == "busybox" ? "localhost/busybox:latest" : "extra/other:2";
      std::string archive = dir_ + "/" + format + "-" + std::to_string(ref.size()) + ".tar";
      auto saved = v({"save", "--format", format, "-o", archive, ref});
      ASSERT_TRUE(saved.ok()) << saved.describe();
      auto inspected = run_cmd({"skopeo", "inspect", format + ":" + archive}, 60s);
      ASSERT_TRUE(inspected.ok()) << inspected.describe();
      if (format == "oci-archive") {
        auto index = json::parse(run_cmd({"tar", "-xOf", archive, "index.json"}).out);
        ASSERT_EQ(index["manifests"].size(), 1u) << index.dump();
        EXPECT_EQ(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"], want);
      } else {
        auto manifest = json::parse(run_cmd({"tar", "-xOf", archive, "manifest.json"}).out);
        ASSERT_EQ(manifest.size(), 1u) << manifest.dump();
        EXPECT_EQ(manifest[0]["RepoTags"], json::array({want})) << manifest.dump();
      }
    }
  }
  // By ID: one image; in an OCI archive without a name (it has two).
  auto ids = split_lines(trim(v({"images", "-q"}).out));
  ASSERT_FALSE(ids.empty());
  std::string id = trim(ids[0]);
  {
    std::string archive = dir_ + "/by-id.tar";
    ASSERT_TRUE(v({"save", "-o", archive, id}).ok());
    auto inspected = run_cmd({"skopeo", "inspect", "oci-archive:" + archive}, 60s);
    EXPECT_TRUE(inspected.ok()) << inspected.describe();
  }
}

}  // namespace
}  // namespace itest
