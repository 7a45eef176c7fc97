// --userns=keep-id as an ordinary user (fixture: rootless_fixture.h): the user's own ids are
// the same inside, the image's ids stay its own (keep-id copies of the layers), and keep-id
// containers on user networks.
#include "rootless_fixture.h"

namespace itest {
namespace {

// --userns=keep-id (as podman): the user's uid and gid are the same inside, the process runs
// as them, and what it writes in a named volume is the user's on the host; ids below and
// above come from the subordinate range. --userns=host is the default mapping.
TEST_F(RootlessManagerTest, KeepIdMapsTheUsersOwnIdsAndHostIsTheDefault) {
  ASSERT_TRUE(u({"template", "build", "busybox"}).ok());
  std::string uid = std::to_string(uid_), gid = std::to_string(gid_);
  auto r = u({"run", "--rm", "--userns=keep-id", "-v", "kv:/data", "busybox", "sh", "-c",
              "id -u; id -g; cat /proc/self/uid_map; touch /data/mine"});
  ASSERT_TRUE(r.ok()) << r.describe();
  auto lines = split_lines(r.out);
  ASSERT_GE(lines.size(), 4u) << r.out;
  EXPECT_EQ(trim(lines[0]), uid);
  EXPECT_EQ(trim(lines[1]), gid);
  // uid_map lines: "inside host count"; the user's uid maps to itself.
  bool own = false, below = false;
  std::string sub_start = sub_.substr(0, sub_.find('-'));
  for (size_t i = 2; i < lines.size(); ++i) {
    std::istringstream ss(lines[i]);
    std::string in, host, n;
    ss >> in >> host >> n;
    own |= in == uid && host == uid && n == "1";
    below |= in == "0" && host == sub_start && n == uid;
  }
  EXPECT_TRUE(own && below) << r.out;
  struct stat st {};
  ASSERT_EQ(::stat((store() + "/volumes/kv/_data/mine").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, uid_);
  EXPECT_EQ(st.st_gid, gid_);
  // -u still chooses the process's user.
  auto root = u({"run", "--rm", "--userns=keep-id", "-u", "0", "busybox", "id", "-u"});
  EXPECT_EQ(root.out, "0\n") << root.describe();
  auto host = u({"run", "--rm", "--userns=host", "busybox", "id", "-u"});
  EXPECT_EQ(host.out, "0\n") << host.describe();
  auto bad = u({"run", "--rm", "--userns=auto", "busybox", "true"});
  EXPECT_NE(bad.exit_code(), 0);
  EXPECT_TRUE(contains(bad.err, "--userns=auto is for root")) << bad.describe();
  EXPECT_EQ(trim(u({"ps", "-aq"}).out), "");
  ASSERT_TRUE(u({"volume", "rm", "kv"}).ok());
}

// --userns=keep-id under each driver: the image's ids are the container's again (a keep-id
// copy of the layers, unpacked with that mapping), not shifted by the different mapping; what
// the container writes is committed with the container's ids; rmi removes the copies.
TEST_F(RootlessManagerTest, KeepIdShowsTheImagesOwnIdsUnderEachDriver) {
  ASSERT_NO_FATAL_FAILURE(import_own_image());
  std::string check =
      "stat -c %u:%g / /bin/busybox; stat -c %u:%g:%a /x; cat /x; stat -c %u:%a /d; cat /d/f";
  std::string want = "0:0\n0:0\n1000:1001:600\nsecret\n1000:700\ninner\n";
  for (const char* driver : {"overlay", "vfs"}) {
    auto r = u({"--storage-driver", driver, "run", "--rm", "--userns=keep-id", "-u", "0", "own:1",
                "sh", "-c", check});
    EXPECT_EQ(r.out, want) << driver << ": " << r.describe();
  }
  // The user's own processes (keep-id's default user) see the image's 1000 as 1000 too.
  auto own = u({"run", "--rm", "--userns=keep-id", "own:1", "stat", "-c", "%u:%g", "/x"});
  EXPECT_EQ(own.out, "1000:1001\n") << own.describe();
  if (::access("/usr/bin/fuse-overlayfs", X_OK) == 0) {
    OpenDevice fuse("/dev/fuse");
    std::vector<std::string> run = {"--storage-driver",
                                    "fuse-overlayfs",
                                    "run",
                                    "--rm",
                                    "--userns=keep-id",
                                    "-u",
                                    "0",
                                    "own:1",
                                    "sh",
                                    "-c",
                                    "stat -c %u:%g / /bin/busybox /x"};
    // FUSE serves only the user's own uid without allow_other: keep-id's root is another.
    std::string conf = read_text("/etc/fuse.conf");
    bool allow_other = false;
    for (const auto& l : split_lines(conf)) allow_other |= trim(l) == "user_allow_other";
    if (!allow_other) {
      auto refused = u(run);
      EXPECT_NE(refused.exit_code(), 0);
      EXPECT_TRUE(contains(refused.err, "user_allow_other")) << refused.describe();
      EXPECT_EQ(trim(u({"ps", "-aq"}).out), "");
      write_text("/etc/fuse.conf", conf + "\nuser_allow_other\n");
    }
    auto f = u(run);
    write_text("/etc/fuse.conf", conf);
    EXPECT_EQ(f.out, "0:0\n0:0\n1000:1001\n") << f.describe();
  }
  // A stopped vfs keep-id container's export has the container's ids.
  ASSERT_TRUE(
      u({"--storage-driver", "vfs", "create", "--userns=keep-id", "--name", "kv", "own:1", "sh"})
          .ok());
  ASSERT_TRUE(u({"export", "-o", dir_ + "/home/kv.tar", "kv"}).ok());
  auto listing = run_cmd({"tar", "--numeric-owner", "-tvf", dir_ + "/home/kv.tar"});
  bool x_kept = false;
  for (const auto& line : split_lines(listing.out))
    x_kept |= contains(line, "-rw------- 1000/1001 ") && line.ends_with(" x");
  EXPECT_TRUE(x_kept) << listing.describe();
  ASSERT_TRUE(u({"rm", "kv"}).ok());
  // Written in a keep-id container, committed: the image records the container's ids (vfs
  // containers cannot be committed).
  {
    const char* driver = "overlay";
    std::string name = std::string("k-") + driver;
    auto w = u({"--storage-driver", driver, "run", "--userns=keep-id", "-u", "0", "--name", name,
                "own:1", "sh", "-c", "touch /new /mine && chown 1000:1001 /new"});
    ASSERT_TRUE(w.ok()) << driver << ": " << w.describe();
    auto commit = u({"commit", name, "own:" + name});
    ASSERT_TRUE(commit.ok()) << driver << ": " << commit.describe();
    auto c = u({"run", "--rm", "own:" + name, "stat", "-c", "%u:%g", "/new", "/mine", "/x"});
    EXPECT_EQ(c.out, "1000:1001\n0:0\n1000:1001\n") << driver << ": " << c.describe();
    ASSERT_TRUE(u({"rm", name}).ok());
    ASSERT_TRUE(u({"rmi", "own:" + name}).ok());
  }
  EXPECT_GT(entries(store() + "/layers-keep-id"), 0u);
  ASSERT_TRUE(u({"rmi", "own:1"}).ok());
  EXPECT_EQ(entries(store() + "/layers"), 0u);
  EXPECT_EQ(entries(store() + "/layers-keep-id"), 0u);
  EXPECT_EQ(entries(store() + "/containers"), 0u);
  // A copy whose layer is gone (an interrupted removal) is an orphan `system check` removes.
  std::string orphan = store() + "/layers-keep-id/0123abcd";
  ASSERT_EQ(::mkdir(orphan.c_str(), 0755), 0);
  ASSERT_EQ(::chown(orphan.c_str(), uid_, gid_), 0);
  auto repaired = u({"system", "check", "--repair"});
  EXPECT_TRUE(contains(repaired.out + repaired.err, "keep-id layer copy")) << repaired.describe();
  EXPECT_EQ(entries(store() + "/layers-keep-id"), 0u);
  for (const auto& l : our_mounts()) ADD_FAILURE() << "left mounted: " << l;
}

// --userns=keep-id on a user network, with -p: the container has a user namespace of its own
// below the user's network one (the user's ids are the same inside), an address on the
// network reached by name from another container, and the published port from the host's
// loopback; network connect works on it too, and nothing is left after rm.
TEST_F(RootlessManagerTest, KeepIdOnAUserNetworkWithAPublishedPort) {
  if (::access("/usr/bin/slirp4netns", X_OK) != 0) GTEST_SKIP() << "no slirp4netns";
  if (::access("/usr/lib/cni/bridge", X_OK) != 0) GTEST_SKIP() << "no CNI plugins";
  OpenDevice tun("/dev/net/tun");  // 0600 on these machines
  int port = free_loopback_port();
  ASSERT_GT(port, 0);
  std::string uid = std::to_string(uid_);
  ASSERT_TRUE(u({"template", "build", "busybox"}).ok());
  ASSERT_TRUE(u({"network", "create", "--subnet", "10.97.3.0/24", "kn1"}).ok());
  ASSERT_TRUE(u({"network", "create", "--subnet", "10.97.4.0/24", "kn2"}).ok());
  auto k = u({"run", "-d", "--name", "kw", "--userns=keep-id", "--network", "kn1", "-v", "kv:/data",
              "-p", "127.0.0.1:" + std::to_string(port) + ":8080", "busybox", "sh", "-c",
              "mkdir -p /tmp/www; echo hello-keep-id > /tmp/www/index.html; touch /data/mine; "
              "httpd -f -p 8080 -h /tmp/www"});
  ASSERT_TRUE(k.ok()) << k.describe();
  auto id = u({"exec", "kw", "id", "-u"});
  EXPECT_EQ(id.out, uid + "\n") << id.describe();
  auto addr = u({"exec", "kw", "ip", "-4", "-o", "addr", "show", "eth0"});
  EXPECT_TRUE(contains(addr.out, "inet 10.97.3.")) << addr.describe();
  // Its own user namespace, not the one the user's other networked containers share: from
  // the host, the user's uid is itself inside and ids below it are the subordinate ones.
  std::string pid = trim(u({"inspect", "-f", "{{.State.Pid}}", "kw"}).out);
  ASSERT_FALSE(pid.empty());
  std::string uid_map = read_text("/proc/" + pid + "/uid_map");
  std::string sub_start = sub_.substr(0, sub_.find('-'));
  bool own = false, below = false;
  for (const auto& l : split_lines(uid_map)) {
    std::istringstream ss(l);
    std::string in, host, n;
    ss >> in >> host >> n;
    own |= in == uid && host == uid && n == "1";
    below |= in == "0" && host == sub_start && n == uid;
  }
  EXPECT_TRUE(own && below) << uid_map;
  std::string nspid = trim(read_text(dir_ + "/run/vessel/netns-infra/nspid"));
  EXPECT_NE(run_cmd({"readlink", "/proc/" + pid + "/ns/user"}).out,
            run_cmd({"readlink", "/proc/" + nspid + "/ns/user"}).out);
  struct stat st {};
  for (int i = 0; i < 50 && ::stat((store() + "/volumes/kv/_data/mine").c_str(), &st) != 0; ++i)
    ::usleep(100 * 1000);
  EXPECT_EQ(st.st_uid, uid_);
  // By name from another container on the network, and -p from the host.
  auto b = u({"run", "--rm", "--network", "kn1", "busybox", "sh", "-c",
              "for i in $(seq 50); do wget -qO- http://kw:8080/ && break; sleep 0.2; done"});
  EXPECT_EQ(b.out, "hello-keep-id\n") << b.describe();
  Result got = get_from_host(std::to_string(port));
  EXPECT_EQ(got.out, "hello-keep-id\n") << got.describe();
  // connect/disconnect reach its namespace too.
  auto c = u({"network", "connect", "kn2", "kw"});
  ASSERT_TRUE(c.ok()) << c.describe();
  EXPECT_TRUE(
      contains(u({"exec", "kw", "ip", "-4", "-o", "addr", "show", "eth1"}).out, "inet 10.97.4."));
  ASSERT_TRUE(u({"network", "disconnect", "kn2", "kw"}).ok());
  EXPECT_NE(u({"exec", "kw", "ip", "link", "show", "eth1"}).exit_code(), 0);

  ASSERT_TRUE(u({"rm", "-f", "kw"}).ok());
  EXPECT_TRUE(user_processes_gone()) << run_cmd({"pgrep", "-a", "-u", std::to_string(uid_)}).out;
  EXPECT_NE(::access((dir_ + "/run/vessel/netns-infra").c_str(), F_OK), 0);
  EXPECT_FALSE(host_port_answers(std::to_string(port)));
  EXPECT_EQ(count_of(run_cmd({"ls", store() + "/cni/ipam/kn1"}).out, "10.97."), 0u);
  ASSERT_TRUE(u({"network", "rm", "kn1", "kn2"}).ok());
  ASSERT_TRUE(u({"volume", "rm", "kv"}).ok());
  for (const auto& l : our_mounts()) ADD_FAILURE() << "left mounted: " << l;
}

}  // namespace
}  // namespace itest
