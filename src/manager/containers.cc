#include "manager/containers.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "linux/path.h"
#include "manager/attach.h"
#include "manager/events.h"
#include "manager/health.h"
#include "manager/images.h"
#include "manager/networks.h"
#include "manager/oci_runtime.h"
#include "manager/rootfs.h"
#include "manager/rootfs_keep_id.h"
#include "manager/rootfs_rootless.h"
#include "manager/rootless.h"
#include "manager/rootless_netns.h"
#include "manager/spec_builder.h"
#include "manager/userns.h"
#include "network/ports.h"
#include "runtime/container.h"
#include "runtime/process.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"

namespace vessel::manager {

using nlohmann::json;

ContainerRecord find_or_fail(Store& store, const std::string& ref) {
  auto c = store.find_container(ref);
  if (!c) fail("no such container: {}", ref);
  return refresh(store, *c);
}

namespace {

const char* kAdjectives[] = {"brave", "calm",  "eager",  "fancy",  "gentle", "happy",
                             "jolly", "kind",  "lively", "merry",  "nimble", "proud",
                             "quiet", "swift", "witty",  "zealous"};
const char* kNouns[] = {"albatross", "beaver", "condor", "dolphin", "falcon", "gazelle",
                        "heron",     "ibis",   "jaguar", "koala",   "lynx",   "marmot",
                        "narwhal",   "otter",  "puffin", "walrus"};

std::string generated_name(Store& store) {
  for (int i = 0; i < 64; ++i) {
    std::string hex = random_hex_id();
    std::string name = std::string(kAdjectives[std::stoi(hex.substr(0, 1), nullptr, 16)]) + "_" +
                       kNouns[std::stoi(hex.substr(1, 1), nullptr, 16)];
    if (i >= 8) name += "_" + hex.substr(2, 4);
    if (!store.find_container(name)) return name;
  }
  return "vessel_" + random_hex_id().substr(0, 12);
}

bool is_live(const std::string& state) {
  return state == "running" || state == "paused" || state == "restarting";
}

// Cleans up after a container whose monitor is gone: the runtime's record, the rootfs mount.
void finish_without_monitor(Store& store, ContainerRecord& c, const std::string& why) {
  try {
    runtime_for(store, c)->remove(c.id, true);
  } catch (const Error&) {
  }
  teardown_container_network(store, c.id);
  try {
    unmount_rootfs(container_dir(store, c.id));
  } catch (const Error& e) {
    log::warn(e.what());
  }
  c.state = "exited";
  c.pid = 0;
  if (c.finished_at.empty() || c.finished_at < c.started_at) c.finished_at = now_rfc3339();
  c.error = why;
  store.update_container(c);
}

void write_etc_files(const std::string& dir, const std::string& hostname, const RunOptions& o,
                     const std::string& resolver) {
  std::string etc = dir + "/etc";
  mkdir_p(etc, 0755);
  write_file_atomic(etc + "/hostname", hostname + "\n", 0644);
  write_file_atomic(etc + "/hosts", initial_hosts(hostname, o), 0644);
  std::string host_resolv;
  try {
    host_resolv = read_file("/etc/resolv.conf");
  } catch (const Error&) {
  }
  write_file_atomic(etc + "/resolv.conf", resolv_conf_for(o, host_resolv, resolver), 0644);
}

// vessel-init and vessel-monitor are installed next to vessel (build/bin in a build tree,
// /usr/local/bin installed).
std::string find_helper_binary(const std::string& name) {
  std::string dir = own_program_dir();
  if (dir.empty()) return "";
  std::string candidate = dir + "/" + name;
  return ::access(candidate.c_str(), X_OK) == 0 ? candidate : "";
}

}  // namespace

// -P: each port the image EXPOSEs that -p does not publish goes on a free host port.
static void publish_exposed_ports(Store& store, const json& image_cfg, RunOptions& opts,
                                  bool rootless) {
  json exposed = image_cfg.value("config", json::object());
  exposed = exposed.is_object() ? exposed.value("ExposedPorts", json::object()) : json::object();
  if (!exposed.is_object()) return;
  for (const auto& [key, unused] : exposed.items()) {
    (void)unused;
    network::PortMapping m;
    try {
      auto parsed = network::parse_publish(key);
      if (parsed.size() != 1) continue;
      m = parsed.front();
    } catch (const Error&) {
      continue;  // an EXPOSE vessel cannot publish (a range too wide, a bad protocol)
    }
    bool given = false;
    for (const auto& p : opts.publish)
      given |= p.container_port == m.container_port && p.protocol == m.protocol;
    if (!given) opts.publish.push_back(m);
  }
  if (opts.publish.empty()) return;
  if (rootless && opts.network != "slirp4netns" && opts.network != "bridge")
    fail("rootless vessel: -P needs --network slirp4netns or a user network");
  if (!rootless && opts.network != "bridge")
    fail("-P needs a bridge network; the container's network is {}", opts.network);
  if (opts.network == "bridge" && find_network_or_fail(store, opts.networks.front()).internal)
    fail("-P: network {} is internal (no traffic in or out)", opts.networks.front());
}

ContainerRecord create_container(Store& store, RunOptions opts) {
  bool generated = opts.name.empty();
  if (generated) {
    opts.name = generated_name(store);
  } else {
    validate_name("container name", opts.name);
  }
  if (!opts.hostname.empty() && opts.hostname.size() > 64)
    fail("invalid --hostname \"{}\": at most 64 characters", opts.hostname);
  if (opts.tty && !opts.interactive && !opts.detach) {
    // Like podman: a terminal without stdin is allowed; nothing to check.
  }
  for (const auto& v : opts.volumes) {
    if (v.type != "bind") continue;
    struct stat st {};
    if (::stat(v.source.c_str(), &st) != 0)
      fail("invalid volume {}:{}: the host path {} does not exist", v.source, v.target, v.source);
  }
  std::optional<RootlessMappings> rootless;
  if (running_rootless()) {
    if (!opts.userns.empty() && opts.userns != "host" && opts.userns != "keep-id")
      fail(
          "rootless vessel: --userns={} is for root (a user's containers have a user "
          "namespace anyway; host or keep-id)",
          opts.userns);
    // first: a missing piece is the first thing to say
    rootless = rootless_mappings("/etc/subuid", "/etc/subgid", opts.userns == "keep-id");
    // keep-id: the process runs as the user's own ids unless -u says otherwise.
    if (opts.userns == "keep-id" && opts.user.empty())
      opts.user = std::to_string(::getuid()) + ":" + std::to_string(::getgid());
    // A user's default: no network, or slirp4netns when ports are published.
    if (opts.networks.empty() && opts.network.empty())
      opts.networks.push_back(opts.publish.empty() ? "none" : "slirp4netns");
    // User networks (and bridge, the user's default network) live in the user's network
    // namespace (manager/rootless_netns.h), whose user namespace the container joins.
    bool user_networks = false;
    for (const auto& n : opts.networks)
      user_networks |=
          n != "none" && n != "host" && n != "slirp4netns" && n.rfind("container:", 0) != 0;
    if (opts.networks.size() == 1 && opts.networks[0] == "slirp4netns") {
      opts.network = "slirp4netns";  // its own network namespace, joined by slirp4netns
      opts.networks.clear();
      if (opts.dns.empty()) opts.dns.push_back("10.0.2.3");
    }
    if (!opts.publish.empty() && opts.network != "slirp4netns" && !user_networks)
      fail("rootless vessel: --publish needs --network slirp4netns or a user network");
  } else if (opts.userns == "keep-id") {
    fail("--userns=keep-id is for an ordinary user's containers (root: host or auto)");
  }
  resolve_network_options(store, opts);
  if (rootless)
    opts.userns = opts.userns == "keep-id" ? "keep-id" : "host";
  else
    opts.userns = resolve_userns_mode(opts.userns);
  if (rootless && opts.network.rfind("container:", 0) == 0)
    check_rootless_shared_network(store, opts.network.substr(10), opts.userns);
  opts.runtime = configured_runtime();
  for (const auto& d : opts.dns) {
    unsigned char buf[16];
    if (::inet_pton(AF_INET, d.c_str(), buf) != 1 && ::inet_pton(AF_INET6, d.c_str(), buf) != 1)
      fail("invalid --dns \"{}\": not an IP address", d);
  }
  ImageRecord img = resolve_image(store, opts.image);
  json image_cfg = image_config(store, img);
  if (opts.publish_all) publish_exposed_ports(store, image_cfg, opts, rootless.has_value());
  // A user's slirp4netns forwards need host ports: those -p/-P leave to vessel are chosen now
  // (free on the host), kept for every start and shown by inspect/port.
  if (rootless && opts.network == "slirp4netns") network::assign_free_host_ports(opts.publish);
  // The image's declared volumes (conversion.md): each path nothing is mounted on gets an
  // anonymous volume, so what is written there outlives the container's root filesystem.
  auto declared = image_cfg.value("config", json::object());
  if (declared.is_object() && declared.contains("Volumes") && declared["Volumes"].is_object())
    for (auto& [path, unused] : declared["Volumes"].items()) {
      (void)unused;
      if (path.empty() || path[0] != '/') continue;
      bool covered = false;
      for (const auto& v : opts.volumes) covered |= v.target == path;
      if (covered) continue;
      VolumeOption anon;
      anon.type = "volume";
      anon.source = random_hex_id();
      anon.target = path;
      anon.options.push_back("anonymous");
      opts.volumes.push_back(anon);
    }

  opts.healthcheck = effective_healthcheck(
      declared.is_object() ? declared.value("Healthcheck", json()) : json(), opts.healthcheck);

  ContainerRecord rec;
  rec.id = random_hex_id();
  rec.name = opts.name;
  rec.image_id = img.id;
  rec.image_name = img.tags.empty() ? short_id(img.id) : img.tags.front();
  rec.created = now_rfc3339();
  rec.state = "creating";
  rec.options = opts;
  // Reserves the name. A generated one can be taken by a concurrent `run` between the check
  // and the insert: draw another.
  for (int attempt = 0;; ++attempt) {
    try {
      store.insert_container(rec);
      break;
    } catch (const Error&) {
      if (!generated || attempt >= 8 || !store.find_container(rec.name)) throw;
      rec.name = opts.name = generated_name(store);
      rec.options = opts;
    }
  }

  std::string dir = container_dir(store, rec.id);
  try {
    std::optional<IdRange> ids;
    if (opts.userns == "auto") ids = allocate_id_range(store, rec.id);
    ensure_layers(store, img);
    std::map<std::string, std::string> volume_paths;
    for (const auto& v : opts.volumes) {
      if (v.type != "volume") continue;
      auto vol = store.volume(v.source);
      if (!vol) {
        bool anonymous =
            std::find(v.options.begin(), v.options.end(), "anonymous") != v.options.end();
        try {
          vol = create_volume(store, v.source,
                              anonymous ? json{{kAnonymousVolumeLabel, "true"}} : json::object());
        } catch (const Error&) {
          vol = store.volume(v.source);  // created concurrently
          if (!vol) throw;
        }
      }
      volume_paths[v.source] = vol->mountpoint;
    }
    mkdir_p(dir, 0700);
    // The container's root (a host id of its block) must reach <dir>/rootfs and its etc files.
    if (ids) open_path_for_userns(store, dir);
    std::string hostname = opts.hostname.empty() ? short_id(rec.id) : opts.hostname;
    write_etc_files(dir, hostname, opts, resolver_of(store, opts));
    // Read-only containers get an upper layer too: the runtime creates mount points in it, and
    // root.readonly keeps the container from writing anything else.
    if (rootless && opts.userns == "keep-id") mark_keep_id_rootfs(dir);
    mount_rootfs(store, img, dir, false, ids, opts.remove);
    if (rootless && container_storage_driver(dir) == "fuse-overlayfs" && !fuse_allows_other()) {
      std::string user = opts.user;
      if (user.empty() && declared.is_object()) user = declared.value("User", "");
      if (!fuse_serves_user(user, opts.userns == "keep-id"))
        fail(
            "rootless vessel: {} cannot use a fuse-overlayfs root without allow_other "
            "(/etc/fuse.conf lacks user_allow_other): FUSE serves only container root here; "
            "add user_allow_other there, or use --storage-driver overlay or vfs",
            opts.userns == "keep-id" ? "a --userns=keep-id container (its root is a subordinate id)"
                                     : "user " + (user.empty() ? "root" : user));
    }
    std::string lookup = user_lookup_root(store, img, dir);
    UniqueFd rootfd(::open(lookup.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!rootfd) fail_errno("opening {}", lookup);
    SpecInputs in;
    in.id = rec.id;
    in.image_config = &image_cfg;
    in.options = &opts;
    in.rootfs_fd = rootfd.get();
    in.etc_dir = dir + "/etc";
    in.volume_paths = volume_paths;
    if (opts.init) in.init_path = find_helper_binary("vessel-init");
    if (opts.network == "bridge") in.netns_path = netns_path(store, rec.id);
    if (opts.network.rfind("container:", 0) == 0) {
      std::string other = opts.network.substr(10);
      in.shared_etc_dir = container_dir(store, other) + "/etc";
      // The path is resolved when the container starts (the other one's PID changes).
      in.netns_path = netns_path(store, other);
    }
    json spec = build_spec(in);
    if (ids) apply_userns_to_spec(spec, *ids, store.paths().volumes());
    if (rootless) apply_rootless_to_spec(spec, *rootless);
    if (auto root = runtime_root_mount(store, img, dir))
      spec["mounts"].insert(spec["mounts"].begin(), *root);
    write_file_atomic(dir + "/config.json", spec.dump(2), 0600);
    write_file_atomic(dir + "/ctr.log", "", 0600);
    rec.state = "created";
    store.update_container(rec);
    emit_container_event(store, rec, "create");
  } catch (...) {
    try {
      unmount_rootfs(dir);
    } catch (const Error&) {
    }
    remove_container_tree(dir);
    store.remove_container(rec.id);
    remove_anonymous_volumes(store, rec.options);
    throw;
  }
  return rec;
}

// The monitor as a child of this process: posix_spawn (glibc: clone(CLONE_VM|CLONE_VFORK), so
// no copy of this process's page tables, and one process instead of two) in a session of its
// own, with /dev/null on 0-2 and the stream on 3. Returns its PID.
static pid_t spawn_monitor_child(const std::string& monitor, const std::vector<const char*>& argv,
                                 int stream) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDWR, 0);
  posix_spawn_file_actions_adddup2(&fa, 0, 1);
  posix_spawn_file_actions_adddup2(&fa, 0, 2);
  // dup2 onto itself clears FD_CLOEXEC in glibc's posix_spawn, as POSIX asks.
  posix_spawn_file_actions_adddup2(&fa, stream, 3);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, monitor.c_str(), &fa, &attr, const_cast<char* const*>(argv.data()),
                         environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    errno = rc;
    fail_errno("starting {}", monitor);
  }
  return pid;
}

StartResult start_container(Store& store, const std::string& ref, bool attach,
                            const RestoreCall* restore, MonitorSpawn spawn) {
  auto c = find_or_fail(store, ref);
  if (is_live(c.state)) fail("container {} is already running", c.name);
  if (monitor_alive(c)) fail("container {} is being started or stopped; try again", c.name);
  if (c.stop_requested) store.set_stop_requested(c.id, false);  // no write for a fresh one
  // The root filesystem is mounted here, not by the monitor (which stays small: no image
  // layer); it stays mounted until the monitor ends.
  std::string dir = container_dir(store, c.id);
  auto img = store.image_by_id(c.image_id);
  if (!img) fail("the image of container {} is gone", c.name);
  ensure_layers(store, *img);
  mount_rootfs(store, *img, dir, false, container_id_range(store, c.id),
               c.options.value("remove", false));
  ::unlink((dir + "/exit").c_str());  // a previous monitor's (see refresh)
  // vessel-monitor-ctl starts the container and becomes vessel-monitor while it runs.
  std::string monitor = find_helper_binary("vessel-monitor-ctl");
  if (monitor.empty() || find_helper_binary("vessel-monitor").empty())
    fail("vessel-monitor-ctl and vessel-monitor were not found next to the vessel binary");

  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) fail_errno("socketpair");
  UniqueFd ours(sv[0]), theirs(sv[1]);

  // Made before the fork: the child only execs.
  std::string root = store.paths().root, runroot = store.paths().runroot;
  std::vector<const char*> argv = {"vessel-monitor-ctl", "--root",      root.c_str(), "--runroot",
                                   runroot.c_str(),      "--client-fd", "3"};
  if (restore) argv.push_back("--restore");
  if (restore && restore->tcp_established) argv.push_back("--tcp-established");
  argv.push_back(c.id.c_str());
  argv.push_back(nullptr);

  if (spawn == MonitorSpawn::child_of_caller) {
    spawn_monitor_child(monitor, argv, theirs.get());
  } else if (pid_t mid = ::fork(); mid < 0) {
    fail_errno("fork");
  } else if (mid == 0) {
    // Detach from the caller's session and process tree: the monitor outlives `vessel`.
    ::setsid();
    pid_t m = ::fork();
    if (m != 0) ::_exit(m < 0 ? 1 : 0);
    int null = ::open("/dev/null", O_RDWR);
    for (int fd = 0; fd < 3; ++fd) ::dup2(null, fd);
    if (null > 2) ::close(null);
    if (::dup2(theirs.get(), 3) < 0) ::_exit(1);
    ::execv(monitor.c_str(), const_cast<char* const*>(argv.data()));
    ::_exit(127);
  } else {
    int status = 0;
    ::waitpid(mid, &status, 0);
  }
  theirs.reset();

  StartResult result;
  while (true) {
    auto f = read_frame(ours.get());
    if (!f) {
      auto now = store.container_by_id(c.id);
      fail("container {}: the monitor exited before starting it{}", c.name,
           now && !now->error.empty() ? ": " + now->error : "");
    }
    if (f->type == Frame::error) {
      // The monitor cleans up (network, root filesystem) and ends: not before that.
      wait_for_monitor_end(ours.get(), kMonitorEndTimeoutMs);
      fail("{}", f->data);
    }
    if (f->type == Frame::started) {
      result.pid = static_cast<pid_t>(std::stol(f->data));
      break;
    }
  }
  try {
    result.health_runner = start_health_loop(store, c, attach);
  } catch (const std::exception& e) {
    // A quick --rm container may be gone already: nothing to check then.
    if (store.container_by_id(c.id))
      log::warn(
          fmt::format("container {}: the healthcheck runner did not start: {}", c.name, e.what()));
  }
  if (attach) result.stream = std::move(ours);
  return result;
}

// Waits until the container's monitor has ended (it records the exit and tears the container
// down first; for --rm it removes it) or the record is gone, on a pidfd of the monitor: the
// wait ends the moment the monitor does. A dead monitor is refresh()'s business.
static void wait_for_state(Store& store, const std::string& id, int timeout_ms) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto c = store.container_by_id(id);
    if (!c || !monitor_alive(*c)) return;
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return;
    UniqueFd pidfd = runtime::open_pidfd(c->monitor_pid, c->monitor_start_time);
    if (!pidfd) {
      // Gone in between (the record says so next), or no pidfd_open (Linux < 5.3): look again.
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(left, 20)));
      continue;
    }
    if (!runtime::wait_pidfd(pidfd.get(), static_cast<int>(left))) return;
  }
}

bool stop_container(Store& store, const std::string& ref, std::optional<int> timeout) {
  auto c = find_or_fail(store, ref);
  store.set_stop_requested(c.id, true);
  if (!is_live(c.state)) return false;
  auto rt = runtime_for(store, c);
  int secs = timeout.value_or(c.options.value("stop_timeout", 10));
  if (c.state == "running" || c.state == "paused") {
    try {
      if (c.state == "paused") rt->resume(c.id);
      auto st = rt->state(c.id);
      std::string sig = c.options.value("stop_signal", "");
      if (sig.empty()) {
        try {
          auto cfg = json::parse(read_file(container_dir(store, c.id) + "/config.json"));
          sig = cfg["annotations"].value("org.opencontainers.image.stopSignal", "SIGTERM");
        } catch (const std::exception&) {
          sig = "SIGTERM";
        }
      }
      auto start = runtime::read_proc_stat(st.pid);
      UniqueFd pidfd = start ? runtime::open_pidfd(st.pid, start->start_time) : UniqueFd();
      if (secs > 0) rt->kill(c.id, runtime::parse_signal(sig), false);
      if (!pidfd || !runtime::wait_pidfd(pidfd.get(), secs * 1000)) rt->kill(c.id, SIGKILL, true);
    } catch (const Error& e) {
      log::debug(std::string("stop: ") + e.what());
    }
  }
  wait_for_state(store, c.id, 10000);
  auto now = store.container_by_id(c.id);
  if (now && is_live(now->state) && !monitor_alive(*now)) refresh(store, *now);
  return true;
}

void kill_container(Store& store, const std::string& ref, const std::string& signal) {
  auto c = find_or_fail(store, ref);
  if (c.state != "running" && c.state != "paused") fail("container {} is not running", c.name);
  int sig = runtime::parse_signal(signal);
  // Written first: the monitor's "die" follows the kill it answers.
  emit_container_event(store, c, "kill", {{"signal", std::to_string(sig)}});
  runtime_for(store, c)->kill(c.id, sig, false);
}

void pause_container(Store& store, const std::string& ref, bool pause) {
  auto c = find_or_fail(store, ref);
  auto rt = runtime_for(store, c);
  if (pause) {
    if (c.state != "running") fail("container {} is not running", c.name);
    rt->pause(c.id);
    c.state = "paused";
  } else {
    if (c.state != "paused") fail("container {} is not paused", c.name);
    rt->resume(c.id);
    c.state = "running";
  }
  store.update_container(c);
  emit_container_event(store, c, pause ? "pause" : "unpause");
}

void remove_container(Store& store, const std::string& ref, bool force, bool volumes) {
  auto c = find_or_fail(store, ref);
  if (is_live(c.state)) {
    if (!force) fail("container {} is running: stop it first, or remove it with --force", c.name);
    stop_container(store, c.id, 0);
  }
  // A monitor that is finishing (e.g. an --rm container) removes the record itself.
  wait_for_state(store, c.id, 5000);
  auto now = store.container_by_id(c.id);
  if (!now) return;
  try {
    runtime_for(store, *now)->remove(c.id, true);
  } catch (const Error&) {
  }
  teardown_container_network(store, c.id);
  std::string dir = container_dir(store, c.id);
  unmount_rootfs(dir);
  remove_container_tree(dir);
  store.remove_container(c.id);
  emit_container_event(store, c, "destroy");
  if (volumes) remove_anonymous_volumes(store, c.options);
}

int wait_container(Store& store, const std::string& ref) {
  auto c = find_or_fail(store, ref);
  while (true) {
    auto now = store.container_by_id(c.id);
    if (!now) return c.exit_code;
    auto r = refresh(store, *now);
    if ((r.state == "exited" || r.state == "created") && !monitor_alive(r)) return r.exit_code;
    c = r;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

ContainerRecord refresh(Store& store, ContainerRecord c) {
  if (!is_live(c.state) && c.state != "creating") {
    // A monitor killed while it set up or tore down the network leaves attachments behind.
    if (c.monitor_pid != 0 && !monitor_alive(c) && has_network_state(store, c.id))
      teardown_container_network(store, c.id);
    return c;
  }
  if (monitor_alive(c)) return c;
  if (c.state == "creating") return c;  // `vessel create` is still at work, or failed and cleans up
  // The monitor is gone. One command repairs the record at a time (two `ps` at once must not
  // both restart it): the lock, then the record again.
  std::string dir = container_dir(store, c.id);
  UniqueFd lock(::open((dir + "/repair.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (lock && ::flock(lock.get(), LOCK_EX) == 0) {
    auto now = store.container_by_id(c.id);
    if (!now) return c;
    if (!is_live(now->state) || monitor_alive(*now)) return *now;
    c = *now;
  }
  // The container may still run (its init was reparented).
  // After a reboot the run directory (a tmpfs) is empty and the runtime's record of the
  // container is gone with it: not a monitor that died, but a container that stopped with the
  // host. `system restart-all` (at boot) decides what comes back, as docker's daemon does.
  std::string runtime_binary = c.options.value("runtime", std::string());
  std::string runtime_record =
      (runtime_binary.empty() ? store.paths().runtime_root()
                              : external_runtime_root(store, runtime_binary)) +
      "/" + c.id;
  const bool host_restarted = !path_exists(runtime_record);
  std::string status;
  try {
    status = runtime_for(store, c)->state(c.id).status;
  } catch (const Error&) {
    status = "stopped";
  }
  if (status == "running" || status == "paused") {
    if (c.state != status) {
      c.state = status;
      store.update_container(c);
    }
    return c;
  }
  // vessel-monitor leaves the exit code in <dir>/exit when it cannot hand it back to
  // vessel-monitor-ctl; otherwise it is lost with the monitor.
  std::string exit_file = container_dir(store, c.id) + "/exit";
  std::string why = "the container's monitor died; its exit code is unknown";
  c.exit_code = 255;
  try {
    c.exit_code = std::stoi(read_file(exit_file));
    why = "the container's monitor could not record its exit (see monitor.log)";
  } catch (const std::exception&) {
  }
  ::unlink(exit_file.c_str());
  finish_without_monitor(store, c, why);
  if (c.options.value("remove", false)) {
    lock.reset();
    remove_container_tree(container_dir(store, c.id));
    store.remove_container(c.id);
    return c;
  }
  if (!host_restarted && should_restart(c, c.exit_code)) {
    // What the dead monitor would have done: start it again (a new monitor).
    c.restart_count++;
    store.update_container(c);
    try {
      start_container(store, c.id, false);
    } catch (const Error& e) {
      log::warn(fmt::format("restarting {} after its monitor died: {}", c.name, e.what()));
    }
    if (auto now = store.container_by_id(c.id)) return *now;
  }
  return c;
}

VolumeRecord create_volume(Store& store, const std::string& name, const json& labels) {
  validate_name("volume name", name);
  VolumeRecord v;
  v.name = name;
  v.labels = labels;
  v.created = now_rfc3339();
  v.mountpoint = store.paths().volume(name) + "/_data";
  store.insert_volume(v);
  try {
    mkdir_p(v.mountpoint, 0755);
  } catch (...) {
    store.remove_volume(name);
    throw;
  }
  emit_event(store.paths().root, "volume", "create", name, {{"driver", "local"}});
  return v;
}

void remove_volume(Store& store, const std::string& name, bool force) {
  auto v = store.volume(name);
  if (!v) fail("no such volume: {}", name);
  auto users = store.volume_users(name);
  if (!users.empty()) {
    if (!force)
      fail("volume {} is in use by container {}: remove the container first", name,
           short_id(users.front()));
    for (const auto& id : users) remove_container(store, id, true);
  }
  remove_tree(store.paths().volume(name));
  store.remove_volume(name);
  emit_event(store.paths().root, "volume", "destroy", name, {{"driver", "local"}});
}

}  // namespace vessel::manager
