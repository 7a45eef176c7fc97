// Scratch names carry their process's PID; what a process killed with SIGKILL left is removed
// by the next one (util/scratch.h).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "util/file.h"
#include "util/scratch.h"

namespace vessel {
namespace {

pid_t dead_pid() {
  pid_t p = ::fork();
  if (p == 0) ::_exit(0);
  int st = 0;
  ::waitpid(p, &st, 0);
  return p;
}

TEST(Scratch, NamesCarryThePid) {
  std::string n = scratch_prefix("load") + "abc";
  EXPECT_EQ(n, "load-p" + std::to_string(::getpid()) + "-abc");
  EXPECT_EQ(scratch_owner(n), ::getpid());
  EXPECT_EQ(scratch_owner(".tmp-p42-XYZ"), 42);
  EXPECT_EQ(scratch_owner("vessel-build-p7-0123"), 7);
  EXPECT_FALSE(scratch_owner("layer-0123456789abcdef"));
  EXPECT_FALSE(scratch_owner("load-p-x"));
  EXPECT_FALSE(scratch_owner("load-p12x-y"));
  EXPECT_FALSE(scratch_owner("pull-abc.partial"));
  EXPECT_FALSE(scratch_is_stale(n));
  EXPECT_FALSE(scratch_is_stale("layer-0123456789abcdef"));
}

TEST(Scratch, StaleEntriesOfDeadProcessesGoOthersStay) {
  char tmpl[] = "/tmp/vessel-utest-scratch-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  pid_t dead = dead_pid();
  std::string stale_dir = dir + "/load-p" + std::to_string(dead) + "-abc";
  mkdir_p(stale_dir + "/blobs/sha256");
  write_file_atomic(stale_dir + "/blobs/sha256/x", "half");
  write_file_atomic(dir + "/.tmp-p" + std::to_string(dead) + "-QWERTY", "half a blob");
  std::string mine = dir + "/" + scratch_prefix("load") + "live";
  mkdir_p(mine);
  write_file_atomic(dir + "/layer-0123456789abcdef", "no pid: left to `vessel system check`");
  write_file_atomic(dir + "/template-busybox.lock", "");

  EXPECT_EQ(remove_stale_scratch(dir, ".tmp-p"), 1u);  // only that prefix
  EXPECT_FALSE(path_exists(dir + "/.tmp-p" + std::to_string(dead) + "-QWERTY"));
  EXPECT_TRUE(path_exists(stale_dir));
  EXPECT_EQ(remove_stale_scratch(dir), 1u);
  EXPECT_FALSE(path_exists(stale_dir));
  EXPECT_TRUE(path_exists(mine));
  EXPECT_TRUE(path_exists(dir + "/layer-0123456789abcdef"));
  EXPECT_TRUE(path_exists(dir + "/template-busybox.lock"));
  EXPECT_EQ(remove_stale_scratch(dir + "/missing"), 0u);
  remove_tree(dir);
}

}  // namespace
}  // namespace vessel
