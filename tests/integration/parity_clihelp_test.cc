// Parity with runc 1.1's command line: --version, per-command help (checkpoint and restore
// included), unknown commands, and the template `spec` writes.
#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "harness.h"

namespace itest {
namespace {

// runc 1.1's commands, in its help's order.
const std::vector<std::string> kRuncCommands = {
    "checkpoint", "create", "delete", "events", "exec",  "kill",  "list",   "pause",   "ps",
    "restore",    "resume", "run",    "spec",   "start", "state", "update", "features"};

std::string basename_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string line_starting(const std::string& text, const std::string& prefix) {
  for (const std::string& l : split_lines(text))
    if (l.rfind(prefix, 0) == 0) return l.substr(prefix.size());
  return "";
}

class ParityCliHelpTest : public ContainerTest {};

// runc: "runc version 1.1.5", "commit: ...", "spec: 1.0.2-dev", "go: ...", "libseccomp: 2.5.4".
TEST_F(ParityCliHelpTest, VersionNamesVersionCommitSpecAndLibseccomp) {
  Result v = run_cmd({runtime_path(), "--version"});
  ASSERT_TRUE(v.ok()) << v.describe();
  std::vector<std::string> lines = split_lines(v.out);
  ASSERT_FALSE(lines.empty()) << v.describe();
  const std::string name = runtime_is_runc() ? "runc" : "vessel-runtime";
  EXPECT_EQ(lines[0].rfind(name + " version ", 0), 0u) << v.out;
  EXPECT_GT(lines[0].size(), (name + " version ").size()) << v.out;
  EXPECT_FALSE(trim(line_starting(v.out, "commit: ")).empty()) << v.out;
  std::string spec = line_starting(v.out, "spec: ");
  EXPECT_FALSE(spec.empty()) << v.out;
  if (!runtime_is_runc()) {
    EXPECT_EQ(spec, "1.3.0") << v.out;
  }
  std::string seccomp = line_starting(v.out, "libseccomp: ");
  EXPECT_EQ(std::count(seccomp.begin(), seccomp.end(), '.'), 2) << v.out;
  // -v is the short form.
  Result short_form = run_cmd({runtime_path(), "-v"});
  EXPECT_EQ(short_form.out, v.out) << short_form.describe();
}

// `<command> -h` and `--help` print that command's own help, exit 0: for every command runc
// has, checkpoint and restore included.
TEST_F(ParityCliHelpTest, EveryRuncCommandHasItsOwnHelp) {
  Result top = run_cmd({runtime_path(), "--help"});
  ASSERT_TRUE(top.ok()) << top.describe();
  for (const std::string& cmd : kRuncCommands) {
    for (const char* flag : {"-h", "--help"}) {
      SCOPED_TRACE(cmd + " " + flag);
      Result h = run_cmd({runtime_path(), cmd, flag});
      EXPECT_TRUE(h.ok()) << h.describe();
      EXPECT_TRUE(h.out != top.out) << "the general help, not " << cmd << "'s";
      EXPECT_TRUE(contains(h.out, basename_of(runtime_path()) + " " + cmd)) << h.describe();
    }
  }
}

// runc: an unknown command is an error (exit 3), also when help is asked for it.
TEST_F(ParityCliHelpTest, UnknownCommandIsAnError) {
  for (std::vector<std::string> args : {std::vector<std::string>{"no-such-command"},
                                        {"no-such-command", "-h"},
                                        {"no-such-command", "--help"},
                                        {"no-such-command", "some-id"}}) {
    std::vector<std::string> argv = {runtime_path()};
    argv.insert(argv.end(), args.begin(), args.end());
    Result r = run_cmd(argv);
    EXPECT_TRUE(r.exited() && r.exit_code() != 0) << r.describe();
    EXPECT_TRUE(contains(r.err, "no-such-command")) << r.describe();
  }
}

// checkpoint of a container that is not running, and restore under a taken ID, fail with a
// clear error and leave the container alone (checkpoint_test.cc has the rest).
TEST_F(ParityCliHelpTest, CheckpointAndRestoreFailClearly) {
  json cfg = config({"sleep", "1000"});
  std::string id = new_id("ckpt");
  std::string bundle = write_bundle(cfg);
  Result c = create(id, bundle);
  ASSERT_TRUE(c.ok()) << c.describe();
  mkdirs(dir() + "/ckpt-image");
  write_text(dir() + "/ckpt-image/inventory.img", "");
  for (const char* cmd : {"checkpoint", "restore"}) {
    SCOPED_TRACE(cmd);
    std::vector<std::string> argv = {cmd, "--image-path", dir() + "/ckpt-image"};
    if (std::string(cmd) == "restore") argv.insert(argv.end(), {"--bundle", bundle});
    argv.push_back(id);
    Result r = rt(argv);
    EXPECT_TRUE(r.exited() && r.exit_code() != 0) << r.describe();
    if (!runtime_is_runc()) {
      EXPECT_TRUE(
          contains(r.err, std::string(cmd) == "checkpoint" ? "not running" : "already exists"))
          << r.describe();
    }
  }
  EXPECT_EQ(status(id), "created") << "a failed checkpoint must leave the container alone";
}

// ---------------------------------------------------------------------------------------------
// `spec`: runc's template.

class ParityCliSpecTest : public ContainerTest {
 protected:
  json spec_of(const std::string& runtime, const std::vector<std::string>& extra) {
    const std::string bundle = dir() + "/spec-" + std::to_string(++specs_);
    mkdirs(bundle);
    std::vector<std::string> argv = {runtime, "spec", "-b", bundle};
    argv.insert(argv.end(), extra.begin(), extra.end());
    Result r = run_cmd(argv);
    EXPECT_TRUE(r.ok()) << r.describe();
    json j = json::parse(read_text(bundle + "/config.json"), nullptr, false);
    EXPECT_TRUE(j.is_object()) << read_text(bundle + "/config.json");
    return j;
  }
  int specs_ = 0;
};

std::string installed_runc() {
  Result r = run_cmd({"/bin/sh", "-c", "command -v runc"});
  return r.ok() ? trim(r.out) : "";
}

// Fields that name the runtime rather than the container: the spec version each implements
// and the default hostname.
json without_runtime_names(json j) {
  j.erase("ociVersion");
  j.erase("hostname");
  return j;
}

TEST_F(ParityCliSpecTest, SpecWritesRuncsTemplate) {
  json s = spec_of(runtime_path(), {});
  const json caps = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"};
  for (const char* set : {"bounding", "effective", "permitted", "ambient"})
    EXPECT_EQ(s["process"]["capabilities"][set], caps) << set;
  EXPECT_FALSE(s["process"]["capabilities"].contains("inheritable"));
  json ns_types = json::array();
  for (const auto& ns : s["linux"]["namespaces"]) ns_types.push_back(ns["type"]);
  // runc adds a cgroup namespace on a pure cgroup v2 host only.
  json want_ns = {"pid", "network", "ipc", "uts", "mount"};
  struct statfs cg {};
  if (::statfs("/sys/fs/cgroup", &cg) == 0 && cg.f_type == CGROUP2_SUPER_MAGIC)
    want_ns.push_back("cgroup");
  EXPECT_EQ(ns_types, want_ns);
  EXPECT_FALSE(s["linux"].contains("seccomp")) << "runc's template has no seccomp profile";
  EXPECT_EQ(s["linux"]["maskedPaths"],
            json({"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                  "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                  "/proc/scsi"}));
  EXPECT_EQ(s["linux"]["readonlyPaths"],
            json({"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}));
  EXPECT_EQ(s["process"]["rlimits"],
            json::parse(R"([{"type":"RLIMIT_NOFILE","hard":1024,"soft":1024}])"));
  json dests = json::array();
  for (const auto& m : s["mounts"]) dests.push_back(m["destination"]);
  EXPECT_EQ(dests, json({"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys",
                         "/sys/fs/cgroup"}));

  std::string runc = installed_runc();
  if (runc.empty() || runtime_is_runc()) return;
  for (bool rootless : {false, true}) {
    SCOPED_TRACE(rootless ? "--rootless" : "plain");
    std::vector<std::string> extra;
    if (rootless) extra.push_back("--rootless");
    json ours = without_runtime_names(rootless ? spec_of(runtime_path(), extra) : s);
    json theirs = without_runtime_names(spec_of(runc, extra));
    EXPECT_EQ(ours, theirs) << "diff (ours -> runc's): " << json::diff(ours, theirs).dump(1);
  }
}

// The default profile vessel's `spec` used to write is one flag away.
TEST_F(ParityCliSpecTest, SeccompDefaultFlagAddsVesselsProfile) {
  if (runtime_is_runc()) GTEST_SKIP() << "vessel's flag";
  for (bool rootless : {false, true}) {
    std::vector<std::string> extra = {"--seccomp-default"};
    if (rootless) extra.push_back("--rootless");
    json s = spec_of(runtime_path(), extra);
    ASSERT_TRUE(s.is_object());
    ASSERT_TRUE(s["linux"].contains("seccomp")) << "no linux.seccomp";
    EXPECT_EQ(s["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
    EXPECT_FALSE(s["linux"]["seccomp"]["syscalls"].empty());
  }
}

}  // namespace
}  // namespace itest
