// The v2 device filter: the v1 model, the generated program (run here by a small interpreter
// against the model), and the real thing in the kernel. The kernel tests need root and a
// cgroup2 mount (hybrid hosts have one too: device programs need no controller). Every
// cgroup is named vessel-bpftest-<pid>-<n> and removed again, also when a test fails, and
// only processes the test forked are killed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <set>
#include <thread>

#include "cgroups/bpf_devices.h"
#include "cgroups/common.h"
#include "cgroups/convert.h"
#include "cgroups/detect.h"
#include "cgroups/manager.h"
#include "util/error.h"
#include "util/fd.h"
#include "util/file.h"

namespace vessel::cgroups {
namespace {

using nlohmann::json;

constexpr uint32_t R = BPF_DEVCG_ACC_READ, W = BPF_DEVCG_ACC_WRITE, M = BPF_DEVCG_ACC_MKNOD;

DeviceRule rule(bool allow, char type, int64_t major, int64_t minor, std::string access) {
  return DeviceRule{allow, type, major, minor, std::move(access)};
}
DeviceRule deny_all() { return rule(false, 'a', -1, -1, "rwm"); }
DeviceRule allow_all() { return rule(true, 'a', -1, -1, "rwm"); }

// ---------------------------------------------------------------- the v1 model

TEST(DeviceModel, StartsFromDenyAll) {
  DevicePolicy p = emulate_v1_devices({});
  EXPECT_FALSE(p.default_allow);
  EXPECT_TRUE(p.exceptions.empty());
  EXPECT_FALSE(policy_allows(p, 'c', 1, 3, R));
}

TEST(DeviceModel, IdenticalEntriesMerge) {
  DevicePolicy p = emulate_v1_devices({deny_all(), rule(true, 'c', 1, 3, "r"),
                                       rule(true, 'c', 1, 3, "w"), rule(true, 'c', 1, -1, "m")});
  ASSERT_EQ(p.exceptions.size(), 2u);
  EXPECT_EQ(p.exceptions[0], (DeviceException{'c', 1, 3, R | W}));
  EXPECT_EQ(p.exceptions[1], (DeviceException{'c', 1, -1, M}));
  EXPECT_TRUE(policy_allows(p, 'c', 1, 3, R | W));
  EXPECT_FALSE(policy_allows(p, 'c', 1, 3, R | W | M));  // no single entry grants all three
  EXPECT_TRUE(policy_allows(p, 'c', 1, 3, M));
  EXPECT_FALSE(policy_allows(p, 'b', 1, 3, M));
}

TEST(DeviceModel, OneEntryMustCoverTheWholeRequest) {
  // An O_RDWR open asks for "rw" at once; v1 does not add up "r" from one entry and "w" from
  // another, so neither does the filter.
  DevicePolicy p =
      emulate_v1_devices({deny_all(), rule(true, 'c', 1, -1, "r"), rule(true, 'c', 1, 3, "w")});
  EXPECT_TRUE(policy_allows(p, 'c', 1, 3, R));
  EXPECT_TRUE(policy_allows(p, 'c', 1, 3, W));
  EXPECT_FALSE(policy_allows(p, 'c', 1, 3, R | W));
  EXPECT_TRUE(p.ignored.empty());
}

TEST(DeviceModel, DenyRemovesOnlyFromTheIdenticalEntry) {
  DevicePolicy p =
      emulate_v1_devices({deny_all(), rule(true, 'c', 1, 3, "rwm"), rule(false, 'c', 1, 3, "w"),
                          rule(true, 'c', 1, 5, "r"), rule(false, 'c', 1, 5, "r")});
  ASSERT_EQ(p.exceptions.size(), 1u);  // 1:5 lost its last bit and is gone
  EXPECT_EQ(p.exceptions[0], (DeviceException{'c', 1, 3, R | M}));
  EXPECT_TRUE(p.ignored.empty());
}

TEST(DeviceModel, DenyOfAPartOfAWildcardIsIgnoredLikeV1AndReported) {
  // Not "last match wins": v1 keeps "c *:* rwm" whole, so 1:5 stays open.
  DevicePolicy p = emulate_v1_devices(
      {deny_all(), rule(true, 'c', -1, -1, "rwm"), rule(false, 'c', 1, 5, "rwm")});
  EXPECT_TRUE(policy_allows(p, 'c', 1, 5, R | W));
  ASSERT_EQ(p.ignored.size(), 1u);
  EXPECT_NE(p.ignored[0].find("linux.resources.devices[2]"), std::string::npos) << p.ignored[0];
  EXPECT_NE(p.ignored[0].find("c 1:5 rwm"), std::string::npos) << p.ignored[0];
  EXPECT_NE(p.ignored[0].find("c *:* rwm"), std::string::npos) << p.ignored[0];
  // A deny that did take away everything it names is not reported.
  EXPECT_TRUE(emulate_v1_devices({deny_all(), rule(false, 'c', 1, 5, "rwm")}).ignored.empty());
}

TEST(DeviceModel, DefaultAllowDeniesWhatTheExceptionsTouch) {
  DevicePolicy p =
      emulate_v1_devices({allow_all(), rule(false, 'c', 1, 5, "w"), rule(false, 'b', 8, -1, "m")});
  EXPECT_TRUE(p.default_allow);
  EXPECT_TRUE(policy_allows(p, 'c', 1, 5, R));
  EXPECT_FALSE(policy_allows(p, 'c', 1, 5, R | W));  // any denied bit refuses the request
  EXPECT_FALSE(policy_allows(p, 'b', 8, 1, M));
  EXPECT_TRUE(policy_allows(p, 'c', 8, 1, M));
  // An allow takes a deny entry away, again only an identical one.
  DevicePolicy q =
      emulate_v1_devices({allow_all(), rule(false, 'c', 1, 5, "rw"), rule(true, 'c', 1, 5, "w"),
                          rule(false, 'c', -1, -1, "m"), rule(true, 'c', 1, 3, "m")});
  EXPECT_TRUE(policy_allows(q, 'c', 1, 5, W));
  EXPECT_FALSE(policy_allows(q, 'c', 1, 5, R));
  EXPECT_FALSE(policy_allows(q, 'c', 1, 3, M));
  ASSERT_EQ(q.ignored.size(), 1u);
  EXPECT_NE(q.ignored[0].find("devices[4]"), std::string::npos) << q.ignored[0];
}

TEST(DeviceModel, EverythingRulesResetAndOtherTypeARulesSplit) {
  DevicePolicy p =
      emulate_v1_devices({rule(true, 'c', 1, 3, "rwm"), allow_all(), rule(false, 'c', 1, 3, "r"),
                          deny_all(), rule(true, 'a', 1, -1, "r"), rule(true, 'c', 1, 9, "")});
  EXPECT_FALSE(p.default_allow);
  ASSERT_EQ(p.exceptions.size(), 2u);  // "a 1:* r" is "b 1:* r" plus "c 1:* r"; "" is nothing
  EXPECT_EQ(p.exceptions[0], (DeviceException{'b', 1, -1, R}));
  EXPECT_EQ(p.exceptions[1], (DeviceException{'c', 1, -1, R}));
  // "a *:* r" is no reset either: the kernel would read it as "a", so it is split too.
  DevicePolicy q = emulate_v1_devices({deny_all(), rule(true, 'a', -1, -1, "r")});
  EXPECT_FALSE(q.default_allow);
  EXPECT_EQ(q.exceptions.size(), 2u);
}

// ---------------------------------------------------------------- the generated program

// Runs `prog` the way the kernel would, for the instructions the generator emits; anything
// else fails the test. Checks that every jump lands forward inside the program.
std::optional<uint64_t> interpret(const std::vector<bpf_insn>& prog,
                                  const bpf_cgroup_dev_ctx& ctx) {
  uint64_t reg[11] = {};
  std::set<int> written = {1};
  auto read = [&](int r) {
    EXPECT_TRUE(written.count(r)) << "r" << r << " read before written";
    return reg[r];
  };
  for (size_t pc = 0; pc < prog.size();) {
    const bpf_insn& i = prog[pc];
    uint64_t imm64 = static_cast<uint64_t>(static_cast<int64_t>(i.imm));
    auto jump = [&](bool taken) {
      if (!taken) return pc + 1;
      EXPECT_GE(i.off, 0) << "backward jump at " << pc;
      EXPECT_LT(pc + 1 + i.off, prog.size()) << "jump out of the program at " << pc;
      return pc + 1 + i.off;
    };
    switch (i.code) {
      case BPF_LDX | BPF_MEM | BPF_W: {
        EXPECT_EQ(i.src_reg, 1);
        EXPECT_TRUE(i.off >= 0 && i.off + 4 <= static_cast<int>(sizeof ctx) && i.off % 4 == 0);
        uint32_t v;
        std::memcpy(&v, reinterpret_cast<const char*>(&ctx) + i.off, 4);
        reg[i.dst_reg] = v;
        written.insert(i.dst_reg);
        ++pc;
        break;
      }
      case BPF_ALU | BPF_MOV | BPF_X:
        reg[i.dst_reg] = static_cast<uint32_t>(read(i.src_reg));
        written.insert(i.dst_reg);
        ++pc;
        break;
      case BPF_ALU | BPF_MOV | BPF_K:
        reg[i.dst_reg] = static_cast<uint32_t>(i.imm);
        written.insert(i.dst_reg);
        ++pc;
        break;
      case BPF_ALU | BPF_AND | BPF_K:
      case BPF_ALU | BPF_XOR | BPF_K:
      case BPF_ALU | BPF_ADD | BPF_K:
      case BPF_ALU | BPF_RSH | BPF_K:
      case BPF_ALU | BPF_OR | BPF_X: {
        uint32_t a = static_cast<uint32_t>(read(i.dst_reg));
        uint32_t b = BPF_SRC(i.code) == BPF_X ? static_cast<uint32_t>(read(i.src_reg))
                                              : static_cast<uint32_t>(i.imm);
        switch (BPF_OP(i.code)) {
          case BPF_AND:
            a &= b;
            break;
          case BPF_XOR:
            a ^= b;
            break;
          case BPF_ADD:
            a += b;
            break;
          case BPF_RSH:
            a >>= b;
            break;
          case BPF_OR:
            a |= b;
            break;
        }
        reg[i.dst_reg] = a;
        ++pc;
        break;
      }
      case BPF_ALU64 | BPF_MOV | BPF_K:
        reg[i.dst_reg] = imm64;
        written.insert(i.dst_reg);
        ++pc;
        break;
      case BPF_JMP | BPF_JNE | BPF_K:
        pc = jump(read(i.dst_reg) != imm64);
        break;
      case BPF_JMP | BPF_EXIT:
        return read(0);
      default:
        ADD_FAILURE() << "unexpected opcode " << int(i.code) << " at " << pc;
        return std::nullopt;
    }
  }
  ADD_FAILURE() << "ran off the end of the program";
  return std::nullopt;
}

bpf_cgroup_dev_ctx request(char type, uint32_t major, uint32_t minor, uint32_t access) {
  uint32_t t = type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR;
  return {access << 16 | t, major, minor};
}

// Every request in a grid around the numbers the rules use gets the model's answer.
void expect_program_matches_model(const DevicePolicy& p, const std::string& what) {
  std::vector<bpf_insn> prog = device_filter_program(p);
  std::set<uint32_t> numbers = {0, 1, 2, 3, 5, 136, 0x7fffffff, 0x80000000, 0xffffffff};
  for (const DeviceException& e : p.exceptions)
    for (int64_t n : {e.major, e.minor})
      if (n >= 0) numbers.insert({static_cast<uint32_t>(n), static_cast<uint32_t>(n + 1)});
  for (char type : {'b', 'c'})
    for (uint32_t major : numbers)
      for (uint32_t minor : numbers)
        for (uint32_t access = 1; access <= 7; ++access) {
          std::optional<uint64_t> got = interpret(prog, request(type, major, minor, access));
          ASSERT_TRUE(got) << what;
          ASSERT_EQ(*got, policy_allows(p, type, major, minor, access) ? 1u : 0u)
              << what << ": " << type << " " << major << ":" << minor << " access " << access;
        }
}

TEST(DeviceProgram, Size) {
  // Nothing to compare: just the verdict.
  EXPECT_EQ(device_filter_program(emulate_v1_devices({})).size(), 2u);
  EXPECT_EQ(device_filter_program(emulate_v1_devices({allow_all()})).size(), 2u);
  // 6 to read the context; per entry 2 for the type, 3 for each number, 3 (grants) or 5
  // (denials) for the access, 3 to branch and decide; 2 at the end.
  DevicePolicy p =
      emulate_v1_devices({deny_all(), rule(true, 'c', 1, 3, "rwm"), rule(true, 'c', -1, -1, "m")});
  EXPECT_EQ(device_filter_program(p).size(), 6u + 14u + 8u + 2u);
  DevicePolicy q = emulate_v1_devices({allow_all(), rule(false, 'b', 8, 0, "w")});
  EXPECT_EQ(device_filter_program(q).size(), 6u + 16u + 2u);
  // Linear in the entries.
  std::vector<DeviceRule> many = {deny_all()};
  for (int i = 0; i < 1000; ++i) many.push_back(rule(true, 'c', 1000 + i, i, "rw"));
  EXPECT_EQ(device_filter_program(emulate_v1_devices(many)).size(), 6u + 1000u * 14u + 2u);
}

TEST(DeviceProgram, SmallListEncoding) {
  std::vector<bpf_insn> prog =
      device_filter_program(emulate_v1_devices({deny_all(), rule(true, 'c', 1, 3, "rw")}));
  ASSERT_EQ(prog.size(), 22u);
  auto is = [](const bpf_insn& i, int code, int dst, int src, int off, int imm) {
    return i.code == code && i.dst_reg == dst && i.src_reg == src && i.off == off && i.imm == imm;
  };
  constexpr int mov = BPF_ALU | BPF_MOV | BPF_X, xor_ = BPF_ALU | BPF_XOR | BPF_K,
                or_ = BPF_ALU | BPF_OR | BPF_X;
  EXPECT_TRUE(is(prog[0], BPF_LDX | BPF_MEM | BPF_W, 2, 1, 0, 0));  // access_type
  EXPECT_TRUE(is(prog[1], mov, 3, 2, 0, 0));
  EXPECT_TRUE(is(prog[2], BPF_ALU | BPF_AND | BPF_K, 3, 0, 0, 0xffff));  // type
  EXPECT_TRUE(is(prog[3], BPF_ALU | BPF_RSH | BPF_K, 2, 0, 0, 16));      // access
  EXPECT_TRUE(is(prog[4], BPF_LDX | BPF_MEM | BPF_W, 4, 1, 4, 0));       // major
  EXPECT_TRUE(is(prog[5], BPF_LDX | BPF_MEM | BPF_W, 5, 1, 8, 0));       // minor
  // r6 = (type ^ c) | (major ^ 1) | (minor ^ 3) | (access & ~rw)
  EXPECT_TRUE(is(prog[6], mov, 6, 3, 0, 0));
  EXPECT_TRUE(is(prog[7], xor_, 6, 0, 0, BPF_DEVCG_DEV_CHAR));
  EXPECT_TRUE(is(prog[8], mov, 7, 4, 0, 0));
  EXPECT_TRUE(is(prog[9], xor_, 7, 0, 0, 1));
  EXPECT_TRUE(is(prog[10], or_, 6, 7, 0, 0));
  EXPECT_TRUE(is(prog[11], mov, 7, 5, 0, 0));
  EXPECT_TRUE(is(prog[12], xor_, 7, 0, 0, 3));
  EXPECT_TRUE(is(prog[13], or_, 6, 7, 0, 0));
  EXPECT_TRUE(is(prog[14], mov, 7, 2, 0, 0));
  EXPECT_TRUE(is(prog[15], BPF_ALU | BPF_AND | BPF_K, 7, 0, 0, ~int32_t(R | W)));
  EXPECT_TRUE(is(prog[16], or_, 6, 7, 0, 0));
  EXPECT_TRUE(is(prog[17], BPF_JMP | BPF_JNE | BPF_K, 6, 0, 2, 0));
  EXPECT_TRUE(is(prog[18], BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1));
  EXPECT_TRUE(is(prog[19], BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
  EXPECT_TRUE(is(prog[20], BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0));
  EXPECT_TRUE(is(prog[21], BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
}

TEST(DeviceProgram, AgreesWithTheModel) {
  expect_program_matches_model(emulate_v1_devices({}), "empty");
  expect_program_matches_model(emulate_v1_devices({allow_all()}), "allow all");
  expect_program_matches_model(
      emulate_v1_devices({deny_all(), rule(true, 'c', 1, -1, "r"), rule(true, 'c', 1, 3, "w"),
                          rule(true, 'b', -1, 0, "m"),
                          rule(true, 'c', 0xfffffffe, 0x80000001, "rw")}),
      "default deny");
  expect_program_matches_model(
      emulate_v1_devices({allow_all(), rule(false, 'c', 1, 5, "w"), rule(false, 'b', -1, -1, "m"),
                          rule(false, 'c', 0x80000000, -1, "r")}),
      "default allow");
}

TEST(DeviceProgram, AgreesWithTheModelOnRandomLists) {
  std::mt19937 rng(20240611);
  const int64_t numbers[] = {-1, -1, 0, 1, 3, 5, 0x80000000, 0xffffffff};
  const char* accesses[] = {"", "r", "w", "m", "rw", "rm", "wm", "rwm", "rwm"};
  for (int round = 0; round < 150; ++round) {
    std::vector<DeviceRule> rules;
    int n = rng() % 12;
    for (int i = 0; i < n; ++i)
      rules.push_back(rule(rng() % 2, "abc"[rng() % 3], numbers[rng() % 8], numbers[rng() % 8],
                           accesses[rng() % 9]));
    expect_program_matches_model(emulate_v1_devices(rules), "round " + std::to_string(round));
    if (testing::Test::HasFatalFailure()) return;
  }
}

// ---------------------------------------------------------------- the kernel

bool have_bpf() {
  if (::geteuid() != 0) return false;
  try {
    UniqueFd fd(load_device_filter(device_filter_program(emulate_v1_devices({}))));
    return true;
  } catch (const Error&) {
    return false;
  }
}

TEST(DeviceKernel, VerifierAcceptsThePrograms) {
  if (!have_bpf()) GTEST_SKIP() << "needs root and BPF_PROG_LOAD";
  // Verification must stay linear in the entries: 5000 (70000 instructions) with one jump
  // per entry would exceed the verifier's limits if it were not.
  std::vector<DeviceRule> grants = {deny_all()}, denials = {allow_all()};
  for (int i = 0; i < 5000; ++i) {
    grants.push_back(rule(true, i % 2 ? 'c' : 'b', i, i % 7 ? i : -1, "rw"));
    denials.push_back(rule(false, i % 2 ? 'c' : 'b', i, i % 7 ? i : -1, "rw"));
  }
  grants.push_back(rule(true, 'c', 0xffffffff, 0x80000000, "m"));
  for (const auto& rules : {std::vector<DeviceRule>{}, grants, denials}) {
    std::vector<bpf_insn> prog = device_filter_program(emulate_v1_devices(rules));
    try {
      UniqueFd fd(load_device_filter(prog));
      EXPECT_TRUE(fd.valid());
    } catch (const Error& e) {
      ADD_FAILURE() << prog.size() << " instructions: " << e.what();
    }
  }
}

TEST(DeviceKernel, VerifierRejectionIsReportedWithItsLog) {
  if (!have_bpf()) GTEST_SKIP() << "needs root and BPF_PROG_LOAD";
  // Reads past the end of the context and never sets r0.
  std::vector<bpf_insn> bad(2);
  bad[0].code = BPF_LDX | BPF_MEM | BPF_W;
  bad[0].dst_reg = 2;
  bad[0].src_reg = 1;
  bad[0].off = 12;
  bad[1].code = BPF_JMP | BPF_EXIT;
  try {
    UniqueFd fd(load_device_filter(bad));
    ADD_FAILURE() << "the verifier took a bad program";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("load the device filter (2 instructions)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("verifier log"), std::string::npos) << msg;
  }
}

// What one device access returned: 0 or the errno.
struct Probe {
  std::string what;
  std::string path;  // open this existing node...
  int flags = 0;
  char type = 0;  // ...or mknod one of this type and number
  uint32_t major = 0, minor = 0;
  uint32_t access() const {
    if (type) return M;
    int acc = flags & O_ACCMODE;
    return acc == O_RDONLY ? R : acc == O_WRONLY ? W : R | W;
  }
};

std::vector<Probe> standard_probes() {
  std::vector<Probe> out;
  for (const char* dev : {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"}) {
    struct stat st;
    if (::stat(dev, &st) != 0 || !S_ISCHR(st.st_mode)) continue;
    for (auto [flags, name] : {std::pair{O_RDONLY, "r"}, {O_WRONLY, "w"}, {O_RDWR, "rw"}})
      out.push_back({std::string("open ") + dev + " " + name, dev, flags, 0,
                     static_cast<uint32_t>(major(st.st_rdev)),
                     static_cast<uint32_t>(minor(st.st_rdev))});
  }
  for (auto [type, ma, mi] : {std::tuple{'c', 1, 3},
                              {'c', 1, 5},
                              {'c', 5, 0},
                              {'c', 136, 4},
                              {'c', 10, 200},
                              {'b', 7, 0},
                              {'b', 8, 0},
                              {'b', 8, 1}})
    out.push_back({fmt::format("mknod {} {}:{}", type, ma, mi), "", 0, type,
                   static_cast<uint32_t>(ma), static_cast<uint32_t>(mi)});
  return out;
}

// Removes the cgroup it made, whatever happens in between.
class TempCgroup {
 public:
  explicit TempCgroup(std::string dir) : dir_(std::move(dir)) {
    if (::mkdir(dir_.c_str(), 0755) != 0) fail_errno("mkdir {}", dir_);
  }
  ~TempCgroup() {
    // A process that just exited can keep the cgroup busy for a moment.
    for (int i = 0; i < 200; ++i) {
      if (::rmdir(dir_.c_str()) == 0 || errno == ENOENT) return;
      if (errno != EBUSY) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "could not remove " << dir_ << ": " << std::strerror(errno);
  }
  TempCgroup(const TempCgroup&) = delete;
  TempCgroup& operator=(const TempCgroup&) = delete;
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/vessel-bpftest-XXXXXX";
    if (!::mkdtemp(tmpl)) fail_errno("mkdtemp");
    dir_ = tmpl;
  }
  ~TempDir() { ::rmdir(dir_.c_str()); }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

class DeviceCgroup : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_bpf()) GTEST_SKIP() << "needs root and BPF_PROG_LOAD";
    try {
      host_ = probe_host();
    } catch (const Error& e) {
      GTEST_SKIP() << "no usable cgroup hierarchy: " << e.what();
    }
    for (const Hierarchy& h : host_.hierarchies) {
      if (h.unified()) unified_ = h.mount_point;
      if (!h.unified() && h.has("devices")) v1_devices_ = h.mount_point;
    }
    if (unified_.empty()) GTEST_SKIP() << "no cgroup2 mount";
  }

  std::string name() {
    static int counter = 0;
    return fmt::format("vessel-bpftest-{}-{}", ::getpid(), counter++);
  }

  // Forks a child that joins every cgroup in `procs_files`, runs the probes and reports.
  std::vector<int> run_probes(const std::vector<std::string>& procs_files,
                              const std::vector<Probe>& probes) {
    TempDir scratch;
    std::vector<std::string> nodes;
    for (size_t i = 0; i < probes.size(); ++i)
      nodes.push_back(fmt::format("{}/n{}", scratch.dir(), i));
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) fail_errno("pipe");
    UniqueFd rd(fds[0]), wr(fds[1]);
    pid_t pid = ::fork();
    if (pid < 0) fail_errno("fork");
    if (pid == 0) {
      rd.reset();
      std::string self = std::to_string(::getpid());
      for (const std::string& f : procs_files)
        if (write_value(f, self) != 0) ::_exit(2);
      std::vector<int> out;
      for (size_t i = 0; i < probes.size(); ++i) {
        const Probe& p = probes[i];
        int r;
        if (p.type) {
          mode_t mode = (p.type == 'b' ? S_IFBLK : S_IFCHR) | 0600;
          r = ::mknod(nodes[i].c_str(), mode, makedev(p.major, p.minor));
          if (r == 0) ::unlink(nodes[i].c_str());
        } else {
          r = ::open(p.path.c_str(), p.flags | O_CLOEXEC | O_NONBLOCK);
          if (r >= 0) ::close(r);
        }
        out.push_back(r < 0 ? errno : 0);
      }
      ssize_t n = ::write(wr.get(), out.data(), out.size() * sizeof(int));
      ::_exit(n == static_cast<ssize_t>(out.size() * sizeof(int)) ? 0 : 3);
    }
    wr.reset();
    std::string got = read_fd(rd.get());
    int status = 0;
    if (::waitpid(pid, &status, 0) != pid) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "probe child status " << status;
    std::vector<int> results(got.size() / sizeof(int));
    std::memcpy(results.data(), got.data(), results.size() * sizeof(int));
    if (results.size() != probes.size())
      ADD_FAILURE() << "the probe child reported " << results.size();
    results.resize(probes.size(), -1);
    return results;
  }

  // The filter's answers equal the model's: EPERM exactly where the model denies.
  void expect_model(const std::vector<Probe>& probes, const std::vector<int>& got,
                    const std::vector<DeviceRule>& rules, const std::string& what) {
    DevicePolicy p = emulate_v1_devices(rules);
    for (size_t i = 0; i < probes.size(); ++i) {
      bool allowed = policy_allows(p, probes[i].type ? probes[i].type : 'c', probes[i].major,
                                   probes[i].minor, probes[i].access());
      if (allowed)
        EXPECT_NE(got[i], EPERM) << what << ": " << probes[i].what;
      else
        EXPECT_EQ(got[i], EPERM) << what << ": " << probes[i].what << ": " << std::strerror(got[i]);
    }
  }

  HostCgroups host_;
  std::string unified_, v1_devices_;
};

TEST_F(DeviceCgroup, FilterAllowsAndDenies) {
  TempCgroup cg(unified_ + "/" + name());
  std::vector<Probe> probes = {{"open null rw", "/dev/null", O_RDWR, 0, 1, 3},
                               {"open zero r", "/dev/zero", O_RDONLY, 0, 1, 5},
                               {"mknod c 1:3", "", 0, 'c', 1, 3},
                               {"mknod c 1:5", "", 0, 'c', 1, 5},
                               {"mknod b 7:0", "", 0, 'b', 7, 0}};
  std::vector<DeviceRule> rules = {deny_all(), rule(true, 'c', 1, 3, "rw"),
                                   rule(true, 'c', -1, -1, "m")};
  apply_device_filter(cg.dir(), rules);
  std::vector<int> got = run_probes({cg.dir() + "/cgroup.procs"}, probes);
  EXPECT_EQ(got, (std::vector<int>{0, EPERM, 0, 0, EPERM}));
  // Outside the cgroup nothing changed.
  EXPECT_EQ(run_probes({}, probes), (std::vector<int>{0, 0, 0, 0, 0}));
}

TEST_F(DeviceCgroup, UpdateReplacesOurFilterOnly) {
  TempCgroup cg(unified_ + "/" + name());
  // Someone else's program (allow everything) on the same cgroup must survive our updates.
  std::vector<bpf_insn> allow = device_filter_program(emulate_v1_devices({allow_all()}));
  union bpf_attr attr = {};
  attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.insns = reinterpret_cast<uintptr_t>(allow.data());
  attr.insn_cnt = allow.size();
  attr.license = reinterpret_cast<uintptr_t>("GPL");
  std::strcpy(attr.prog_name, "someone_else");
  UniqueFd other(static_cast<int>(::syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr)));
  ASSERT_TRUE(other.valid()) << std::strerror(errno);
  UniqueFd cgfd(::open(cg.dir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  attr = {};
  attr.target_fd = cgfd.get();
  attr.attach_bpf_fd = other.get();
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = BPF_F_ALLOW_MULTI;
  ASSERT_EQ(::syscall(SYS_bpf, BPF_PROG_ATTACH, &attr, sizeof attr), 0) << std::strerror(errno);
  auto all_attached = [&] {
    uint32_t ids[16];
    union bpf_attr q = {};
    q.query.target_fd = cgfd.get();
    q.query.attach_type = BPF_CGROUP_DEVICE;
    q.query.prog_ids = reinterpret_cast<uintptr_t>(ids);
    q.query.prog_cnt = 16;
    EXPECT_EQ(::syscall(SYS_bpf, BPF_PROG_QUERY, &q, sizeof q), 0) << std::strerror(errno);
    return q.query.prog_cnt;
  };

  std::vector<Probe> probes = {{"open null r", "/dev/null", O_RDONLY, 0, 1, 3},
                               {"open zero r", "/dev/zero", O_RDONLY, 0, 1, 5}};
  apply_device_filter(cg.dir(), {deny_all(), rule(true, 'c', 1, 3, "r")});
  std::vector<uint32_t> first = attached_device_filters(cg.dir());
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(all_attached(), 2u);
  EXPECT_EQ(run_probes({cg.dir() + "/cgroup.procs"}, probes), (std::vector<int>{0, EPERM}));

  apply_device_filter(cg.dir(), {deny_all(), rule(true, 'c', 1, 5, "r")});
  std::vector<uint32_t> second = attached_device_filters(cg.dir());
  ASSERT_EQ(second.size(), 1u);
  EXPECT_NE(second[0], first[0]);
  EXPECT_EQ(all_attached(), 2u);
  EXPECT_EQ(run_probes({cg.dir() + "/cgroup.procs"}, probes), (std::vector<int>{EPERM, 0}));
}

TEST_F(DeviceCgroup, NestedFiltersBothApply) {
  TempCgroup parent(unified_ + "/" + name());
  TempCgroup child(parent.dir() + "/inner");
  std::vector<Probe> probes = {{"open null r", "/dev/null", O_RDONLY, 0, 1, 3},
                               {"open zero r", "/dev/zero", O_RDONLY, 0, 1, 5},
                               {"open full r", "/dev/full", O_RDONLY, 0, 1, 7}};
  apply_device_filter(parent.dir(),
                      {deny_all(), rule(true, 'c', 1, 3, "r"), rule(true, 'c', 1, 5, "r")});
  apply_device_filter(child.dir(),
                      {deny_all(), rule(true, 'c', 1, 3, "r"), rule(true, 'c', 1, 7, "r")});
  // The child's filter does not replace the parent's: both must say yes.
  EXPECT_EQ(attached_device_filters(parent.dir()).size(), 1u);
  EXPECT_EQ(run_probes({child.dir() + "/cgroup.procs"}, probes),
            (std::vector<int>{0, EPERM, EPERM}));
  EXPECT_EQ(run_probes({parent.dir() + "/cgroup.procs"}, probes), (std::vector<int>{0, 0, EPERM}));
}

// Lists whose v1 meaning is not "last match wins", plus the runtime's own default list.
std::vector<std::pair<std::string, std::vector<DeviceRule>>> tricky_lists() {
  std::vector<DeviceRule> defaults = {deny_all(), rule(true, 'c', -1, -1, "m"),
                                      rule(true, 'b', -1, -1, "m")};
  for (auto [ma, mi] :
       {std::pair{1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, {5, 0}, {5, 1}, {5, 2}, {136, -1}})
    defaults.push_back(rule(true, 'c', ma, mi, "rwm"));
  return {
      {"runtime defaults", defaults},
      {"empty", {}},
      {"split r and w", {deny_all(), rule(true, 'c', 1, -1, "r"), rule(true, 'c', 1, 3, "w")}},
      {"deny inside an allowed wildcard",
       {deny_all(), rule(true, 'c', -1, -1, "rwm"), rule(false, 'c', 1, 5, "rwm")}},
      {"wide deny over narrow grants",
       {deny_all(), rule(true, 'c', 1, 3, "rwm"), rule(true, 'c', 1, 5, "rw"),
        rule(false, 'c', -1, -1, "w")}},
      {"allow inside a denied wildcard",
       {allow_all(), rule(false, 'c', -1, -1, "w"), rule(true, 'c', 1, 3, "w")}},
      {"default allow", {allow_all(), rule(false, 'c', 1, 5, "rwm"), rule(false, 'b', 8, -1, "m")}},
      {"exact removal", {deny_all(), rule(true, 'c', 1, 3, "rwm"), rule(false, 'c', 1, 3, "w")}},
      {"type a with numbers",
       {deny_all(), rule(true, 'a', 1, -1, "r"), rule(true, 'b', -1, -1, "m")}},
      {"resets",
       {rule(true, 'c', 1, 3, "rwm"), allow_all(), rule(false, 'c', 1, 3, "r"), deny_all(),
        rule(true, 'c', 1, 9, "rw"), rule(true, 'c', 1, 8, "")}},
  };
}

TEST_F(DeviceCgroup, FilterAgreesWithTheModel) {
  std::vector<Probe> probes = standard_probes();
  for (const auto& [what, rules] : tricky_lists()) {
    TempCgroup cg(unified_ + "/" + name());
    apply_device_filter(cg.dir(), rules);
    expect_model(probes, run_probes({cg.dir() + "/cgroup.procs"}, probes), rules, what);
  }
}

// The strongest check where a v1 devices hierarchy exists (hybrid hosts): the same rules,
// written to a real v1 devices cgroup, give exactly the same answers, errno for errno.
TEST_F(DeviceCgroup, FilterAgreesWithTheV1Kernel) {
  if (v1_devices_.empty()) GTEST_SKIP() << "no v1 devices hierarchy on this host";
  std::vector<Probe> probes = standard_probes();
  for (const auto& [what, rules] : tricky_lists()) {
    TempCgroup v1(v1_devices_ + "/" + name());
    for (const DeviceWrite& w : v1_device_writes(rules))
      ASSERT_EQ(write_value(v1.dir() + "/" + w.file, w.line), 0) << what << ": " << w.line;
    TempCgroup v2(unified_ + "/" + name());
    apply_device_filter(v2.dir(), rules);
    std::vector<int> by_v1 = run_probes({v1.dir() + "/cgroup.procs"}, probes);
    std::vector<int> by_bpf = run_probes({v2.dir() + "/cgroup.procs"}, probes);
    for (size_t i = 0; i < probes.size(); ++i)
      EXPECT_EQ(by_bpf[i], by_v1[i])
          << what << ": " << probes[i].what << ": v1 " << std::strerror(by_v1[i]) << ", bpf "
          << std::strerror(by_bpf[i]);
    expect_model(probes, by_v1, rules, what + " (v1 kernel)");
  }
}

// The call site: the v2 manager applies linux.resources.devices.
TEST_F(DeviceCgroup, V2ManagerAppliesDevices) {
  if (host_.layout != Layout::v2) GTEST_SKIP() << "the v2 manager runs on pure v2 hosts";
  std::string top = name();
  std::unique_ptr<Manager> m = make_manager("/" + top + "/ctr", "ctr");
  struct Destroy {
    Manager& m;
    ~Destroy() {
      try {
        m.destroy();
      } catch (const Error& e) {
        ADD_FAILURE() << "destroy: " << e.what();
      }
    }
  } destroy{*m};
  m->create();
  std::string dir = unified_ + "/" + top + "/ctr";
  json devices = json::parse(R"({"devices": [{"allow": false, "access": "rwm"},
                                             {"allow": true, "type": "c", "major": 1, "minor": 3,
                                              "access": "rw"}]})");
  m->apply(devices);
  m->apply(devices);
  EXPECT_EQ(attached_device_filters(dir).size(), 1u);
  std::vector<Probe> probes = {{"open null rw", "/dev/null", O_RDWR, 0, 1, 3},
                               {"open zero r", "/dev/zero", O_RDONLY, 0, 1, 5}};
  EXPECT_EQ(run_probes({dir + "/cgroup.procs"}, probes), (std::vector<int>{0, EPERM}));
  // Without "devices" the filter stays as it is.
  m->apply(json::parse(R"({"pids": {"limit": 100}})"));
  EXPECT_EQ(attached_device_filters(dir).size(), 1u);
}

}  // namespace
}  // namespace vessel::cgroups
