#include "manager/oci_runtime.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>

#include "manager/config.h"
#include "oci/spec.h"
#include "util/error.h"
#include "util/file.h"
#include "util/subprocess.h"

namespace vessel::manager {

using nlohmann::json;

namespace {

std::string base_name(const std::string& path) { return path.substr(path.rfind('/') + 1); }

// vessel's runtime as a library, in this process.
class BuiltinRuntime final : public OciRuntime {
 public:
  BuiltinRuntime(std::string root, std::string seccomp_cache)
      : root_(std::move(root)), seccomp_cache_(std::move(seccomp_cache)), rt_(root_) {}

  pid_t create(const std::string& id, const std::string& bundle, const std::string& console,
               bool rootless) override {
    runtime::CreateOptions co;
    co.id = id;
    co.bundle = bundle;
    co.console_socket = console;
    co.rootless = rootless;
    co.seccomp_cache_dir = seccomp_cache_;
    // Held: the start below releases the process over a socket pair, not a start socket.
    held_.emplace(rt_.create_held(co));
    held_id_ = id;
    return held_->pid();
  }
  void start(const std::string& id) override {
    if (held_ && held_id_ == id) {
      runtime::HeldContainer h = std::move(*held_);
      held_.reset();
      rt_.start_held(h);
      return;
    }
    rt_.start(id);
  }
  pid_t restore(const std::string& id, const std::string& bundle, const std::string& image_path,
                const RestoreFlags& flags) override {
    runtime::RestoreOptions ro;
    ro.id = id;
    ro.bundle = bundle;
    ro.detach = true;
    ro.common.image_path = image_path;
    ro.common.tcp_established = flags.tcp_established;
    ro.common.file_locks = flags.file_locks;
    rt_.restore(ro);
    return rt_.state(id).pid;
  }
  oci::State state(const std::string& id) override { return rt_.state(id); }
  void kill(const std::string& id, int signal, bool all) override { rt_.kill(id, signal, all); }
  void remove(const std::string& id, bool force) override { rt_.remove(id, force); }
  void pause(const std::string& id) override { rt_.pause(id); }
  void resume(const std::string& id) override { rt_.resume(id); }
  std::vector<pid_t> pids(const std::string& id) override { return rt_.pids(id); }
  json stats(const std::string& id) override { return rt_.stats(id); }
  void update(const std::string& id, const json& resources) override { rt_.update(id, resources); }
  int exec(const runtime::ExecOptions& o, const std::string&) override { return rt_.exec(o); }
  std::vector<std::string> command() const override {
    return {own_program_dir() + "/vessel-runtime", "--root", root_};
  }

 private:
  std::string root_;
  std::string seccomp_cache_;
  runtime::Runtime rt_;
  std::optional<runtime::HeldContainer> held_;  // created here, not yet started
  std::string held_id_;
};

// "VAR=..." replaces VAR in env, or is appended.
void set_env(json& env, const std::string& kv) {
  auto eq = kv.find('=');
  if (eq == std::string::npos || eq == 0) fail("--env \"{}\": expected NAME=VALUE", kv);
  if (!env.is_array()) env = json::array();
  for (auto& e : env)
    if (e.is_string() && e.get<std::string>().compare(0, eq + 1, kv, 0, eq + 1) == 0) {
      e = kv;
      return;
    }
  env.push_back(kv);
}

uint32_t parse_id(const std::string& s, const std::string& user) {
  try {
    size_t used = 0;
    unsigned long v = std::stoul(s, &used);
    if (used == s.size() && v <= 0xffffffffUL) return static_cast<uint32_t>(v);
  } catch (const std::exception&) {
  }
  fail("--user \"{}\": expected uid[:gid] as numbers", user);
}

// The last non-empty line a failed runtime command wrote, with logrus' decoration taken off
// (time="…" level=error msg="…" → …).
std::string last_line(const std::string& text) {
  std::string line;
  size_t end = text.size();
  while (end > 0) {
    size_t start = text.rfind('\n', end - 1);
    start = start == std::string::npos ? 0 : start + 1;
    line = text.substr(start, end - start);
    while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) break;
    end = start == 0 ? 0 : start - 1;
  }
  auto msg = line.find("msg=\"");
  if (msg != std::string::npos && line.rfind('"') > msg + 5)
    line = line.substr(msg + 5, line.rfind('"') - msg - 5);
  return line;
}

// A runtime program driven through its command line.
class ExternalRuntime final : public OciRuntime {
 public:
  ExternalRuntime(std::string binary, std::string root)
      : binary_(std::move(binary)), root_(std::move(root)), name_(base_name(binary_)) {}

  pid_t create(const std::string& id, const std::string& bundle, const std::string& console,
               bool) override {
    mkdir_p(root_, 0700);
    write_spec_version(bundle + "/config.json");
    std::string pid_file = bundle + "/runtime.pid", log = bundle + "/runtime.log";
    ::unlink(pid_file.c_str());
    ::unlink(log.c_str());
    auto argv = base();
    argv.insert(argv.end(), {"--log", log, "--log-format", "json", "create", "--bundle", bundle,
                             "--pid-file", pid_file});
    if (!console.empty()) argv.insert(argv.end(), {"--console-socket", console});
    argv.push_back(id);
    // The program gets our fds 0-2: they become the container's stdio.
    int status = spawn_and_wait(argv);
    std::string pid_text;
    try {
      pid_text = read_file(pid_file);
    } catch (const Error&) {
    }
    ::unlink(pid_file.c_str());
    if (status != 0 || pid_text.empty()) {
      std::string why;
      try {
        why = log_error(read_file(log));
      } catch (const Error&) {
      }
      ::unlink(log.c_str());
      try {
        remove(id, true);  // whatever it left
      } catch (const Error&) {
      }
      if (why.empty()) why = status != 0 ? "exit status " + std::to_string(status) : "no PID";
      fail("{} create: {}", name_, why);
    }
    ::unlink(log.c_str());
    return static_cast<pid_t>(std::stol(pid_text));
  }
  void start(const std::string& id) override { call({"start", id}); }
  pid_t restore(const std::string& id, const std::string&, const std::string&,
                const RestoreFlags&) override {
    fail("container {}: restoring a checkpoint needs vessel's own runtime, not {}", id, name_);
  }
  oci::State state(const std::string& id) override {
    json j;
    std::string out = call({"state", id});
    try {
      j = json::parse(out);
    } catch (const json::exception& e) {
      fail("{} state {}: not JSON: {}", name_, id, e.what());
    }
    oci::State s;
    s.id = j.value("id", id);
    s.status = j.value("status", "");
    s.pid = j.value("pid", 0);
    s.bundle = j.value("bundle", "");
    s.oci_version = j.value("ociVersion", "");
    return s;
  }
  void kill(const std::string& id, int signal, bool all) override {
    std::vector<std::string> args = {"kill"};
    if (all) args.push_back("--all");
    args.insert(args.end(), {id, std::to_string(signal)});
    call(args);
  }
  void remove(const std::string& id, bool force) override {
    if (force)
      call({"delete", "--force", id});
    else
      call({"delete", id});
  }
  void pause(const std::string& id) override { call({"pause", id}); }
  void resume(const std::string& id) override { call({"resume", id}); }
  std::vector<pid_t> pids(const std::string& id) override {
    std::string out = call({"ps", "--format", "json", id});
    try {
      json j = json::parse(out);
      if (j.is_null()) return {};
      return j.get<std::vector<pid_t>>();
    } catch (const json::exception& e) {
      fail("{} ps {}: not a JSON list of PIDs: {}", name_, id, e.what());
    }
  }
  json stats(const std::string& id) override {
    std::string out = call({"events", "--stats", id});
    try {
      json j = json::parse(out.substr(0, out.find('\n')));
      return j.value("data", json::object());
    } catch (const json::exception& e) {
      fail("{} events --stats {}: not JSON: {}", name_, id, e.what());
    }
  }
  void update(const std::string& id, const json& resources) override {
    // A file in the runtime's directory: not every runtime reads "-" as stdin.
    mkdir_p(root_, 0700);
    std::string file = root_ + "/" + id + ".update.json";
    write_file_atomic(file, resources.dump(), 0600);
    try {
      call({"update", "-r", file, id});
    } catch (...) {
      ::unlink(file.c_str());
      throw;
    }
    ::unlink(file.c_str());
  }
  int exec(const runtime::ExecOptions& o, const std::string& bundle) override {
    json p;
    try {
      p = json::parse(read_file(bundle + "/config.json")).at("process");
    } catch (const json::exception& e) {
      fail("{}/config.json: no process to take the defaults from: {}", bundle, e.what());
    }
    p["args"] = o.args;
    p["terminal"] = o.tty;
    p.erase("consoleSize");
    p.erase("commandLine");
    for (const auto& kv : o.env) set_env(p["env"], kv);
    if (!o.cwd.empty()) p["cwd"] = o.cwd;
    if (!o.user.empty()) {
      size_t colon = o.user.find(':');
      p["user"]["uid"] = parse_id(o.user.substr(0, colon), o.user);
      if (colon != std::string::npos) p["user"]["gid"] = parse_id(o.user.substr(colon + 1), o.user);
      p["user"].erase("additionalGids");
    }
    for (uint32_t g : o.additional_gids) p["user"]["additionalGids"].push_back(g);
    // The process description travels in a memfd the program opens as /proc/self/fd/N: nothing
    // to remove afterwards, since this process becomes the runtime's `exec`.
    int fd = ::memfd_create("vessel-exec-process.json", 0);
    if (fd < 0) fail_errno("memfd_create");
    std::string text = p.dump();
    if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
      fail_errno("writing the exec process description");
    auto argv = base();
    argv.insert(argv.end(), {"exec", "--process", "/proc/self/fd/" + std::to_string(fd)});
    if (o.detach) argv.push_back("--detach");
    if (!o.pid_file.empty()) argv.insert(argv.end(), {"--pid-file", o.pid_file});
    if (!o.console_socket.empty()) argv.insert(argv.end(), {"--console-socket", o.console_socket});
    argv.push_back(o.id);
    std::fflush(nullptr);
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    ::execv(binary_.c_str(), cargv.data());
    fail_errno("running {}", binary_);
  }
  std::vector<std::string> command() const override { return base(); }

 private:
  std::vector<std::string> base() const { return {binary_, "--root", root_}; }

  // config.json as vessel writes it says ociVersion 1.3.0 (oci::kSpecVersion); older runtimes
  // refuse a version newer than theirs (crun 1.8: "unknown version specified"). The bundle
  // gets the version the program takes (external_spec_version); what vessel's specs hold is
  // all in the 1.0 spec (a field a 1.0 runtime does not know is one it ignores).
  void write_spec_version(const std::string& config_path) {
    std::string want = external_spec_version(binary_);
    json cfg;
    try {
      cfg = json::parse(read_file(config_path));
    } catch (const json::exception& e) {
      fail("{}: {}", config_path, e.what());
    }
    if (cfg.value("ociVersion", "") == want) return;
    cfg["ociVersion"] = want;
    write_file_atomic(config_path, cfg.dump(2), 0600);
  }

  // Runs `binary --root ROOT ARGS`; its stdout, or an error with the last line it wrote.
  std::string call(const std::vector<std::string>& args) {
    mkdir_p(root_, 0700);
    auto argv = base();
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run_subprocess(binary_, argv, {}, "", 60000);
    if (r.status != 0) {
      std::string why = last_line(r.err);
      if (why.empty()) why = "exit status " + std::to_string(r.status);
      std::string cmd = args.empty() ? "" : args.front();
      fail("{} {}: {}", name_, cmd, why);
    }
    return r.out;
  }

  // fork + exec with our stdio and no blocked signal (the container's init inherits the mask).
  int spawn_and_wait(const std::vector<std::string>& argv) {
    std::vector<char*> cargv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) fail_errno("fork");
    if (pid == 0) {
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::execv(cargv[0], cargv.data());
      ::_exit(127);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0)
      if (errno != EINTR) fail_errno("waitpid {}", binary_);
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
  }

  // The last error in a --log-format json log ({"level":"error","msg":…}), else its last line.
  static std::string log_error(const std::string& log) {
    std::string found;
    size_t pos = 0;
    while (pos < log.size()) {
      size_t nl = log.find('\n', pos);
      std::string line = log.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      pos = nl == std::string::npos ? log.size() : nl + 1;
      try {
        json j = json::parse(line);
        if (j.value("level", "") == "error" || j.value("level", "") == "fatal")
          found = j.value("msg", "");
      } catch (const json::exception&) {
        if (!line.empty()) found = line;
      }
    }
    return found;
  }

  std::string binary_, root_, name_;
};

// "1.2.3-rc.1" → {1, 2, 3}; nullopt if it does not start with three numbers.
std::optional<std::array<int, 3>> version_numbers(const std::string& v) {
  std::array<int, 3> out{};
  size_t pos = 0;
  for (int i = 0; i < 3; ++i) {
    size_t used = 0;
    if (pos >= v.size() || !std::isdigit(static_cast<unsigned char>(v[pos]))) return std::nullopt;
    try {
      out[static_cast<size_t>(i)] = std::stoi(v.substr(pos), &used);
    } catch (const std::exception&) {
      return std::nullopt;
    }
    pos += used;
    if (i < 2) {
      if (pos >= v.size() || v[pos] != '.') return std::nullopt;
      ++pos;
    }
  }
  return out;
}

bool executable_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

}  // namespace

std::string external_runtime_root(const Store& store, const std::string& binary) {
  return store.paths().runroot + "/runtimes/" + base_name(binary);
}

std::unique_ptr<OciRuntime> runtime_for(Store& store, const std::string& binary) {
  if (binary.empty()) {
    mkdir_p(store.paths().runtime_root(), 0700);
    // Compiled seccomp programs (linux/seccomp_cache.h), beside the runtime state: shared by
    // all containers of this store, writable only by its owner.
    return std::make_unique<BuiltinRuntime>(store.paths().runtime_root(),
                                            store.paths().runroot + "/seccomp");
  }
  return std::make_unique<ExternalRuntime>(binary, external_runtime_root(store, binary));
}

std::unique_ptr<OciRuntime> runtime_for(Store& store, const ContainerRecord& c) {
  return runtime_for(store, c.options.value("runtime", std::string()));
}

std::string resolve_runtime(const std::string& value) {
  if (value.empty() || value == "vessel-runtime") return "";
  if (value[0] == '/') {
    if (!executable_file(value)) fail("no executable file at that path");
    return value;
  }
  if (value.find('/') != std::string::npos)
    fail("must be vessel-runtime, a program name (runc, crun) or an absolute path");
  std::string path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  if (const char* p = std::getenv("PATH"); p && *p) path = std::string(p) + ":" + path;
  size_t start = 0;
  while (start <= path.size()) {
    size_t colon = path.find(':', start);
    std::string dir =
        path.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    if (!dir.empty() && dir[0] == '/' && executable_file(dir + "/" + value))
      return dir + "/" + value;
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  fail("no program of that name in $PATH");
}

std::string spec_version_from_features(const std::string& features_json) {
  std::string max;
  try {
    max = json::parse(features_json).value("ociVersionMax", "");
  } catch (const json::exception&) {
    return kFallbackSpecVersion;
  }
  auto theirs = version_numbers(max), ours = version_numbers(oci::kSpecVersion);
  if (!theirs) return kFallbackSpecVersion;
  return *theirs < *ours ? max : oci::kSpecVersion;
}

std::string external_spec_version(const std::string& binary) {
  static std::mutex mu;
  static std::map<std::string, std::string> known;  // per program, for this process
  std::lock_guard lock(mu);
  auto it = known.find(binary);
  if (it != known.end()) return it->second;
  std::string version = kFallbackSpecVersion;
  try {
    auto r = run_subprocess(binary, {binary, "features"}, {}, "", 10000);
    if (r.status == 0) version = spec_version_from_features(r.out);
  } catch (const std::exception&) {
    // no `features` (crun before 1.10, runc before 1.1): the fallback
  }
  known[binary] = version;
  return version;
}

std::string configured_runtime() { return resolve_runtime(config().str("containers.runtime")); }

std::string runtime_version_of(const std::string& binary) {
  std::string bin = binary.empty() ? own_program_dir() + "/vessel-runtime" : binary;
  if (::access(bin.c_str(), X_OK) != 0) return "not found (" + bin + ")";
  std::string out;
  try {
    out = run_subprocess(bin, {bin, "--version"}, {}, "", 10000).out;
  } catch (const std::exception& e) {
    return std::string("unknown: ") + e.what();
  }
  std::string first = out.substr(0, out.find('\n'));
  if (first.empty()) return "unknown (" + bin + " --version printed nothing)";
  auto commit = out.find("commit: ");
  if (commit != std::string::npos)
    first += " (commit " + out.substr(commit + 8, out.find('\n', commit) - commit - 8) + ")";
  return first;
}

}  // namespace vessel::manager
