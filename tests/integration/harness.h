// Integration-test harness: starts REAL containers as root with the runtime under test
// (VESSEL_TEST_RUNTIME when set, e.g. runc, else the vessel-runtime built next to the tests)
// and looks at them from inside and from the host.
//
// - One busybox rootfs per test-binary run (ItestEnvironment), shared read-only by the tests;
//   tests that must change a rootfs make a private one (ContainerTest::make_private_rootfs).
// - Every test has its own temp dir, --root state dir, container IDs and cgroupsPath values,
//   all removed in TearDown (delete --force for every container it made).
// - Commands run with fork/exec, stdio captured through files (a container may inherit them and
//   keep them open), and a timeout: a hung runtime fails the test, it does not hang it.
// - Assertions that only vessel-runtime must meet (error messages naming the JSON path) are
//   skipped when the runtime's basename is "runc"; where runc 1.1 deviates from the
//   runtime-spec, the test skips with the reason when it sees runc do so.
// - The test process is a child subreaper and reaps every child in one thread, so processes a
//   runtime leaves behind become visible as our stray children (stray_children()).
//
// Run (as root):
//   VESSEL_TEST_RUNTIME=$(which runc) build/bin/vessel-integration-tests   # the reference
//   build/bin/vessel-integration-tests                                     # vessel-runtime
// Environment: VESSEL_TEST_RUNTIME (runtime binary), VESSEL_TEST_CYCLES (leak-test cycles,
// default 200), VESSEL_TEST_KEEP=1 (keep the temp dirs under /tmp/vessel-itest-*).
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace itest {

using nlohmann::json;
using namespace std::chrono_literals;
using Millis = std::chrono::milliseconds;

inline constexpr Millis kTimeout = 20s;

// ---------------------------------------------------------------------------------------------
// Commands.

struct Result {
  std::string cmd;  // for messages
  int wait_status = 0;
  bool timed_out = false;
  std::string out;
  std::string err;

  bool exited() const;
  // The exit status; 128+N when killed by signal N (shell convention); -1 on timeout.
  int exit_code() const;
  bool ok() const { return !timed_out && exit_code() == 0; }
  // Command, status, stdout and stderr, for assertion messages.
  std::string describe() const;
};

struct SpawnOptions {
  std::string stdout_path;  // default: a capture file that is read and removed by wait()
  std::string stderr_path;
  std::string stdin_path;  // default /dev/null
};

// A running child process (its own process group). Destroying a child that was not waited
// for kills its process group and reaps it.
class Child {
 public:
  Child() = default;
  Child(Child&& o) noexcept;
  Child& operator=(Child&& o) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();

  pid_t pid() const { return pid_; }
  bool running() const;
  // Waits for the exit; on timeout kills the process group, reaps it, and says timed_out.
  Result wait(Millis timeout = kTimeout);
  void kill_group(int sig);

 private:
  friend Child spawn(const std::vector<std::string>&, const SpawnOptions&);
  pid_t pid_ = -1;
  std::string cmd_;
  std::string out_path_, err_path_;
  bool own_out_ = false, own_err_ = false;
};

Child spawn(const std::vector<std::string>& argv, const SpawnOptions& opts = {});
Result run_cmd(const std::vector<std::string>& argv, Millis timeout = kTimeout,
               const SpawnOptions& opts = {});

// Children of this process that no Child object owns (leaked by a runtime and reparented to
// us, the subreaper). Waits up to `settle` for exiting ones to be reaped.
std::set<pid_t> stray_children(Millis settle = 2s);
std::string describe_pids(const std::set<pid_t>& pids);

// ---------------------------------------------------------------------------------------------
// The environment.

const std::string& runtime_path();
bool runtime_is_runc();  // basename of the runtime is "runc": skip vessel-only assertions
const std::string& shared_rootfs();
const std::string& base_dir();
// The network namespace the test binary started in (it moves to a private one at once): for
// the few commands that must reach the network, e.g. Debian's archive for the debian template.
std::string original_netns();
// `RUNTIME features` parsed, if the runtime has that command.
const std::optional<json>& runtime_features();

// ---------------------------------------------------------------------------------------------
// Small helpers.

std::string read_text(const std::string& path);  // "" if it cannot be read
void write_text(const std::string& path, const std::string& data, mode_t mode = 0644);
bool exists(const std::string& path);  // lstat
std::string trim(const std::string& s);
std::vector<std::string> split_lines(const std::string& s);
bool contains(const std::string& hay, const std::string& needle);
// A TCP port on 127.0.0.1 that was free a moment ago (-1 if none could be had).
int free_port();
// Whether something accepts TCP connections on 127.0.0.1:PORT.
bool port_open(int port);
// A runtime's stderr with each logrus line (runc's and vessel-runtime's log form:
// time="..." level=L msg="Go-quoted", or a JSON entry) replaced by its message, unquoted; other
// lines stay as they are. For tests that look for message text with quotes in it.
std::string log_messages(const std::string& stderr_text);
std::string host_ns(const std::string& name);  // readlink /proc/self/ns/<name>
bool wait_until(const std::function<bool()>& pred, Millis timeout = kTimeout, Millis step = 20ms);
void remove_tree(const std::string& path);  // stays on one filesystem, never unmounts
void mkdirs(const std::string& path, mode_t mode = 0755);

struct MountInfo {
  std::string mount_point;
  std::string mount_opts;  // per-mount options (ro,nosuid,...)
  std::string optional;    // "shared:N master:M", may be empty
  std::string fstype;
  std::string source;
  std::string super_opts;  // per-superblock options (size=..,mode=..)
  std::string root;        // root of the mount within its filesystem
};
std::vector<MountInfo> parse_mountinfo(const std::string& text);
// The last (topmost) mount at `mount_point`, or nullopt.
std::optional<MountInfo> find_mount(const std::vector<MountInfo>& mounts,
                                    const std::string& mount_point);
bool has_option(const std::string& comma_list, const std::string& opt);
size_t host_mount_count();
// Mounts at or under `dir` only: a test's own leaks, unaffected by whatever else mounts on the
// host meanwhile (other suites, other tests running in parallel).
size_t mount_count_under(const std::string& dir);
std::vector<std::string> cgroup_mount_points();  // every cgroup/cgroup2 mount of the host
// The hierarchies in which the cgroup `cgroups_path` exists (empty = it exists nowhere).
std::vector<std::string> cgroup_dirs(const std::string& cgroups_path);

// ---------------------------------------------------------------------------------------------
// Config building.

json mount_entry(const std::string& dest, const std::string& type, const std::string& source,
                 std::vector<std::string> options = {});
// A runc-spec-like default: namespaces pid, network, ipc, uts, mount; the usual mounts;
// masked and readonly paths; the default capability set; NOFILE 1024; noNewPrivileges.
json default_spec(const std::string& rootfs, std::vector<std::string> args);

// ---------------------------------------------------------------------------------------------
// The fixture.

struct RtOptions {
  Millis timeout = kTimeout;
  std::string stdout_path;
  std::string stderr_path;
};

// What the host looked like, to prove an operation left nothing behind.
struct HostSnapshot {
  size_t mounts = 0;
  std::set<pid_t> children;
};

class ContainerTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // A unique container ID, deleted (--force) in TearDown.
  std::string new_id(const std::string& tag = "c");
  // A unique cgroupsPath "/vessel-itest-<pid>-<n>"; any leftover is removed in TearDown.
  std::string new_cgroup_path();
  // default_spec() on the shared rootfs, a fresh cgroupsPath, and the test's shared dir
  // (host: shared_dir(), mode 0777) bound read-write at /shared.
  json config(std::vector<std::string> args);
  // Writes <test dir>/bundle-N/config.json (or `raw` verbatim) and returns the bundle dir.
  std::string write_bundle(const json& cfg);
  std::string write_raw_bundle(const std::string& raw_config);
  // A minimal busybox rootfs of this test's own (for tests that change the rootfs).
  std::string make_private_rootfs();

  // RUNTIME --root <state dir> args...
  Result rt(const std::vector<std::string>& args, const RtOptions& o = {});
  Child rt_spawn(const std::vector<std::string>& args, const SpawnOptions& o = {});
  // run --bundle <new bundle> <new id>, in the foreground.
  Result run_container(const json& cfg, const RtOptions& o = {}, std::string* id_out = nullptr);
  Result create(const std::string& id, const std::string& bundle,
                const std::vector<std::string>& extra = {}, const RtOptions& o = {});
  std::optional<json> state(const std::string& id);
  std::string status(const std::string& id);  // "" if state fails
  bool wait_status(const std::string& id, const std::string& want, Millis timeout = kTimeout);

  HostSnapshot snapshot() const;
  // Asserts (non-fatally) that the host looks like `before`: same number of mounts, no
  // state dir entry for `id`, no cgroup dir for `cgroups_path`, no stray processes.
  void expect_nothing_left(const HostSnapshot& before, const std::string& id,
                           const std::string& cgroups_path);

  // Runs at TearDown, last registered first.
  void defer(std::function<void()> f) { cleanups_.push_back(std::move(f)); }

  const std::string& dir() const { return dir_; }
  const std::string& state_root() const { return root_; }
  const std::string& shared_dir() const { return shared_; }

 private:
  std::string dir_, root_, shared_;
  std::vector<std::string> ids_;
  std::vector<std::string> cgroups_;
  std::vector<std::function<void()>> cleanups_;
  int bundles_ = 0;
  int rootfses_ = 0;
};

}  // namespace itest
