// `vessel run --userns=auto`: root's containers each in a user namespace of their own, with a
// block of 65536 host ids recorded in the store. Checked from inside (the uid_map) and from
// the host (owners of what the containers write), and nothing left after rm.
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

namespace itest {
namespace {

class UsernsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (runtime_is_runc()) GTEST_SKIP() << "manager tests run once, with vessel's own runtime";
    char tmpl[] = "/tmp/vessel-utest-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // The containers' roots are host ids of their blocks: they must reach their rootfs.
    ASSERT_EQ(::chmod(dir_.c_str(), 0711), 0);
    root_ = dir_ + "/store";
    auto t = v({"template", "build", "busybox"});
    ASSERT_TRUE(t.ok()) << t.describe();
  }
  void TearDown() override {
    if (root_.empty()) return;
    for (const auto& id : split_lines(v({"ps", "-aq", "--no-trunc"}).out))
      if (!trim(id).empty()) v({"rm", "-f", trim(id)});
    EXPECT_EQ(trim(v({"ps", "-aq"}).out), "");
    // (Other programs may mount and unmount elsewhere meanwhile: only ours are counted.)
    EXPECT_EQ(mounts_under(dir_), "") << "mounts left behind";
    if (!getenv("VESSEL_TEST_KEEP")) remove_tree(dir_);
  }
  Result v(const std::vector<std::string>& args, Millis timeout = kTimeout) {
    std::vector<std::string> argv = {VESSEL_MANAGER_BIN, "--root", root_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_cmd(argv, timeout);
  }
  // The first line of the container's /proc/self/uid_map as {inside, outside, count}.
  static std::vector<uint64_t> map_of(const std::string& text) {
    std::istringstream in(text);
    uint64_t a = 0, b = 0, c = 0;
    in >> a >> b >> c;
    return {a, b, c};
  }
  std::vector<std::string> container_dirs() {
    std::vector<std::string> out;
    for (const auto& l : split_lines(run_cmd({"ls", "-A", root_ + "/containers"}).out))
      if (!trim(l).empty()) out.push_back(trim(l));
    return out;
  }

  static std::string mounts_under(const std::string& dir) {
    std::string out;
    for (const auto& l : split_lines(read_text("/proc/self/mountinfo")))
      if (contains(l, " " + dir + "/")) out += l + "\n";
    return out;
  }

  std::string dir_, root_;
};

TEST_F(UsernsTest, TwoContainersGetDisjointBlocksFreedOnRm) {
  ASSERT_TRUE(v({"run", "-d", "--name", "a", "--userns=auto", "busybox", "sleep", "60"}).ok());
  ASSERT_TRUE(v({"run", "-d", "--name", "b", "--userns=auto", "busybox", "sleep", "60"}).ok());
  auto ma = v({"exec", "a", "cat", "/proc/self/uid_map", "/proc/self/gid_map"});
  auto mb = v({"exec", "b", "cat", "/proc/self/uid_map"});
  ASSERT_TRUE(ma.ok()) << ma.describe();
  ASSERT_TRUE(mb.ok()) << mb.describe();
  auto a = map_of(ma.out), b = map_of(mb.out);
  EXPECT_EQ(a[0], 0u);
  EXPECT_EQ(a[2], 65536u);
  EXPECT_EQ(b[2], 65536u);
  EXPECT_NE(a[1], 0u) << "container root is host root";
  EXPECT_TRUE(a[1] + a[2] <= b[1] || b[1] + b[2] <= a[1]) << ma.out << mb.out;
  EXPECT_EQ(split_lines(ma.out).size() >= 2 ? map_of(split_lines(ma.out)[1]) : a, a)
      << "gid map differs: " << ma.out;
  // The container's processes are the block's ids on the host.
  auto pid = std::to_string(json::parse(v({"inspect", "a"}).out).at(0)["State"]["Pid"].get<int>());
  struct stat st {};
  ASSERT_EQ(::stat(("/proc/" + pid).c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, a[1]);
  // Image files are the container root's own, and it may write over them.
  auto own =
      v({"exec", "a", "sh", "-c", "stat -c %u:%g /bin/sh /etc/passwd; echo x >> /etc/passwd"});
  EXPECT_EQ(own.out, "0:0\n0:0\n") << own.describe();
  // The layer on disk keeps its owners (shared, unshifted); the copy in the upper layer is
  // the container's, shifted.
  // A block freed by rm goes back to the pool: the next container may get it.
  ASSERT_TRUE(v({"rm", "-f", "a"}).ok());
  ASSERT_TRUE(v({"run", "-d", "--name", "c", "--userns=auto", "busybox", "sleep", "60"}).ok());
  auto mc = map_of(v({"exec", "c", "cat", "/proc/self/uid_map"}).out);
  EXPECT_EQ(mc[1], a[1]) << "the freed block (the lowest) is reused";
  ASSERT_TRUE(v({"rm", "-f", "b", "c"}).ok());
  EXPECT_TRUE(container_dirs().empty());
  // No block stays recorded.
  auto rows = run_cmd({"sqlite3", root_ + "/vessel.db", "SELECT COUNT(*) FROM userns_ranges"});
  if (rows.ok()) {
    EXPECT_EQ(trim(rows.out), "0");
  }
}

TEST_F(UsernsTest, HostFilesStayTheHostsThroughBindsVolumesAreIdmapped) {
  std::string host = dir_ + "/hostdata";
  ASSERT_EQ(::mkdir(host.c_str(), 0755), 0);
  write_text(host + "/secret", "host root only\n", 0600);
  ASSERT_EQ(::chmod((host + "/secret").c_str(), 0600), 0);
  auto r = v({"run", "--rm", "--userns=auto", "-v", host + ":/data", "busybox", "sh", "-c",
              "cat /data/secret && echo READ; stat -c %u /data/secret; "
              "touch /data/new 2>/dev/null && echo WROTE; true"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_FALSE(contains(r.out, "READ")) << r.describe();
  EXPECT_FALSE(contains(r.out, "WROTE")) << r.describe();
  EXPECT_TRUE(contains(r.out, "65534")) << "host root shows as the overflow id: " << r.out;
  EXPECT_NE(::access((host + "/new").c_str(), F_OK), 0);

  // Named volumes are idmapped: container root writes root-owned files on the disk, and a
  // second container with another block sees them as its own root's.
  auto w = v({"run", "--rm", "--userns=auto", "-v", "data1:/vol", "busybox", "sh", "-c",
              "echo hi > /vol/f; stat -c %u:%g /vol/f"});
  ASSERT_TRUE(w.ok()) << w.describe();
  EXPECT_EQ(w.out, "0:0\n");
  auto found = run_cmd({"find", root_ + "/volumes", "-name", "f", "-printf", "%U:%G %p\n"});
  ASSERT_TRUE(contains(found.out, "0:0 ")) << found.describe();
  auto again = v({"run", "--rm", "--userns=auto", "-v", "data1:/vol", "busybox", "sh", "-c",
                  "stat -c %u:%g /vol/f; cat /vol/f; echo more >> /vol/f && echo OK"});
  EXPECT_EQ(again.out, "0:0\nhi\nOK\n") << again.describe();
  // A plain container (the host's ids) sees the same owners.
  auto plain = v({"run", "--rm", "-v", "data1:/vol", "busybox", "stat", "-c", "%u:%g", "/vol/f"});
  EXPECT_EQ(plain.out, "0:0\n") << plain.describe();
  EXPECT_TRUE(container_dirs().empty());
}

TEST_F(UsernsTest, BadValueIsOneLineAndLeavesNothing) {
  auto r = v({"run", "--rm", "--userns=keep", "busybox", "true"});
  EXPECT_NE(r.exit_code(), 0);
  EXPECT_TRUE(contains(r.err, "invalid --userns \"keep\"")) << r.describe();
  EXPECT_EQ(split_lines(trim(r.err)).size(), 1u) << r.err;
  EXPECT_TRUE(container_dirs().empty());
  // keep-id is an ordinary user's (as podman's).
  auto keep = v({"run", "--rm", "--userns=keep-id", "busybox", "true"});
  EXPECT_NE(keep.exit_code(), 0);
  EXPECT_TRUE(contains(keep.err, "--userns=keep-id is for an ordinary user")) << keep.describe();
  EXPECT_TRUE(container_dirs().empty());
  auto host = v({"run", "--rm", "--userns=host", "busybox", "cat", "/proc/self/uid_map"});
  ASSERT_TRUE(host.ok()) << host.describe();
  EXPECT_EQ(map_of(host.out), (std::vector<uint64_t>{0, 0, 4294967295u}));
}

}  // namespace
}  // namespace itest
