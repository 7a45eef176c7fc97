// find_executable reports a program that cannot run in runc's (Go's) words, which engines map
// to exit codes; fail_execve words a failed execve() the same way.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <string>

#include "runtime/executable.h"
#include "util/error.h"

namespace vessel::runtime {
namespace {

class ExecutableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vessel-executable-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_EQ(::mkdir((dir_ + "/bin").c_str(), 0755), 0);
    file("bin/prog", 0755);
    file("plain", 0644);
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + dir_ + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  void file(const std::string& name, mode_t mode) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << "#!/bin/sh\n";
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
  }
  oci::Process process(const std::string& arg0) {
    oci::Process p;
    p.args = {arg0};
    p.env = {"PATH=" + dir_ + "/nowhere:" + dir_ + "/bin"};
    return p;
  }
  // The error find_executable throws, or "" when it finds the program.
  std::string error_for(const std::string& arg0, const std::string& context = "") {
    try {
      find_executable(process(arg0), context);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }

  std::string dir_;
};

TEST_F(ExecutableTest, FindsANameOnThePath) {
  EXPECT_EQ(find_executable(process("prog"), ""), dir_ + "/bin/prog");
  EXPECT_EQ(find_executable(process(dir_ + "/bin/prog"), ""), dir_ + "/bin/prog");
}

TEST_F(ExecutableTest, ErrorsUseRuncsWords) {
  EXPECT_EQ(error_for("nosuch"), "exec: \"nosuch\": executable file not found in $PATH");
  // A file that is not executable is passed over on the PATH, as by Go's LookPath.
  EXPECT_EQ(error_for("plain"), "exec: \"plain\": executable file not found in $PATH");
  const std::string missing = dir_ + "/missing";
  EXPECT_EQ(error_for(missing),
            "exec: \"" + missing + "\": stat " + missing + ": no such file or directory");
  EXPECT_EQ(error_for(dir_ + "/plain"), "exec: \"" + dir_ + "/plain\": permission denied");
  EXPECT_EQ(error_for(dir_ + "/bin"), "exec: \"" + dir_ + "/bin\": permission denied");
  EXPECT_EQ(error_for("nosuch", "process.args[0]"),
            "process.args[0]: exec: \"nosuch\": executable file not found in $PATH");
}

TEST_F(ExecutableTest, ErrorsCarryTheirErrno) {
  try {
    find_executable(process(dir_ + "/plain"), "");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.error_code(), EACCES);
  }
  try {
    find_executable(process(dir_ + "/missing"), "");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.error_code(), ENOENT);
  }
}

TEST(ExecveFailure, IsWordedAsRuncWordsIt) {
  EXPECT_EQ(go_error_text(ENOENT), "no such file or directory");
  EXPECT_EQ(go_error_text(EACCES), "permission denied");
  EXPECT_EQ(go_error_text(ENOEXEC), "exec format error");
  try {
    fail_execve("/bin/x", ENOEXEC);
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "exec /bin/x: exec format error");
    EXPECT_EQ(e.error_code(), ENOEXEC);
  }
}

}  // namespace
}  // namespace vessel::runtime
