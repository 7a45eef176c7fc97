// give_stdio_to, for real in a forked child: stdin, stdout and stderr change owner (not group),
// /dev/null does not.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "linux/process_attrs.h"
#include "util/error.h"
#include "util/file.h"

namespace vessel::linux {
namespace {

constexpr uid_t kUser = 4321;

std::string owner_of(int fd) {
  struct stat st;
  if (::fstat(fd, &st) < 0) return "fstat failed";
  return std::to_string(st.st_uid) + ":" + std::to_string(st.st_gid);
}

TEST(LinuxStdioOwner, FilesAndPipesBecomeTheUsersAndDevNullStays) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (fchown to another uid)";
  char tmpl[] = "/tmp/vessel-stdio-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string file = std::string(tmpl) + "/out";
  int report[2];
  ASSERT_EQ(pipe2(report, O_CLOEXEC), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::string out;
    try {
      int null_fd = ::open("/dev/null", O_RDONLY);
      int file_fd = ::open(file.c_str(), O_WRONLY | O_CREAT, 0644);
      int pipe_fds[2];
      if (null_fd < 0 || file_fd < 0 || ::pipe(pipe_fds) < 0) _exit(3);
      if (::fchown(file_fd, 0, 7) < 0) _exit(3);  // a group of its own, which must stay
      ::dup2(null_fd, 0);
      ::dup2(file_fd, 1);
      ::dup2(pipe_fds[1], 2);
      struct stat null_before;
      ::fstat(0, &null_before);
      give_stdio_to(kUser);
      struct stat null_after;
      ::fstat(0, &null_after);
      out = std::string(null_after.st_uid == null_before.st_uid ? "null-kept" : "null-changed") +
            " " + owner_of(1) + " " + owner_of(2);
    } catch (const Error& e) {
      out = std::string("EXCEPTION: ") + e.what();
    }
    write_all(report[1], out.data(), out.size());
    _exit(0);
  }
  ::close(report[1]);
  std::string got = read_fd(report[0]);
  ::close(report[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  std::system((std::string("rm -rf '") + tmpl + "'").c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << got;
  EXPECT_EQ(got, "null-kept 4321:7 4321:0");
}

}  // namespace
}  // namespace vessel::linux
