#include "cgroups/bpf_devices.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>

#include "cgroups/convert.h"
#include "util/error.h"
#include "util/fd.h"
#include "util/log.h"

namespace vessel::cgroups {
namespace {

uint32_t access_bits(const std::string& access) {
  uint32_t bits = 0;
  for (char c : access) {
    if (c == 'r') bits |= BPF_DEVCG_ACC_READ;
    if (c == 'w') bits |= BPF_DEVCG_ACC_WRITE;
    if (c == 'm') bits |= BPF_DEVCG_ACC_MKNOD;
  }
  return bits;
}

std::string access_text(uint32_t bits) {
  std::string s;
  if (bits & BPF_DEVCG_ACC_READ) s += 'r';
  if (bits & BPF_DEVCG_ACC_WRITE) s += 'w';
  if (bits & BPF_DEVCG_ACC_MKNOD) s += 'm';
  return s;
}

std::string entry_text(const DeviceException& e) {
  return device_line(e.type, e.major, e.minor, access_text(e.access));
}

bool same_key(const DeviceException& a, const DeviceException& b) {
  return a.type == b.type && a.major == b.major && a.minor == b.minor;
}

// Whether some device and some access bit fall under both entries.
bool overlaps(const DeviceException& a, const DeviceException& b) {
  auto num = [](int64_t x, int64_t y) { return x < 0 || y < 0 || x == y; };
  return a.type == b.type && num(a.major, b.major) && num(a.minor, b.minor) &&
         (a.access & b.access) != 0;
}

// The kernel's dev_exception_add: access merges into an entry with the same key.
void add_exception(std::vector<DeviceException>& list, const DeviceException& e) {
  for (DeviceException& x : list)
    if (same_key(x, e)) {
      x.access |= e.access;
      return;
    }
  list.push_back(e);
}

// The kernel's dev_exception_rm: only an entry with the very same key loses access; wider or
// narrower entries are left as they are.
void remove_exception(std::vector<DeviceException>& list, const DeviceException& e) {
  for (auto it = list.begin(); it != list.end();) {
    if (same_key(*it, e)) it->access &= ~e.access;
    it = it->access == 0 ? list.erase(it) : it + 1;
  }
}

// --- instruction encoding (struct bpf_insn) ---

bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst;
  i.src_reg = src;
  i.off = off;
  i.imm = imm;
  return i;
}

// Registers the program keeps its inputs in, and two scratch ones.
constexpr uint8_t R0 = 0, CTX = 1, ACCESS = 2, TYPE = 3, MAJOR = 4, MINOR = 5, DIFF = 6, T = 7;

long bpf(int cmd, union bpf_attr& attr) {
  return retry_eintr([&] { return ::syscall(SYS_bpf, cmd, &attr, sizeof attr); });
}

uint64_t ptr(const void* p) { return reinterpret_cast<uintptr_t>(p); }

struct ProgInfo {
  uint32_t id = 0;
  uint32_t type = 0;
  std::string name;
};

ProgInfo prog_info(int fd) {
  struct bpf_prog_info info = {};
  union bpf_attr attr = {};
  attr.info.bpf_fd = fd;
  attr.info.info_len = sizeof info;
  attr.info.info = ptr(&info);
  if (bpf(BPF_OBJ_GET_INFO_BY_FD, attr) < 0) fail_errno("read the info of BPF program fd {}", fd);
  return {info.id, info.type, std::string(info.name, strnlen(info.name, sizeof info.name))};
}

// The programs attached directly to the cgroup (not its ancestors'), as fds.
std::vector<std::pair<uint32_t, UniqueFd>> our_filters(int cgroup_fd, const std::string& dir) {
  std::vector<uint32_t> ids(8);
  for (;;) {
    union bpf_attr attr = {};
    attr.query.target_fd = cgroup_fd;
    attr.query.attach_type = BPF_CGROUP_DEVICE;
    attr.query.prog_ids = ptr(ids.data());
    attr.query.prog_cnt = static_cast<uint32_t>(ids.size());
    long r = bpf(BPF_PROG_QUERY, attr);
    if (r < 0 && errno == ENOSPC && attr.query.prog_cnt > ids.size()) {
      ids.resize(attr.query.prog_cnt);
      continue;
    }
    if (r < 0) fail_errno("list the device programs attached to {} (BPF_PROG_QUERY)", dir);
    ids.resize(attr.query.prog_cnt);
    break;
  }
  std::vector<std::pair<uint32_t, UniqueFd>> out;
  for (uint32_t id : ids) {
    union bpf_attr attr = {};
    attr.prog_id = id;
    long fd = bpf(BPF_PROG_GET_FD_BY_ID, attr);
    // Detached and freed since the query: nothing to do for it.
    if (fd < 0 && errno == ENOENT) continue;
    if (fd < 0) fail_errno("open BPF program {} attached to {}", id, dir);
    UniqueFd prog(static_cast<int>(fd));
    ProgInfo info = prog_info(prog.get());
    if (info.type == BPF_PROG_TYPE_CGROUP_DEVICE && info.name == kDeviceFilterName)
      out.emplace_back(id, std::move(prog));
  }
  return out;
}

UniqueFd open_cgroup(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail_errno("linux.resources.devices: open cgroup {}", dir);
  return UniqueFd(fd);
}

}  // namespace

DevicePolicy emulate_v1_devices(const std::vector<DeviceRule>& rules) {
  DevicePolicy p;  // the runtime's first write is "a" to devices.deny
  for (size_t i = 0; i < rules.size(); ++i) {
    const DeviceRule& r = rules[i];
    uint32_t bits = access_bits(r.access);
    if (bits == 0) continue;
    // The kernel reads any line starting with "a" as "everything", so v1_device_writes()
    // only writes "a" for "a *:* rwm" and splits any other type-'a' rule into 'b' and 'c'.
    constexpr uint32_t all = BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD;
    if (r.type == 'a' && r.major < 0 && r.minor < 0 && bits == all) {
      p.default_allow = r.allow;
      p.exceptions.clear();
      continue;
    }
    for (char type : r.type == 'a' ? std::string("bc") : std::string(1, r.type)) {
      DeviceException e{type, r.major, r.minor, bits};
      // An allow on a default-allow cgroup (or a deny on a default-deny one) can only take
      // access away from the exceptions, and v1 does that for an identical entry alone.
      if (r.allow != p.default_allow) {
        add_exception(p.exceptions, e);
        continue;
      }
      remove_exception(p.exceptions, e);
      for (const DeviceException& x : p.exceptions)
        if (overlaps(x, e)) {
          p.ignored.push_back(fmt::format(
              "linux.resources.devices[{}]: {} {} does not change the earlier {} {}: the v1 "
              "device cgroup, whose behaviour the v2 filter reproduces, only takes access "
              "away from an identical entry",
              i, r.allow ? "allowing" : "denying", entry_text(e),
              p.default_allow ? "deny" : "allow", entry_text(x)));
          break;
        }
    }
  }
  return p;
}

bool policy_allows(const DevicePolicy& policy, char type, uint32_t major, uint32_t minor,
                   uint32_t access) {
  auto covers = [&](const DeviceException& e) {
    return e.type == type && (e.major < 0 || e.major == major) && (e.minor < 0 || e.minor == minor);
  };
  for (const DeviceException& e : policy.exceptions) {
    if (!covers(e)) continue;
    // Default allow: touching any denied bit is refused. Default deny: one entry must grant
    // every requested bit (two entries with "r" and "w" do not add up to "rw").
    if (policy.default_allow && (access & e.access)) return false;
    if (!policy.default_allow && (access & ~e.access) == 0) return true;
  }
  return policy.default_allow;
}

std::vector<bpf_insn> device_filter_program(const DevicePolicy& policy) {
  std::vector<bpf_insn> out;
  int32_t fallback = policy.default_allow ? 1 : 0;
  if (!policy.exceptions.empty()) {
    auto field = [](size_t offset) { return static_cast<int16_t>(offset); };
    out.push_back(insn(BPF_LDX | BPF_MEM | BPF_W, ACCESS, CTX,
                       field(offsetof(bpf_cgroup_dev_ctx, access_type)), 0));
    out.push_back(insn(BPF_ALU | BPF_MOV | BPF_X, TYPE, ACCESS, 0, 0));
    out.push_back(insn(BPF_ALU | BPF_AND | BPF_K, TYPE, 0, 0, 0xffff));
    out.push_back(insn(BPF_ALU | BPF_RSH | BPF_K, ACCESS, 0, 0, 16));
    out.push_back(
        insn(BPF_LDX | BPF_MEM | BPF_W, MAJOR, CTX, field(offsetof(bpf_cgroup_dev_ctx, major)), 0));
    out.push_back(
        insn(BPF_LDX | BPF_MEM | BPF_W, MINOR, CTX, field(offsetof(bpf_cgroup_dev_ctx, minor)), 0));
  }
  // Each entry folds all its tests into DIFF, which is 0 exactly when the entry decides the
  // request, and branches once. Tests as separate jumps would be fewer instructions but make
  // verification quadratic: on the paths between them the verifier knows the registers'
  // values, decides later tests from that, and the states then never prune (3000 entries
  // exceeded its limit). With one jump per entry, whose fall-through exits, the verifier
  // also keeps at most one pending branch instead of one per entry (it allows 8192).
  auto alu = [&](uint8_t op, uint8_t dst, int32_t imm) {
    out.push_back(insn(BPF_ALU | op | BPF_K, dst, 0, 0, imm));
  };
  auto alu_reg = [&](uint8_t op, uint8_t dst, uint8_t src) {
    out.push_back(insn(BPF_ALU | op | BPF_X, dst, src, 0, 0));
  };
  // 32-bit operations: the numbers are u32, so a value above INT32_MAX needs no special case.
  auto or_difference = [&](uint8_t reg, int64_t value) {
    alu_reg(BPF_MOV, T, reg);
    alu(BPF_XOR, T, static_cast<int32_t>(static_cast<uint32_t>(value)));
    alu_reg(BPF_OR, DIFF, T);
  };
  for (const DeviceException& e : policy.exceptions) {
    alu_reg(BPF_MOV, DIFF, TYPE);
    alu(BPF_XOR, DIFF, e.type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR);
    if (e.major >= 0) or_difference(MAJOR, e.major);
    if (e.minor >= 0) or_difference(MINOR, e.minor);
    alu_reg(BPF_MOV, T, ACCESS);
    if (policy.default_allow) {
      // A denial applies when any of its bits is requested: T = (ACCESS & bits) == 0 ? 1 : 0,
      // as the sign bit of (ACCESS & bits) - 1.
      alu(BPF_AND, T, static_cast<int32_t>(e.access));
      alu(BPF_ADD, T, -1);
      alu(BPF_RSH, T, 31);
    } else {
      // A grant applies when it holds every requested bit, also any bit a later kernel adds.
      alu(BPF_AND, T, static_cast<int32_t>(~e.access));
    }
    alu_reg(BPF_OR, DIFF, T);
    out.push_back(insn(BPF_JMP | BPF_JNE | BPF_K, DIFF, 0, 2, 0));
    out.push_back(insn(BPF_ALU64 | BPF_MOV | BPF_K, R0, 0, 0, 1 - fallback));
    out.push_back(insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
  }
  out.push_back(insn(BPF_ALU64 | BPF_MOV | BPF_K, R0, 0, 0, fallback));
  out.push_back(insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
  return out;
}

int load_device_filter(const std::vector<bpf_insn>& program) {
  // No helpers are called, so no GPL-only one either: the license string is informational.
  static const char license[] = "Apache-2.0";
  auto load = [&](char* log, uint32_t log_size) {
    union bpf_attr attr = {};
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.expected_attach_type = BPF_CGROUP_DEVICE;
    attr.insns = ptr(program.data());
    attr.insn_cnt = static_cast<uint32_t>(program.size());
    attr.license = ptr(license);
    std::strncpy(attr.prog_name, kDeviceFilterName, sizeof attr.prog_name - 1);
    if (log) {
      attr.log_level = 1;
      attr.log_buf = ptr(log);
      attr.log_size = log_size;
    }
    return bpf(BPF_PROG_LOAD, attr);
  };
  long fd = load(nullptr, 0);
  if (fd >= 0) return static_cast<int>(fd);
  int err = errno;
  std::string what = fmt::format("load the device filter ({} instructions)", program.size());
  if (err == EPERM)
    throw_errno(what +
                    " (needs CAP_SYS_ADMIN or CAP_BPF, and before Linux 5.11 enough "
                    "RLIMIT_MEMLOCK)",
                err);
  if (err != EINVAL && err != EACCES && err != E2BIG) throw_errno(what, err);
  // Only now ask for the verifier's log: it costs time and memory on every successful load.
  std::vector<char> log(1 << 20);
  fd = load(log.data(), static_cast<uint32_t>(log.size()));
  if (fd >= 0) return static_cast<int>(fd);
  err = errno;
  std::string text(log.data(), strnlen(log.data(), log.size()));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  // The reason is at the end of the log.
  if (text.size() > 2000) text = "..." + text.substr(text.size() - 2000);
  throw_errno(what + (text.empty() ? "" : "; verifier log:\n" + text + "\n"), err);
}

std::vector<uint32_t> attached_device_filters(const std::string& cgroup_dir) {
  UniqueFd cg = open_cgroup(cgroup_dir);
  std::vector<uint32_t> ids;
  for (auto& [id, fd] : our_filters(cg.get(), cgroup_dir)) ids.push_back(id);
  return ids;
}

void apply_device_filter(const std::string& cgroup_dir, const std::vector<DeviceRule>& rules) {
  DevicePolicy policy = emulate_v1_devices(rules);
  for (const std::string& msg : policy.ignored) log::warn(msg);
  std::vector<bpf_insn> program = device_filter_program(policy);

  UniqueFd cg = open_cgroup(cgroup_dir);
  UniqueFd prog;
  try {
    prog.reset(load_device_filter(program));
  } catch (const Error& e) {
    throw Error(fmt::format("linux.resources.devices: {}: {}", cgroup_dir, e.what()),
                e.error_code());
  }
  uint32_t new_id = prog_info(prog.get()).id;
  auto old = our_filters(cg.get(), cgroup_dir);

  union bpf_attr attr = {};
  attr.target_fd = cg.get();
  attr.attach_bpf_fd = prog.get();
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = BPF_F_ALLOW_MULTI;
  if (bpf(BPF_PROG_ATTACH, attr) < 0) {
    int err = errno;
    std::string hint;
    if (err == EPERM)
      hint =
          " (a program attached there, or to an ancestor, without BPF_F_ALLOW_MULTI forbids "
          "more)";
    else if (err == EBADF)
      hint = " (not a cgroup v2 directory)";
    throw_errno(
        fmt::format("linux.resources.devices: attach the device filter to {}{}", cgroup_dir, hint),
        err);
  }
  for (auto& [id, fd] : old) {
    if (id == new_id) continue;
    union bpf_attr d = {};
    d.target_fd = cg.get();
    d.attach_bpf_fd = fd.get();
    d.attach_type = BPF_CGROUP_DEVICE;
    // ENOENT: a concurrent update took it away already.
    if (bpf(BPF_PROG_DETACH, d) < 0 && errno != ENOENT)
      fail_errno(
          "linux.resources.devices: detach the previous device filter (program {}) from {}; the "
          "new one is attached and both apply",
          id, cgroup_dir);
  }
}

}  // namespace vessel::cgroups
