// The fixture of the tests of `vessel` as an ordinary user (rootless_manager_test.cc,
// rootless_fuse_test.cc): a throw-away user with subordinate ids of its own (created here,
// removed afterwards), and vessel run as that user with its own store and state.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sstream>

#include "harness.h"

namespace itest {

// Opens a device node to everyone (Debian's usual 0666) while alive; the old mode comes back.
struct OpenDevice {
  std::string path;
  mode_t mode = 0;
  explicit OpenDevice(std::string p) : path(std::move(p)) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
      mode = st.st_mode & 07777;
      ::chmod(path.c_str(), 0666);
    }
  }
  ~OpenDevice() {
    if (mode) ::chmod(path.c_str(), mode);
  }
};

inline int free_loopback_port() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = -1;
  if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(s);
  return port;
}

// How many times `what` occurs in `text`.
inline size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class RootlessManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (runtime_is_runc()) GTEST_SKIP() << "manager tests run once, with vessel's own runtime";
    if (::access("/usr/bin/newuidmap", X_OK) != 0) GTEST_SKIP() << "no newuidmap (uidmap)";
    char tmpl[] = "/tmp/vessel-rltest-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
    user_ = "vrl" + std::to_string(::getpid() % 100000);
    // A block of subordinate ids nobody else is given: high, and from our pid.
    uint64_t base = 3000000000ull + (static_cast<uint64_t>(::getpid()) % 4096) * 65536;
    sub_ = std::to_string(base) + "-" + std::to_string(base + 65535);
    // No automatic subordinate ranges (login.defs' SUB_UID_COUNT): only the one below.
    auto add =
        run_cmd({"useradd", "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", "--no-create-home",
                 "--shell", "/bin/sh", "--home-dir", dir_ + "/home", user_});
    ASSERT_TRUE(add.ok()) << add.describe();
    created_user_ = true;
    auto sub = run_cmd({"usermod", "--add-subuids", sub_, "--add-subgids", sub_, user_});
    ASSERT_TRUE(sub.ok()) << sub.describe();
    struct passwd* pw = ::getpwnam(user_.c_str());
    ASSERT_NE(pw, nullptr);
    uid_ = pw->pw_uid;
    gid_ = pw->pw_gid;
    for (const char* d : {"/home", "/run"}) {
      ASSERT_EQ(::mkdir((dir_ + d).c_str(), 0700), 0);
      ASSERT_EQ(::chown((dir_ + d).c_str(), uid_, gid_), 0);
    }
    // The binaries, where the user can run them (the build tree may be root's alone).
    ASSERT_EQ(::mkdir((dir_ + "/bin").c_str(), 0755), 0);
    std::string bin = std::string(VESSEL_MANAGER_BIN);
    bin = bin.substr(0, bin.rfind('/'));
    for (const char* b : {"vessel", "vessel-monitor-ctl", "vessel-monitor", "vessel-init"})
      ASSERT_TRUE(run_cmd({"cp", bin + "/" + b, dir_ + "/bin/"}).ok());
  }
  void TearDown() override {
    if (created_user_) {
      for (const auto& id : split_lines(u({"ps", "-aq", "--no-trunc"}).out))
        if (!trim(id).empty()) u({"rm", "-f", trim(id)});
      // Nothing of the user's runs any more.
      EXPECT_TRUE(user_processes_gone()) << "processes of the test user left";
      auto procs = run_cmd({"pgrep", "-u", std::to_string(uid_)});
      for (const auto& p : split_lines(procs.out))  // only the test user's, one by one
        if (!trim(p).empty()) ::kill(std::stoi(trim(p)), SIGKILL);
      run_cmd({"usermod", "--del-subuids", sub_, "--del-subgids", sub_, user_});
      auto del = run_cmd({"userdel", user_});
      EXPECT_TRUE(del.ok()) << del.describe();
      EXPECT_FALSE(contains(read_text("/etc/subuid"), user_ + ":"));
    }
    if (!dir_.empty() && !getenv("VESSEL_TEST_KEEP")) remove_tree(dir_);
  }
  // vessel as the test user, with its own HOME/XDG directories.
  Result u(const std::vector<std::string>& args, const std::string& path = "/usr/bin:/bin") {
    std::vector<std::string> argv = {"setpriv",
                                     "--reuid",
                                     std::to_string(uid_),
                                     "--regid",
                                     std::to_string(gid_),
                                     "--clear-groups",
                                     "env",
                                     "-i",
                                     "PATH=" + path,
                                     "HOME=" + dir_ + "/home",
                                     "XDG_RUNTIME_DIR=" + dir_ + "/run",
                                     dir_ + "/bin/vessel"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_cmd(argv);
  }
  // No process of the test user is left; a monitor that is finishing gets a few seconds.
  bool user_processes_gone() {
    for (int i = 0; i < 50; ++i) {
      if (trim(run_cmd({"pgrep", "-u", std::to_string(uid_)}).out).empty()) return true;
      ::usleep(200 * 1000);
    }
    return false;
  }
  std::string store() { return dir_ + "/home/.local/share/vessel"; }
  // The user's image own:1, made by root: busybox, /x of 1000:1001 mode 0600, /d of 1000 mode
  // 0700 with a 0600 file, and a device node (skipped in a user's store).
  void import_own_image() {
    std::string rootfs = dir_ + "/own-rootfs";
    std::string tarball = dir_ + "/home/own.tar";
    auto mk = run_cmd(
        {"sh", "-c",
         "set -e; r=" + rootfs +
             "; mkdir -p $r/bin $r/d $r/dev; cp /bin/busybox $r/bin/; for p in sh cat stat id ls "
             "touch chown echo true sleep; do ln -s busybox $r/bin/$p; done; echo secret > $r/x; "
             "chown 1000:1001 "
             "$r/x; chmod 600 $r/x; echo inner > $r/d/f; chown -R 1000:1001 $r/d; chmod 700 $r/d; "
             "chmod 600 $r/d/f; mknod $r/dev/null2 c 1 3; tar --numeric-owner -C $r -cf " +
             tarball + " .; chown " + std::to_string(uid_) + " " + tarball});
    ASSERT_TRUE(mk.ok()) << mk.describe();
    auto imp = u({"import", tarball, "own:1"});
    ASSERT_TRUE(imp.ok()) << imp.describe();
  }
  // GET http://127.0.0.1:PORT/ from the host; a server that starts asynchronously is asked
  // until it answers (bounded).
  static Result get_from_host(const std::string& port) {
    Result got;
    for (int i = 0; i < 50; ++i) {
      got = run_cmd({"curl", "-s", "--max-time", "2", "http://127.0.0.1:" + port + "/"});
      if (got.ok()) break;
      ::usleep(200 * 1000);
    }
    return got;
  }
  static bool host_port_answers(const std::string& port) {
    return run_cmd({"curl", "-s", "--max-time", "2", "http://127.0.0.1:" + port + "/"}).ok();
  }
  // Mounts under the test's directory in the host's mount table (none should be left).
  std::vector<std::string> our_mounts() {
    std::vector<std::string> out;
    for (const auto& l : split_lines(read_text("/proc/self/mountinfo")))
      if (contains(l, " " + dir_ + "/")) out.push_back(l);
    return out;
  }
  size_t entries(const std::string& path) {
    size_t n = 0;
    for (const auto& l : split_lines(run_cmd({"ls", "-A", path}).out)) n += !trim(l).empty();
    return n;
  }

  std::string dir_, user_, sub_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  bool created_user_ = false;
};

}  // namespace itest
