// The per-container monitor (the vessel-monitor program), the role conmon plays for podman: it is
// the container's parent (a child subreaper), owns its stdio, writes the log, records the
// exit, applies the restart policy and serves attached clients. It outlives the `vessel`
// command that started it.
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "linux/terminal.h"
#include "manager/attach.h"
#include "manager/containers.h"
#include "manager/events.h"
#include "manager/networks.h"
#include "manager/rootfs.h"
#include "network/netns.h"
#include "runtime/container.h"
#include "runtime/process.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"

namespace vessel::manager {

using nlohmann::json;

namespace {

constexpr uint64_t kMaxLogBytes = 10u << 20;  // rotate ctr.log to ctr.log.1 past this

class LogWriter {
 public:
  explicit LogWriter(std::string path) : path_(std::move(path)) { open(); }

  void add(const char* stream, const char* data, size_t n) {
    std::string& pending = stream[3] == 'o' ? out_ : err_;  // "stdout" / "stderr"
    pending.append(data, n);
    size_t pos;
    while ((pos = pending.find('\n')) != std::string::npos) {
      line(stream, pending.substr(0, pos + 1));
      pending.erase(0, pos + 1);
    }
    if (pending.size() > 16384) {
      line(stream, pending);
      pending.clear();
    }
  }
  void flush() {
    if (!out_.empty()) line("stdout", out_);
    if (!err_.empty()) line("stderr", err_);
    out_.clear();
    err_.clear();
  }

 private:
  void open() {
    fd_.reset(::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    struct stat st {};
    written_ = fd_ && ::fstat(fd_.get(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  }
  void line(const char* stream, const std::string& text) {
    if (!fd_) return;
    json j = {{"log", text}, {"stream", stream}, {"time", now_rfc3339()}};
    std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    if (::write(fd_.get(), s.data(), s.size()) < 0) return;
    written_ += s.size();
    if (written_ > kMaxLogBytes) {
      ::rename(path_.c_str(), (path_ + ".1").c_str());
      open();
    }
  }
  std::string path_;
  UniqueFd fd_;
  uint64_t written_ = 0;
  std::string out_, err_;
};

struct Stdio {
  UniqueFd out, err;  // read ends (no terminal)
  UniqueFd in;        // write end for -i (no terminal)
  UniqueFd pty;       // terminal master
};

sigset_t monitor_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGPIPE}) sigaddset(&set, s);
  return set;
}

void set_nonblock(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

UniqueFd listen_unix(const std::string& path, int backlog) {
  UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s) fail_errno("socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) fail("console socket path {} is too long", path);
  std::strcpy(addr.sun_path, path.c_str());
  ::unlink(path.c_str());
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    fail_errno("bind {}", path);
  if (::listen(s.get(), backlog) != 0) fail_errno("listen {}", path);
  return s;
}

// --network container:X: the network namespace of X as it is now (X's kept namespace, or its
// init's when X has none of its own to keep), written into config.json before each start.
void join_shared_netns(Store& store, const ContainerRecord& c, const std::string& dir) {
  std::string mode = c.options.value("network", "");
  if (mode.rfind("container:", 0) != 0) return;
  auto other = store.container_by_id(mode.substr(10));
  if (!other) fail("container {}: the container whose network it shares is gone", c.name);
  if (other->state != "running" && other->state != "paused")
    fail("container {}: container {}, whose network it shares, is not running", c.name,
         other->name);
  std::string path = netns_path(store, other->id);
  if (!network::netns_exists(path)) path = "/proc/" + std::to_string(other->pid) + "/ns/net";
  json cfg = json::parse(read_file(dir + "/config.json"));
  for (auto& ns : cfg["linux"]["namespaces"])
    if (ns["type"] == "network") ns["path"] = path;
  write_file_atomic(dir + "/config.json", cfg.dump(2), 0600);
}

// Creates and starts the container through the runtime library, with the container's
// stdio on pipes (or a terminal) this monitor owns. Returns the init's host PID.
pid_t launch(Store& store, const ContainerRecord& c, Stdio& io) {
  std::string dir = container_dir(store, c.id);
  // start_container mounted the root filesystem; it stays mounted until this monitor ends.
  if (!rootfs_mounted(dir)) fail("the root filesystem of container {} is not mounted", c.name);

  join_shared_netns(store, c, dir);
  mkdir_p(store.paths().runtime_root(), 0700);
  runtime::Runtime rt(store.paths().runtime_root());
  try {
    rt.remove(c.id, true);  // a previous run's record
  } catch (const Error&) {
  }
  runtime::CreateOptions co;
  co.id = c.id;
  co.bundle = dir;
  bool tty = c.options.value("tty", false);
  bool interactive = c.options.value("interactive", false);

  UniqueFd console_listener;
  std::string console_path;
  int child_fds[3] = {-1, -1, -1};
  UniqueFd keep[3];
  if (tty) {
    mkdir_p(store.paths().runroot + "/console", 0700);
    console_path = store.paths().runroot + "/console/" + c.id.substr(0, 16) + ".sock";
    console_listener = listen_unix(console_path, 1);
    co.console_socket = console_path;
  } else {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) fail_errno("pipe");
    io.out.reset(p[0]);
    keep[1].reset(p[1]);
    if (::pipe2(p, O_CLOEXEC) != 0) fail_errno("pipe");
    io.err.reset(p[0]);
    keep[2].reset(p[1]);
    if (interactive) {
      if (::pipe2(p, O_CLOEXEC) != 0) fail_errno("pipe");
      keep[0].reset(p[0]);
      io.in.reset(p[1]);
    } else {
      keep[0].reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    }
    for (int i = 0; i < 3; ++i) child_fds[i] = keep[i].get();
  }

  // The runtime hands the container the caller's fds 0-2: make them the container's stdio
  // for the duration of create, with this monitor's signals unblocked (the init inherits
  // the mask).
  UniqueFd saved[3];
  if (!tty)
    for (int i = 0; i < 3; ++i) {
      saved[i].reset(::fcntl(i, F_DUPFD_CLOEXEC, 3));
      ::dup2(child_fds[i], i);
    }
  sigset_t none, old;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, &old);
  pid_t pid = 0;
  std::string error;
  try {
    pid = rt.create(co);
  } catch (const std::exception& e) {
    error = e.what();
  }
  ::sigprocmask(SIG_SETMASK, &old, nullptr);
  if (!tty)
    for (int i = 0; i < 3; ++i) ::dup2(saved[i].get(), i);
  if (!error.empty()) {
    if (!console_path.empty()) ::unlink(console_path.c_str());
    fail("{}", error);
  }
  if (tty) {
    UniqueFd conn(::accept4(console_listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) fail_errno("accepting the console of container {}", c.name);
    io.pty = linux::recv_fd(conn.get());
    ::unlink(console_path.c_str());
  }
  rt.start(c.id);
  if (io.out) set_nonblock(io.out.get());
  if (io.err) set_nonblock(io.err.get());
  if (io.pty) set_nonblock(io.pty.get());
  return pid;
}

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

struct Clients {
  std::vector<UniqueFd> fds;
  void drop(int fd) {
    for (auto it = fds.begin(); it != fds.end(); ++it)
      if (it->get() == fd) {
        fds.erase(it);
        return;
      }
  }
  void broadcast(Frame t, const std::string& data) {
    for (auto it = fds.begin(); it != fds.end();) {
      if (!write_frame(it->get(), t, data))
        it = fds.erase(it);
      else
        ++it;
    }
  }
};

// Serves the running container until its init exits; returns the exit code.
int supervise(pid_t init, Stdio& io, LogWriter& log, Clients& clients, int sigfd, int attach_fd) {
  int exit_code = -1;
  bool exited = false;
  char buf[65536];
  auto pump = [&](UniqueFd& fd, const char* stream, Frame frame) {
    while (fd) {
      ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n > 0) {
        log.add(stream, buf, static_cast<size_t>(n));
        clients.broadcast(frame, std::string(buf, static_cast<size_t>(n)));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
      fd.reset();  // EOF (or EIO from a terminal whose slave side is closed)
    }
  };
  auto reap = [&] {
    int status;
    pid_t p;
    while ((p = ::waitpid(-1, &status, WNOHANG)) > 0)
      if (p == init) {
        exit_code = exit_code_of(status);
        exited = true;
      }
  };
  std::chrono::steady_clock::time_point drain_deadline{};
  while (true) {
    reap();
    if (exited) {
      if (drain_deadline == std::chrono::steady_clock::time_point{})
        drain_deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
      bool open_streams = io.out || io.err || io.pty;
      if (!open_streams || std::chrono::steady_clock::now() > drain_deadline) break;
    }
    std::vector<pollfd> pfds;
    pfds.push_back({sigfd, POLLIN, 0});
    pfds.push_back({attach_fd, POLLIN, 0});  // `vessel attach` connects here
    UniqueFd* streams[3] = {&io.out, &io.err, &io.pty};
    for (auto* s : streams)
      if (*s) pfds.push_back({s->get(), POLLIN, 0});
    size_t first_client = pfds.size();
    for (auto& c : clients.fds) pfds.push_back({c.get(), POLLIN, 0});
    int r = ::poll(pfds.data(), pfds.size(), exited ? 50 : 1000);
    if (r < 0 && errno != EINTR) fail_errno("poll");
    if (pfds[1].revents & POLLIN) {
      int c = ::accept4(attach_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) clients.fds.emplace_back(c);
    }
    if (pfds[0].revents & POLLIN) {
      signalfd_siginfo si;
      while (::read(sigfd, &si, sizeof si) == sizeof si) {
      }
    }
    // Client input first: stdin data, EOF, terminal size. (Output below may drop clients
    // that went away, so work from the fds polled, not from indexes.)
    std::vector<int> ready;
    for (size_t i = first_client; i < pfds.size(); ++i)
      if (pfds[i].revents) ready.push_back(pfds[i].fd);
    for (int cfd : ready) {
      auto f = read_frame(cfd);
      if (!f) {
        clients.drop(cfd);
        continue;
      }
      int target = io.pty ? io.pty.get() : io.in.get();
      if (f->type == Frame::stdin_data && target >= 0) {
        write_all(target, f->data.data(), f->data.size());
      } else if (f->type == Frame::stdin_eof) {
        if (io.pty) {
          char eof = 4;  // ^D
          (void)!::write(io.pty.get(), &eof, 1);
        } else {
          io.in.reset();
        }
      } else if (f->type == Frame::resize && io.pty) {
        winsize ws{};
        unsigned rows = 0, cols = 0;
        if (std::sscanf(f->data.c_str(), "%u %u", &rows, &cols) == 2) {
          ws.ws_row = static_cast<unsigned short>(rows);
          ws.ws_col = static_cast<unsigned short>(cols);
          ::ioctl(io.pty.get(), TIOCSWINSZ, &ws);
        }
      }
    }
    pump(io.out, "stdout", Frame::stdout_data);
    pump(io.err, "stderr", Frame::stderr_data);
    pump(io.pty, "stdout", Frame::stdout_data);
  }
  log.flush();
  return exit_code;
}

bool should_restart(const ContainerRecord& c, int exit_code) {
  if (c.stop_requested) return false;
  std::string policy = c.options.value("restart", "no");
  if (policy == "always" || policy == "unless-stopped") return true;
  if (policy == "on-failure") {
    int max = c.options.value("restart_max", 0);
    return exit_code != 0 && (max == 0 || c.restart_count < max);
  }
  return false;
}

}  // namespace

int monitor_main(Store& store, const std::string& id, int client_fd) {
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  // One monitor per container: keep SQLite's page cache small (64 KiB, not the default 2 MiB).
  store.db().exec("PRAGMA cache_size=-64");
  std::string dir = container_dir(store, id);
  log::configure(dir + "/monitor.log", log::Format::text, false);
  Clients clients;
  if (client_fd >= 0) {
    ::fcntl(client_fd, F_SETFD, FD_CLOEXEC);
    clients.fds.emplace_back(client_fd);
  }
  sigset_t sigs = monitor_signals();
  ::sigprocmask(SIG_BLOCK, &sigs, nullptr);
  UniqueFd sigfd(::signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!sigfd) fail_errno("signalfd");

  auto rec = store.container_by_id(id);
  if (!rec) {
    clients.broadcast(Frame::error, "no such container: " + id);
    return 1;
  }
  rec->monitor_pid = ::getpid();
  rec->monitor_start_time = runtime::read_proc_stat(::getpid())->start_time;
  rec->error.clear();
  store.update_container(*rec);

  LogWriter logw(dir + "/ctr.log");
  std::string attach_path = attach_socket_path(store, id);
  mkdir_p(store.paths().runroot + "/attach", 0700);
  UniqueFd attach_listener = listen_unix(attach_path, 8);
  struct Unlink {
    std::string path;
    ~Unlink() { ::unlink(path.c_str()); }
  } unlink_attach{attach_path};
  try {
    setup_container_network(store, id, rec->options.get<RunOptions>());
  } catch (const std::exception& e) {
    log::error(e.what());
    rec->state = "exited";
    rec->exit_code = 127;
    rec->error = e.what();
    rec->finished_at = now_rfc3339();
    store.update_container(*rec);
    clients.broadcast(Frame::error, e.what());
    try {
      unmount_rootfs(dir);
    } catch (const Error&) {
    }
    return 1;
  }
  auto backoff = std::chrono::milliseconds(100);
  bool first = true;
  int exit_code = 0;
  while (true) {
    Stdio io;
    pid_t pid = 0;
    try {
      pid = launch(store, *rec, io);
    } catch (const std::exception& e) {
      log::error(e.what());
      rec->state = "exited";
      rec->pid = 0;
      rec->exit_code = 127;
      rec->error = e.what();
      rec->finished_at = now_rfc3339();
      store.update_container(*rec);
      clients.broadcast(first ? Frame::error : Frame::exited, first ? e.what() : "127");
      teardown_container_network(store, id);
      try {
        unmount_rootfs(dir);
      } catch (const Error&) {
      }
      return 1;
    }
    first = false;
    auto started = std::chrono::steady_clock::now();
    rec->state = "running";
    rec->pid = pid;
    rec->started_at = now_rfc3339();
    store.update_container(*rec);
    emit_container_event(store, *rec, "start");
    clients.broadcast(Frame::started, std::to_string(pid));

    // The monitor lives as long as the container: hand back what creating it took (the spec,
    // the runtime's buffers) before settling down.
    ::malloc_trim(0);
    exit_code = supervise(pid, io, logw, clients, sigfd.get(), attach_listener.get());
    try {
      runtime::Runtime(store.paths().runtime_root()).remove(id, true);
    } catch (const Error& e) {
      log::warn(e.what());
    }
    auto now = store.container_by_id(id);
    if (!now) {  // removed under us
      teardown_container_network(store, id);
      return 0;
    }
    rec->stop_requested = now->stop_requested;
    rec->options = now->options;  // `vessel update` may have changed the restart policy
    rec->exit_code = exit_code;
    rec->pid = 0;
    rec->finished_at = now_rfc3339();
    emit_container_event(store, *rec, "die", {{"exitCode", std::to_string(exit_code)}});
    if (!should_restart(*rec, exit_code)) break;

    // Back off 100 ms, doubling up to a minute; a run of 10 s or more resets it.
    if (std::chrono::steady_clock::now() - started > std::chrono::seconds(10))
      backoff = std::chrono::milliseconds(100);
    rec->state = "restarting";
    store.update_container(*rec);
    auto until = std::chrono::steady_clock::now() + backoff;
    backoff = std::min(backoff * 2, std::chrono::milliseconds(60000));
    bool stop = false;
    while (std::chrono::steady_clock::now() < until) {
      ::usleep(20000);
      auto cur = store.container_by_id(id);
      if (!cur || cur->stop_requested) {
        stop = true;
        break;
      }
    }
    if (stop) break;
    rec->restart_count++;
    try {
      recheck_container_network(store, id, rec->options.get<RunOptions>());
    } catch (const std::exception& e) {
      log::error(e.what());  // the launch below reports what it means for the container
    }
  }

  rec->state = "exited";
  store.update_container(*rec);
  teardown_container_network(store, id);
  try {
    unmount_rootfs(dir);
  } catch (const Error& e) {
    log::warn(e.what());
  }
  if (rec->options.value("remove", false)) {
    remove_tree(dir);
    store.remove_container(id);
    emit_container_event(store, *rec, "destroy");
    remove_anonymous_volumes(store, rec->options);
  }
  clients.broadcast(Frame::exited, std::to_string(exit_code));
  return 0;
}

}  // namespace vessel::manager
