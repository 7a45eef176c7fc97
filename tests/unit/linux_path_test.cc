// open_in_root and mount option parsing: the rootfs is untrusted, so resolution must never
// leave it, whatever symlinks it holds.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "linux/mounts.h"
#include "linux/path.h"
#include "util/error.h"
#include "util/file.h"

namespace vessel::linux {
namespace {

class OpenInRoot : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vessel-path-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    root_ = base_ + "/root";
    mkdir_p(root_ + "/etc");
    mkdir_p(base_ + "/outside");
    rootfd_ = open_or_throw(root_, O_PATH | O_DIRECTORY);
  }
  void TearDown() override { remove_tree(base_); }

  // The real path behind an fd, for checking where resolution ended.
  static std::string where(const UniqueFd& fd) {
    char buf[4096];
    ssize_t n = ::readlink(fd_path(fd.get()).c_str(), buf, sizeof buf - 1);
    buf[n < 0 ? 0 : n] = '\0';
    return buf;
  }

  std::string base_, root_;
  UniqueFd rootfd_;
};

TEST_F(OpenInRoot, ResolvesPlainPaths) {
  EXPECT_EQ(where(open_in_root(rootfd_.get(), "/etc", Create::none)), root_ + "/etc");
  EXPECT_EQ(where(open_in_root(rootfd_.get(), "/", Create::none)), root_);
}

TEST_F(OpenInRoot, CreatesMissingDirectoriesAndFiles) {
  auto d = open_in_root(rootfd_.get(), "/a/b/c", Create::dir);
  EXPECT_EQ(where(d), root_ + "/a/b/c");
  struct stat st;
  ASSERT_EQ(::stat((root_ + "/a/b/c").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  auto f = open_in_root(rootfd_.get(), "/x/y/file", Create::file);
  ASSERT_EQ(::stat((root_ + "/x/y/file").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

TEST_F(OpenInRoot, MissingWithoutCreateIsAnError) {
  EXPECT_THROW(open_in_root(rootfd_.get(), "/nope", Create::none), Error);
}

TEST_F(OpenInRoot, AbsoluteSymlinkStaysInsideTheRoot) {
  ASSERT_EQ(::symlink("/etc", (root_ + "/link").c_str()), 0);
  EXPECT_EQ(where(open_in_root(rootfd_.get(), "/link", Create::none)), root_ + "/etc");
  // An absolute symlink to a host path names the same path inside the rootfs, not the host's.
  ASSERT_EQ(::symlink((base_ + "/outside").c_str(), (root_ + "/hostlink").c_str()), 0);
  auto fd = open_in_root(rootfd_.get(), "/hostlink/new", Create::dir);
  EXPECT_EQ(where(fd).rfind(root_ + "/", 0), 0u) << where(fd);
  EXPECT_FALSE(path_exists(base_ + "/outside/new"));
}

TEST_F(OpenInRoot, DotDotOutOfTheRootIsRefused) {
  try {
    open_in_root(rootfd_.get(), "/etc/../../outside", Create::dir);
    FAIL() << "resolution left the root";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("escapes the root filesystem"), std::string::npos)
        << e.what();
  }
}

TEST_F(OpenInRoot, RelativeSymlinkOutOfTheRootIsRefused) {
  ASSERT_EQ(::symlink("../../outside", (root_ + "/etc/evil").c_str()), 0);
  EXPECT_THROW(open_in_root(rootfd_.get(), "/etc/evil/x", Create::dir), Error);
  EXPECT_FALSE(path_exists(base_ + "/outside/x"));
}

TEST_F(OpenInRoot, SymlinkLoopsEnd) {
  ASSERT_EQ(::symlink("/loop", (root_ + "/loop").c_str()), 0);
  EXPECT_THROW(open_in_root(rootfd_.get(), "/loop", Create::none), Error);
}

TEST_F(OpenInRoot, FileInTheMiddleIsNotADirectory) {
  write_file(root_ + "/etc/file", "x", O_WRONLY | O_CREAT);
  EXPECT_THROW(open_in_root(rootfd_.get(), "/etc/file/below", Create::dir), Error);
}

TEST(MountOptions, FlagsDataPropagationAndRecursive) {
  MountFlags f = parse_mount_options(
      {"rbind", "ro", "nosuid", "nodev", "rprivate", "size=64k", "mode=755", "rnoexec"});
  EXPECT_TRUE(f.bind);
  EXPECT_TRUE(f.recursive_bind);
  EXPECT_EQ(f.flags, static_cast<unsigned long>(MS_RDONLY | MS_NOSUID | MS_NODEV));
  EXPECT_EQ(f.propagation, static_cast<unsigned long>(MS_PRIVATE | MS_REC));
  EXPECT_EQ(f.data, "size=64k,mode=755");
  EXPECT_NE(f.attr_set, 0u);
}

TEST(MountOptions, LaterOptionsWin) {
  MountFlags f = parse_mount_options({"ro", "rw", "noexec", "exec"});
  EXPECT_EQ(f.flags, 0ul);
}

TEST(MountOptions, IdmapAndRidmapAreParsed) {
  EXPECT_TRUE(parse_mount_options({"idmap"}).idmap);
  auto r = parse_mount_options({"ridmap"});
  EXPECT_TRUE(r.idmap && r.ridmap);
}

}  // namespace
}  // namespace vessel::linux
