#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

#ifndef VESSEL_RUNTIME_BIN
#define VESSEL_RUNTIME_BIN "vessel-runtime"
#endif

extern char** environ;

namespace itest {
namespace {

// ---------------------------------------------------------------------------------------------
// One thread reaps every child of this process (we are a child subreaper, so orphaned
// container processes become our children too). Statuses are kept for the pids a Child owns.
struct Reaper {
  std::mutex mu;
  std::condition_variable cv;
  std::set<pid_t> active;       // pids owned by Child objects
  std::map<pid_t, int> exited;  // their wait statuses, until a Child collects them
  std::thread thread;
  std::atomic<bool> stop{false};
  bool started = false;

  void start() {
    if (started) return;
    started = true;
    thread = std::thread([this] { loop(); });
  }
  void shutdown() {
    if (!started) return;
    stop = true;
    thread.join();
    started = false;
  }
  void loop() {
    while (!stop) {
      int st = 0;
      pid_t p = ::waitpid(-1, &st, WNOHANG | __WALL);
      if (p > 0) {
        std::lock_guard<std::mutex> lk(mu);
        if (active.count(p)) exited[p] = st;
        cv.notify_all();
        continue;
      }
      std::this_thread::sleep_for(5ms);
    }
  }
};

Reaper& reaper() {
  static Reaper r;
  return r;
}

std::atomic<int> g_capture_counter{0};

struct Globals {
  std::string runtime;
  bool is_runc = false;
  std::string base;
  std::string rootfs;
  std::optional<json> features;
};
Globals& globals() {
  static Globals g;
  return g;
}

std::string resolve_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = getenv("PATH");
  std::string p = path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  std::stringstream ss(p);
  std::string d;
  while (std::getline(ss, d, ':')) {
    std::string cand = (d.empty() ? "." : d) + "/" + name;
    if (access(cand.c_str(), X_OK) == 0) return cand;
  }
  return name;
}

std::string join_cmd(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) {
    if (!s.empty()) s += ' ';
    if (a.find_first_of(" \t'\"$") != std::string::npos)
      s += "'" + a + "'";
    else
      s += a;
  }
  return s;
}

void copy_file(const std::string& from, const std::string& to, mode_t mode) {
  std::ifstream in(from, std::ios::binary);
  std::ofstream out(to, std::ios::binary | std::ios::trunc);
  out << in.rdbuf();
  out.close();
  ::chmod(to.c_str(), mode);
}

std::vector<std::string>& busybox_applets() {
  static std::vector<std::string> applets;
  return applets;
}

// A busybox rootfs: bin/busybox, relative symlinks for every applet, the usual empty dirs,
// /etc/passwd and /etc/group, and mount points the tests use.
void build_rootfs(const std::string& root) {
  mkdirs(root + "/bin");
  const std::string bb = root + "/bin/busybox";
  // Never write through an existing name: it may be a hard link to the host's busybox.
  ::unlink(bb.c_str());
  if (::link("/bin/busybox", bb.c_str()) != 0) copy_file("/bin/busybox", bb, 0755);
  for (const auto& a : busybox_applets()) {
    if (a == "busybox") continue;
    std::string l = root + "/bin/" + a;
    if (::symlink("busybox", l.c_str()) != 0 && errno != EEXIST)
      ADD_FAILURE() << "symlink " << l << ": " << strerror(errno);
  }
  for (const char* d : {"proc", "sys", "dev", "etc", "root", "home", "mnt", "shared", "data",
                        "hooks", "var", "usr"})
    mkdirs(root + "/" + d);
  mkdirs(root + "/tmp", 01777);
  ::chmod((root + "/tmp").c_str(), 01777);
  write_text(root + "/etc/passwd",
             "root:x:0:0:root:/root:/bin/sh\n"
             "user:x:1000:1000:user:/home:/bin/sh\n"
             "nobody:x:65534:65534:nobody:/:/bin/false\n");
  write_text(root + "/etc/group",
             "root:x:0:\ntty:x:5:\nwheel:x:10:\ngames:x:20:\nuser:x:1000:\nnogroup:x:65534:\n");
  write_text(root + "/etc/hostname", "rootfs\n");
}

int& original_netns_fd() {
  static int fd = -1;
  return fd;
}

class ItestEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    Globals& g = globals();
    // Every test runs in a network namespace of its own (before any thread starts), so that
    // no bridge, veth or firewall rule a test makes, deliberately or by mistake, ever touches
    // the host's interfaces. Its loopback is up for the tests that serve on 127.0.0.1.
    original_netns_fd() = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (unshare(CLONE_NEWNET) != 0) FAIL() << "unshare(CLONE_NEWNET): " << strerror(errno);
    {
      int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      ifreq ifr{};
      std::strcpy(ifr.ifr_name, "lo");
      bool up = sock >= 0 && ioctl(sock, SIOCGIFFLAGS, &ifr) == 0 &&
                (ifr.ifr_flags |= IFF_UP, ioctl(sock, SIOCSIFFLAGS, &ifr) == 0);
      if (sock >= 0) close(sock);
      if (!up) FAIL() << "bringing up lo: " << strerror(errno);
    }
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) FAIL() << "PR_SET_CHILD_SUBREAPER failed";
    reaper().start();

    char tmpl[] = "/tmp/vessel-itest-XXXXXX";
    if (!mkdtemp(tmpl)) FAIL() << "mkdtemp: " << strerror(errno);
    g.base = tmpl;
    // The container's root in a user namespace must be able to reach the rootfs.
    ::chmod(g.base.c_str(), 0755);
    mkdirs(g.base + "/cap", 0700);

    const char* env = getenv("VESSEL_TEST_RUNTIME");
    g.runtime = (env && *env) ? env : VESSEL_RUNTIME_BIN;
    std::string bn = g.runtime.substr(g.runtime.rfind('/') + 1);
    g.is_runc = bn == "runc";
    fprintf(stderr, "[itest] runtime under test: %s%s\n", g.runtime.c_str(),
            g.is_runc ? " (runc: vessel-only assertions skipped)" : "");
    if (access(g.runtime.c_str(), X_OK) != 0)
      ADD_FAILURE() << "runtime " << g.runtime << " is not executable";

    Result list = run_cmd({"/bin/busybox", "--list"});
    if (!list.ok()) FAIL() << "busybox --list: " << list.describe();
    busybox_applets() = split_lines(list.out);
    g.rootfs = g.base + "/rootfs";
    build_rootfs(g.rootfs);

    Result f = run_cmd({g.runtime, "features"}, 10s);
    if (f.ok()) {
      try {
        g.features = json::parse(f.out);
      } catch (const std::exception&) {
      }
    }
  }

  void TearDown() override {
    if (!globals().base.empty() && !getenv("VESSEL_TEST_KEEP")) remove_tree(globals().base);
    reaper().shutdown();
  }
};

[[maybe_unused]] ::testing::Environment* const g_env =
    ::testing::AddGlobalTestEnvironment(new ItestEnvironment);

}  // namespace

// ---------------------------------------------------------------------------------------------
// Result.

bool Result::exited() const { return !timed_out && WIFEXITED(wait_status); }

int Result::exit_code() const {
  if (timed_out) return -1;
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

std::string Result::describe() const {
  auto cut = [](const std::string& s) {
    return s.size() > 4000 ? s.substr(0, 2000) + "\n[...]\n" + s.substr(s.size() - 2000) : s;
  };
  std::ostringstream o;
  o << "\n  command: " << cmd << "\n  result: ";
  if (timed_out)
    o << "TIMED OUT (killed)";
  else if (WIFEXITED(wait_status))
    o << "exit " << WEXITSTATUS(wait_status);
  else if (WIFSIGNALED(wait_status))
    o << "killed by signal " << WTERMSIG(wait_status);
  o << "\n  stdout: <<" << cut(out) << ">>\n  stderr: <<" << cut(err) << ">>\n";
  return o.str();
}

// ---------------------------------------------------------------------------------------------
// Child.

Child::Child(Child&& o) noexcept { *this = std::move(o); }

Child& Child::operator=(Child&& o) noexcept {
  if (this != &o) {
    if (pid_ > 0) wait(1ms);
    pid_ = std::exchange(o.pid_, -1);
    cmd_ = std::move(o.cmd_);
    out_path_ = std::move(o.out_path_);
    err_path_ = std::move(o.err_path_);
    own_out_ = o.own_out_;
    own_err_ = o.own_err_;
  }
  return *this;
}

Child::~Child() {
  if (pid_ > 0) wait(1ms);
}

bool Child::running() const {
  if (pid_ <= 0) return false;
  std::lock_guard<std::mutex> lk(reaper().mu);
  return reaper().exited.count(pid_) == 0;
}

void Child::kill_group(int sig) {
  if (pid_ <= 0) return;
  ::kill(-pid_, sig);
  ::kill(pid_, sig);
}

Result Child::wait(Millis timeout) {
  Result r;
  r.cmd = cmd_;
  if (pid_ <= 0) {
    r.timed_out = true;
    return r;
  }
  Reaper& rp = reaper();
  std::unique_lock<std::mutex> lk(rp.mu);
  auto done = [&] { return rp.exited.count(pid_) != 0; };
  if (!rp.cv.wait_for(lk, timeout, done)) {
    r.timed_out = true;
    lk.unlock();
    kill_group(SIGKILL);
    lk.lock();
    rp.cv.wait_for(lk, 10s, done);
  }
  r.wait_status = rp.exited.count(pid_) ? rp.exited[pid_] : 0;
  rp.exited.erase(pid_);
  rp.active.erase(pid_);
  lk.unlock();
  pid_ = -1;
  r.out = read_text(out_path_);
  r.err = read_text(err_path_);
  if (own_out_) ::unlink(out_path_.c_str());
  if (own_err_) ::unlink(err_path_.c_str());
  return r;
}

Child spawn(const std::vector<std::string>& argv, const SpawnOptions& opts) {
  Child c;
  c.cmd_ = join_cmd(argv);
  const std::string cap = globals().base + "/cap/";
  int n = ++g_capture_counter;
  c.own_out_ = opts.stdout_path.empty();
  c.own_err_ = opts.stderr_path.empty();
  c.out_path_ = c.own_out_ ? cap + "out-" + std::to_string(n) : opts.stdout_path;
  c.err_path_ = c.own_err_ ? cap + "err-" + std::to_string(n) : opts.stderr_path;

  std::string prog = resolve_program(argv.at(0));
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  int in =
      ::open(opts.stdin_path.empty() ? "/dev/null" : opts.stdin_path.c_str(), O_RDONLY | O_CLOEXEC);
  int out = ::open(c.out_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int err = ::open(c.err_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (in < 0 || out < 0 || err < 0) {
    ADD_FAILURE() << "spawn: cannot open stdio files for " << c.cmd_ << ": " << strerror(errno);
    if (in >= 0) ::close(in);
    if (out >= 0) ::close(out);
    if (err >= 0) ::close(err);
    return c;
  }

  Reaper& rp = reaper();
  {
    std::lock_guard<std::mutex> lk(rp.mu);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::setpgid(0, 0);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(err, 2);
      ::close_range(3, ~0U, 0);
      ::execve(prog.c_str(), args.data(), environ);
      _exit(127);
    }
    if (pid < 0) {
      ADD_FAILURE() << "fork: " << strerror(errno);
    } else {
      ::setpgid(pid, pid);
      rp.exited.erase(pid);
      rp.active.insert(pid);
      c.pid_ = pid;
    }
  }
  ::close(in);
  ::close(out);
  ::close(err);
  return c;
}

Result run_cmd(const std::vector<std::string>& argv, Millis timeout, const SpawnOptions& opts) {
  Child c = spawn(argv, opts);
  return c.wait(timeout);
}

namespace {
std::set<pid_t> children_now() {
  std::set<pid_t> out;
  const pid_t self = getpid();
  std::set<pid_t> active;
  {
    std::lock_guard<std::mutex> lk(reaper().mu);
    active = reaper().active;
  }
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    long pid = strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    std::string st = read_text(std::string("/proc/") + e->d_name + "/stat");
    auto rp = st.rfind(')');
    if (rp == std::string::npos) continue;
    std::istringstream is(st.substr(rp + 2));
    char state = 0;
    long ppid = 0;
    is >> state >> ppid;
    if (ppid == self && !active.count(static_cast<pid_t>(pid))) out.insert(pid);
  }
  closedir(d);
  return out;
}
}  // namespace

std::set<pid_t> stray_children(Millis settle) {
  auto deadline = std::chrono::steady_clock::now() + settle;
  for (;;) {
    auto s = children_now();
    if (s.empty() || std::chrono::steady_clock::now() >= deadline) return s;
    std::this_thread::sleep_for(50ms);
  }
}

std::string describe_pids(const std::set<pid_t>& pids) {
  std::string s;
  for (pid_t p : pids) {
    std::string cmd = read_text("/proc/" + std::to_string(p) + "/cmdline");
    for (auto& ch : cmd)
      if (ch == '\0') ch = ' ';
    s += "\n  pid " + std::to_string(p) + ": " + cmd;
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Environment accessors.

std::string original_netns() {
  return "/proc/" + std::to_string(getpid()) + "/fd/" + std::to_string(original_netns_fd());
}

const std::string& runtime_path() { return globals().runtime; }
bool runtime_is_runc() { return globals().is_runc; }
const std::string& shared_rootfs() { return globals().rootfs; }
const std::string& base_dir() { return globals().base; }
const std::optional<json>& runtime_features() { return globals().features; }

// ---------------------------------------------------------------------------------------------
// ContainerTest.

void ContainerTest::SetUp() {
  if (geteuid() != 0) GTEST_SKIP() << "integration tests start real containers and need root";
  ASSERT_FALSE(base_dir().empty()) << "the global test environment did not start";
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->name()).substr(0, 24);
  for (auto& ch : name)
    if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  std::string tmpl = base_dir() + "/" + name + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  ASSERT_NE(mkdtemp(buf.data()), nullptr) << strerror(errno);
  dir_ = buf.data();
  ::chmod(dir_.c_str(), 0755);
  root_ = dir_ + "/state";
  shared_ = dir_ + "/shared";
  mkdirs(shared_, 0777);
  ::chmod(shared_.c_str(), 0777);
}

void ContainerTest::TearDown() {
  for (auto it = ids_.rbegin(); it != ids_.rend(); ++it)
    run_cmd({runtime_path(), "--root", root_, "delete", "--force", *it}, kTimeout);
  for (auto it = cleanups_.rbegin(); it != cleanups_.rend(); ++it) (*it)();
  cleanups_.clear();
  auto strays = stray_children(3s);
  if (!strays.empty()) {
    ADD_FAILURE() << "processes left behind after deleting every container of the test:"
                  << describe_pids(strays);
    for (pid_t p : strays) ::kill(p, SIGKILL);
    stray_children(3s);
  }
  for (const auto& cg : cgroups_)
    for (const auto& d : cgroup_dirs(cg)) ::rmdir(d.c_str());
  if (!getenv("VESSEL_TEST_KEEP")) remove_tree(dir_);
}

std::string ContainerTest::new_id(const std::string& tag) {
  static int n = 0;
  std::string id = "itest-" + tag + "-" + std::to_string(getpid()) + "-" + std::to_string(++n);
  ids_.push_back(id);
  return id;
}

std::string ContainerTest::new_cgroup_path() {
  static int n = 0;
  std::string p = "/vessel-itest-" + std::to_string(getpid()) + "-" + std::to_string(++n);
  cgroups_.push_back(p);
  return p;
}

json ContainerTest::config(std::vector<std::string> args) {
  json c = default_spec(shared_rootfs(), std::move(args));
  c["linux"]["cgroupsPath"] = new_cgroup_path();
  c["mounts"].push_back(mount_entry("/shared", "bind", shared_, {"rbind", "rw"}));
  return c;
}

std::string ContainerTest::write_bundle(const json& cfg) { return write_raw_bundle(cfg.dump(2)); }

std::string ContainerTest::write_raw_bundle(const std::string& raw) {
  std::string b = dir_ + "/bundle-" + std::to_string(++bundles_);
  mkdirs(b, 0755);
  write_text(b + "/config.json", raw);
  return b;
}

std::string ContainerTest::make_private_rootfs() {
  // A SetUp that failed leaves dir_ empty: a rootfs at "/rootfs-N" would be built in the host's /.
  if (dir_.empty() || dir_[0] != '/') {
    ADD_FAILURE() << "make_private_rootfs: the test has no temp dir (its SetUp failed)";
    throw std::runtime_error("no test temp dir");
  }
  std::string r = dir_ + "/rootfs-" + std::to_string(++rootfses_);
  build_rootfs(r);
  return r;
}

Result ContainerTest::rt(const std::vector<std::string>& args, const RtOptions& o) {
  std::vector<std::string> argv = {runtime_path(), "--root", root_};
  argv.insert(argv.end(), args.begin(), args.end());
  SpawnOptions so;
  so.stdout_path = o.stdout_path;
  so.stderr_path = o.stderr_path;
  return run_cmd(argv, o.timeout, so);
}

Child ContainerTest::rt_spawn(const std::vector<std::string>& args, const SpawnOptions& o) {
  std::vector<std::string> argv = {runtime_path(), "--root", root_};
  argv.insert(argv.end(), args.begin(), args.end());
  return spawn(argv, o);
}

Result ContainerTest::run_container(const json& cfg, const RtOptions& o, std::string* id_out) {
  std::string id = new_id("run");
  if (id_out) *id_out = id;
  std::string b = write_bundle(cfg);
  return rt({"run", "--bundle", b, id}, o);
}

Result ContainerTest::create(const std::string& id, const std::string& bundle,
                             const std::vector<std::string>& extra, const RtOptions& o) {
  std::vector<std::string> args = {"create", "--bundle", bundle};
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back(id);
  return rt(args, o);
}

std::optional<json> ContainerTest::state(const std::string& id) {
  Result r = rt({"state", id});
  if (!r.ok()) return std::nullopt;
  try {
    return json::parse(r.out);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "state output is not JSON: " << e.what() << r.describe();
    return std::nullopt;
  }
}

std::string ContainerTest::status(const std::string& id) {
  auto s = state(id);
  if (!s || !s->contains("status") || !(*s)["status"].is_string()) return {};
  return (*s)["status"].get<std::string>();
}

bool ContainerTest::wait_status(const std::string& id, const std::string& want, Millis timeout) {
  return wait_until([&] { return status(id) == want; }, timeout, 50ms);
}

HostSnapshot ContainerTest::snapshot() const {
  HostSnapshot s;
  s.mounts = host_mount_count();
  s.children = stray_children(0ms);
  return s;
}

void ContainerTest::expect_nothing_left(const HostSnapshot& before, const std::string& id,
                                        const std::string& cgroups_path) {
  EXPECT_EQ(host_mount_count(), before.mounts) << "the host mount table changed:\n"
                                               << read_text("/proc/self/mountinfo");
  if (DIR* d = opendir(root_.c_str())) {
    std::string entries;
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n == "." || n == "..") continue;
      if (contains(n, id)) entries += " " + n;
    }
    closedir(d);
    EXPECT_TRUE(entries.empty()) << "state left under --root " << root_ << ":" << entries;
  }
  if (!cgroups_path.empty()) {
    auto dirs = cgroup_dirs(cgroups_path);
    std::string all;
    for (const auto& d : dirs) all += " " + d;
    EXPECT_TRUE(dirs.empty()) << "cgroup left behind:" << all;
  }
  auto now = stray_children(2s);
  std::set<pid_t> extra;
  for (pid_t p : now)
    if (!before.children.count(p)) extra.insert(p);
  EXPECT_TRUE(extra.empty()) << "processes left behind:" << describe_pids(extra);
}

}  // namespace itest
