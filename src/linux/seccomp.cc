#include "linux/seccomp.h"

#include <sched.h>
#include <seccomp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string_view>
#include <type_traits>

#include "linux/seccomp_cache.h"
#include "linux/seccomp_default_allowed.h"
#include "linux/seccomp_enosys.h"
#include "linux/terminal.h"
#include "oci/spec.h"
#include "util/error.h"
#include "util/fd_passing.h"
#include "util/log.h"

namespace vessel::linux {
namespace {

using json = nlohmann::json;

// libseccomp grew SCMP_FLTATR_CTL_WAITKILL in 2.6.0; older headers do not name it at all.
constexpr bool kHaveWaitKill = SCMP_VER_MAJOR > 2 || (SCMP_VER_MAJOR == 2 && SCMP_VER_MINOR >= 6);

struct ActionInfo {
  const char* name;
  uint32_t value;      // errno/trace data still zero
  bool takes_errno;    // ERRNO and TRACE carry a 16-bit value
  unsigned api_level;  // libseccomp API level the host needs (seccomp_api_get)
};

constexpr std::array<ActionInfo, 9> kActions = {{
    {"SCMP_ACT_KILL", SCMP_ACT_KILL, false, 1},
    {"SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS, false, 3},
    {"SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD, false, 1},
    {"SCMP_ACT_TRAP", SCMP_ACT_TRAP, false, 1},
    {"SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(0), true, 1},
    {"SCMP_ACT_TRACE", SCMP_ACT_TRACE(0), true, 1},
    {"SCMP_ACT_ALLOW", SCMP_ACT_ALLOW, false, 1},
    {"SCMP_ACT_LOG", SCMP_ACT_LOG, false, 3},
    {"SCMP_ACT_NOTIFY", SCMP_ACT_NOTIFY, false, 5},
}};

struct OperatorInfo {
  const char* name;
  scmp_compare op;
};

constexpr std::array<OperatorInfo, 7> kOperators = {{
    {"SCMP_CMP_NE", SCMP_CMP_NE},
    {"SCMP_CMP_LT", SCMP_CMP_LT},
    {"SCMP_CMP_LE", SCMP_CMP_LE},
    {"SCMP_CMP_EQ", SCMP_CMP_EQ},
    {"SCMP_CMP_GE", SCMP_CMP_GE},
    {"SCMP_CMP_GT", SCMP_CMP_GT},
    {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
}};

// The runtime-spec's list (as of libseccomp 2.6.0). Which of them the installed libseccomp
// can build filters for is asked at run time, so an upgrade of the library needs no change.
constexpr std::array<const char*, 23> kArchNames = {
    "SCMP_ARCH_X86",     "SCMP_ARCH_X86_64",   "SCMP_ARCH_X32",         "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS",     "SCMP_ARCH_MIPS64",      "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",  "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",   "SCMP_ARCH_PPC64LE",  "SCMP_ARCH_S390",        "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",  "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64",     "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",    "SCMP_ARCH_SH",       "SCMP_ARCH_SHEB",
};

constexpr const char* kFlagTsync = "SECCOMP_FILTER_FLAG_TSYNC";
constexpr const char* kFlagLog = "SECCOMP_FILTER_FLAG_LOG";
constexpr const char* kFlagSpecAllow = "SECCOMP_FILTER_FLAG_SPEC_ALLOW";
constexpr const char* kFlagWaitKillable = "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV";
constexpr std::array<const char*, 4> kKnownFlags = {kFlagTsync, kFlagLog, kFlagSpecAllow,
                                                    kFlagWaitKillable};

// The init hands the listener fd to the parent with sendmsg() after the filter is loaded;
// if that call were itself sent to the agent, which has not got the fd yet, it would wait
// forever (runc refuses "write" for the same reason: its hand-off uses write).
constexpr std::array<const char*, 1> kNoNotify = {"sendmsg"};

// Token for "SCMP_ARCH_X86_64" etc.: libseccomp's own names are the lower-case suffixes.
uint32_t arch_token(const std::string& name) {
  constexpr std::string_view prefix = "SCMP_ARCH_";
  if (name.rfind(prefix, 0) != 0) return 0;
  std::string lower = name.substr(prefix.size());
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return seccomp_arch_resolve_name(lower.c_str());
}

bool known_arch(const std::string& name) {
  return std::find_if(kArchNames.begin(), kArchNames.end(),
                      [&](const char* n) { return name == n; }) != kArchNames.end();
}

bool present(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && !j.at(key).is_null();
}

std::string shown(const json& v) {
  std::string s = v.dump();
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

[[noreturn]] void bad(const std::string& path, const std::string& why) {
  fail("config.json: {}: {}", path, why);
}

[[noreturn]] void bad_value(const std::string& path, const json& v, const std::string& why) {
  fail("config.json: {}: {} (value {})", path, why, shown(v));
}

const std::string& str(const json& v, const std::string& path) {
  if (!v.is_string()) bad_value(path, v, "expected a string");
  return v.get_ref<const std::string&>();
}

const json& array(const json& v, const std::string& path) {
  if (!v.is_array()) bad_value(path, v, "expected an array");
  return v;
}

// JSON built in code holds non-negative numbers as signed; parsed text holds them unsigned.
uint64_t unsigned_int(const json& v, const std::string& path, uint64_t max) {
  uint64_t x = 0;
  if (v.is_number_unsigned()) {
    x = v.get<uint64_t>();
  } else if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    x = static_cast<uint64_t>(v.get<int64_t>());
  } else {
    bad_value(path, v, "expected an unsigned integer");
  }
  if (x > max) bad_value(path, v, fmt::format("out of range (at most {})", max));
  return x;
}

std::string names_of(const auto& table) {
  std::string out;
  for (const auto& e : table) {
    if (!out.empty()) out += ", ";
    if constexpr (std::is_same_v<std::decay_t<decltype(e)>, const char*>)
      out += e;
    else
      out += e.name;
  }
  return out;
}

// The libseccomp action for obj[key], errno data from obj[errno_key] (EPERM when absent, as
// the spec says); `base` is the JSON path of obj.
uint32_t parse_action(const json& obj, const char* key, const char* errno_key,
                      const std::string& base, bool is_default) {
  const std::string path = base.empty() ? key : base + "." + key;
  if (!present(obj, key)) bad(path, "missing (one of " + names_of(kActions) + ")");
  const std::string& name = str(obj.at(key), path);
  auto it = std::find_if(kActions.begin(), kActions.end(),
                         [&](const ActionInfo& a) { return name == a.name; });
  if (it == kActions.end())
    bad(path, fmt::format("unknown action \"{}\" (known: {})", name, names_of(kActions)));
  unsigned api = seccomp_api_get();
  if (api < it->api_level)
    bad(path, fmt::format("{} is not supported on this host (libseccomp API level {}, needs {}; "
                          "see seccomp_api_get(3))",
                          name, api, it->api_level));
  if (is_default && it->value == SCMP_ACT_NOTIFY)
    bad(path,
        "SCMP_ACT_NOTIFY cannot be the default action: the runtime's own syscalls after the "
        "filter is loaded would wait for an agent that has not received the listener yet");

  const std::string errno_path = base.empty() ? errno_key : base + "." + errno_key;
  uint32_t data = EPERM;
  if (present(obj, errno_key)) {
    if (!it->takes_errno)
      bad(errno_path,
          fmt::format("{} takes no errno (only SCMP_ACT_ERRNO and SCMP_ACT_TRACE do)", name));
    data = static_cast<uint32_t>(unsigned_int(obj.at(errno_key), errno_path, 0xffff));
  }
  if (it->value == SCMP_ACT_ERRNO(0)) return SCMP_ACT_ERRNO(data);
  if (it->value == SCMP_ACT_TRACE(0)) return SCMP_ACT_TRACE(data);
  return it->value;
}

SeccompArg parse_arg(const json& a, const std::string& path) {
  if (!a.is_object()) bad_value(path, a, "expected an object");
  SeccompArg out;
  if (!present(a, "index")) bad(path, "missing \"index\"");
  // Syscalls have at most six arguments.
  out.index = static_cast<unsigned>(unsigned_int(a.at("index"), path + ".index", 5));
  if (!present(a, "value")) bad(path, "missing \"value\"");
  out.value = unsigned_int(a.at("value"), path + ".value", UINT64_MAX);
  if (present(a, "valueTwo"))
    out.value_two = unsigned_int(a.at("valueTwo"), path + ".valueTwo", UINT64_MAX);
  if (!present(a, "op")) bad(path, "missing \"op\" (one of " + names_of(kOperators) + ")");
  const std::string& op = str(a.at("op"), path + ".op");
  auto it = std::find_if(kOperators.begin(), kOperators.end(),
                         [&](const OperatorInfo& o) { return op == o.name; });
  if (it == kOperators.end())
    bad(path + ".op", fmt::format("unknown operator \"{}\" (known: {})", op, names_of(kOperators)));
  out.op = it->op;
  return out;
}

bool index_repeats(const std::vector<SeccompArg>& args) {
  std::array<unsigned, 6> count = {};
  for (const auto& a : args)
    if (++count[a.index] > 1) return true;
  return false;
}

SeccompFilter parse(const json& s, bool report) {
  const std::string base = "linux.seccomp";
  SeccompFilter f;
  if (!s.is_object()) bad_value(base, s, "expected an object");

  f.default_action = parse_action(s, "defaultAction", "defaultErrnoRet", base, true);

  if (present(s, "architectures")) {
    const json& archs = array(s.at("architectures"), base + ".architectures");
    for (size_t i = 0; i < archs.size(); ++i) {
      const std::string path = fmt::format("{}.architectures[{}]", base, i);
      const std::string& name = str(archs[i], path);
      if (!known_arch(name))
        bad(path,
            fmt::format("unknown architecture \"{}\" (known: {})", name, names_of(kArchNames)));
      uint32_t token = arch_token(name);
      if (token == 0)
        bad(path, fmt::format("architecture \"{}\" is not supported by libseccomp {}.{}.{}", name,
                              seccomp_version()->major, seccomp_version()->minor,
                              seccomp_version()->micro));
      if (std::find(f.architectures.begin(), f.architectures.end(), token) == f.architectures.end())
        f.architectures.push_back(token);
    }
  }

  if (present(s, "flags")) {
    const json& flags = array(s.at("flags"), base + ".flags");
    for (size_t i = 0; i < flags.size(); ++i) {
      const std::string path = fmt::format("{}.flags[{}]", base, i);
      const std::string& name = str(flags[i], path);
      if (name == kFlagTsync) {
        // Like runc: the init is single-threaded when it loads the filter, and only its
        // thread survives execve, so synchronising threads has nothing to do.
        if (report) log::debug(fmt::format("{}: {} ignored (the init has one thread)", path, name));
      } else if (name == kFlagLog) {
        f.flag_log = true;
      } else if (name == kFlagSpecAllow) {
        f.flag_spec_allow = true;
      } else if (name == kFlagWaitKillable) {
        if (!kHaveWaitKill)
          bad(path, fmt::format("{} is not supported: this runtime is built with libseccomp "
                                "{}.{}.{}, which has no attribute for it (needs 2.6.0)",
                                name, SCMP_VER_MAJOR, SCMP_VER_MINOR, SCMP_VER_MICRO));
        f.flag_wait_killable_recv = true;
      } else {
        bad(path, fmt::format("unknown flag \"{}\" (known: {})", name, names_of(kKnownFlags)));
      }
    }
  }

  if (present(s, "listenerPath")) {
    f.listener_path = str(s.at("listenerPath"), base + ".listenerPath");
    if (f.listener_path.empty()) bad(base + ".listenerPath", "must not be empty");
    // sockaddr_un.sun_path holds 108 bytes with the terminating NUL.
    if (f.listener_path.size() > 107)
      bad(base + ".listenerPath",
          fmt::format("socket path is {} bytes, at most 107 fit", f.listener_path.size()));
  }
  if (present(s, "listenerMetadata")) {
    f.listener_metadata = str(s.at("listenerMetadata"), base + ".listenerMetadata");
    if (f.listener_path.empty())
      bad(base + ".listenerMetadata", "must not be set without linux.seccomp.listenerPath");
  }

  if (present(s, "syscalls")) {
    const json& calls = array(s.at("syscalls"), base + ".syscalls");
    for (size_t i = 0; i < calls.size(); ++i) {
      const std::string path = fmt::format("{}.syscalls[{}]", base, i);
      const json& c = calls[i];
      if (!c.is_object()) bad_value(path, c, "expected an object");
      SeccompRule r;
      r.path = path;
      if (!present(c, "names")) bad(path, "missing \"names\"");
      const json& names = array(c.at("names"), path + ".names");
      if (names.empty()) bad(path + ".names", "must list at least one syscall");
      for (size_t k = 0; k < names.size(); ++k) {
        const std::string npath = fmt::format("{}.names[{}]", path, k);
        const std::string& n = str(names[k], npath);
        if (n.empty()) bad(npath, "must not be empty");
        r.names.push_back(n);
      }
      r.action = parse_action(c, "action", "errnoRet", path, false);
      if (present(c, "args")) {
        const json& args = array(c.at("args"), path + ".args");
        for (size_t k = 0; k < args.size(); ++k)
          r.args.push_back(parse_arg(args[k], fmt::format("{}.args[{}]", path, k)));
      }
      if (r.action == SCMP_ACT_NOTIFY) {
        f.uses_notify = true;
        for (const auto& n : r.names)
          if (std::find(kNoNotify.begin(), kNoNotify.end(), n) != kNoNotify.end())
            bad(path + ".action",
                fmt::format("SCMP_ACT_NOTIFY cannot be used for \"{}\": the runtime needs it to "
                            "hand the listener to the agent",
                            n));
      }
      if (report) {
        if (r.action == f.default_action)
          log::debug(fmt::format("{}: skipped, its action is the default action", path));
        for (const auto& n : r.names)
          if (seccomp_syscall_resolve_name(n.c_str()) == __NR_SCMP_ERROR)
            log::debug(
                fmt::format("{}: syscall \"{}\" is unknown to libseccomp, skipped", path, n));
      }
      f.rules.push_back(std::move(r));
    }
  }
  if (f.uses_notify && f.listener_path.empty())
    bad(base + ".listenerPath",
        "must be set when a rule uses SCMP_ACT_NOTIFY (the agent that answers notifications)");
  return f;
}

struct CtxRelease {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Ctx = std::unique_ptr<void, CtxRelease>;

void set_attr(void* ctx, scmp_filter_attr attr, uint32_t value, const char* what) {
  int rc = seccomp_attr_set(ctx, attr, value);
  if (rc < 0) throw_errno(fmt::format("seccomp: set {}", what), -rc);
}

void add_rule(void* ctx, const SeccompRule& r, const std::string& name, int nr) {
  auto cond = [](const SeccompArg& a) {
    scmp_arg_cmp c = {};
    c.arg = a.index;
    c.op = static_cast<scmp_compare>(a.op);
    // For SCMP_CMP_MASKED_EQ datum_a is the mask and datum_b the value, which is exactly
    // value/valueTwo in the spec; other operators read datum_a only.
    c.datum_a = a.value;
    c.datum_b = a.value_two;
    return c;
  };
  auto check = [&](int rc) {
    if (rc < 0)
      throw_errno(fmt::format("config.json: {}: add the rule for syscall \"{}\"", r.path, name),
                  -rc);
  };
  if (!index_repeats(r.args)) {
    // Conditions on different arguments must all hold (AND), in one rule.
    std::vector<scmp_arg_cmp> conds;
    for (const auto& a : r.args) conds.push_back(cond(a));
    check(seccomp_rule_add_array(ctx, r.action, nr, static_cast<unsigned>(conds.size()),
                                 conds.empty() ? nullptr : conds.data()));
    return;
  }
  // Several conditions on the same argument cannot all hold in one libseccomp rule; like
  // runc, each condition becomes a rule of its own, so any one of them matching is enough.
  for (const auto& a : r.args) {
    scmp_arg_cmp c = cond(a);
    check(seccomp_rule_add_array(ctx, r.action, nr, 1, &c));
  }
}

// Sends the whole payload, the fd with the first part, ignoring SIGPIPE (the agent may go).
void send_state(int sock, int fd, const std::string& payload, const std::string& where) {
  ssize_t n = send_with_fd(sock, fd, payload.data(), payload.size());
  if (n < 0) fail_errno("seccomp: send the listener fd to {}", where);
  size_t sent = static_cast<size_t>(n);
  while (sent < payload.size()) {
    n = retry_eintr(
        [&] { return ::send(sock, payload.data() + sent, payload.size() - sent, MSG_NOSIGNAL); });
    if (n < 0) fail_errno("seccomp: send the container process state to {}", where);
    sent += static_cast<size_t>(n);
  }
}

// seccomp(2) refuses a flag it does not know with EINVAL before it reads the (here missing)
// program, which fails with EFAULT: so EFAULT means the kernel knows the flag.
bool kernel_has_flag(unsigned long flags) {
  return ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, nullptr) < 0 && errno == EFAULT;
}

}  // namespace

SeccompFilter parse_seccomp(const nlohmann::json& seccomp) { return parse(seccomp, true); }

void validate_seccomp(const nlohmann::json& seccomp) {
  if (!seccomp.is_null()) parse(seccomp, true);
}

bool seccomp_uses_notify(const nlohmann::json& seccomp) {
  return !seccomp.is_null() && parse(seccomp, false).uses_notify;
}

UniqueFd load_seccomp(const nlohmann::json& seccomp) {
  if (seccomp.is_null()) return {};
  // Reported once already, by validate_seccomp in the parent.
  return load_seccomp(parse(seccomp, false));
}

namespace {

// libseccomp's program for `f`, behind the ENOSYS stub.
std::vector<sock_filter> build_program(const SeccompFilter& f) {
  Ctx ctx(seccomp_init(f.default_action));
  if (!ctx) fail("seccomp: cannot create a filter with default action {:#x}", f.default_action);
  // The runtime sets no_new_privs itself when process.noNewPrivileges asks for it; libseccomp
  // would otherwise set it for every container.
  set_attr(ctx.get(), SCMP_FLTATR_CTL_NNP, 0, "no_new_privs off");
  // Otherwise a failed call reports ECANCELED whatever the kernel said.
  set_attr(ctx.get(), SCMP_FLTATR_API_SYSRAWRC, 1, "raw return codes");
  // The flags (log, spec_allow, wait_killable_recv, the listener) are passed to seccomp(2) by
  // load_seccomp_program(), which loads libseccomp's program behind the ENOSYS stub.
  for (uint32_t arch : f.architectures) {
    int rc = seccomp_arch_add(ctx.get(), arch);
    // The native architecture is in every new filter already.
    if (rc < 0 && rc != -EEXIST)
      throw_errno(fmt::format("seccomp: add architecture {:#x}", arch), -rc);
  }
  for (const auto& r : f.rules) {
    // libseccomp refuses rules that repeat the default action; they change nothing.
    if (r.action == f.default_action) continue;
    for (const auto& name : r.names) {
      int nr = seccomp_syscall_resolve_name(name.c_str());
      if (nr == __NR_SCMP_ERROR) continue;  // unknown to this libseccomp, as runc does
      add_rule(ctx.get(), r, name, nr);
    }
  }
  // Syscalls newer than the profile answer ENOSYS, as with runc (seccomp_enosys.h).
  std::vector<sock_filter> program = enosys_stub(f);
  std::vector<sock_filter> generated = export_seccomp_program(ctx.get());
  program.insert(program.end(), generated.begin(), generated.end());
  return program;
}

}  // namespace

UniqueFd load_seccomp(const SeccompFilter& f) {
  SeccompProgram p;
  p.insns = build_program(f);
  p.flags = seccomp_load_flags(f);
  p.uses_notify = f.uses_notify;
  return load_seccomp(p);
}

SeccompProgram compile_seccomp(const nlohmann::json& seccomp, const std::string& cache_dir) {
  SeccompFilter f = parse(seccomp, false);
  SeccompProgram p;
  p.flags = seccomp_load_flags(f);
  p.uses_notify = f.uses_notify;
  std::string key = cache_dir.empty() ? std::string() : seccomp_cache_key(seccomp);
  if (!key.empty()) {
    if (auto hit = seccomp_cache_get(cache_dir, key)) {
      p.insns = std::move(*hit);
      return p;
    }
  }
  p.insns = build_program(f);
  if (!key.empty()) seccomp_cache_put(cache_dir, key, p.insns);
  return p;
}

UniqueFd load_seccomp(const SeccompProgram& p) {
  UniqueFd listener = load_seccomp_program(p.insns, p.flags);
  if (p.uses_notify && !listener)
    fail("seccomp: the filter uses SCMP_ACT_NOTIFY but no listener fd was returned");
  return listener;
}

nlohmann::json seccomp_process_state(const nlohmann::json& seccomp, const nlohmann::json& state,
                                     pid_t pid) {
  json out = {
      {"ociVersion", oci::kSpecVersion},
      {"fds", {"seccompFd"}},
      {"pid", pid},
  };
  if (present(seccomp, "listenerMetadata")) out["metadata"] = seccomp.at("listenerMetadata");
  out["state"] = state;
  return out;
}

void send_seccomp_listener(const nlohmann::json& seccomp, int notify_fd,
                           const nlohmann::json& state, pid_t pid) {
  SeccompFilter f = parse(seccomp, false);
  if (f.listener_path.empty())
    fail("config.json: linux.seccomp.listenerPath: not set, nowhere to send the listener fd");
  std::string where = "seccomp agent " + f.listener_path;
  UniqueFd sock;
  try {
    sock = connect_unix(f.listener_path);
  } catch (const Error& e) {
    // runc's words first, so whoever knows its message recognises this one.
    throw Error(fmt::format("failed to connect with seccomp agent specified in the seccomp "
                            "profile: linux.seccomp.listenerPath: {}",
                            e.what()),
                e.error_code());
  }
  send_state(sock.get(), notify_fd, seccomp_process_state(seccomp, state, pid).dump(), where);
  // One state per connection: the agent reads until EOF.
}

nlohmann::json seccomp_features() {
  json actions = json::array(), operators = json::array(), archs = json::array();
  for (const auto& a : kActions) actions.push_back(a.name);
  for (const auto& o : kOperators) operators.push_back(o.name);
  for (const char* a : kArchNames)
    if (arch_token(a) != 0) archs.push_back(a);
  json known = json::array(), supported = json::array();
  for (const char* f : kKnownFlags) known.push_back(f);
  if (kernel_has_flag(SECCOMP_FILTER_FLAG_TSYNC)) supported.push_back(kFlagTsync);
  if (kernel_has_flag(SECCOMP_FILTER_FLAG_LOG)) supported.push_back(kFlagLog);
  if (kernel_has_flag(SECCOMP_FILTER_FLAG_SPEC_ALLOW)) supported.push_back(kFlagSpecAllow);
  // The kernel accepts this flag only together with NEW_LISTENER.
  if (kHaveWaitKill &&
      kernel_has_flag(SECCOMP_FILTER_FLAG_NEW_LISTENER | (1UL << 5) /* WAIT_KILLABLE_RECV */))
    supported.push_back(kFlagWaitKillable);
  return {
      {"enabled", true}, {"actions", actions},  {"operators", operators},
      {"archs", archs},  {"knownFlags", known}, {"supportedFlags", supported},
  };
}

namespace {

// personality(2) values a normal program uses: Linux, 32-bit Linux, either with the
// 2.6-uname compatibility bit, and the 0xffffffff query.
constexpr uint64_t kPersonalities[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};

json default_architectures() {
  switch (seccomp_arch_native()) {
    case SCMP_ARCH_X86_64:
      return {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"};
    case SCMP_ARCH_AARCH64:
      return {"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"};
    default:
      break;
  }
  for (const char* name : kArchNames)
    if (arch_token(name) == seccomp_arch_native()) return {name};
  return json::array();
}

}  // namespace

nlohmann::json default_seccomp_profile() {
  json calls = json::array();
  json allowed = json::array();
  for (const char* n : default_allowed_syscalls()) allowed.push_back(n);
  calls.push_back({{"names", allowed}, {"action", "SCMP_ACT_ALLOW"}});
  // clone without any flag that creates a namespace: fork and threads, not containers.
  constexpr uint64_t ns_flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                                CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP;
  calls.push_back(
      {{"names", {"clone"}},
       {"action", "SCMP_ACT_ALLOW"},
       {"args",
        {{{"index", 0}, {"value", ns_flags}, {"valueTwo", 0}, {"op", "SCMP_CMP_MASKED_EQ"}}}}});
  // clone3 passes its flags in memory, out of a filter's reach; ENOSYS (not EPERM) makes the
  // C library fall back to clone, which the rule above checks.
  calls.push_back({{"names", {"clone3"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", ENOSYS}});
  // One entry per value: conditions on the same argument within one entry are OR-ed by this
  // runtime and runc, but a separate entry reads the same in every runtime.
  for (uint64_t p : kPersonalities)
    calls.push_back({{"names", {"personality"}},
                     {"action", "SCMP_ACT_ALLOW"},
                     {"args", {{{"index", 0}, {"value", p}, {"op", "SCMP_CMP_EQ"}}}}});
  json profile = {
      {"defaultAction", "SCMP_ACT_ERRNO"},
      {"defaultErrnoRet", EPERM},
  };
  json archs = default_architectures();
  if (!archs.empty()) profile["architectures"] = archs;
  profile["syscalls"] = calls;
  return profile;
}

}  // namespace vessel::linux
