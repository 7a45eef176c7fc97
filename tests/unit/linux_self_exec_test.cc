// The CVE-2019-5736 defence: the sealed memfd copy, how a sealed copy is recognised (a forged
// environment must not count), which subcommands get it, and a real re-exec of this test binary.
#include <elf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "linux/self_exec.h"
#include "util/error.h"
#include "util/file.h"

namespace vessel::linux {
namespace {

// Set by ensure_running_from_sealed_copy across its own exec (see self_exec.cc).
constexpr const char* kMarker = "_VESSEL_SEALED_REEXEC";
constexpr int kProbeOk = 42;

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + i / 4096) & 0xff);
  return s;
}

std::string read_all(int fd, size_t limit = SIZE_MAX) {
  std::string out;
  char buf[64 * 1024];
  for (off_t off = 0; out.size() < limit;) {
    ssize_t n = ::pread(fd, buf, std::min(sizeof buf, limit - out.size()), off);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    off += n;
  }
  return out;
}

class SelfExec : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vessel-self-exec-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    ::unlink((dir_ + "/src").c_str());
    ::rmdir(dir_.c_str());
  }
  UniqueFd source(const std::string& content) {
    write_file_atomic(dir_ + "/src", content, 0755);
    return open_or_throw(dir_ + "/src", O_RDONLY);
  }
  std::string dir_;
};

TEST_F(SelfExec, CopyIsCompleteAndSealedAgainstEveryChange) {
  // Bigger than one read buffer and not a multiple of it; the file position must not matter.
  const std::string content = pattern(3 * 64 * 1024 + 123);
  UniqueFd src = source(content);
  ASSERT_EQ(::lseek(src.get(), 1000, SEEK_SET), 1000);
  UniqueFd copy = make_sealed_copy(src.get(), "self-exec-test");

  EXPECT_TRUE(is_sealed_copy(copy.get()));
  EXPECT_EQ(read_all(copy.get()), content);
  char link[256] = {};
  ASSERT_GT(
      ::readlink(("/proc/self/fd/" + std::to_string(copy.get())).c_str(), link, sizeof link - 1),
      0);
  EXPECT_EQ(std::string(link).rfind("/memfd:self-exec-test", 0), 0u) << link;
  EXPECT_EQ(::fcntl(copy.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);

  EXPECT_EQ(::pwrite(copy.get(), "x", 1, 0), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(::ftruncate(copy.get(), 10), -1);
  EXPECT_EQ(::ftruncate(copy.get(), static_cast<off_t>(content.size()) + 10), -1);
  EXPECT_EQ(::fcntl(copy.get(), F_ADD_SEALS, F_SEAL_WRITE), -1) << "F_SEAL_SEAL must be set";
  EXPECT_EQ(::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, copy.get(), 0), MAP_FAILED);
  // A new open of the same memfd (what a container gets from /proc/PID/exe) cannot write either.
  int rw = ::open(("/proc/self/fd/" + std::to_string(copy.get())).c_str(), O_RDWR | O_CLOEXEC);
  if (rw >= 0) {
    EXPECT_EQ(::write(rw, "x", 1), -1);
    ::close(rw);
  }
  EXPECT_EQ(read_all(copy.get()), content);
  EXPECT_EQ(read_all(src.get()), content);
}

// Of an ELF binary only what exec loads is copied; the re-exec test below shows it still runs.
TEST_F(SelfExec, ElfCopyKeepsHeadersAndSegmentsOnly) {
  UniqueFd self = open_or_throw("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  struct stat st {};
  ASSERT_EQ(::fstat(self.get(), &st), 0);
  UniqueFd copy = make_sealed_copy(self.get(), "self-exec-elf");
  // The test binary carries debug info: only the part the copy should hold is compared.
  const std::string dup = read_all(copy.get()), orig = read_all(self.get(), dup.size());
  ASSERT_GE(dup.size(), sizeof(ElfW(Ehdr)));
  EXPECT_LE(dup.size(), static_cast<size_t>(st.st_size));
  ASSERT_EQ(orig.size(), dup.size());

  ElfW(Ehdr) a, b;
  std::memcpy(&a, orig.data(), sizeof a);
  std::memcpy(&b, dup.data(), sizeof b);
  uint64_t end = a.e_phoff + uint64_t{a.e_phnum} * a.e_phentsize;
  ASSERT_EQ(a.e_phentsize, sizeof(ElfW(Phdr)));
  ASSERT_LE(end, orig.size()) << "the copy lacks the program headers";
  for (int i = 0; i < a.e_phnum; ++i) {
    ElfW(Phdr) p;
    std::memcpy(&p, orig.data() + a.e_phoff + i * sizeof p, sizeof p);
    end = std::max<uint64_t>(end, p.p_offset + p.p_filesz);
  }
  EXPECT_EQ(dup.size(), end);
  if (dup.size() < static_cast<size_t>(st.st_size)) {
    EXPECT_EQ(b.e_shoff, 0u);
    EXPECT_EQ(b.e_shnum, 0);
    EXPECT_EQ(b.e_shstrndx, SHN_UNDEF);
    a.e_shoff = 0;
    a.e_shnum = 0;
    a.e_shstrndx = SHN_UNDEF;
  }
  EXPECT_EQ(std::memcmp(&a, &b, sizeof a), 0);
  EXPECT_EQ(dup.compare(sizeof a, std::string::npos, orig, sizeof a), 0);
}

TEST_F(SelfExec, OnlyAFullySealedMemfdCounts) {
  UniqueFd file = source("plain");
  EXPECT_FALSE(is_sealed_copy(file.get()));

  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd r(p[0]), w(p[1]);
  EXPECT_FALSE(is_sealed_copy(r.get()));
  EXPECT_FALSE(is_sealed_copy(-1));

  UniqueFd unsealed(::memfd_create("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  ASSERT_TRUE(unsealed);
  EXPECT_FALSE(is_sealed_copy(unsealed.get()));
  // Sealed against writes but still resizable or re-sealable: not enough.
  ASSERT_EQ(::fcntl(unsealed.get(), F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK), 0);
  EXPECT_FALSE(is_sealed_copy(unsealed.get()));

  // A memfd without MFD_ALLOW_SEALING reports F_SEAL_SEAL alone, as does a plain tmpfs file.
  UniqueFd nosealing(::memfd_create("nosealing", MFD_CLOEXEC));
  ASSERT_TRUE(nosealing);
  EXPECT_FALSE(is_sealed_copy(nosealing.get()));
  std::string shm = "/dev/shm/vessel-self-exec-" + std::to_string(::getpid());
  UniqueFd tmpfs(::open(shm.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (tmpfs) {
    ::unlink(shm.c_str());
    EXPECT_FALSE(is_sealed_copy(tmpfs.get()));
  }

  UniqueFd empty = source("");
  EXPECT_THROW(make_sealed_copy(empty.get(), "empty"), Error);
  EXPECT_THROW(make_sealed_copy(r.get(), "pipe"), Error);
}

bool enters(std::vector<std::string> args) {
  args.insert(args.begin(), "vessel-runtime");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return command_enters_container(static_cast<int>(args.size()), argv.data());
}

TEST(SelfExecCommand, SubcommandsThatForkIntoTheContainerGetTheCopy) {
  EXPECT_TRUE(enters({"create", "-b", "/b", "id"}));
  EXPECT_TRUE(enters({"run", "id"}));
  EXPECT_TRUE(enters({"exec", "id", "true"}));
  EXPECT_TRUE(enters({"--root", "/run/x", "--log", "/l", "--log-format", "json", "run", "id"}));
  EXPECT_TRUE(enters({"-root", "/run/x", "-log-format=json", "--debug", "create", "id"}));
  EXPECT_TRUE(enters({"--root=/run/x", "--systemd-cgroup", "--rootless", "false", "exec", "i"}));
  // An option value that names a harmless subcommand is not the subcommand.
  EXPECT_TRUE(enters({"--root", "state", "--log", "kill", "exec", "id", "ps"}));
  // Unknown subcommands are treated as dangerous: a new one is protected until listed as safe.
  EXPECT_TRUE(enters({"checkpoint", "id"}));
  EXPECT_TRUE(enters({"--", "create", "id"}));
}

TEST(SelfExecCommand, SubcommandsThatStayOutsideDoNot) {
  for (const char* cmd : {"start", "kill", "delete", "state", "list", "spec", "features", "pause",
                          "resume", "ps", "update", "events"})
    EXPECT_FALSE(enters({"--root", "/r", cmd, "run"})) << cmd;
  EXPECT_FALSE(enters({}));
  EXPECT_FALSE(enters({"--version"}));
  EXPECT_FALSE(enters({"--help"}));
  EXPECT_FALSE(enters({"--root", "/r"}));
  EXPECT_FALSE(enters({"state", "create"}));  // a container called "create"
}

// A forged marker must neither skip the copy nor loop: not running from a sealed copy although
// the marker says so is an error, and the marker is gone afterwards.
TEST(SelfExecCommand, ForgedMarkerIsAnErrorNotABypass) {
  ASSERT_EQ(::setenv(kMarker, "1", 1), 0);
  std::string a0 = "vessel-runtime", a1 = "create";
  char* argv[] = {a0.data(), a1.data(), nullptr};
  EXPECT_THROW(ensure_running_from_sealed_copy(2, argv), Error);
  EXPECT_EQ(std::getenv(kMarker), nullptr);

  ASSERT_EQ(::setenv(kMarker, "1", 1), 0);
  std::string b1 = "state";
  char* argv2[] = {a0.data(), b1.data(), nullptr};
  EXPECT_NO_THROW(ensure_running_from_sealed_copy(2, argv2));  // no copy needed for `state`
  EXPECT_EQ(std::getenv(kMarker), nullptr);
}

// The copy-free view: a read-only bind mount of the file that, once the tree fd is closed, no
// mount namespace holds. Writes fail with EROFS, and the mount cannot be made writable again.
TEST_F(SelfExec, DetachedReadOnlyViewCannotBeWrittenOrRemounted) {
  if (::geteuid() != 0) GTEST_SKIP() << "open_tree(OPEN_TREE_CLONE) needs CAP_SYS_ADMIN";
  const std::string content = pattern(10000);
  source(content).reset();
  UniqueFd tree = open_readonly_detached_view(dir_ + "/src");
  if (!tree && (errno == ENOSYS || errno == EPERM)) GTEST_SKIP() << "no open_tree/mount_setattr";
  ASSERT_TRUE(tree) << std::strerror(errno);
  UniqueFd view(
      ::open(("/proc/self/fd/" + std::to_string(tree.get())).c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(view);
  tree.reset();  // as the exec does: the mount leaves its anonymous namespace
  EXPECT_TRUE(is_detached_readonly(view.get()));
  EXPECT_TRUE(is_protected_exe(view.get()));
  EXPECT_FALSE(is_sealed_copy(view.get()));
  EXPECT_EQ(read_all(view.get()), content);
  const std::string through = "/proc/self/fd/" + std::to_string(view.get());
  errno = 0;
  EXPECT_LT(::open(through.c_str(), O_WRONLY | O_CLOEXEC), 0);
  EXPECT_EQ(errno, EROFS);
  struct {
    uint64_t set, clr, propagation, userns;
  } attr = {0, 0x1 /* MOUNT_ATTR_RDONLY */, 0, 0};
  EXPECT_LT(::syscall(SYS_mount_setattr, view.get(), "", AT_EMPTY_PATH, &attr, sizeof attr), 0);
  errno = 0;
  EXPECT_LT(::open(through.c_str(), O_WRONLY | O_CLOEXEC), 0);
  EXPECT_EQ(errno, EROFS);
  char link[256] = {};
  ASSERT_GT(::readlink(through.c_str(), link, sizeof link - 1), 0);
  EXPECT_STREQ(link, "/");
  // The file on its own, writable mount, and a read-only mount of this namespace, are not.
  UniqueFd plain = open_or_throw(dir_ + "/src", O_RDONLY);
  EXPECT_FALSE(is_detached_readonly(plain.get()));
  std::string mountinfo = read_file("/proc/self/mountinfo");
  for (size_t at = 0; at < mountinfo.size();) {
    size_t nl = mountinfo.find('\n', at);
    std::string line = mountinfo.substr(at, nl == std::string::npos ? nl : nl - at);
    at = nl == std::string::npos ? mountinfo.size() : nl + 1;
    char point[512] = {}, opts[512] = {};
    if (std::sscanf(line.c_str(), "%*s %*s %*s %*s %511s %511s", point, opts) != 2) continue;
    if (std::string(opts) != "ro" && std::string(opts).rfind("ro,", 0) != 0) continue;
    UniqueFd attached_ro(::open(point, O_PATH | O_CLOEXEC));
    if (!attached_ro) continue;
    EXPECT_FALSE(is_detached_readonly(attached_ro.get())) << point;
    break;
  }
}

// Runs only as the re-executed child of ReexecRunsTheSealedCopyWithTheSameArgs, which checks
// for its exit status.
TEST(SelfExecProbe, DISABLED_InSealedCopy) {
  bool marker_was_set = std::getenv(kMarker) != nullptr;
  std::string a0 = "vessel-runtime", a1 = "exec";
  char* argv[] = {a0.data(), a1.data(), nullptr};
  // Already sealed: must return, not exec again, and drop the marker.
  ensure_running_from_sealed_copy(2, argv);
  UniqueFd self(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
  char link[256] = {};
  ::readlink("/proc/self/exe", link, sizeof link - 1);
  int code = kProbeOk;
  if (!marker_was_set) code = 10;
  if (std::getenv(kMarker) != nullptr) code = 11;
  if (!self || !is_protected_exe(self.get())) code = 12;
  // As root: the binary itself on a read-only mount that no namespace holds (its path is "/");
  // else the sealed memfd copy.
  const bool sealed = self && is_sealed_copy(self.get());
  if (sealed ? std::string(link).rfind("/memfd:vessel-runtime", 0) != 0
             : std::string(link) != "/" || ::geteuid() != 0)
    code = 13;
  const char* env = std::getenv("SELF_EXEC_TEST_ENV");
  if (!env || std::string(env) != "kept") code = 14;
  std::fflush(nullptr);
  ::_exit(code);
}

TEST(SelfExecCommand, ReexecRunsTheSealedCopyWithTheSameArgs) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::setenv("SELF_EXEC_TEST_ENV", "kept", 1);
    ::unsetenv(kMarker);
    // gtest ignores the trailing "exec"; ensure_running_from_sealed_copy sees it as the
    // subcommand (the options before it contain '=' or take no value).
    std::vector<std::string> args = {"vessel-unit-tests",
                                     "--gtest_filter=SelfExecProbe.DISABLED_InSealedCopy",
                                     "--gtest_also_run_disabled_tests", "exec"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    try {
      ensure_running_from_sealed_copy(static_cast<int>(args.size()), argv.data());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s\n", e.what());
      ::_exit(2);
    }
    ::_exit(3);  // returned without executing the copy
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), kProbeOk);
}

}  // namespace
}  // namespace vessel::linux
