// The fuse-overlayfs storage driver as an ordinary user: fusermount3 mounts on the host, the
// daemon runs as root of a user namespace with the store's mapping, so that the image's files
// of other ids (subordinate ids on disk) are read and written with the image's ids, and
// nothing of it (mount, daemon) outlives the container.
#include "rootless_fixture.h"

namespace itest {
namespace {

class RootlessFuseTest : public RootlessManagerTest {
 protected:
  void SetUp() override {
    if (::access("/usr/bin/fuse-overlayfs", X_OK) != 0) GTEST_SKIP() << "no fuse-overlayfs";
    RootlessManagerTest::SetUp();
  }
  // An image made by root, imported by the user as own:1: busybox, /x of 1000:1001 mode 0600,
  // /d of 1000:1001 mode 0700 with a 0600 file.
  static bool allow_other() {
    bool yes = false;
    for (const auto& l : split_lines(read_text("/etc/fuse.conf")))
      yes |= trim(l) == "user_allow_other";
    return yes;
  }
  uint64_t sub_start() { return std::stoull(sub_.substr(0, sub_.find('-'))); }
  // fuse-overlayfs processes of the test user (the daemon runs as the user on the host).
  std::string fuse_daemons() {
    return trim(run_cmd({"pgrep", "-a", "-u", std::to_string(uid_), "fuse-overlayfs"}).out);
  }
};

// Root of the container reads the image's mode-0600 file and 0700 directory of uid 1000,
// which show the image's ids; what it creates is 0:0, what it gives uid 1000 is 1000, in the
// container, and the user's subordinate id 1000 in the upper layer on the host; rm leaves no
// mount and no daemon.
TEST_F(RootlessFuseTest, ImageFilesOfOtherIdsAreReadAndOwnedAsInTheImage) {
  OpenDevice fuse("/dev/fuse");  // 0600 on these machines
  ASSERT_NO_FATAL_FAILURE(import_own_image());
  auto d = u(
      {"--storage-driver", "fuse-overlayfs", "run", "-d", "--name", "f", "own:1", "sleep", "600"});
  ASSERT_TRUE(d.ok()) << d.describe();
  std::string cid = trim(u({"inspect", "-f", "{{.Id}}", "f"}).out);
  std::string cdir = store() + "/containers/" + cid;
  ASSERT_EQ(read_text(cdir + "/storage-driver"), "fuse-overlayfs\n");
  bool fuse_mounted = false;
  for (const auto& l : our_mounts())
    fuse_mounted |= contains(l, " " + cdir + "/rootfs ") && contains(l, " fuse.fuse-overlayfs ");
  EXPECT_TRUE(fuse_mounted) << "no fuse-overlayfs mount on " << cdir << "/rootfs";
  EXPECT_NE(fuse_daemons(), "");
  auto r =
      u({"exec", "f", "sh", "-c", "stat -c %u:%g:%a /x; cat /x; stat -c %u:%g:%a /d; cat /d/f"});
  EXPECT_EQ(r.out, "1000:1001:600\nsecret\n1000:1001:700\ninner\n") << r.describe();
  auto w = u({"exec", "f", "sh", "-c",
              "set -e; echo n > /new; stat -c %u:%g /new; echo o > /own; chown 1000:1001 /own; "
              "stat -c %u:%g /own; echo more >> /x; cat /x; stat -c %u:%g:%a /x"});
  EXPECT_EQ(w.out, "0:0\n1000:1001\nsecret\nmore\n1000:1001:600\n") << w.describe();
  // The kernel checks other container users against the owners and modes the daemon reports
  // (default_permissions; the daemon itself may read everything): uid 1002 may not read /x,
  // uid 1000 may where FUSE lets other ids in at all (allow_other).
  auto other = u({"exec", "-u", "1002", "f", "cat", "/x"});
  EXPECT_NE(other.exit_code(), 0) << other.describe();
  EXPECT_EQ(other.out, "");
  auto owner = u({"exec", "-u", "1000", "f", "cat", "/x"});
  if (allow_other())
    EXPECT_EQ(owner.out, "secret\nmore\n") << owner.describe();
  else
    EXPECT_NE(owner.exit_code(), 0) << owner.describe();
  // The upper layer on the host: the user's own ids for container root, the subordinate ids
  // for 1000:1001, and the copied-up /x keeps its owner and mode.
  struct stat st {};
  ASSERT_EQ(::lstat((cdir + "/upper/new").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, uid_);
  EXPECT_EQ(st.st_gid, gid_);
  ASSERT_EQ(::lstat((cdir + "/upper/own").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, sub_start() + 999);
  EXPECT_EQ(st.st_gid, sub_start() + 1000);
  ASSERT_EQ(::lstat((cdir + "/upper/x").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, sub_start() + 999);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_TRUE(u({"rm", "-f", "f"}).ok());
  for (const auto& l : our_mounts()) ADD_FAILURE() << "left mounted: " << l;
  EXPECT_TRUE(user_processes_gone()) << "left running: " << fuse_daemons();
  EXPECT_EQ(entries(store() + "/containers"), 0u);
}

// A container that fails to start (its program does not exist) takes its mount and daemon
// with it; so does one whose layers fuse-overlayfs cannot open (one line, nothing left).
TEST_F(RootlessFuseTest, FailedStartsLeaveNoMountAndNoDaemon) {
  OpenDevice fuse("/dev/fuse");
  ASSERT_NO_FATAL_FAILURE(import_own_image());
  auto bad = u({"--storage-driver", "fuse-overlayfs", "run", "--rm", "own:1", "/nonexistent"});
  EXPECT_NE(bad.exit_code(), 0) << bad.describe();
  for (const auto& l : our_mounts()) ADD_FAILURE() << "left mounted: " << l;
  EXPECT_TRUE(user_processes_gone()) << "left running: " << fuse_daemons();
  EXPECT_EQ(entries(store() + "/containers"), 0u);
  // A container that ran and ended (its mount and daemon gone with it), whose upper directory
  // then went away: fuse-overlayfs refuses the next start's mount, in one line.
  auto c = u({"--storage-driver", "fuse-overlayfs", "run", "--name", "c", "own:1", "true"});
  ASSERT_TRUE(c.ok()) << c.describe();
  std::string cdir = store() + "/containers/" + trim(u({"inspect", "-f", "{{.Id}}", "c"}).out);
  for (const auto& l : our_mounts()) ADD_FAILURE() << "left mounted after the end: " << l;
  EXPECT_TRUE(user_processes_gone()) << "left running: " << fuse_daemons();
  ASSERT_EQ(run_cmd({"rm", "-rf", cdir + "/upper"}).exit_code(), 0);
  ASSERT_EQ(run_cmd({"ln", "-s", "/nonexistent", cdir + "/upper"}).exit_code(), 0);
  auto s = u({"start", "c"});
  EXPECT_NE(s.exit_code(), 0) << s.describe();
  EXPECT_TRUE(contains(s.err, "fuse-overlayfs on " + cdir + "/rootfs: ") &&
              contains(s.err, cdir + "/upper: No such file"))
      << s.describe();
  EXPECT_EQ(split_lines(trim(s.err)).size(), 1u) << s.err;
  for (const auto& l : our_mounts()) ADD_FAILURE() << "left mounted: " << l;
  EXPECT_TRUE(user_processes_gone()) << "left running: " << fuse_daemons();
  ASSERT_TRUE(u({"rm", "-f", "c"}).ok());
  EXPECT_EQ(entries(store() + "/containers"), 0u);
}

// --userns=keep-id: the runtime works in the root filesystem as container root, a subordinate
// id there, which FUSE serves only with allow_other: without user_allow_other in
// /etc/fuse.conf a keep-id container is refused at create in one line, with nothing left;
// with it, the process is the user's own ids.
TEST_F(RootlessFuseTest, KeepIdContainersNeedAllowOther) {
  OpenDevice fuse("/dev/fuse");
  ASSERT_NO_FATAL_FAILURE(import_own_image());
  std::string me = std::to_string(uid_);
  auto k = u({"--storage-driver", "fuse-overlayfs", "run", "--rm", "--userns=keep-id", "own:1",
              "id", "-u"});
  if (allow_other()) {
    EXPECT_EQ(k.out, me + "\n") << k.describe();
  } else {
    EXPECT_NE(k.exit_code(), 0);
    EXPECT_TRUE(contains(k.err, "keep-id") && contains(k.err, "lacks user_allow_other"))
        << k.describe();
    EXPECT_EQ(split_lines(trim(k.err)).size(), 1u) << k.err;
  }
  for (const auto& l : our_mounts()) ADD_FAILURE() << "left mounted: " << l;
  EXPECT_TRUE(user_processes_gone()) << "left running: " << fuse_daemons();
  EXPECT_EQ(entries(store() + "/containers"), 0u);
}

}  // namespace
}  // namespace itest
