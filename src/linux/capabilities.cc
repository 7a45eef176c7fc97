#include "linux/capabilities.h"

#include <sys/capability.h>
#include <sys/prctl.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <memory>
#include <string_view>
#include <type_traits>

#include "oci/capability_names.h"
#include "util/error.h"
#include "util/log.h"

namespace vessel::linux {
namespace {

// Our own table (oci/capability_names.h) rather than libcap's lowercase names, so that lookups
// are exact and independent of the libcap version; libcap is only a fallback for capabilities
// newer than this list.
constexpr const auto& kNames = oci::kCapabilityNames;

struct CapFree {
  void operator()(void* p) const { cap_free(p); }
};
using CapPtr = std::unique_ptr<std::remove_pointer_t<cap_t>, CapFree>;

// Asks the kernel rather than /proc/sys/kernel/cap_last_cap, which may not be mounted yet
// inside the container.
int last_cap() {
  int last = -1;
  for (int c = 0; c < 64; ++c) {
    if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) < 0) {
      if (errno == EINVAL) break;
      fail_errno("prctl(PR_CAPBSET_READ, {})", c);
    }
    last = c;
  }
  if (last < 0) fail("cannot determine the kernel's capabilities (PR_CAPBSET_READ)");
  return last;
}

std::string cap_name(int cap) {
  if (cap >= 0 && static_cast<size_t>(cap) < kNames.size()) return std::string(kNames[cap]);
  char* n = cap_to_name(static_cast<cap_value_t>(cap));
  std::string out;
  if (n != nullptr) {
    out = n;
    cap_free(n);
  }
  // libcap answers with the bare number for capabilities it has no name for.
  if (out.empty() ||
      std::all_of(out.begin(), out.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
    return "";
  if (out.rfind("cap_", 0) == 0)
    std::transform(out.begin(), out.end(), out.begin(),
                   [](char ch) { return ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A' : ch; });
  return out;
}

// Takes errno before naming the capability, which allocates.
[[noreturn]] void fail_errno_cap(const char* what, int cap) {
  int err = errno;
  throw_errno(fmt::format("{} {} (capability {})", what, cap_name(cap), cap), err);
}

// Resolves the names of one set; names unknown here or to the running kernel go to `skipped`.
std::vector<int> resolve(const std::vector<std::string>& names, int last,
                         std::vector<std::string>* skipped) {
  std::vector<int> out;
  for (const auto& name : names) {
    int cap = -1;
    try {
      cap = capability_from_name(name);
    } catch (const Error&) {
    }
    if (cap < 0 || cap > last) {
      if (skipped != nullptr && std::find(skipped->begin(), skipped->end(), name) == skipped->end())
        skipped->push_back(name);
      continue;
    }
    if (std::find(out.begin(), out.end(), cap) == out.end()) out.push_back(cap);
  }
  return out;
}

bool contains(const std::vector<int>& v, int cap) {
  return std::find(v.begin(), v.end(), cap) != v.end();
}

bool has_flag(cap_t c, int cap, cap_flag_t set) {
  cap_flag_value_t v = CAP_CLEAR;
  if (cap_get_flag(c, static_cast<cap_value_t>(cap), set, &v) != 0)
    fail_errno_cap("cap_get_flag", cap);
  return v == CAP_SET;
}

void set_flag(cap_t c, int cap, cap_flag_t set) {
  cap_value_t v = static_cast<cap_value_t>(cap);
  if (cap_set_flag(c, set, 1, &v, CAP_SET) != 0) fail_errno_cap("cap_set_flag", cap);
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

int capability_from_name(const std::string& name) {
  for (size_t i = 0; i < kNames.size(); ++i)
    if (kNames[i] == name) return static_cast<int>(i);
  // Only for capabilities newer than our table; libcap is case-insensitive and also takes
  // numbers, so require the canonical "CAP_" spelling before asking it.
  if (name.size() > 4 && name.rfind("CAP_", 0) == 0 &&
      std::none_of(name.begin() + 4, name.end(), [](char ch) { return ch >= 'a' && ch <= 'z'; }) &&
      !std::all_of(name.begin() + 4, name.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
    cap_value_t v;
    if (cap_from_name(name.c_str(), &v) == 0 && v >= static_cast<cap_value_t>(kNames.size()))
      return v;
  }
  fail("unknown capability \"{}\"", name);
}

std::vector<std::string> known_capabilities() {
  std::vector<std::string> out;
  int last = last_cap();
  for (int c = 0; c <= last; ++c) {
    // A kernel newer than both our table and libcap may know capabilities with no name yet;
    // nobody can ask for those in config.json, so they are left out.
    std::string n = cap_name(c);
    if (!n.empty()) out.push_back(std::move(n));
  }
  return out;
}

void prepare_capabilities(const oci::Capabilities& caps) {
  int last = last_cap();
  std::vector<std::string> skipped;
  for (const auto* set :
       {&caps.bounding, &caps.effective, &caps.inheritable, &caps.permitted, &caps.ambient})
    resolve(*set, last, &skipped);
  // As runc does, and as the runtime spec asks: warn, do not fail. apply_capabilities skips the
  // same names silently, so each is reported once.
  if (!skipped.empty())
    log::warn("ignoring unknown or unavailable capabilities: [" + join(skipped) + "]");

  std::vector<int> keep = resolve(caps.bounding, last, nullptr);
  // Walks numbers, not names, so capabilities without a name are dropped too.
  for (int c = 0; c <= last; ++c) {
    if (contains(keep, c)) continue;
    int r = prctl(PR_CAPBSET_READ, c, 0, 0, 0);
    if (r < 0) fail_errno_cap("prctl(PR_CAPBSET_READ)", c);
    if (r == 0) continue;
    if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
      fail_errno_cap("prctl(PR_CAPBSET_DROP): drop from the bounding set", c);
  }
  // Without keep-caps, setresuid() to a non-zero uid empties the permitted set and there would
  // be nothing left for apply_capabilities to keep.
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) fail_errno("prctl(PR_SET_KEEPCAPS, 1)");
}

void apply_capabilities(const oci::Capabilities& caps) {
  int last = last_cap();
  std::vector<int> effective = resolve(caps.effective, last, nullptr);
  std::vector<int> permitted = resolve(caps.permitted, last, nullptr);
  std::vector<int> inheritable = resolve(caps.inheritable, last, nullptr);
  std::vector<int> ambient = resolve(caps.ambient, last, nullptr);

  CapPtr cur(cap_get_proc());
  if (!cur) fail_errno("cap_get_proc");
  CapPtr next(cap_init());
  if (!next) fail_errno("cap_init");

  // The kernel only lets capset() shrink permitted, and only lets inheritable grow within
  // (inheritable | permitted) without CAP_SETPCAP in effective (which the uid switch has just
  // cleared) and never beyond (inheritable | bounding). Asking for more would fail the whole
  // call, so what cannot be granted is left out with a warning, as the runtime spec asks.
  bool setpcap = has_flag(cur.get(), CAP_SETPCAP, CAP_EFFECTIVE);
  std::vector<std::string> not_granted;
  for (int c : permitted) {
    if (has_flag(cur.get(), c, CAP_PERMITTED))
      set_flag(next.get(), c, CAP_PERMITTED);
    else
      not_granted.push_back(cap_name(c) + " (permitted)");
  }
  for (int c : inheritable) {
    bool had = has_flag(cur.get(), c, CAP_INHERITABLE);
    bool may_add = setpcap || has_flag(cur.get(), c, CAP_PERMITTED);
    bool in_bounding = prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1;
    if (had || (may_add && in_bounding))
      set_flag(next.get(), c, CAP_INHERITABLE);
    else
      not_granted.push_back(cap_name(c) + " (inheritable)");
  }
  for (int c : effective) {
    if (has_flag(next.get(), c, CAP_PERMITTED))
      set_flag(next.get(), c, CAP_EFFECTIVE);
    else
      not_granted.push_back(cap_name(c) + " (effective, not permitted)");
  }
  if (!not_granted.empty())
    log::warn("capabilities that cannot be granted are skipped: " + join(not_granted));
  if (cap_set_proc(next.get()) != 0)
    fail_errno("cap_set_proc (set effective/permitted/inheritable)");

  // Ambient capabilities inherited from the runtime must not leak into the container unless
  // they are listed.
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
      !(errno == EINVAL && ambient.empty()))
    fail_errno("prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
  for (int c : ambient) {
    if (!has_flag(next.get(), c, CAP_PERMITTED) || !has_flag(next.get(), c, CAP_INHERITABLE)) {
      // Common configs (runc's starter among them) list ambient without inheritable: not worth
      // noise on the container's stderr.
      log::debug("ambient capability " + cap_name(c) +
                 " is skipped: it must also be in the permitted and inheritable sets");
      continue;
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
      fail_errno_cap("prctl(PR_CAP_AMBIENT_RAISE)", c);
  }
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) fail_errno("prctl(PR_SET_KEEPCAPS, 0)");
}

}  // namespace vessel::linux
