// A hook's working directory: the one its caller names (the bundle, or the rootfs for
// createContainer), and an error naming it when it cannot be entered.
#include <gtest/gtest.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <string>

#include "error_of.h"
#include "runtime/hooks.h"
#include "util/file.h"

namespace vessel::runtime {
namespace {

class HookCwdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vessel-hook-cwd-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { remove_tree(dir_); }

  oci::Hook pwd_hook() const {
    oci::Hook h;
    h.path = "/bin/sh";
    h.args = {"sh", "-c", "pwd -P > " + dir_ + "/out"};
    return h;
  }
  std::string dir_;
};

TEST_F(HookCwdTest, RunsInTheNamedDirectory) {
  mkdir_p(dir_ + "/bundle");
  run_hook(pwd_hook(), "prestart", 0, "{}", dir_ + "/bundle");
  EXPECT_EQ(read_file(dir_ + "/out"), dir_ + "/bundle\n");
}

TEST_F(HookCwdTest, WithoutOneRunsInTheCallersDirectory) {
  char here[PATH_MAX];
  ASSERT_NE(getcwd(here, sizeof here), nullptr);
  char real[PATH_MAX];
  ASSERT_NE(realpath(here, real), nullptr);
  run_hook(pwd_hook(), "poststop", 0, "{}");
  EXPECT_EQ(read_file(dir_ + "/out"), std::string(real) + "\n");
}

TEST_F(HookCwdTest, AMissingDirectoryIsNamedInTheError) {
  std::string msg =
      error_of([&] { run_hook(pwd_hook(), "createContainer", 2, "{}", dir_ + "/gone"); });
  EXPECT_NE(msg.find("createContainer hook [2] "), std::string::npos) << msg;
  EXPECT_NE(msg.find(": chdir " + dir_ + "/gone"), std::string::npos) << msg;
  EXPECT_NE(msg.find("No such file"), std::string::npos) << msg;
}

}  // namespace
}  // namespace vessel::runtime
