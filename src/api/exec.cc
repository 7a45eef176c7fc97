// Exec: create, start (hijacked, with or without a terminal, or detached), inspect, resize.
// The process runs through `vessel-runtime exec` in the foreground (as podman runs runc's),
// a child of this server that relays its output.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <thread>

#include "api/convert.h"
#include "api/routes.h"
#include "api/streams.h"
#include "linux/terminal.h"
#include "manager/containers.h"
#include "manager/oci_runtime.h"
#include "manager/spec_builder.h"
#include "util/error.h"
#include "util/fd.h"
#include "util/file.h"

namespace vessel::api {

using nlohmann::json;

namespace {

struct ExecRecord {
  std::string id, container_id;
  std::vector<std::string> cmd, env;
  std::string workdir, user;
  bool tty = false, attach_stdin = false, attach_stdout = true, attach_stderr = true;
  bool running = false, started = false;
  std::optional<int> exit_code;
  pid_t pid = 0;
  int pty_master = -1;  // while running with a terminal (resize)
};

std::mutex g_mu;
std::map<std::string, std::shared_ptr<ExecRecord>> g_execs;

std::shared_ptr<ExecRecord> find_exec(const std::string& id) {
  std::lock_guard lk(g_mu);
  auto it = g_execs.find(id);
  if (it == g_execs.end()) throw ApiError(404, "No such exec instance: " + id);
  return it->second;
}

std::string runtime_binary() {
  std::string dir = own_program_dir();
  if (dir.empty()) fail_errno("readlink /proc/self/exe");
  return dir + "/vessel-runtime";
}

void exec_create(manager::Store& store, const Request& req, Conn& conn, const Params& p) {
  auto c0 = store.find_container(p.at("id"));
  if (!c0) throw ApiError(404, "No such container: " + p.at("id"));
  auto c = manager::refresh(store, *c0);
  if (c.state == "paused")
    throw ApiError(409, "Container " + c.id + " is paused, unpause the container before exec");
  if (c.state != "running") throw ApiError(409, "Container " + c.id + " is not running");
  json body = req.json_body();
  auto rec = std::make_shared<ExecRecord>();
  rec->id = manager::random_hex_id();
  rec->container_id = c.id;
  try {
    if (body.contains("Cmd") && body["Cmd"].is_array())
      rec->cmd = body["Cmd"].get<std::vector<std::string>>();
    if (body.contains("Env") && body["Env"].is_array())
      rec->env = body["Env"].get<std::vector<std::string>>();
    rec->workdir = body.value("WorkingDir", "");
    rec->user = body.value("User", "");
    rec->tty = body.value("Tty", false);
    rec->attach_stdin = body.value("AttachStdin", false);
    rec->attach_stdout = body.value("AttachStdout", true);
    rec->attach_stderr = body.value("AttachStderr", true);
  } catch (const json::exception& e) {
    throw ApiError(400, std::string("invalid exec config: ") + e.what());
  }
  if (rec->cmd.empty()) throw ApiError(400, "No exec command specified");
  std::lock_guard lk(g_mu);
  g_execs[rec->id] = rec;
  conn.json(201, {{"Id", rec->id}});
}

void exec_inspect(manager::Store&, const Request&, Conn& conn, const Params& p) {
  auto r = find_exec(p.at("id"));
  std::lock_guard lk(g_mu);
  json args = json::array();
  for (size_t i = 1; i < r->cmd.size(); ++i) args.push_back(r->cmd[i]);
  conn.json(200, {{"ID", r->id},
                  {"Running", r->running},
                  {"ExitCode", r->exit_code ? json(*r->exit_code) : json(nullptr)},
                  {"ProcessConfig",
                   {{"tty", r->tty},
                    {"entrypoint", r->cmd.empty() ? "" : r->cmd[0]},
                    {"arguments", args},
                    {"privileged", false},
                    {"user", r->user}}},
                  {"OpenStdin", r->attach_stdin},
                  {"OpenStderr", r->attach_stderr},
                  {"OpenStdout", r->attach_stdout},
                  {"CanRemove", false},
                  {"ContainerID", r->container_id},
                  {"DetachKeys", ""},
                  {"Pid", r->pid}});
}

// The argv of `vessel-runtime exec` for this record.
std::vector<std::string> exec_argv(manager::Store& store, const ExecRecord& r,
                                   const std::string& console_socket) {
  // runc's exec flags, which every runtime vessel can be configured with takes.
  auto c = store.container_by_id(r.container_id);
  std::vector<std::string> argv =
      c ? manager::runtime_for(store, *c)->command()
        : std::vector<std::string>{runtime_binary(), "--root", store.paths().runtime_root()};
  argv.push_back("exec");
  if (r.tty) argv.insert(argv.end(), {"--tty", "--console-socket", console_socket});
  for (const auto& e : r.env) argv.insert(argv.end(), {"--env", e});
  if (!r.workdir.empty()) argv.insert(argv.end(), {"--cwd", r.workdir});
  if (!r.user.empty()) {
    UniqueFd rootfd(::open((manager::container_dir(store, r.container_id) + "/rootfs").c_str(),
                           O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!rootfd) fail_errno("opening the root filesystem of container {}", r.container_id);
    auto u = manager::resolve_user(rootfd.get(), r.user);
    argv.insert(argv.end(), {"--user", std::to_string(u.uid) + ":" + std::to_string(u.gid)});
    for (auto g : u.additional_gids)
      argv.insert(argv.end(), {"--additional-gids", std::to_string(g)});
  }
  argv.push_back(r.container_id);
  argv.insert(argv.end(), r.cmd.begin(), r.cmd.end());
  return argv;
}

// fork + exec with fds[0..2] as stdio; the child is in its own process group.
pid_t spawn(const std::vector<std::string>& argv, const int fds[3]) {
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) fail_errno("fork");
  if (pid == 0) {
    ::setpgid(0, 0);
    for (int i = 0; i < 3; ++i) ::dup2(fds[i], 100 + i);
    for (int i = 0; i < 3; ++i) ::dup2(100 + i, i);
    for (int i = 0; i < 3; ++i) ::close(100 + i);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  return pid;
}

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

// Ends an exec whose client went away: TERM to the runtime (it forwards it to the process),
// then KILL to both.
void end_exec(pid_t pid) {
  ::kill(pid, SIGTERM);
  for (int i = 0; i < 50; ++i) {
    if (::waitpid(pid, nullptr, WNOHANG) == pid) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(-pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

void exec_start(manager::Store& store, const Request& req, Conn& conn, const Params& p) {
  auto r = find_exec(p.at("id"));
  json body = req.json_body();
  bool detach = body.is_object() && body.value("Detach", false);
  {
    std::lock_guard lk(g_mu);
    if (r->started) throw ApiError(409, "exec " + r->id + " has already been started");
    r->started = true;
    r->running = true;
  }
  auto c = manager::find_or_fail(store, r->container_id);
  if (c.state != "running") {
    std::lock_guard lk(g_mu);
    r->running = false;
    throw ApiError(409, "Container " + c.id + " is not running");
  }

  // Stdio: pipes, or a terminal whose master the runtime sends to a console socket.
  UniqueFd in_r, in_w, out_r, out_w, err_r, err_w, console_listener, master;
  std::string console_path;
  int fds[3];
  UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (r->tty) {
    console_path = store.paths().runroot + "/console/exec-" + r->id.substr(0, 16) + ".sock";
    mkdir_p(store.paths().runroot + "/console", 0700);
    ::unlink(console_path.c_str());
    console_listener.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", console_path.c_str());
    if (::bind(console_listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(console_listener.get(), 1) != 0)
      fail_errno("listening on {}", console_path);
    fds[0] = fds[1] = fds[2] = null.get();
  } else {
    int pp[2];
    if (r->attach_stdin && !detach) {
      if (::pipe2(pp, O_CLOEXEC) != 0) fail_errno("pipe");
      in_r.reset(pp[0]);
      in_w.reset(pp[1]);
    }
    if (::pipe2(pp, O_CLOEXEC) != 0) fail_errno("pipe");
    out_r.reset(pp[0]);
    out_w.reset(pp[1]);
    if (::pipe2(pp, O_CLOEXEC) != 0) fail_errno("pipe");
    err_r.reset(pp[0]);
    err_w.reset(pp[1]);
    fds[0] = in_r ? in_r.get() : null.get();
    fds[1] = out_w.get();
    fds[2] = err_w.get();
  }
  pid_t pid = spawn(exec_argv(store, *r, console_path), fds);
  in_r.reset();
  out_w.reset();
  err_w.reset();
  {
    std::lock_guard lk(g_mu);
    r->pid = pid;
  }
  if (r->tty) {
    // The runtime connects once the process has its terminal (or exits on an error).
    pollfd pf{console_listener.get(), POLLIN, 0};
    while (::poll(&pf, 1, 100) == 0)
      if (::waitpid(pid, nullptr, WNOHANG) == pid) {
        pid = 0;
        break;
      }
    if (pid != 0) {
      UniqueFd cs(::accept4(console_listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (cs) master = linux::recv_fd(cs.get());
    }
    ::unlink(console_path.c_str());
    if (pid == 0 || !master) {
      std::lock_guard lk(g_mu);
      r->running = false;
      r->exit_code = 126;
      throw ApiError(500, "exec " + r->id + ": the runtime did not start the process");
    }
    std::lock_guard lk(g_mu);
    r->pty_master = master.get();
  }

  if (detach) {
    conn.empty(200);
    // Reaps the process in the background; its output goes nowhere.
    auto rec = r;
    std::thread([rec, pid, o = std::move(out_r), e = std::move(err_r),
                 m = std::move(master)]() mutable {
      char buf[4096];
      for (int fd : {o.get(), e.get(), m.get()})
        if (fd >= 0) ::fcntl(fd, F_SETFL, O_NONBLOCK);
      int status = 0;
      while (::waitpid(pid, &status, WNOHANG) == 0) {
        for (int fd : {o.get(), e.get(), m.get()})
          if (fd >= 0)
            while (::read(fd, buf, sizeof buf) > 0) {
            }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      std::lock_guard lk(g_mu);
      rec->running = false;
      rec->pty_master = -1;
      rec->exit_code = exit_code_of(status);
    }).detach();
    return;
  }

  conn.hijack(req, r->tty ? kRawStream : kMuxStream);
  int input = r->tty ? master.get() : in_w.get();
  if (input >= 0 && !req.pending_input.empty())
    write_all(input, req.pending_input.data(), req.pending_input.size());
  bool client_in = r->attach_stdin && input >= 0;
  int outs[2] = {r->tty ? master.get() : out_r.get(), r->tty ? -1 : err_r.get()};
  char buf[65536];
  int status = 0;
  bool gone = false, exited = false;
  while (!exited) {
    pollfd pf[3] = {{outs[0], POLLIN, 0},
                    {outs[1], POLLIN, 0},
                    {conn.fd(), static_cast<short>(client_in ? POLLIN : 0), 0}};
    int n = ::poll(pf, 3, 200);
    if (n < 0 && errno != EINTR) break;
    if (client_in && (pf[2].revents & POLLIN)) {
      ssize_t k = ::read(conn.fd(), buf, sizeof buf);
      if (k > 0) {
        write_all(input, buf, static_cast<size_t>(k));
      } else if (k == 0) {
        client_in = false;
        if (r->tty)
          write_all(input, "\x04", 1);  // end of input on a terminal: ^D
        else
          in_w.reset();
      }
    } else if (pf[2].revents & (POLLHUP | POLLERR)) {
      gone = true;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (outs[i] < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t k = ::read(outs[i], buf, sizeof buf);
      if (k <= 0) {
        outs[i] = -1;  // EOF (EIO on a terminal whose process ended)
        continue;
      }
      std::string data(buf, static_cast<size_t>(k));
      bool wanted = i == 0 ? r->attach_stdout || r->tty : r->attach_stderr;
      if (wanted && !conn.write_raw(r->tty ? data : mux_frame(i + 1, data))) {
        gone = true;
        break;
      }
    }
    if (gone) break;
    if (outs[0] < 0 && outs[1] < 0) {
      ::waitpid(pid, &status, 0);
      exited = true;
    } else if (::waitpid(pid, &status, WNOHANG) == pid) {
      // Output a child of the process keeps open is not waited for; what is there is sent.
      for (int i = 0; i < 2; ++i) {
        if (outs[i] < 0) continue;
        ::fcntl(outs[i], F_SETFL, O_NONBLOCK);
        ssize_t k;
        while ((k = ::read(outs[i], buf, sizeof buf)) > 0) {
          std::string data(buf, static_cast<size_t>(k));
          conn.write_raw(r->tty ? data : mux_frame(i + 1, data));
        }
      }
      exited = true;
    }
  }
  int code = 137;
  if (gone)
    end_exec(pid);
  else
    code = exit_code_of(status);
  std::lock_guard lk(g_mu);
  r->running = false;
  r->pty_master = -1;
  r->exit_code = code;
}

void exec_resize(manager::Store&, const Request& req, Conn& conn, const Params& p) {
  auto r = find_exec(p.at("id"));
  std::lock_guard lk(g_mu);
  if (r->pty_master >= 0) {
    winsize ws{};
    ws.ws_row = static_cast<unsigned short>(req.q_int("h", 24));
    ws.ws_col = static_cast<unsigned short>(req.q_int("w", 80));
    ::ioctl(r->pty_master, TIOCSWINSZ, &ws);
  }
  conn.empty(200);
}

}  // namespace

void add_exec_routes(std::vector<Route>& r) {
  r.push_back({"POST", "/containers/{id}/exec", exec_create});
  r.push_back({"POST", "/exec/{id}/start", exec_start});
  r.push_back({"GET", "/exec/{id}/json", exec_inspect});
  r.push_back({"POST", "/exec/{id}/resize", exec_resize});
}

}  // namespace vessel::api
