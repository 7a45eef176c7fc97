#include "linux/seccomp_enosys.h"

#include <linux/audit.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <limits>
#include <optional>

#include "util/error.h"

namespace vessel::linux {
namespace {

// offsetof(struct seccomp_data, nr) and (..., arch).
constexpr uint32_t kNrOffset = 0;
constexpr uint32_t kArchOffset = 4;

// s390 and s390x pass syscalls numbered above 255 through setup(2) (number 0); one the kernel
// does not know reaches the filter as number 0, which must answer ENOSYS too.
constexpr uint32_t kS390MultiplexNr = 0;

// A little assembler for forward jumps to labels: conditional jumps reach at most 255
// instructions ahead, so every one here targets a label in its own short section, and the
// long jumps (to another section or to libseccomp's program) are unconditional.
class Assembler {
 public:
  using Label = size_t;
  static constexpr Label kNext = std::numeric_limits<Label>::max();

  Label label() {
    targets_.push_back(kUnbound);
    return targets_.size() - 1;
  }
  void bind(Label l) { targets_[l] = code_.size(); }

  void load_word(uint32_t offset) { emit(BPF_LD | BPF_W | BPF_ABS, offset, kNext, kNext); }
  void jump_if(uint16_t op, uint32_t k, Label if_true, Label if_false) {
    emit(BPF_JMP | op | BPF_K, k, if_true, if_false);
  }
  void jump(Label to) {
    code_.push_back(BPF_STMT(BPF_JMP | BPF_JA, 0));
    fixups_.push_back({code_.size() - 1, to, Field::k});
  }
  void ret(uint32_t value) { emit(BPF_RET | BPF_K, value, kNext, kNext); }

  // Resolves every jump; `end` may be bound to code size, the first instruction after it.
  std::vector<sock_filter> finish() {
    for (const Fixup& f : fixups_) {
      size_t target = targets_[f.label];
      if (target == kUnbound || target <= f.at)
        fail("seccomp: ENOSYS stub: jump from instruction {} to an unbound or earlier label", f.at);
      size_t offset = target - f.at - 1;
      sock_filter& insn = code_[f.at];
      if (f.field == Field::k) {
        insn.k = static_cast<uint32_t>(offset);
        continue;
      }
      if (offset > 255)
        fail("seccomp: ENOSYS stub: conditional jump of {} instructions (at most 255)", offset);
      (f.field == Field::jt ? insn.jt : insn.jf) = static_cast<uint8_t>(offset);
    }
    return code_;
  }

 private:
  static constexpr size_t kUnbound = std::numeric_limits<size_t>::max();
  enum class Field { jt, jf, k };
  struct Fixup {
    size_t at;
    Label label;
    Field field;
  };

  void emit(uint16_t code, uint32_t k, Label jt, Label jf) {
    code_.push_back(BPF_JUMP(code, k, 0, 0));
    if (jt != kNext) fixups_.push_back({code_.size() - 1, jt, Field::jt});
    if (jf != kNext) fixups_.push_back({code_.size() - 1, jf, Field::jf});
  }

  std::vector<sock_filter> code_;
  std::vector<size_t> targets_;
  std::vector<Fixup> fixups_;
};

// One AUDIT_ARCH_* value as the kernel reports it in seccomp_data.arch, with the highest
// syscall number the profile names for it. x86_64 and x32 share AUDIT_ARCH_X86_64 and are told
// apart by kX32SyscallBit, so they keep separate maxima.
struct ArchLimit {
  uint32_t audit_arch = 0;
  std::optional<uint32_t> max_nr;      // every ABI but x32
  std::optional<uint32_t> x32_max_nr;  // SCMP_ARCH_X32, the bit included
};

bool lets_syscalls_through(uint32_t action) {
  return action == SCMP_ACT_ALLOW || action == SCMP_ACT_LOG ||
         (action & 0xffff0000U) == SCMP_ACT_TRACE(0);
}

// The highest number any of the profile's syscall names has on `arch` (a SCMP_ARCH_* token);
// names libseccomp does not know, and those the architecture lacks (libseccomp's negative
// pseudo-numbers), count for nothing, as in runc.
std::optional<uint32_t> highest_nr(const SeccompFilter& f, uint32_t arch) {
  std::optional<uint32_t> max;
  for (const SeccompRule& r : f.rules)
    for (const std::string& name : r.names) {
      int nr = seccomp_syscall_resolve_name_arch(arch, name.c_str());
      if (nr < 0) continue;
      if (!max || static_cast<uint32_t>(nr) > *max) max = static_cast<uint32_t>(nr);
    }
  // A profile naming only syscall 0 on an architecture limits nothing useful there; runc
  // skips the architecture too.
  if (max && *max == 0) return std::nullopt;
  return max;
}

std::vector<ArchLimit> arch_limits(const SeccompFilter& f) {
  std::vector<ArchLimit> out;
  for (uint32_t token : f.architectures) {
    // SCMP_ARCH_* tokens are the kernel's AUDIT_ARCH_* values, except libseccomp's own one for
    // x32.
    const bool x32 = token == SCMP_ARCH_X32;
    const uint32_t audit = x32 ? AUDIT_ARCH_X86_64 : token;
    std::optional<uint32_t> max = highest_nr(f, token);
    if (!max) continue;
    ArchLimit* limit = nullptr;
    for (ArchLimit& l : out)
      if (l.audit_arch == audit) limit = &l;
    if (!limit) limit = &out.emplace_back(ArchLimit{audit, {}, {}});
    (x32 ? limit->x32_max_nr : limit->max_nr) = max;
  }
  return out;
}

}  // namespace

std::vector<sock_filter> enosys_stub(const SeccompFilter& f) {
  if (lets_syscalls_through(f.default_action) || f.default_action == SCMP_ACT_ERRNO(ENOSYS))
    return {};
  std::vector<ArchLimit> limits = arch_limits(f);
  if (limits.empty()) return {};

  // ld arch; for each listed architecture: "jeq arch, next, +1; ja its section"; then "ja
  // libseccomp" for any other architecture (libseccomp's program kills or refuses it). Each
  // section loads the number, compares it and returns ENOSYS or jumps to libseccomp's program.
  Assembler a;
  const Assembler::Label program = a.label();
  std::vector<Assembler::Label> sections;
  a.load_word(kArchOffset);
  for (const ArchLimit& l : limits) {
    const Assembler::Label other = a.label();
    sections.push_back(a.label());
    a.jump_if(BPF_JEQ, l.audit_arch, Assembler::kNext, other);
    a.jump(sections.back());
    a.bind(other);
  }
  a.jump(program);

  for (size_t i = 0; i < limits.size(); ++i) {
    const ArchLimit& l = limits[i];
    const Assembler::Label enosys = a.label(), to_program = a.label();
    a.bind(sections[i]);
    a.load_word(kNrOffset);
    if (l.audit_arch == AUDIT_ARCH_S390 || l.audit_arch == AUDIT_ARCH_S390X)
      a.jump_if(BPF_JEQ, kS390MultiplexNr, enosys, Assembler::kNext);
    if (l.audit_arch == AUDIT_ARCH_X86_64) {
      // Each ABI against its own maximum; an ABI the profile does not list goes straight to
      // libseccomp's program.
      const Assembler::Label x32 = a.label();
      a.jump_if(BPF_JSET, kX32SyscallBit, l.x32_max_nr ? x32 : to_program,
                l.max_nr ? Assembler::kNext : to_program);
      if (l.max_nr) a.jump_if(BPF_JGT, *l.max_nr, enosys, to_program);
      a.bind(x32);
      if (l.x32_max_nr) a.jump_if(BPF_JGT, *l.x32_max_nr, enosys, to_program);
    } else {
      a.jump_if(BPF_JGT, *l.max_nr, enosys, to_program);
    }
    a.bind(to_program);
    a.jump(program);
    a.bind(enosys);
    a.ret(SCMP_ACT_ERRNO(ENOSYS));
  }
  a.bind(program);
  return a.finish();
}

std::vector<sock_filter> export_seccomp_program(void* ctx) {
  // libseccomp writes the program to a file descriptor; a memfd holds it however long it is.
  UniqueFd mem(::memfd_create("vessel-seccomp-bpf", MFD_CLOEXEC));
  if (!mem) fail_errno("seccomp: memfd_create for the exported filter");
  int rc = seccomp_export_bpf(ctx, mem.get());
  if (rc < 0) throw_errno("seccomp: export the filter libseccomp generated", -rc);
  off_t size = ::lseek(mem.get(), 0, SEEK_END);
  if (size < 0) fail_errno("seccomp: size of the exported filter");
  if (size == 0 || size % static_cast<off_t>(sizeof(sock_filter)) != 0)
    fail("seccomp: the exported filter is {} bytes, not a whole number of instructions", size);
  std::vector<sock_filter> program(static_cast<size_t>(size) / sizeof(sock_filter));
  size_t done = 0;
  auto* bytes = reinterpret_cast<char*>(program.data());
  while (done < static_cast<size_t>(size)) {
    ssize_t n = retry_eintr([&] {
      return ::pread(mem.get(), bytes + done, static_cast<size_t>(size) - done,
                     static_cast<off_t>(done));
    });
    if (n < 0) fail_errno("seccomp: read back the exported filter");
    if (n == 0) fail("seccomp: the exported filter ended early, at byte {} of {}", done, size);
    done += static_cast<size_t>(n);
  }
  return program;
}

unsigned long seccomp_load_flags(const SeccompFilter& f) {
  unsigned long flags = 0;
  if (f.flag_log) flags |= SECCOMP_FILTER_FLAG_LOG;
  if (f.flag_spec_allow) flags |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
  if (f.uses_notify) {
    flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
    // Only meaningful, and only accepted by the kernel, with a listener (older uapi headers
    // do not name it).
    if (f.flag_wait_killable_recv) flags |= 1UL << 5;  // SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
  }
  return flags;
}

UniqueFd load_seccomp_program(const std::vector<sock_filter>& program, unsigned long flags) {
  if (program.empty() || program.size() > BPF_MAXINSNS)
    fail("seccomp: the filter has {} instructions (the kernel takes 1 to {})", program.size(),
         BPF_MAXINSNS);
  sock_fprog prog = {static_cast<unsigned short>(program.size()),
                     const_cast<sock_filter*>(program.data())};
  long rc = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
  if (rc < 0) {
    if (errno == EACCES)
      fail_errno(
          "seccomp: load the filter (without no_new_privs this needs CAP_SYS_ADMIN: load it "
          "before capabilities are dropped)");
    fail_errno("seccomp: load the filter (flags {:#x}, {} instructions)", flags, program.size());
  }
  if (!(flags & SECCOMP_FILTER_FLAG_NEW_LISTENER)) return {};
  return UniqueFd(static_cast<int>(rc));
}

}  // namespace vessel::linux
