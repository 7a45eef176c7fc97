#include "network/isolation.h"

#include <unistd.h>

#include <vector>

#include "util/error.h"
#include "util/subprocess.h"

namespace vessel::network {

namespace {

const char* kChain = "VESSEL-ISOLATION";
const char* kChain2 = "VESSEL-ISOLATION-2";

// Which of iptables and ip6tables the helpers below run: the rules are the same for both
// families of a dual-stack network.
thread_local bool g_v6 = false;

std::string iptables_path() {
  std::string name = g_v6 ? "ip6tables" : "iptables";
  for (const char* dir : {"/usr/sbin/", "/sbin/", "/usr/bin/"})
    if (::access((dir + name).c_str(), X_OK) == 0) return dir + name;
  fail("{} not found (install the iptables package): it is needed to isolate networks", name);
}

// Runs `iptables -w -t filter ARGS`; returns its exit status, throws on other failures when
// `must` is set.
int iptables(const std::vector<std::string>& args, bool must = true) {
  std::string path = iptables_path();
  std::vector<std::string> argv = {path, "-w", "-t", "filter"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run_subprocess(path, argv, {}, "", 60000);
  if (r.status != 0 && must) {
    std::string cmd;
    for (size_t i = 1; i < argv.size(); ++i) cmd += " " + argv[i];
    std::string err = r.err;
    while (!err.empty() && err.back() == '\n') err.pop_back();
    fail("iptables{}: {}", cmd, err.empty() ? fmt::format("exit status {}", r.status) : err);
  }
  return r.status;
}

void ensure_chain(const std::string& chain) {
  if (iptables({"-n", "-L", chain}, false) != 0) {
    // Another command may create it at the same time.
    if (iptables({"-N", chain}, false) != 0 && iptables({"-n", "-L", chain}, false) != 0)
      iptables({"-N", chain});
  }
}

void ensure_rule(const std::string& chain, const std::vector<std::string>& rule) {
  std::vector<std::string> check = {"-C", chain};
  check.insert(check.end(), rule.begin(), rule.end());
  if (iptables(check, false) == 0) return;
  std::vector<std::string> add = {"-A", chain};
  add.insert(add.end(), rule.begin(), rule.end());
  iptables(add);
}

void delete_rule(const std::string& chain, const std::vector<std::string>& rule) {
  std::vector<std::string> del = {"-D", chain};
  del.insert(del.end(), rule.begin(), rule.end());
  // A rule added twice by racing commands goes with a second -D.
  for (int i = 0; i < 4 && iptables(del, false) == 0; ++i) {
  }
}

std::vector<std::vector<std::string>> bridge_rules(const std::string& bridge, bool internal) {
  if (internal)
    return {{"-i", bridge, "!", "-o", bridge, "-j", "DROP"},
            {"-o", bridge, "!", "-i", bridge, "-j", "DROP"}};
  return {{"-i", bridge, "!", "-o", bridge, "-j", kChain2}};
}

struct Family {
  explicit Family(bool v6) { g_v6 = v6; }
  ~Family() { g_v6 = false; }
};

void ensure_one(const std::string& bridge, bool internal) {
  // The common case, every container start after the first: two checks, no changes.
  auto rules = bridge_rules(bridge, internal);
  std::vector<std::string> jump = {"-C", "CNI-ADMIN", "-j", kChain};
  std::vector<std::string> last = {"-C", kChain};
  last.insert(last.end(), rules.back().begin(), rules.back().end());
  if (iptables(jump, false) == 0 && iptables(last, false) == 0) return;
  ensure_chain("CNI-ADMIN");
  ensure_chain(kChain);
  ensure_chain(kChain2);
  ensure_rule(kChain2, {"-o", std::string(kBridgePrefix) + "+", "-j", "DROP"});
  ensure_rule("CNI-ADMIN", {"-j", kChain});
  for (const auto& r : rules) ensure_rule(kChain, r);
}

void remove_one(const std::string& bridge, bool internal) {
  if (iptables({"-n", "-L", kChain}, false) != 0) return;
  for (const auto& r : bridge_rules(bridge, internal)) delete_rule(kChain, r);
}

}  // namespace

void ensure_isolation(const std::string& bridge, bool internal, bool ipv6) {
  ensure_one(bridge, internal);
  if (ipv6) {
    Family f(true);
    ensure_one(bridge, internal);
  }
}

void remove_isolation(const std::string& bridge, bool internal, bool ipv6) {
  remove_one(bridge, internal);
  if (ipv6) {
    Family f(true);
    remove_one(bridge, internal);
  }
}

}  // namespace vessel::network
