// vessel run, create, start, attach.
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "cli/manager/commands.h"
#include "linux/terminal.h"
#include "manager/attach.h"
#include "manager/config.h"
#include "manager/containers.h"
#include "manager/health.h"
#include "util/detach_keys.h"
#include "util/error.h"
#include "util/file.h"

namespace vessel::cli {

using namespace vessel::manager;

void add_run_flags(CLI::App* cmd, RunOptions& o, std::shared_ptr<RunFlagValues> v) {
  cmd->add_flag("-d,--detach", o.detach, "run in the background and print the container ID");
  cmd->add_flag("-i,--interactive", o.interactive, "keep stdin open");
  cmd->add_flag("-t,--tty", o.tty, "allocate a terminal");
  cmd->add_flag("--rm", o.remove, "remove the container when it exits");
  cmd->add_option("--name", o.name, "container name");
  cmd->add_option("-e,--env", v->env, "set an environment variable (KEY=VALUE, or KEY to copy)")
      ->allow_extra_args(false);
  cmd->add_option("--env-file", v->env_files, "read environment variables from a file")
      ->allow_extra_args(false);
  cmd->add_option("-w,--workdir", o.workdir, "working directory inside the container");
  cmd->add_option("-u,--user", o.user, "user[:group] to run as (name or number)");
  cmd->set_help_flag("--help", "print this help");  // -h is --hostname, as with docker
  cmd->add_option("-h,--hostname", o.hostname, "container host name");
  cmd->add_option("-v,--volume", v->volumes, "bind a host path or named volume: SRC:DST[:ro]")
      ->allow_extra_args(false);
  cmd->add_option("--mount", v->mounts, "type=bind|volume|tmpfs,source=…,target=…[,readonly]")
      ->allow_extra_args(false);
  cmd->add_option("--tmpfs", v->tmpfs, "mount a tmpfs: PATH[:OPTIONS]")->allow_extra_args(false);
  cmd->add_flag("--read-only", o.read_only, "no writable root filesystem");
  cmd->add_option("-m,--memory", v->memory, "memory limit (e.g. 64m)");
  cmd->add_option("--memory-swap", v->memory_swap, "memory plus swap limit (-1: unlimited swap)");
  cmd->add_option("--cpus", v->cpus, "number of CPUs (e.g. 0.5)");
  cmd->add_option("--cpu-shares", v->cpu_shares, "relative CPU weight (default 1024)");
  cmd->add_option("--cpuset-cpus", o.cpuset_cpus, "CPUs to run on (e.g. 0-1)");
  cmd->add_option("--pids-limit", v->pids_limit, "maximum number of processes");
  cmd->add_option("--blkio-weight", v->blkio_weight, "block IO weight (10-1000)");
  cmd->add_option("--device", o.devices,
                  "add a host device: HOST[:CONTAINER][:rwm], or a CDI device: "
                  "vendor.com/class=NAME (specs in /etc/cdi, /var/run/cdi)")
      ->allow_extra_args(false);
  cmd->add_option("--gpus", v->gpus,
                  "GPUs through CDI: all (nvidia.com/gpu=all) or device=ID[,ID] "
                  "(nvidia.com/gpu=ID)");
  cmd->add_option("--cap-add", o.cap_add, "add a capability (or ALL)")->allow_extra_args(false);
  cmd->add_option("--cap-drop", o.cap_drop, "drop a capability (or ALL)")->allow_extra_args(false);
  cmd->add_flag("--privileged", o.privileged, "all capabilities, all devices, no confinement");
  cmd->add_option("--security-opt", o.security_opt,
                  "no-new-privileges, seccomp=unconfined|PROFILE.json")
      ->allow_extra_args(false);
  cmd->add_option("--ulimit", o.ulimits, "resource limit: NAME=SOFT[:HARD]")
      ->allow_extra_args(false);
  cmd->add_option("--stop-signal", o.stop_signal, "signal that stops the container");
  cmd->add_option("--stop-timeout", o.stop_timeout, "seconds to wait before killing on stop");
  cmd->add_option("--restart", v->restart, "no, on-failure[:N], always, unless-stopped");
  cmd->add_flag("--init", o.init,
                "run vessel-init as PID 1: it forwards signals and reaps zombies");
  cmd->add_option("-l,--label", v->labels, "set a label: KEY=VALUE")->allow_extra_args(false);
  cmd->add_option("--health-cmd", v->health_cmd, "healthcheck: a shell command (exit 0: healthy)");
  cmd->add_option("--health-interval", v->health_interval, "time between checks (default 30s)");
  cmd->add_option("--health-timeout", v->health_timeout, "a check's time limit (default 30s)");
  cmd->add_option("--health-retries", v->health_retries,
                  "failures in a row that make it unhealthy (default 3)");
  cmd->add_option("--health-start-period", v->health_start_period,
                  "time after the start when failures do not count (default 0s)");
  cmd->add_option("--health-on-failure", v->health_on_failure,
                  "when it turns unhealthy: none (default), kill, restart or stop");
  cmd->add_flag("--no-healthcheck", v->no_healthcheck, "disable the image's HEALTHCHECK");
  cmd->add_option("--log-opt", v->log_opts,
                  "log rotation: max-size=SIZE (e.g. 10m), max-file=N (files kept, 1-100)")
      ->allow_extra_args(false);
  cmd->add_option("--entrypoint", v->entrypoint, "override the image's entrypoint");
  cmd->add_option("--network,--net", v->networks,
                  "bridge (the default network), NAME (a network from `vessel network create`), "
                  "none, host or container:NAME|ID; repeat for several networks (an ordinary user: "
                  "none by default, host, container:X, slirp4netns, the default with -p, or their "
                  "own networks in a per-user network namespace)")
      ->allow_extra_args(false);
  cmd->add_option("-p,--publish", v->publish,
                  "publish a port: [IP:][HOSTPORT:]CONTAINERPORT[/tcp|udp] (ranges too)")
      ->allow_extra_args(false);
  cmd->add_flag("-P,--publish-all", o.publish_all,
                "publish every port the image EXPOSEs, each on a free host port");
  cmd->add_option("--network-alias", o.network_aliases,
                  "another name the user network's DNS answers for this container")
      ->allow_extra_args(false);
  cmd->add_option("--dns", o.dns, "a nameserver for /etc/resolv.conf")->allow_extra_args(false);
  cmd->add_option("--dns-search", o.dns_search, "a search domain for /etc/resolv.conf")
      ->allow_extra_args(false);
  cmd->add_option("--dns-option", o.dns_options, "an option for /etc/resolv.conf")
      ->allow_extra_args(false);
  cmd->add_option("--add-host", o.add_hosts,
                  "add NAME:IP to /etc/hosts (IP host-gateway: the network's gateway)")
      ->allow_extra_args(false);
  cmd->add_option("--userns", o.userns,
                  "user namespace: host (root: the host's ids; a user: the user as root and "
                  "their subordinate ids), auto (root: 65536 ids of its own) or keep-id (a "
                  "user: their uid and gid the same inside, and the process runs as them)")
      ->allow_extra_args(false);
  // IMAGE [COMMAND...]: everything after the image belongs to the command.
  cmd->prefix_command();
}

static std::string env_from_host(const std::string& key) {
  const char* v = std::getenv(key.c_str());
  return v ? key + "=" + v : "";
}

// The --health-* flags as docker's Healthcheck fields (durations in ns), over the image's.
static void finish_health_flags(CLI::App* cmd, RunOptions& o, const RunFlagValues& v) {
  nlohmann::json hc = nlohmann::json::object();
  if (!v.health_cmd.empty()) hc["Test"] = {"CMD-SHELL", v.health_cmd};
  if (!v.health_interval.empty())
    hc["Interval"] = parse_duration_ns("--health-interval", v.health_interval);
  if (!v.health_timeout.empty())
    hc["Timeout"] = parse_duration_ns("--health-timeout", v.health_timeout);
  if (!v.health_start_period.empty())
    hc["StartPeriod"] = parse_duration_ns("--health-start-period", v.health_start_period);
  if (cmd->count("--health-retries")) {
    if (v.health_retries < 1)
      fail("invalid --health-retries {}: must be 1 or more", v.health_retries);
    hc["Retries"] = v.health_retries;
  }
  if (!v.health_on_failure.empty()) {
    const auto& f = v.health_on_failure;
    if (f != "none" && f != "kill" && f != "restart" && f != "stop")
      fail("invalid --health-on-failure \"{}\": expected none, kill, restart or stop", f);
    hc["OnFailure"] = f;
  }
  if (v.no_healthcheck) {
    if (!hc.empty()) fail("conflicting options: --no-healthcheck and --health-*");
    hc["Test"] = {"NONE"};
  }
  if (!hc.empty()) o.healthcheck = hc;
}

// --log-opt max-size=10m --log-opt max-file=3 (or both in one, comma-separated), as docker's
// json-file driver: max-file counts ctr.log too and is 1 (start over) when only max-size is given.
static void parse_log_opts(const std::vector<std::string>& opts, RunOptions& o) {
  bool files_given = false;
  for (const auto& opt : opts) {
    size_t pos = 0;
    while (pos <= opt.size()) {
      size_t comma = opt.find(',', pos);
      std::string kv =
          opt.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
      pos = comma == std::string::npos ? opt.size() + 1 : comma + 1;
      auto eq = kv.find('=');
      std::string key = kv.substr(0, eq), val = eq == std::string::npos ? "" : kv.substr(eq + 1);
      if (eq == std::string::npos || val.empty())
        fail("invalid --log-opt \"{}\": expected max-size=SIZE or max-file=N", kv);
      if (key == "max-size") {
        int64_t size = parse_size("--log-opt max-size", val);
        if (size <= 0) fail("invalid --log-opt max-size \"{}\": must be more than 0", val);
        o.log_max_size = size;
      } else if (key == "max-file") {
        if (val.size() > 3 || val.find_first_not_of("0123456789") != std::string::npos ||
            std::stoi(val) < 1 || std::stoi(val) > 100)
          fail("invalid --log-opt max-file \"{}\": must be a number from 1 to 100", val);
        o.log_max_files = std::stoi(val);
        files_given = true;
      } else {
        fail("unknown --log-opt \"{}\": vessel knows max-size and max-file", key);
      }
    }
  }
  if (!opts.empty() && !files_given && o.log_max_size > 0) o.log_max_files = 1;
  if (files_given && o.log_max_size == 0)
    fail("--log-opt max-file needs max-size (the size at which the log is rotated)");
}

void finish_run_options(CLI::App* cmd, RunOptions& o, const RunFlagValues& v) {
  auto rest = cmd->remaining();
  if (rest.empty()) fail("{}: an IMAGE is required", cmd->get_name());
  o.image = rest[0];
  o.command.assign(rest.begin() + 1, rest.end());
  for (const auto& f : v.env_files) {
    std::ifstream in(f);
    if (!in) fail("--env-file {}: cannot read it", f);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      if (line.find('=') == std::string::npos) {
        auto e = env_from_host(line);
        if (!e.empty()) o.env.push_back(e);
      } else {
        o.env.push_back(line);
      }
    }
  }
  for (const auto& e : v.env) {
    if (e.empty() || e[0] == '=') fail("invalid -e \"{}\": expected KEY=VALUE", e);
    if (e.find('=') == std::string::npos) {
      auto h = env_from_host(e);
      if (!h.empty()) o.env.push_back(h);
    } else {
      o.env.push_back(e);
    }
  }
  o.networks = v.networks;
  // vessel.conf's defaults (manager/config.h): taken now, kept with the container.
  const manager::Config& conf = manager::config();
  if (o.networks.empty() && !conf.str("network.default_network").empty())
    o.networks.push_back(conf.str("network.default_network"));
  for (const auto& u : conf.list("containers.ulimits")) {
    std::string name = u.substr(0, u.find('='));
    bool given = false;
    for (const auto& mine : o.ulimits) given |= mine.substr(0, mine.find('=')) == name;
    if (!given) o.ulimits.push_back(u);
  }
  if (!conf.str("containers.log_max_size").empty())
    o.log_max_size = parse_size("log_max_size", conf.str("containers.log_max_size"));
  parse_log_opts(v.log_opts, o);
  if (v.gpus == "all") {
    o.devices.push_back("nvidia.com/gpu=all");
  } else if (v.gpus.starts_with("device=") && v.gpus.size() > 7) {
    std::string ids = v.gpus.substr(7);
    size_t pos = 0;
    while (pos <= ids.size()) {
      size_t c = ids.find(',', pos);
      std::string id = ids.substr(pos, c == std::string::npos ? std::string::npos : c - pos);
      if (id.empty()) fail("invalid --gpus \"{}\": an empty device ID", v.gpus);
      o.devices.push_back("nvidia.com/gpu=" + id);
      if (c == std::string::npos) break;
      pos = c + 1;
    }
  } else if (!v.gpus.empty()) {
    fail("invalid --gpus \"{}\": expected all or device=ID[,ID] (GPUs go through CDI)", v.gpus);
  }
  for (const auto& p : v.publish)
    for (const auto& m : network::parse_publish(p)) o.publish.push_back(m);
  for (const auto& h : o.add_hosts) parse_add_host(h);
  for (const auto& s : v.volumes) o.volumes.push_back(parse_volume(s));
  for (const auto& s : v.mounts) o.volumes.push_back(parse_mount(s));
  for (const auto& s : v.tmpfs) o.volumes.push_back(parse_tmpfs(s));
  for (const auto& l : v.labels) {
    auto eq = l.find('=');
    o.labels[l.substr(0, eq)] = eq == std::string::npos ? "" : l.substr(eq + 1);
  }
  if (!v.memory.empty()) o.memory = parse_size("--memory", v.memory);
  if (!v.memory_swap.empty()) o.memory_swap = parse_size("--memory-swap", v.memory_swap);
  if (cmd->count("--cpus")) o.cpus = v.cpus;
  if (cmd->count("--cpu-shares")) o.cpu_shares = v.cpu_shares;
  if (cmd->count("--pids-limit")) o.pids_limit = v.pids_limit;
  if (cmd->count("--blkio-weight")) o.blkio_weight = v.blkio_weight;
  if (!v.restart.empty()) parse_restart(v.restart, o);
  if (cmd->count("--entrypoint")) {
    o.entrypoint = std::vector<std::string>{};
    if (!v.entrypoint.empty()) o.entrypoint->push_back(v.entrypoint);
  }
  if (o.remove && o.restart != "no")
    fail("conflicting options: --rm and --restart {} (a removed container cannot restart)",
         o.restart);
  if (o.stop_timeout < 0) fail("invalid --stop-timeout {}: must be 0 or more", o.stop_timeout);
  finish_health_flags(cmd, o, v);
}

namespace {

class RawTerminal {
 public:
  explicit RawTerminal(int fd) : fd_(fd) {
    if (::tcgetattr(fd_, &saved_) != 0) return;
    termios raw = saved_;
    ::cfmakeraw(&raw);
    active_ = ::tcsetattr(fd_, TCSANOW, &raw) == 0;
  }
  ~RawTerminal() {
    if (active_) ::tcsetattr(fd_, TCSANOW, &saved_);
  }

 private:
  int fd_;
  termios saved_{};
  bool active_ = false;
};

void send_size(int stream) {
  winsize ws{};
  if (::ioctl(0, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0)
    write_frame(stream, Frame::resize, std::to_string(ws.ws_row) + " " + std::to_string(ws.ws_col));
}

int exit_code_for_start_error(const std::string& msg) {
  if (msg.find("no such file") != std::string::npos || msg.find("not found") != std::string::npos)
    return 127;
  if (msg.find("ermission denied") != std::string::npos) return 126;
  return 125;
}

}  // namespace

std::string detach_keys_for(bool given, const std::string& flag) {
  if (given) return parse_detach_keys(flag);
  const std::string& conf = manager::config().str("containers.detach_keys");
  return parse_detach_keys(conf.empty() ? kDefaultDetachKeys : conf);
}

int attach_stream(int stream, Store& store, const std::string& id, const AttachMode& m) {
  std::unique_ptr<RawTerminal> raw;
  if (m.tty && m.interactive && ::isatty(0)) {
    raw = std::make_unique<RawTerminal>(0);
    send_size(stream);
  }
  // The detach keys are read from a terminal's input only, as docker does.
  DetachScanner detach(m.tty && m.interactive ? m.detach_keys : "");
  // Without a terminal, signals to this client go to the container (--sig-proxy); otherwise
  // they end the client (the container keeps running).
  bool proxy = m.sig_proxy && !m.tty;
  sigset_t sigs;
  sigemptyset(&sigs);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGWINCH, SIGQUIT}) sigaddset(&sigs, s);
  if (proxy)
    for (int s : {SIGUSR1, SIGUSR2, SIGALRM, SIGCONT, SIGTSTP, SIGTTIN, SIGTTOU})
      sigaddset(&sigs, s);
  sigset_t old;
  ::sigprocmask(SIG_BLOCK, &sigs, &old);
  UniqueFd sigfd(::signalfd(-1, &sigs, SFD_CLOEXEC));
  bool stdin_open = m.interactive;
  char buf[65536];
  int code = -1;
  bool last_frame = false;  // the monitor's: it ends right after it
  while (code < 0) {
    pollfd pfds[3] = {
        {stream, POLLIN, 0}, {sigfd.get(), POLLIN, 0}, {stdin_open ? 0 : -1, POLLIN, 0}};
    if (::poll(pfds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (pfds[1].revents & POLLIN) {
      signalfd_siginfo si;
      if (::read(sigfd.get(), &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGWINCH) {
          send_size(stream);
        } else if (proxy) {
          try {
            kill_container(store, id, std::to_string(si.ssi_signo));
          } catch (const Error&) {
          }
        } else {
          code = 128 + static_cast<int>(si.ssi_signo);
          break;
        }
      }
    }
    if (pfds[2].revents & (POLLIN | POLLHUP)) {
      ssize_t n = ::read(0, buf, sizeof buf);
      if (n > 0) {
        std::string data;
        bool leave = detach.feed(buf, static_cast<size_t>(n), data);
        if (!data.empty()) write_frame(stream, Frame::stdin_data, data);
        if (leave) {
          code = 0;  // the container keeps running; the monitor drops this client
          break;
        }
      } else {
        write_frame(stream, Frame::stdin_eof, "");
        stdin_open = false;
      }
    }
    if (pfds[0].revents & (POLLIN | POLLHUP)) {
      auto f = read_frame(stream);
      if (!f) break;
      switch (f->type) {
        case Frame::stdout_data:
          write_all(1, f->data.data(), f->data.size());
          break;
        case Frame::stderr_data:
          write_all(2, f->data.data(), f->data.size());
          break;
        case Frame::exited:
          code = std::stoi(f->data);
          last_frame = true;
          break;
        case Frame::error:
          std::fprintf(stderr, "vessel: %s\n", f->data.c_str());
          code = exit_code_for_start_error(f->data);
          last_frame = true;
          break;
        default:
          break;
      }
    }
  }
  ::sigprocmask(SIG_SETMASK, &old, nullptr);
  // `run --rm` returns once the container is removed and its monitor has ended: a `ps -a`,
  // an `rm` or a removal of the store right after must not meet the monitor still at work.
  if (last_frame) wait_for_monitor_end(stream, kMonitorEndTimeoutMs);
  if (code < 0) {
    // The monitor went away without telling: the record knows the rest.
    auto c = store.container_by_id(id);
    code = c ? refresh(store, *c).exit_code : 255;
  }
  return code;
}

static int start_and_maybe_attach(Globals& g, const ContainerRecord& rec, bool attach,
                                  AttachMode mode = {}) {
  auto& store = g.store();
  mode.tty = rec.options.value("tty", false);
  mode.interactive = rec.options.value("interactive", false);
  StartResult r;
  try {
    // This command ends right after the monitor's `started` (or `exited`) frame.
    r = start_container(store, rec.id, attach, nullptr, MonitorSpawn::child_of_caller);
  } catch (const Error& e) {
    std::fprintf(stderr, "vessel: %s\n", e.what());
    // A failed `run --rm` leaves nothing behind.
    if (rec.options.value("remove", false)) {
      try {
        remove_container(store, rec.id, true);
      } catch (const Error&) {
      }
    }
    return exit_code_for_start_error(e.what());
  }
  if (!attach) return 0;
  int code = attach_stream(r.stream.get(), store, rec.id, mode);
  // The healthcheck runner ends with the monitor: it must not outlive the command either.
  if (r.health_runner) wait_for_monitor_end(r.health_runner.get(), kMonitorEndTimeoutMs);
  return code;
}

void add_run(CLI::App& app, Globals& g, Action& action) {
  for (const char* name : {"run", "create"}) {
    bool is_run = std::string(name) == "run";
    auto* cmd = app.add_subcommand(name, is_run ? "create and start a container: IMAGE [COMMAND...]"
                                                : "create a container without starting it");
    auto opts = std::make_shared<RunOptions>();
    auto vals = std::make_shared<RunFlagValues>();
    add_run_flags(cmd, *opts, vals);
    auto mode = std::make_shared<AttachMode>();
    auto keys = std::make_shared<std::string>();
    if (is_run) {
      cmd->add_option("--detach-keys", *keys,
                      "the keys that detach from the container's terminal (default ctrl-p,ctrl-q)");
      cmd->add_flag("--sig-proxy", mode->sig_proxy,
                    "pass the signals this command gets on to the container (no -t; default true)");
    }
    cmd->callback([&g, &action, cmd, opts, vals, is_run, mode, keys] {
      action = [&g, cmd, opts, vals, is_run, mode, keys]() -> int {
        if (is_run) mode->detach_keys = detach_keys_for(cmd->count("--detach-keys") > 0, *keys);
        finish_run_options(cmd, *opts, *vals);
        auto& store = g.store();
        auto rec = create_container(store, *opts);
        if (!is_run) {
          std::puts(rec.id.c_str());
          return 0;
        }
        if (opts->detach) {
          int code = start_and_maybe_attach(g, rec, false);
          if (code == 0) std::puts(rec.id.c_str());
          return code;
        }
        return start_and_maybe_attach(g, rec, true, *mode);
      };
    });
  }

  auto* attach_cmd =
      app.add_subcommand("attach", "attach to a running container's output (and input)");
  auto aname = std::make_shared<std::string>();
  auto no_stdin = std::make_shared<bool>(false);
  auto amode = std::make_shared<AttachMode>();
  auto akeys = std::make_shared<std::string>();
  attach_cmd->add_option("CONTAINER", *aname, "name or ID")->required();
  attach_cmd->add_flag("--no-stdin", *no_stdin, "do not send this terminal's input");
  attach_cmd->add_option("--detach-keys", *akeys,
                         "the keys that detach from the container's terminal (default "
                         "ctrl-p,ctrl-q)");
  attach_cmd->add_flag("--sig-proxy", amode->sig_proxy,
                       "pass the signals this command gets on to the container (no -t; default "
                       "true)");
  attach_cmd->callback([&g, &action, attach_cmd, aname, no_stdin, amode, akeys] {
    action = [&g, attach_cmd, aname, no_stdin, amode, akeys]() -> int {
      amode->detach_keys = detach_keys_for(attach_cmd->count("--detach-keys") > 0, *akeys);
      auto& store = g.store();
      auto c = find_or_fail(store, *aname);
      if (c.state != "running" && c.state != "paused") fail("container {} is not running", c.name);
      UniqueFd s = linux::connect_unix(attach_socket_path(store, c.id));
      amode->tty = c.options.value("tty", false);
      amode->interactive = c.options.value("interactive", false) && !*no_stdin;
      return attach_stream(s.get(), store, c.id, *amode);
    };
  });

  auto* start = app.add_subcommand("start", "start created or stopped containers");
  auto names = std::make_shared<std::vector<std::string>>();
  auto attach = std::make_shared<bool>(false);
  start->add_option("CONTAINER", *names, "names or IDs")->required();
  auto skeys = std::make_shared<std::string>();
  start->add_flag("-a,--attach", *attach, "attach to the container's output and wait for it");
  start->add_option("--detach-keys", *skeys,
                    "with -a: the keys that detach from the container's terminal (default "
                    "ctrl-p,ctrl-q)");
  start->callback([&g, &action, start, names, attach, skeys] {
    action = [&g, start, names, attach, skeys]() -> int {
      AttachMode mode;
      mode.detach_keys = detach_keys_for(start->count("--detach-keys") > 0, *skeys);
      if (*attach && names->size() != 1) fail("start --attach takes one container");
      int rc = 0;
      for (const auto& n : *names) {
        auto rec = find_or_fail(g.store(), n);
        int code = start_and_maybe_attach(g, rec, *attach, mode);
        if (*attach) return code;
        if (code != 0)
          rc = code;
        else
          std::puts(n.c_str());
      }
      return rc;
    };
  });
}

}  // namespace vessel::cli
