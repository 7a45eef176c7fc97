// The on-disk cache of compiled seccomp programs (linux/seccomp_cache.h): a program is stored
// once and read back instead of compiled, and a file that is not the caller's own, not the
// same key, or damaged is ignored (the profile is compiled again).
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "linux/seccomp.h"
#include "linux/seccomp_cache.h"
#include "util/file.h"

namespace vessel::linux {
namespace {

using json = nlohmann::json;

json errno_profile(const char* syscall_name, int err) {
  return {
      {"defaultAction", "SCMP_ACT_ALLOW"},
      {"syscalls", {{{"names", {syscall_name}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", err}}}}};
}

bool same(const std::vector<sock_filter>& a, const std::vector<sock_filter>& b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(sock_filter)) == 0;
}

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') out.push_back(dir + "/" + e->d_name);
    closedir(d);
  }
  return out;
}

class SeccompCache : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vessel-seccomp-cache-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    dir_ = base_ + "/cache";
    if (seccomp_cache_key(json::object()).empty()) GTEST_SKIP() << "no ELF build ID: no cache";
  }
  void TearDown() override { remove_tree(base_); }
  std::string base_, dir_;
};

TEST_F(SeccompCache, AProgramIsStoredOnceAndReadBackInsteadOfCompiled) {
  json mkdir_eacces = errno_profile("mkdir", EACCES);
  SeccompProgram fresh = compile_seccomp(mkdir_eacces);
  EXPECT_TRUE(files_in(dir_).empty()) << "no cache directory given, nothing written";

  SeccompProgram first = compile_seccomp(mkdir_eacces, dir_);
  EXPECT_TRUE(same(first.insns, fresh.insns));
  auto files = files_in(dir_);
  ASSERT_EQ(files.size(), 1u);
  struct stat st;
  ASSERT_EQ(stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(stat(files[0].c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // Proof that the second compile reads the file: store another valid program under this
  // profile's key, and that program comes back.
  json rmdir_eperm = errno_profile("rmdir", EPERM);
  SeccompProgram other = compile_seccomp(rmdir_eperm);
  ASSERT_FALSE(same(other.insns, fresh.insns));
  seccomp_cache_put(dir_, seccomp_cache_key(mkdir_eacces), other.insns);
  EXPECT_TRUE(same(compile_seccomp(mkdir_eacces, dir_).insns, other.insns));

  // A second profile gets a file of its own.
  compile_seccomp(rmdir_eperm, dir_);
  EXPECT_EQ(files_in(dir_).size(), 2u);
}

TEST_F(SeccompCache, ACachedProgramFiltersAsTheCompiledOne) {
  json mkdir_eacces = errno_profile("mkdir", EACCES);
  compile_seccomp(mkdir_eacces, dir_);
  SeccompProgram cached = compile_seccomp(mkdir_eacces, dir_);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    load_seccomp(cached);
    long r = syscall(SYS_mkdir, "/", 0700);
    _exit(r == -1 && errno == EACCES ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
}

TEST_F(SeccompCache, FilesThatCannotBeTrustedOrDoNotMatchAreIgnored) {
  json mkdir_eacces = errno_profile("mkdir", EACCES);
  const std::string key = seccomp_cache_key(mkdir_eacces);
  SeccompProgram fresh = compile_seccomp(mkdir_eacces);
  SeccompProgram other = compile_seccomp(errno_profile("rmdir", EPERM));
  seccomp_cache_put(dir_, key, other.insns);
  auto files = files_in(dir_);
  ASSERT_EQ(files.size(), 1u);
  const std::string file = files[0];
  const std::string good = read_file(file);
  ASSERT_TRUE(same(compile_seccomp(mkdir_eacces, dir_).insns, other.insns));

  // Writable by others: ignored.
  ASSERT_EQ(chmod(file.c_str(), 0666), 0);
  EXPECT_TRUE(same(compile_seccomp(mkdir_eacces, dir_).insns, fresh.insns));
  ASSERT_EQ(chmod(file.c_str(), 0600), 0);

  // Another key under the same file name (a hash collision, or a file renamed there).
  std::string foreign = good;
  foreign[20] ^= 1;
  write_file_atomic(file, foreign, 0600);
  EXPECT_TRUE(same(compile_seccomp(mkdir_eacces, dir_).insns, fresh.insns));

  // Truncated, and a program of zero instructions.
  write_file_atomic(file, good.substr(0, good.size() - 3), 0600);
  EXPECT_TRUE(same(compile_seccomp(mkdir_eacces, dir_).insns, fresh.insns));
  write_file_atomic(file,
                    good.substr(0, good.size() - other.insns.size() * sizeof(sock_filter) - 4) +
                        std::string(4, '\0'),
                    0600);
  EXPECT_TRUE(same(compile_seccomp(mkdir_eacces, dir_).insns, fresh.insns));

  // A symlink in its place is not followed.
  std::string target = base_ + "/elsewhere";
  write_file_atomic(target, good, 0600);
  ASSERT_EQ(unlink(file.c_str()), 0);
  ASSERT_EQ(symlink(target.c_str(), file.c_str()), 0);
  EXPECT_TRUE(same(compile_seccomp(mkdir_eacces, dir_).insns, fresh.insns));
}

TEST_F(SeccompCache, TheKeyHoldsTheProfileTheBuildAndTheKernel) {
  json a = errno_profile("mkdir", EACCES);
  std::string k = seccomp_cache_key(a);
  EXPECT_NE(k, seccomp_cache_key(errno_profile("mkdir", EPERM)));
  EXPECT_NE(k.find("build-id "), std::string::npos) << k;
  EXPECT_NE(k.find("kernel "), std::string::npos) << k;
  EXPECT_NE(k.find(a.dump()), std::string::npos) << k;
}

}  // namespace
}  // namespace vessel::linux
