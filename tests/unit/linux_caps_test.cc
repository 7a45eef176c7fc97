// Capabilities are checked for real: each case forks, applies the sets as the container init
// would (prepare, switch user, apply), and reports /proc/self/status back through a pipe.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>

#include "linux/capabilities.h"
#include "linux/process_attrs.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"

namespace vessel::linux {
namespace {

struct ChildResult {
  int status = -1;
  std::string out;
  bool ok() const { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }
};

// Runs `fn` in a forked child; what it returns (or the exception text) comes back as `out`.
// The child may instead execve with stdout on the pipe it is given.
ChildResult in_child(const std::function<std::string(int out_fd)>& fn) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) std::abort();
  pid_t pid = fork();
  if (pid == 0) {
    ::close(p[0]);
    std::string out;
    int code = 0;
    try {
      out = fn(p[1]);
    } catch (const std::exception& e) {
      out = std::string("EXCEPTION: ") + e.what();
      code = 1;
    }
    try {
      write_all(p[1], out.data(), out.size());
    } catch (...) {
      code = 2;
    }
    _exit(code);
  }
  ::close(p[1]);
  ChildResult r;
  r.out = read_fd(p[0]);
  ::close(p[0]);
  waitpid(pid, &r.status, 0);
  return r;
}

std::map<std::string, std::string> parse_status(const std::string& text) {
  std::map<std::string, std::string> m;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    auto v = line.substr(colon + 1);
    v.erase(0, v.find_first_not_of(" \t"));
    m[line.substr(0, colon)] = v;
  }
  return m;
}

uint64_t hex(const std::map<std::string, std::string>& m, const std::string& key) {
  auto it = m.find(key);
  if (it == m.end()) return ~0ULL;
  return std::stoull(it->second, nullptr, 16);
}

constexpr uint64_t bit(int cap) { return 1ULL << cap; }

oci::Capabilities all_sets(const std::vector<std::string>& names) {
  oci::Capabilities c;
  c.bounding = c.effective = c.inheritable = c.permitted = c.ambient = names;
  return c;
}

oci::User user(uint32_t uid, uint32_t gid) {
  oci::User u;
  u.uid = uid;
  u.gid = gid;
  return u;
}

// The init's order: bounding + keep-caps, then the uid switch, then the exact sets.
void become(const oci::Capabilities& caps, const oci::User& u) {
  prepare_capabilities(caps);
  switch_user(u, true);
  apply_capabilities(caps);
}

TEST(LinuxCaps, NamesResolve) {
  EXPECT_EQ(capability_from_name("CAP_CHOWN"), 0);
  EXPECT_EQ(capability_from_name("CAP_NET_BIND_SERVICE"), 10);
  EXPECT_EQ(capability_from_name("CAP_SYS_ADMIN"), 21);
  EXPECT_EQ(capability_from_name("CAP_CHECKPOINT_RESTORE"), 40);
}

TEST(LinuxCaps, UnknownNameIsAClearError) {
  for (const char* bad : {"CAP_FOO", "cap_chown", "CAP_12", "CHOWN", "", "CAP_"}) {
    try {
      capability_from_name(bad);
      FAIL() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("unknown capability"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(std::string("\"") + bad + "\""), std::string::npos)
          << e.what();
    }
  }
}

TEST(LinuxCaps, KnownCapabilitiesMatchTheKernel) {
  auto known = known_capabilities();
  int last = std::stoi(read_file("/proc/sys/kernel/cap_last_cap"));
  ASSERT_FALSE(known.empty());
  EXPECT_EQ(known.front(), "CAP_CHOWN");
  EXPECT_EQ(static_cast<int>(known.size()), last + 1);
  for (size_t i = 0; i < known.size(); ++i)
    EXPECT_EQ(capability_from_name(known[i]), static_cast<int>(i)) << known[i];
}

TEST(LinuxCaps, NonRootKeepsNetBindServiceInEverySet) {
  auto r = in_child([](int) {
    become(all_sets({"CAP_NET_BIND_SERVICE"}), user(1000, 1000));
    std::string s = read_file("/proc/self/status");
    s += "KeepCaps:\t" + std::to_string(prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0)) + "\n";
    return s;
  });
  ASSERT_TRUE(r.ok()) << r.out;
  auto st = parse_status(r.out);
  EXPECT_EQ(st["Uid"], "1000\t1000\t1000\t1000");
  EXPECT_EQ(hex(st, "CapEff"), bit(10));
  EXPECT_EQ(hex(st, "CapPrm"), bit(10));
  EXPECT_EQ(hex(st, "CapInh"), bit(10));
  EXPECT_EQ(hex(st, "CapAmb"), bit(10));
  EXPECT_EQ(hex(st, "CapBnd"), bit(10));
  EXPECT_EQ(st["KeepCaps"], "0");
}

TEST(LinuxCaps, NonRootAmbientSurvivesExec) {
  auto r = in_child([](int out) -> std::string {
    become(all_sets({"CAP_NET_BIND_SERVICE", "CAP_KILL"}), user(1000, 1000));
    if (dup2(out, STDOUT_FILENO) < 0) fail_errno("dup2");
    execl("/bin/cat", "cat", "/proc/self/status", static_cast<char*>(nullptr));
    fail_errno("execl /bin/cat");
  });
  ASSERT_TRUE(r.ok()) << r.out;
  auto st = parse_status(r.out);
  uint64_t want = bit(10) | bit(5);
  EXPECT_EQ(hex(st, "CapEff"), want);
  EXPECT_EQ(hex(st, "CapPrm"), want);
  EXPECT_EQ(hex(st, "CapInh"), want);
  EXPECT_EQ(hex(st, "CapAmb"), want);
  EXPECT_EQ(hex(st, "CapBnd"), want);
}

TEST(LinuxCaps, NonRootWithoutAmbientLosesEverythingAtExec) {
  auto r = in_child([](int out) -> std::string {
    auto caps = all_sets({"CAP_NET_BIND_SERVICE"});
    caps.ambient.clear();
    become(caps, user(1000, 1000));
    std::string before = read_file("/proc/self/status");
    auto st = parse_status(before);
    if (hex(st, "CapEff") != bit(10) || hex(st, "CapPrm") != bit(10))
      fail("before exec: {}", before);
    if (dup2(out, STDOUT_FILENO) < 0) fail_errno("dup2");
    execl("/bin/cat", "cat", "/proc/self/status", static_cast<char*>(nullptr));
    fail_errno("execl /bin/cat");
  });
  ASSERT_TRUE(r.ok()) << r.out;
  auto st = parse_status(r.out);
  EXPECT_EQ(hex(st, "CapEff"), 0u);
  EXPECT_EQ(hex(st, "CapPrm"), 0u);
  EXPECT_EQ(hex(st, "CapAmb"), 0u);
  EXPECT_EQ(hex(st, "CapInh"), bit(10));
}

TEST(LinuxCaps, RootGetsExactlyTheListedSets) {
  auto r = in_child([](int) {
    oci::Capabilities c;
    c.bounding = {"CAP_CHOWN", "CAP_KILL", "CAP_SETUID"};
    c.permitted = {"CAP_CHOWN", "CAP_KILL"};
    c.effective = {"CAP_CHOWN"};
    c.inheritable = {"CAP_KILL"};
    become(c, user(0, 0));
    return read_file("/proc/self/status");
  });
  ASSERT_TRUE(r.ok()) << r.out;
  auto st = parse_status(r.out);
  EXPECT_EQ(hex(st, "CapBnd"), bit(0) | bit(5) | bit(7));
  EXPECT_EQ(hex(st, "CapPrm"), bit(0) | bit(5));
  EXPECT_EQ(hex(st, "CapEff"), bit(0));
  EXPECT_EQ(hex(st, "CapInh"), bit(5));
  EXPECT_EQ(hex(st, "CapAmb"), 0u);
}

TEST(LinuxCaps, EmptyConfigDropsEverything) {
  auto r = in_child([](int) {
    become(oci::Capabilities{}, user(1000, 1000));
    return read_file("/proc/self/status");
  });
  ASSERT_TRUE(r.ok()) << r.out;
  auto st = parse_status(r.out);
  for (const char* k : {"CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd"})
    EXPECT_EQ(hex(st, k), 0u) << k;
}

TEST(LinuxCaps, InheritedAmbientIsClearedUnlessListed) {
  auto r = in_child([](int) {
    // The runtime itself runs with an ambient capability, which must not reach the container.
    cap_value_t v = CAP_NET_RAW;
    cap_t c = cap_get_proc();
    cap_set_flag(c, CAP_INHERITABLE, 1, &v, CAP_SET);
    if (cap_set_proc(c) != 0) fail_errno("cap_set_proc");
    cap_free(c);
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_RAW, 0, 0) < 0)
      fail_errno("ambient raise");
    auto caps = all_sets({"CAP_NET_RAW", "CAP_CHOWN"});
    caps.ambient = {"CAP_CHOWN"};
    become(caps, user(0, 0));
    return read_file("/proc/self/status");
  });
  ASSERT_TRUE(r.ok()) << r.out;
  auto st = parse_status(r.out);
  EXPECT_EQ(hex(st, "CapAmb"), bit(0));
  EXPECT_EQ(hex(st, "CapInh"), bit(0) | bit(13));
}

TEST(LinuxCaps, AmbientOutsidePermittedOrInheritableIsSkippedWithADebugNote) {
  char log_path[] = "/tmp/vessel-caps-log-XXXXXX";
  int lfd = mkstemp(log_path);
  ASSERT_GE(lfd, 0);
  ::close(lfd);
  auto r = in_child([&](int) {
    log::configure(log_path, log::Format::text, true);  // the note is debug-level
    oci::Capabilities c = all_sets({"CAP_NET_BIND_SERVICE"});
    c.bounding.push_back("CAP_NET_RAW");
    c.permitted.push_back("CAP_NET_RAW");
    c.ambient.push_back("CAP_NET_RAW");  // not inheritable
    become(c, user(1000, 1000));
    return read_file("/proc/self/status");
  });
  std::string log_text = read_file(log_path);
  ::unlink(log_path);
  ASSERT_TRUE(r.ok()) << r.out;
  auto st = parse_status(r.out);
  EXPECT_EQ(hex(st, "CapAmb"), bit(10));
  EXPECT_EQ(hex(st, "CapPrm"), bit(10) | bit(13));
  EXPECT_NE(log_text.find("CAP_NET_RAW"), std::string::npos) << log_text;
}

TEST(LinuxCaps, UnknownNamesInConfigAreWarnedAndIgnored) {
  char log_path[] = "/tmp/vessel-caps-log-XXXXXX";
  int lfd = mkstemp(log_path);
  ASSERT_GE(lfd, 0);
  ::close(lfd);
  auto r = in_child([&](int) {
    log::configure(log_path, log::Format::text, false);
    auto c = all_sets({"CAP_NET_BIND_SERVICE", "CAP_FOO"});
    become(c, user(1000, 1000));
    return read_file("/proc/self/status");
  });
  std::string log_text = read_file(log_path);
  ::unlink(log_path);
  ASSERT_TRUE(r.ok()) << r.out;
  auto st = parse_status(r.out);
  EXPECT_EQ(hex(st, "CapBnd"), bit(10));
  EXPECT_EQ(hex(st, "CapAmb"), bit(10));
  EXPECT_NE(log_text.find("CAP_FOO"), std::string::npos) << log_text;
  // Named once, not once per set.
  EXPECT_EQ(log_text.find("CAP_FOO"), log_text.rfind("CAP_FOO")) << log_text;
}

TEST(LinuxCaps, PrepareSetsKeepCapsAndLeavesEffectiveAlone) {
  auto r = in_child([](int) {
    prepare_capabilities(all_sets({"CAP_CHOWN"}));
    std::string s = read_file("/proc/self/status");
    s += "KeepCaps:\t" + std::to_string(prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0)) + "\n";
    return s;
  });
  ASSERT_TRUE(r.ok()) << r.out;
  auto st = parse_status(r.out);
  EXPECT_EQ(st["KeepCaps"], "1");
  EXPECT_EQ(hex(st, "CapBnd"), bit(0));
  // Still able to switch user: CAP_SETUID/CAP_SETGID remain effective until apply.
  EXPECT_NE(hex(st, "CapEff") & bit(7), 0u);
  EXPECT_NE(hex(st, "CapEff") & bit(6), 0u);
}

}  // namespace
}  // namespace vessel::linux
