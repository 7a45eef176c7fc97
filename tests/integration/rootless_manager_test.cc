// `vessel` as an ordinary user: a throw-away user with subordinate ids of its own (created
// here, removed afterwards) runs, execs, logs, stops and removes containers from its own
// store ($XDG_DATA_HOME/vessel) and state ($XDG_RUNTIME_DIR/vessel), with a named volume
// whose files are the user's on the host, and nothing left afterwards.
#include "rootless_fixture.h"

namespace itest {
namespace {

TEST_F(RootlessManagerTest, RunExecVolumeAndCleanupAsAnOrdinaryUser) {
  auto t = u({"template", "build", "busybox"});
  ASSERT_TRUE(t.ok()) << t.describe();
  // The store is the user's, under XDG's data directory.
  struct stat st {};
  ASSERT_EQ(::stat((store() + "/vessel.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, uid_);

  // The user's store stacks the shared layers with overlayfs inside each container's user
  // namespace (Linux >= 5.11): vessel info says so.
  auto info = u({"info"});
  EXPECT_TRUE(contains(info.out,
                       "storage driver: automatic: overlay (mounted by the runtime in "
                       "each container's user namespace"))
      << info.describe();

  auto r = u({"run", "--rm", "busybox", "sh", "-c", "id -u; cat /proc/self/uid_map"});
  ASSERT_TRUE(r.ok()) << r.describe();
  auto lines = split_lines(r.out);
  ASSERT_GE(lines.size(), 3u) << r.out;
  EXPECT_EQ(trim(lines[0]), "0");
  // Container root is the user; the rest comes from the user's /etc/subuid range.
  EXPECT_TRUE(contains(r.out, " " + std::to_string(uid_) + " ")) << r.out;
  EXPECT_TRUE(contains(r.out, sub_.substr(0, sub_.find('-')))) << r.out;

  auto d = u({"run", "-d", "--name", "web", "-v", "vol1:/data", "busybox", "sh", "-c",
              "echo started; echo kept > /data/f; mkdir /data/sub; sleep 60"});
  ASSERT_TRUE(d.ok()) << d.describe();
  auto e = u({"exec", "web", "sh", "-c", "sleep 0.2; cat /data/f; id -u"});
  EXPECT_EQ(e.out, "kept\n0\n") << e.describe();
  // The container runs as the user on the host.
  auto pid =
      std::to_string(json::parse(u({"inspect", "web"}).out).at(0)["State"]["Pid"].get<int>());
  ASSERT_EQ(::stat(("/proc/" + pid).c_str(), &st), 0) << pid;
  EXPECT_EQ(st.st_uid, uid_);
  EXPECT_TRUE(contains(u({"logs", "web"}).out, "started"));
  // The root is an overlay mounted in the container's namespaces over the unshifted layers
  // (shared, the user's on disk); nothing of it is mounted on the host, and what the
  // container writes goes to its upper layer.
  auto mi = u({"exec", "web", "sh", "-c", "grep ' / / ' /proc/self/mountinfo; echo x > /new"});
  EXPECT_TRUE(contains(mi.out, " overlay overlay ")) << mi.describe();
  EXPECT_TRUE(contains(mi.out, "userxattr")) << mi.describe();
  EXPECT_TRUE(our_mounts().empty()) << our_mounts().front();
  std::string cid = trim(u({"inspect", "-f", "{{.Id}}", "web"}).out);
  EXPECT_EQ(read_text(store() + "/containers/" + cid + "/upper/new"), "x\n");
  EXPECT_EQ(entries(store() + "/containers/" + cid + "/rootfs"), 0u);
  // cp reaches the running container's root through its init.
  auto cp = u({"cp", "web:/new", "-"});
  EXPECT_TRUE(cp.ok() && contains(cp.out, "new")) << cp.describe();
  ASSERT_TRUE(u({"stop", "-t", "1", "web"}).ok());
  ASSERT_TRUE(u({"rm", "web"}).ok());
  // The volume's files keep the user's ownership on the host.
  for (const char* f : {"/f", "/sub"}) {
    ASSERT_EQ(::stat((store() + "/volumes/vol1/_data" + f).c_str(), &st), 0) << f;
    EXPECT_EQ(st.st_uid, uid_) << f;
    EXPECT_EQ(st.st_gid, gid_) << f;
  }
  ASSERT_TRUE(u({"volume", "rm", "vol1"}).ok());
  // Nothing left: containers, their state, mounts, processes.
  EXPECT_EQ(trim(u({"ps", "-aq"}).out), "");
  EXPECT_EQ(entries(store() + "/containers"), 0u);
  EXPECT_EQ(entries(dir_ + "/run/vessel/runtime"), 0u);
  for (const auto& l : our_mounts()) ADD_FAILURE() << "left mounted: " << l;
  EXPECT_TRUE(user_processes_gone());
}

// Where overlayfs cannot be used, fuse-overlayfs (Debian's) stacks the same layers on the
// host as the user, and goes away with the container; --storage-driver vfs still copies.
TEST_F(RootlessManagerTest, FuseOverlayfsAndVfsDriversAsAnOrdinaryUser) {
  if (::access("/usr/bin/fuse-overlayfs", X_OK) != 0) GTEST_SKIP() << "no fuse-overlayfs";
  OpenDevice fuse("/dev/fuse");  // 0600 on these machines
  ASSERT_TRUE(u({"template", "build", "busybox"}).ok());
  auto d = u({"--storage-driver", "fuse-overlayfs", "run", "-d", "--name", "f", "busybox", "sh",
              "-c", "echo hi > /hello; sleep 60"});
  ASSERT_TRUE(d.ok()) << d.describe();
  std::string cid = trim(u({"inspect", "-f", "{{.Id}}", "f"}).out);
  std::string cdir = store() + "/containers/" + cid;
  EXPECT_EQ(read_text(cdir + "/storage-driver"), "fuse-overlayfs\n");
  bool fuse_mounted = false;
  for (const auto& l : our_mounts()) fuse_mounted |= contains(l, "fuse");
  EXPECT_TRUE(fuse_mounted) << "no fuse-overlayfs mount on " << cdir << "/rootfs";
  auto e = u({"exec", "f", "sh", "-c", "sleep 0.3; cat /hello; id -u"});
  EXPECT_EQ(e.out, "hi\n0\n") << e.describe();
  ASSERT_TRUE(u({"rm", "-f", "f"}).ok());
  // Another container user is a subordinate id on the host: FUSE lets it in only with
  // allow_other, which a user gets where /etc/fuse.conf has user_allow_other; else one line.
  auto other =
      u({"--storage-driver", "fuse-overlayfs", "run", "--rm", "-u", "1000", "busybox", "id", "-u"});
  bool allow_other = false;
  for (const auto& l : split_lines(read_text("/etc/fuse.conf")))
    allow_other |= trim(l) == "user_allow_other";
  if (allow_other) {
    EXPECT_EQ(other.out, "1000\n") << other.describe();
  } else {
    EXPECT_NE(other.exit_code(), 0);
    EXPECT_TRUE(contains(other.err, "lacks user_allow_other")) << other.describe();
    EXPECT_EQ(split_lines(trim(other.err)).size(), 1u) << other.err;
  }
  auto v = u({"--storage-driver", "vfs", "run", "--rm", "busybox", "cat", "/etc/passwd"});
  EXPECT_TRUE(v.ok() && contains(v.out, "root:")) << v.describe();
  for (const auto& l : our_mounts()) ADD_FAILURE() << "left mounted: " << l;
  EXPECT_EQ(entries(store() + "/containers"), 0u);
  EXPECT_TRUE(user_processes_gone()) << "fuse-overlayfs left running";
}

// pull from a local registry (docker-registry on the loopback), push, load and build, all as
// the user, into the user's store.
TEST_F(RootlessManagerTest, PushPullLoadAndBuildAsAnOrdinaryUser) {
  if (::access("/usr/bin/docker-registry", X_OK) != 0) GTEST_SKIP() << "no docker-registry";
  int port = free_loopback_port();
  ASSERT_GT(port, 0);
  std::string host = "127.0.0.1:" + std::to_string(port);
  mkdirs(dir_ + "/registry");
  write_text(dir_ + "/registry.yml", "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: " +
                                         dir_ + "/registry\nhttp:\n  addr: " + host + "\n");
  SpawnOptions so;
  so.stdout_path = dir_ + "/registry.log";
  so.stderr_path = dir_ + "/registry.err";
  Child registry = spawn({"/usr/bin/docker-registry", "serve", dir_ + "/registry.yml"}, so);
  struct StopRegistry {
    Child& c;
    ~StopRegistry() {
      if (c.pid() > 0) {
        ::kill(c.pid(), SIGTERM);
        c.wait(10s);
      }
    }
  } stop{registry};
  ASSERT_TRUE(wait_until(
      [&] {
        return run_cmd({"curl", "-s", "http://" + host + "/v2/"}).ok();
      },
      20s))
      << read_text(dir_ + "/registry.err");

  ASSERT_TRUE(u({"template", "build", "busybox"}).ok());
  auto push = u({"push", "--tls-verify=false", "busybox", host + "/rl/busybox:1"});
  ASSERT_TRUE(push.ok()) << push.describe();
  auto save = u({"save", "-o", dir_ + "/home/bb.tar", "busybox"});
  ASSERT_TRUE(save.ok()) << save.describe();
  ASSERT_TRUE(u({"rmi", "busybox"}).ok());

  auto pull = u({"pull", "--tls-verify=false", host + "/rl/busybox:1"});
  ASSERT_TRUE(pull.ok()) << pull.describe();
  auto r = u({"run", "--rm", host + "/rl/busybox:1", "sh", "-c", "echo pulled; id -u"});
  EXPECT_EQ(r.out, "pulled\n0\n") << r.describe();

  auto load = u({"load", "-i", dir_ + "/home/bb.tar"});
  ASSERT_TRUE(load.ok()) << load.describe();
  EXPECT_TRUE(contains(u({"images"}).out, "busybox")) << u({"images"}).out;

  std::string ctx = dir_ + "/home/ctx";
  ASSERT_TRUE(run_cmd({"setpriv", "--reuid", std::to_string(uid_), "--regid", std::to_string(gid_),
                       "--clear-groups", "mkdir", ctx})
                  .ok());
  write_text(ctx + "/Containerfile",
             "FROM busybox\nRUN mkdir -p /app && echo built > /app/run.txt && rm -rf /home\n"
             "COPY msg.txt /app/\nCMD [\"cat\", \"/app/run.txt\", \"/app/msg.txt\"]\n");
  write_text(ctx + "/msg.txt", "copied\n");
  ::chown((ctx + "/Containerfile").c_str(), uid_, gid_);
  ::chown((ctx + "/msg.txt").c_str(), uid_, gid_);
  auto b = u({"build", "-t", "app:1", ctx});
  ASSERT_TRUE(b.ok()) << b.describe();
  auto a = u({"run", "--rm", "app:1"});
  EXPECT_EQ(a.out, "built\ncopied\n") << a.describe();
  // RUN's rm left a whiteout that hides /home in the built image.
  auto h = u({"run", "--rm", "app:1", "sh", "-c", "test -e /home && echo there || echo gone"});
  EXPECT_EQ(h.out, "gone\n") << h.describe();
  for (const auto& l : our_mounts()) ADD_FAILURE() << "left mounted: " << l;
  EXPECT_EQ(entries(store() + "/containers"), 0u);
  EXPECT_TRUE(user_processes_gone());
}

// A user's build gives files to the container's other ids (the subordinate range on the
// host): RUN chown and COPY --chown, recorded in the image's layers as the container's ids.
// COPY works in a user namespace with the store's mapping (no fuse-overlayfs, no /dev/fuse):
// into a mode-0700 directory of uid 1000, and --from a stage's mode-0600 file of uid 1000.
TEST_F(RootlessManagerTest, BuildChownGivesTheContainersOtherIds) {
  ASSERT_TRUE(u({"template", "build", "busybox"}).ok());
  if (!contains(u({"info"}).out, "overlay (mounted by the runtime"))
    GTEST_SKIP() << "the user's containers do not get overlayfs in their user namespace here";
  std::string ctx = dir_ + "/home/ctx";
  std::string as_user = "setpriv --reuid " + std::to_string(uid_) + " --regid " +
                        std::to_string(gid_) + " --clear-groups ";
  ASSERT_TRUE(run_cmd({"sh", "-c", as_user + "mkdir " + ctx}).ok());
  write_text(ctx + "/Containerfile",
             "FROM busybox\nRUN mkdir /x && echo f > /x/f && chown -R 1000:1001 /x && "
             "chmod 700 /x && chmod 600 /x/f && stat -c %u:%g /x/f\n"
             "COPY --chown=1002:1003 msg.txt /app/msg.txt\nCOPY msg.txt /x/\n");
  write_text(ctx + "/Containerfile.from", "FROM busybox\nCOPY --from=own:1 /x /y\n");
  write_text(ctx + "/msg.txt", "copied\n");
  for (const char* f : {"/Containerfile", "/Containerfile.from", "/msg.txt"})
    ::chown((ctx + f).c_str(), uid_, gid_);
  auto b = u({"build", "-t", "own:1", ctx});
  ASSERT_TRUE(b.ok()) << b.describe();
  EXPECT_TRUE(contains(b.out, "1000:1001")) << b.describe();
  // The layers record the container's ids, not the host's subordinate ones.
  ASSERT_TRUE(u({"save", "-o", dir_ + "/home/own.tar", "own:1"}).ok());
  auto list = run_cmd(
      {"sh", "-c",
       "set -e; d=$(mktemp -d " + dir_ + "/x.XXXXXX); tar -xf " + dir_ +
           "/home/own.tar -C $d; "
           "find $d -type f -size +0 | while read f; do tar --numeric-owner -tvf $f 2>/dev/null "
           "|| true; done; rm -rf $d"});
  std::string sub_start = sub_.substr(0, sub_.find('-'));
  bool x = false, app = false, into_x = false;
  for (const auto& l : split_lines(list.out)) {
    x |= contains(l, " 1000/1001 ") && contains(l, "x/f");
    app |= contains(l, " 1002/1003 ") && contains(l, "app/msg.txt");
    into_x |= contains(l, " 0/0 ") && contains(l, "x/msg.txt");
    EXPECT_FALSE(contains(l, " " + sub_start.substr(0, 7))) << "a host id in a layer: " << l;
  }
  EXPECT_TRUE(x && app && into_x) << list.out;
  auto from = u({"build", "-t", "own:2", "-f", ctx + "/Containerfile.from", ctx});
  ASSERT_TRUE(from.ok()) << from.describe();
  auto r = u({"run", "--rm", "own:2", "sh", "-c", "stat -c %u:%g:%a /y /y/f /y/msg.txt; cat /y/f"});
  // The directory itself is not copied, its content is (as docker): /y is made root's.
  EXPECT_EQ(r.out, "0:0:755\n1000:1001:600\n0:0:644\nf\n") << r.describe();
  for (const auto& l : our_mounts()) ADD_FAILURE() << "left mounted: " << l;
  EXPECT_EQ(entries(store() + "/containers"), 0u);
  EXPECT_EQ(entries(store() + "/tmp"), 0u);
  EXPECT_TRUE(user_processes_gone());
}

// A user's store keeps the image's ids: layers are unpacked (and vfs copies made) in a user
// namespace with the user's mapping, so that a file of uid 1000 is the user's subordinate id
// 1000 on disk and uid 1000 in the container, and root of the container reads a mode-0600 file
// of another id, under each driver.
TEST_F(RootlessManagerTest, ImageIdsAreKeptInTheUsersStoreUnderEachDriver) {
  // An image made by root: busybox, /x of 1000:1001 mode 0600, /d of 1000 mode 0700 with a
  // 0600 file, and a device node (skipped in a user's store).
  ASSERT_NO_FATAL_FAILURE(import_own_image());
  std::string want = "1000:1001:600\nsecret\n1000:700\ninner\n";
  std::string check = "stat -c %u:%g:%a /x; cat /x; stat -c %u:%a /d; cat /d/f";
  auto r = u({"run", "--rm", "own:1", "sh", "-c", check});
  EXPECT_EQ(r.out, want) << r.describe();
  // On disk the layer's /x is the user's subordinate id 1000.
  uint64_t sub_start = std::stoull(sub_.substr(0, sub_.find('-')));
  bool found = false;
  for (const auto& l : split_lines(run_cmd({"ls", "-A", store() + "/layers"}).out)) {
    struct stat st {};
    if (trim(l).empty() || ::lstat((store() + "/layers/" + trim(l) + "/x").c_str(), &st) != 0)
      continue;
    found = true;
    EXPECT_EQ(st.st_uid, sub_start + 999);
    EXPECT_EQ(st.st_gid, sub_start + 1000);
  }
  EXPECT_TRUE(found) << "no layer with /x in " << store() << "/layers";
  auto v = u({"--storage-driver", "vfs", "run", "--rm", "own:1", "sh", "-c", check});
  EXPECT_EQ(v.out, want) << v.describe();
  // cp and export as the user: the tar has the container's ids, and the 0600 files are in it
  // (a running overlay container, and a stopped vfs one).
  ASSERT_TRUE(u({"run", "-d", "--name", "e", "own:1", "sh", "-c", "sleep 60"}).ok());
  ASSERT_TRUE(u({"--storage-driver", "vfs", "create", "--name", "ev", "own:1", "sh"}).ok());
  std::string listing = "tar --numeric-owner -tvf " + dir_ + "/home/out.tar";
  for (const char* c : {"e", "ev"}) {
    auto ex = u({"export", "-o", dir_ + "/home/out.tar", c});
    ASSERT_TRUE(ex.ok()) << c << ": " << ex.describe();
    auto l = run_cmd({"sh", "-c", listing});
    int secret = 0;
    for (const auto& line : split_lines(l.out))
      secret += contains(line, "-rw------- 1000/1001 ") &&
                (line.ends_with(" x") || line.ends_with("/x") || line.ends_with("d/f"));
    EXPECT_EQ(secret, 2) << c << ": " << l.describe();
    auto cp = u({"cp", "-a", std::string(c) + ":/d", dir_ + "/home/cp-" + c});
    EXPECT_TRUE(cp.ok()) << c << ": " << cp.describe();
    struct stat st {};
    EXPECT_EQ(::stat((dir_ + "/home/cp-" + c + "/f").c_str(), &st), 0) << c;
    EXPECT_EQ(st.st_uid, sub_start + 999) << c;  // the container's 1000, as on the store's disk
    EXPECT_EQ(run_cmd({"rm", "-rf", dir_ + "/home/cp-" + std::string(c)}).exit_code(), 0);
  }
  ASSERT_TRUE(u({"rm", "-f", "e", "ev"}).ok());
  if (::access("/usr/bin/fuse-overlayfs", X_OK) == 0) {
    // fuse-overlayfs' daemon runs in a user namespace with the store's mapping: the same.
    OpenDevice fuse("/dev/fuse");
    auto f = u({"--storage-driver", "fuse-overlayfs", "run", "--rm", "own:1", "sh", "-c", check});
    EXPECT_EQ(f.out, want) << f.describe();
  }
  ASSERT_TRUE(u({"rmi", "own:1"}).ok());
  EXPECT_EQ(entries(store() + "/layers"), 0u);
  EXPECT_EQ(entries(store() + "/containers"), 0u);
  for (const auto& l : our_mounts()) ADD_FAILURE() << "left mounted: " << l;
}

// RUN chown 1000:1001 and chmod 600 in a user's build: the commit reads the file (in the user
// namespace) and the image keeps 1000:1001 mode 0600; rm and rmi leave nothing.
TEST_F(RootlessManagerTest, BuildCommitsAModeSixHundredFileOfAnotherId) {
  if (::access("/usr/bin/fuse-overlayfs", X_OK) != 0) GTEST_SKIP() << "no fuse-overlayfs";
  OpenDevice fuse("/dev/fuse");  // COPY sees the image through fuse-overlayfs
  ASSERT_TRUE(u({"template", "build", "busybox"}).ok());
  std::string ctx = dir_ + "/home/ctx";
  ASSERT_TRUE(run_cmd({"setpriv", "--reuid", std::to_string(uid_), "--regid", std::to_string(gid_),
                       "--clear-groups", "mkdir", ctx})
                  .ok());
  write_text(ctx + "/Containerfile",
             "FROM busybox\nRUN echo s > /x && chown 1000:1001 /x && chmod 600 /x\n");
  ::chown((ctx + "/Containerfile").c_str(), uid_, gid_);
  auto b = u({"build", "-t", "six:1", ctx});
  ASSERT_TRUE(b.ok()) << b.describe();
  auto r = u({"run", "--name", "c6", "six:1", "sh", "-c", "stat -c %u:%g:%a /x; cat /x"});
  EXPECT_EQ(r.out, "1000:1001:600\ns\n") << r.describe();
  // commit of a container that wrote such a file, and the image keeps it.
  auto w = u({"run", "--name", "w6", "six:1", "sh", "-c",
              "echo t > /y && chown 1002:1003 /y && chmod 600 /y"});
  ASSERT_TRUE(w.ok()) << w.describe();
  auto c = u({"commit", "w6", "six:2"});
  ASSERT_TRUE(c.ok()) << c.describe();
  auto r2 = u({"run", "--rm", "six:2", "sh", "-c", "stat -c %u:%g:%a /x /y; cat /y"});
  EXPECT_EQ(r2.out, "1000:1001:600\n1002:1003:600\nt\n") << r2.describe();
  ASSERT_TRUE(u({"rm", "c6", "w6"}).ok());
  ASSERT_TRUE(u({"rmi", "six:2", "six:1", "busybox"}).ok());
  auto prune = u({"system", "prune", "-f"});
  EXPECT_TRUE(prune.ok()) << prune.describe();
  EXPECT_EQ(entries(store() + "/layers"), 0u);
  EXPECT_EQ(entries(store() + "/containers"), 0u);
  EXPECT_EQ(entries(store() + "/tmp"), 0u) << run_cmd({"ls", "-la", store() + "/tmp"}).out;
  for (const auto& l : our_mounts()) ADD_FAILURE() << "left mounted: " << l;
  EXPECT_TRUE(user_processes_gone());
}

// A store whose layers an older vessel unpacked as the user (every file the user's): the next
// container unpacks them again with the image's ids, and system prune removes the old trees.
TEST_F(RootlessManagerTest, LayersUnpackedTheOldWayAreUnpackedAgain) {
  if (::access("/usr/bin/sqlite3", X_OK) != 0) GTEST_SKIP() << "no sqlite3";
  std::string rootfs = dir_ + "/own-rootfs";
  std::string tarball = dir_ + "/home/own.tar";
  auto mk = run_cmd({"sh", "-c",
                     "set -e; r=" + rootfs +
                         "; mkdir -p $r/bin; cp /bin/busybox $r/bin/; ln -s busybox $r/bin/sh; "
                         "ln -s busybox $r/bin/stat; echo s > $r/x; chown 1000 $r/x; tar "
                         "--numeric-owner -C $r -cf " +
                         tarball + " .; chown " + std::to_string(uid_) + " " + tarball});
  ASSERT_TRUE(mk.ok()) << mk.describe();
  ASSERT_TRUE(u({"import", tarball, "own:1"}).ok());
  ASSERT_EQ(u({"run", "--rm", "own:1", "stat", "-c", "%u", "/x"}).out, "1000\n");
  // What an older vessel left: the layer's files all the user's, recorded as unpacked (1).
  auto old = run_cmd({"sh", "-c",
                      "set -e; chown -R " + std::to_string(uid_) + ":" + std::to_string(gid_) +
                          " " + store() + "/layers; sqlite3 " + store() +
                          "/vessel.db 'UPDATE layers SET unpacked=1'"});
  ASSERT_TRUE(old.ok()) << old.describe();
  ASSERT_EQ(u({"run", "--rm", "own:1", "stat", "-c", "%u", "/x"}).out, "1000\n");
  EXPECT_EQ(entries(store() + "/layers-old"), 1u);
  ASSERT_TRUE(u({"system", "prune", "-f"}).ok());
  EXPECT_NE(::access((store() + "/layers-old").c_str(), F_OK), 0);
  ASSERT_TRUE(u({"rmi", "own:1"}).ok());
  EXPECT_EQ(entries(store() + "/layers"), 0u);
}

// -p through slirp4netns, reached from the host's loopback. slirp4netns needs /dev/net/tun,
// mode 0600 on these machines: opened to everyone (Debian's usual 0666) for this test only.
TEST_F(RootlessManagerTest, PublishedPortIsReachedFromTheHostThroughSlirp4netns) {
  if (::access("/usr/bin/slirp4netns", X_OK) != 0) GTEST_SKIP() << "no slirp4netns";
  struct stat tun {};
  ASSERT_EQ(::stat("/dev/net/tun", &tun), 0);
  ASSERT_EQ(::chmod("/dev/net/tun", 0666), 0);
  struct Restore {
    mode_t mode;
    ~Restore() { ::chmod("/dev/net/tun", mode & 07777); }
  } restore{tun.st_mode};
  // A free port on the loopback.
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len), 0);
  std::string port = std::to_string(ntohs(a.sin_port));
  ::close(s);

  ASSERT_TRUE(u({"template", "build", "busybox"}).ok());
  auto r =
      u({"run", "-d", "--name", "web", "-p", "127.0.0.1:" + port + ":8080", "busybox", "sh", "-c",
         "mkdir /www; echo hello-from-rootless > /www/index.html; httpd -f -p 8080 -h /www"});
  ASSERT_TRUE(r.ok()) << r.describe();
  // The server starts asynchronously: ask until it answers (bounded), then check the answer.
  Result got = get_from_host(port);
  EXPECT_EQ(got.out, "hello-from-rootless\n") << got.describe();
  ASSERT_TRUE(u({"rm", "-f", "web"}).ok());
  EXPECT_TRUE(user_processes_gone()) << "slirp4netns or the container left running";
  EXPECT_FALSE(host_port_answers(port));
}

// User networks as an ordinary user: the user's network namespace (bridges, resolvers,
// slirp4netns) connects two containers by address and by name, brings -p from the host's
// loopback to a container on it, routes out through slirp4netns, and ends with the last
// container: no process of the user is left.
TEST_F(RootlessManagerTest, UserNetworkConnectsContainersByNameAndEndsWithTheLast) {
  if (::access("/usr/bin/slirp4netns", X_OK) != 0) GTEST_SKIP() << "no slirp4netns";
  if (::access("/usr/lib/cni/bridge", X_OK) != 0) GTEST_SKIP() << "no CNI plugins";
  OpenDevice tun("/dev/net/tun");  // 0600 on these machines
  int port = free_loopback_port();
  ASSERT_GT(port, 0);
  ASSERT_TRUE(u({"template", "build", "busybox"}).ok());
  auto n = u({"network", "create", "un1"});
  ASSERT_TRUE(n.ok()) << n.describe();
  auto a = u({"run", "-d", "--name", "web", "--network", "un1", "-p",
              "127.0.0.1:" + std::to_string(port) + ":8080", "busybox", "sh", "-c",
              "mkdir /www; echo hello-web > /www/index.html; httpd -f -p 8080 -h /www"});
  ASSERT_TRUE(a.ok()) << a.describe();
  auto info = json::parse(u({"inspect", "web"}).out).at(0);
  std::string ip = info["NetworkSettings"]["Networks"]["un1"]["IPAddress"].get<std::string>();
  ASSERT_FALSE(ip.empty()) << info.dump();
  // A second container reaches the first by name (the network's resolver) and by address.
  auto b = u({"run", "--rm", "--network", "un1", "busybox", "sh", "-c",
              "for i in $(seq 50); do wget -qO- http://web:8080/ && break; sleep 0.2; done; "
              "ping -c1 -W5 " +
                  ip +
                  " >/dev/null && echo ping-ip; "
                  "ping -c1 -W5 web >/dev/null && echo ping-name; "
                  "ping -c1 -W5 10.0.2.2 >/dev/null && echo outbound"});
  EXPECT_EQ(b.out, "hello-web\nping-ip\nping-name\noutbound\n") << b.describe();
  // -p: the host's loopback, through slirp4netns and the user network's port mapping.
  Result got = get_from_host(std::to_string(port));
  EXPECT_EQ(got.out, "hello-web\n") << got.describe();
  ASSERT_TRUE(u({"rm", "-f", "web"}).ok());
  // The last container gone: the user's network namespace, slirp4netns and resolver too.
  EXPECT_TRUE(user_processes_gone()) << run_cmd({"pgrep", "-a", "-u", std::to_string(uid_)}).out;
  // The resolver ran as nobody in the user's namespace (a subordinate id on the host).
  EXPECT_EQ(run_cmd({"pgrep", "-a", "-f", dir_ + "/run/vessel"}).out, "");
  EXPECT_NE(::access((dir_ + "/run/vessel/netns-infra").c_str(), F_OK), 0);
  EXPECT_FALSE(host_port_answers(std::to_string(port)));
  ASSERT_TRUE(u({"network", "rm", "un1"}).ok());
  for (const auto& l : our_mounts()) ADD_FAILURE() << "left mounted: " << l;
}

// Without a delegated cgroup v2 subtree (this host: hybrid v1), limits are dropped with one
// warning line and the container runs.
TEST_F(RootlessManagerTest, LimitsWithoutADelegatedCgroupAreOneWarningLine) {
  ASSERT_TRUE(u({"template", "build", "busybox"}).ok());
  auto r = u({"run", "--rm", "-m", "64m", "--pids-limit", "50", "busybox", "echo", "ran"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.out, "ran\n");
  auto lines = split_lines(trim(r.err));
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_TRUE(contains(lines[0], "without a delegated cgroup v2 subtree")) << r.err;
  EXPECT_TRUE(contains(lines[0], "are ignored")) << r.err;
}

// With a delegated subtree the limits apply: pure cgroup v2 only, shown in a v2 VM by
// scripts/rootless-cgroups-v2.sh (make rootless-cgroups-v2).
TEST_F(RootlessManagerTest, DelegatedCgroupV2SubtreeAppliesLimits) {
  auto fs = run_cmd({"stat", "-fc", "%T", "/sys/fs/cgroup"});
  if (trim(fs.out) != "cgroup2fs")
    GTEST_SKIP() << "hybrid cgroups here (/sys/fs/cgroup is " << trim(fs.out)
                 << "): the delegated case runs in a pure-v2 VM, make rootless-cgroups-v2";
  std::string script = VESSEL_MANAGER_BIN;
  script = script.substr(0, script.rfind("/bin/"));
  auto r = run_cmd(
      {"sh", "-c", "cd " + script + "/.. && scripts/rootless-cgroups-v2.sh --guest " + script},
      300s);
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(contains(r.out, "memory.max=33554432 cpu.max=50000 100000 pids.max=20")) << r.out;
}

TEST_F(RootlessManagerTest, MissingSubuidsOrNewuidmapIsOneClearLine) {
  auto nohelper = u({"run", "--rm", "busybox", "true"}, "/nonexistent");
  EXPECT_NE(nohelper.exit_code(), 0);
  EXPECT_TRUE(contains(nohelper.err, "newuidmap")) << nohelper.describe();
  EXPECT_TRUE(contains(nohelper.err, "uidmap")) << nohelper.describe();
  ASSERT_TRUE(run_cmd({"usermod", "--del-subuids", sub_, "--del-subgids", sub_, user_}).ok());
  auto r = u({"run", "--rm", "busybox", "true"});
  EXPECT_NE(r.exit_code(), 0);
  EXPECT_TRUE(contains(r.err, "/etc/subuid has no entry for user " + user_)) << r.describe();
  EXPECT_EQ(split_lines(trim(r.err)).size(), 1u) << r.err;
  auto net = u({"run", "--rm", "--network", "bridge", "busybox", "true"});
  EXPECT_NE(net.exit_code(), 0);
  EXPECT_EQ(trim(u({"ps", "-aq"}).out), "");
}

}  // namespace
// ---- user networks: connect/disconnect, keep-id (rlnet) ----

namespace {

// The links of the user's network namespace (the infra), as host root sees them; "" when none.
std::string infra_links(const std::string& run_dir) {
  std::string nspid = trim(read_text(run_dir + "/vessel/netns-infra/nspid"));
  if (nspid.empty()) return "";
  return run_cmd({"nsenter", "--net=/proc/" + nspid + "/ns/net", "ip", "-o", "link"}).out;
}

}  // namespace

// `network connect`/`disconnect` as an ordinary user, as root's: a running container gets an
// interface and an address on the network and its name resolves there; disconnect takes the
// interface, the address lease and the name away, leaving no veth in the user's network
// namespace; a stopped container's networks change for its next start; nothing is left after
// rm.
TEST_F(RootlessManagerTest, UserNetworkConnectAndDisconnectRunningAndStoppedContainers) {
  if (::access("/usr/bin/slirp4netns", X_OK) != 0) GTEST_SKIP() << "no slirp4netns";
  if (::access("/usr/lib/cni/bridge", X_OK) != 0) GTEST_SKIP() << "no CNI plugins";
  OpenDevice tun("/dev/net/tun");  // 0600 on these machines
  ASSERT_TRUE(u({"template", "build", "busybox"}).ok());
  ASSERT_TRUE(u({"network", "create", "--subnet", "10.97.1.0/24", "cn1"}).ok());
  ASSERT_TRUE(u({"network", "create", "--subnet", "10.97.2.0/24", "cn2"}).ok());
  auto a = u({"run", "-d", "--name", "a", "--network", "cn1", "busybox", "sh", "-c",
              "mkdir /www; echo hello-a > /www/index.html; httpd -f -p 8080 -h /www"});
  ASSERT_TRUE(a.ok()) << a.describe();
  auto b = u({"run", "-d", "--name", "b", "--network", "cn2", "busybox", "sleep", "1000"});
  ASSERT_TRUE(b.ok()) << b.describe();
  size_t veths = count_of(infra_links(dir_ + "/run"), "veth");
  EXPECT_EQ(veths, 2u) << infra_links(dir_ + "/run");

  // connect: a gets eth1 on cn2, and b reaches it there by name.
  auto c = u({"network", "connect", "cn2", "a"});
  ASSERT_TRUE(c.ok()) << c.describe();
  auto addr = u({"exec", "a", "ip", "-4", "-o", "addr", "show", "eth1"});
  EXPECT_TRUE(contains(addr.out, "inet 10.97.2.")) << addr.describe();
  auto info = json::parse(u({"inspect", "a"}).out).at(0);
  std::string ip2 = info["NetworkSettings"]["Networks"]["cn2"].value("IPAddress", "");
  ASSERT_TRUE(contains(ip2, "10.97.2.")) << info.dump();
  EXPECT_TRUE(exists(store() + "/cni/ipam/cn2/" + ip2));
  auto get = u({"exec", "b", "sh", "-c",
                "for i in $(seq 50); do wget -qO- http://a:8080/ && break; sleep 0.2; done"});
  EXPECT_EQ(get.out, "hello-a\n") << get.describe();
  EXPECT_EQ(count_of(infra_links(dir_ + "/run"), "veth"), veths + 1);
  // A second connect is refused; so is a network that does not exist.
  EXPECT_NE(u({"network", "connect", "cn2", "a"}).exit_code(), 0);
  EXPECT_NE(u({"network", "connect", "nonet", "a"}).exit_code(), 0);

  // disconnect: the interface, the lease, the veth and the name go; cn1 stays.
  auto d = u({"network", "disconnect", "cn2", "a"});
  ASSERT_TRUE(d.ok()) << d.describe();
  EXPECT_NE(u({"exec", "a", "ip", "link", "show", "eth1"}).exit_code(), 0);
  EXPECT_TRUE(
      contains(u({"exec", "a", "ip", "-4", "-o", "addr", "show", "eth0"}).out, "inet 10.97.1."));
  EXPECT_FALSE(exists(store() + "/cni/ipam/cn2/" + ip2));
  EXPECT_EQ(count_of(infra_links(dir_ + "/run"), "veth"), veths) << infra_links(dir_ + "/run");
  auto gone = u({"exec", "b", "sh", "-c", "nslookup a 10.97.2.1 || echo no-such-name"});
  EXPECT_TRUE(contains(gone.out, "no-such-name")) << gone.describe();
  EXPECT_NE(u({"network", "disconnect", "cn2", "a"}).exit_code(), 0);

  // A stopped container: its networks change for the next start.
  ASSERT_TRUE(u({"stop", "-t", "1", "b"}).ok());
  ASSERT_TRUE(u({"network", "connect", "cn1", "b"}).ok());
  ASSERT_TRUE(u({"network", "disconnect", "cn2", "b"}).ok());
  ASSERT_TRUE(u({"start", "b"}).ok());
  auto links = u({"exec", "b", "ip", "-4", "-o", "addr"});
  EXPECT_TRUE(contains(links.out, "eth0") && contains(links.out, "inet 10.97.1."))
      << links.describe();
  EXPECT_FALSE(contains(links.out, "10.97.2.")) << links.out;
  auto byname = u({"exec", "b", "wget", "-qO-", "http://a:8080/"});
  EXPECT_EQ(byname.out, "hello-a\n") << byname.describe();
  // cn2 has no container left: its resolver is gone, cn1's runs.
  EXPECT_EQ(run_cmd({"pgrep", "-f", dir_ + "/run/vessel/dns/cn2"}).out, "");
  EXPECT_NE(run_cmd({"pgrep", "-f", dir_ + "/run/vessel/dns/cn1"}).out, "");

  ASSERT_TRUE(u({"rm", "-f", "a", "b"}).ok());
  EXPECT_TRUE(user_processes_gone()) << run_cmd({"pgrep", "-a", "-u", std::to_string(uid_)}).out;
  EXPECT_NE(::access((dir_ + "/run/vessel/netns-infra").c_str(), F_OK), 0);
  EXPECT_EQ(count_of(run_cmd({"ls", store() + "/cni/ipam/cn1"}).out, "10.97."), 0u);
  EXPECT_EQ(count_of(run_cmd({"ls", store() + "/cni/ipam/cn2"}).out, "10.97."), 0u);
  ASSERT_TRUE(u({"network", "rm", "cn1", "cn2"}).ok());
  for (const auto& l : our_mounts()) ADD_FAILURE() << "left mounted: " << l;
}

}  // namespace itest

namespace itest {

// --network container:X as an ordinary user: the container shares X's network namespace,
// whether X is on a user network or on slirp4netns, with keep-id or without, by
// joining X's user namespace too (the one that owns that network namespace); a joiner whose
// --userns differs from X's is refused in one line, with nothing left.
TEST_F(RootlessManagerTest, NetworkContainerSharesAnotherContainersNetworkAsAUser) {
  if (::access("/usr/bin/slirp4netns", X_OK) != 0) GTEST_SKIP() << "no slirp4netns";
  if (::access("/usr/lib/cni/bridge", X_OK) != 0) GTEST_SKIP() << "no CNI plugins";
  OpenDevice tun("/dev/net/tun");  // 0600 on these machines
  ASSERT_TRUE(u({"template", "build", "busybox"}).ok());
  ASSERT_TRUE(u({"network", "create", "--subnet", "10.97.5.0/24", "sn1"}).ok());
  std::string uid = std::to_string(uid_);
  const std::string serve =
      "mkdir -p /tmp/www; echo hello-$0 > /tmp/www/index.html; httpd -f -p 8080 -h /tmp/www";
  // What the joiner prints: X's page, its uid, and how many ranges its user namespace maps
  // (keep-id's: 3, the ids below the user's, the user's, those above; the default's: 2).
  const std::string probe =
      "for i in $(seq 50); do wget -qO- http://127.0.0.1:8080/ && break; sleep 0.2; done; "
      "id -u; wc -l < /proc/self/uid_map";
  struct Case {
    std::string name;
    std::vector<std::string> flags;
    bool keep_id;
  };
  std::vector<Case> cases = {{"onnet", {"--network", "sn1"}, false},
                             {"onnetk", {"--network", "sn1", "--userns=keep-id"}, true},
                             {"onslirp", {"--network", "slirp4netns"}, false},
                             {"onslirpk", {"--network", "slirp4netns", "--userns=keep-id"}, true}};
  for (const auto& c : cases) {
    std::vector<std::string> args = {"run", "-d", "--name", c.name};
    args.insert(args.end(), c.flags.begin(), c.flags.end());
    for (const std::string a : {"busybox", "sh", "-c"}) args.push_back(a);
    args.push_back(serve);
    args.push_back(c.name);
    auto r = u(args);
    ASSERT_TRUE(r.ok()) << c.name << ": " << r.describe();
    std::vector<std::string> j = {"run", "--rm", "--network", "container:" + c.name};
    if (c.keep_id) j.push_back("--userns=keep-id");
    for (const std::string a : {"busybox", "sh", "-c"}) j.push_back(a);
    j.push_back(probe);
    auto got = u(j);
    EXPECT_EQ(got.out, "hello-" + c.name + "\n" + (c.keep_id ? uid + "\n3\n" : "0\n2\n"))
        << c.name << ": " << got.describe();
    // The other --userns: one line, no container left.
    auto bad = u({"run", "--rm", "--network", "container:" + c.name,
                  c.keep_id ? "--userns=host" : "--userns=keep-id", "busybox", "true"});
    EXPECT_NE(bad.exit_code(), 0);
    EXPECT_TRUE(contains(bad.err, "needs the same --userns")) << bad.describe();
    EXPECT_EQ(split_lines(trim(bad.err)).size(), 1u) << bad.err;
    EXPECT_EQ(trim(u({"ps", "-aq"}).out).size(), 12u) << u({"ps", "-a"}).out;
    ASSERT_TRUE(u({"rm", "-f", c.name}).ok());
  }
  EXPECT_TRUE(user_processes_gone()) << run_cmd({"pgrep", "-a", "-u", uid}).out;
  EXPECT_NE(::access((dir_ + "/run/vessel/netns-infra").c_str(), F_OK), 0);
  ASSERT_TRUE(u({"network", "rm", "sn1"}).ok());
}

// --network container:X where X has the host's network (as a user): the joiner has the host's
// network namespace too, and reaches X's server on the host's loopback; under either --userns
// (a host network has no user namespace of its own to match).
TEST_F(RootlessManagerTest, NetworkContainerOfAHostNetworkContainerIsTheHostsAsAUser) {
  ASSERT_TRUE(u({"template", "build", "busybox"}).ok());
  std::string port = std::to_string(free_loopback_port());
  auto x =
      u({"run", "-d", "--name", "hx", "--network", "host", "busybox", "sh", "-c",
         "mkdir -p /tmp/www; echo hello-host > /tmp/www/index.html; httpd -f -p 127.0.0.1:" + port +
             " -h /tmp/www"});
  ASSERT_TRUE(x.ok()) << x.describe();
  std::string host_net = trim(run_cmd({"readlink", "/proc/self/ns/net"}).out);
  for (const char* userns : {"--userns=host", "--userns=keep-id"}) {
    auto got =
        u({"run", "--rm", "--network", "container:hx", userns, "busybox", "sh", "-c",
           "readlink /proc/self/ns/net; for i in $(seq 50); do wget -qO- http://127.0.0.1:" + port +
               "/ && break; sleep 0.2; done"});
    EXPECT_EQ(got.out, host_net + "\nhello-host\n") << userns << ": " << got.describe();
  }
  ASSERT_TRUE(u({"rm", "-f", "hx"}).ok());
  EXPECT_EQ(trim(u({"ps", "-aq"}).out), "");
  EXPECT_TRUE(user_processes_gone()) << run_cmd({"pgrep", "-a", "-u", std::to_string(uid_)}).out;
}

// -p CONTAINER (no host port) as an ordinary user: vessel picks a free host port, `port` and
// inspect show it, and it reaches the container from the host's loopback, on slirp4netns
// (where slirp4netns needs the host port: chosen at create, kept for every start) and on a
// user network.
TEST_F(RootlessManagerTest, PublishWithoutAHostPortPicksOneOnSlirp4netnsAndUserNetworks) {
  if (::access("/usr/bin/slirp4netns", X_OK) != 0) GTEST_SKIP() << "no slirp4netns";
  if (::access("/usr/lib/cni/bridge", X_OK) != 0) GTEST_SKIP() << "no CNI plugins";
  OpenDevice tun("/dev/net/tun");  // 0600 on these machines
  ASSERT_TRUE(u({"template", "build", "busybox"}).ok());
  ASSERT_TRUE(u({"network", "create", "--subnet", "10.97.6.0/24", "pn1"}).ok());
  for (const std::string net : {"slirp4netns", "pn1"}) {
    auto r = u({"run", "-d", "--name", "w", "--network", net, "-p", "8080", "busybox", "sh", "-c",
                "mkdir -p /tmp/www; echo hello-$0 > /tmp/www/index.html; httpd -f -p 8080 -h "
                "/tmp/www",
                net});
    ASSERT_TRUE(r.ok()) << net << ": " << r.describe();
    std::string shown = trim(u({"port", "w", "8080"}).out);
    ASSERT_TRUE(shown.rfind("0.0.0.0:", 0) == 0) << net << ": " << shown;
    std::string port = shown.substr(8);
    EXPECT_NE(port, "0");
    auto info = json::parse(u({"inspect", "w"}).out).at(0);
    EXPECT_EQ(info["NetworkSettings"]["Ports"]["8080/tcp"][0].value("HostPort", ""), port)
        << info["NetworkSettings"].dump();
    Result got = get_from_host(port);
    EXPECT_EQ(got.out, "hello-" + net + "\n") << net << ": " << got.describe();
    ASSERT_TRUE(u({"rm", "-f", "w"}).ok());
    EXPECT_FALSE(host_port_answers(port));
  }
  EXPECT_TRUE(user_processes_gone()) << run_cmd({"pgrep", "-a", "-u", std::to_string(uid_)}).out;
  ASSERT_TRUE(u({"network", "rm", "pn1"}).ok());
}

}  // namespace itest
