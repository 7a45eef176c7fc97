// Containers: create, list, inspect, start, stop, restart, kill, wait, remove, pause,
// unpause, rename, prune.
#include "manager/containers.h"

#include <poll.h>

#include <chrono>
#include <sstream>
#include <thread>

#include "api/convert.h"
#include "api/routes.h"
#include "linux/terminal.h"
#include "manager/attach.h"
#include "manager/events.h"
#include "manager/images.h"
#include "manager/oci_runtime.h"
#include "runtime/container.h"
#include "util/file.h"

namespace vessel::api {

using manager::ContainerRecord;
using nlohmann::json;

namespace {

ContainerRecord find(manager::Store& store, const std::string& ref) {
  auto c = store.find_container(ref);
  if (!c) throw ApiError(404, "No such container: " + ref);
  return manager::refresh(store, *c);
}

void create(manager::Store& store, const Request& req, Conn& conn, const Params&) {
  auto opts = run_options_from(req.json_body(), req.q("name"));
  if (!opts.name.empty() && store.find_container(opts.name))
    throw ApiError(409, "Conflict. The container name \"/" + opts.name +
                            "\" is already in use by container \"" +
                            store.find_container(opts.name)->id + "\"");
  try {
    manager::resolve_image(store, opts.image);
  } catch (const std::exception& e) {
    if (status_for(e.what()) == 404 || std::string(e.what()).find("not known") != std::string::npos)
      throw ApiError(404, "No such image: " + opts.image);
    throw;
  }
  auto rec = manager::create_container(store, std::move(opts));
  conn.json(201, {{"Id", rec.id}, {"Warnings", json::array()}});
}

// filters={"status":["running"],"label":["a=b"]} or the old {"status":{"running":true}}.
std::map<std::string, std::vector<std::string>> parse_filters(const Request& req) {
  std::map<std::string, std::vector<std::string>> out;
  std::string raw = req.q("filters");
  if (raw.empty()) return out;
  json f;
  try {
    f = json::parse(raw);
  } catch (const json::exception& e) {
    throw ApiError(400, std::string("invalid filters: ") + e.what());
  }
  if (!f.is_object()) throw ApiError(400, "invalid filters: expected a JSON object");
  for (auto& [k, v] : f.items()) {
    if (v.is_array()) {
      for (const auto& s : v)
        if (s.is_string()) out[k].push_back(s.get<std::string>());
    } else if (v.is_object()) {
      for (auto& [s, on] : v.items())
        if (!on.is_boolean() || on.get<bool>()) out[k].push_back(s);
    }
  }
  return out;
}

bool label_matches(const json& labels, const std::string& want) {
  auto eq = want.find('=');
  std::string k = want.substr(0, eq);
  if (!labels.is_object() || !labels.contains(k)) return false;
  return eq == std::string::npos || labels[k] == want.substr(eq + 1);
}

bool passes(manager::Store& store, const ContainerRecord& c,
            const std::map<std::string, std::vector<std::string>>& filters) {
  for (const auto& [key, values] : filters) {
    if (values.empty()) continue;
    if (key == "label") {  // every label must match; the other filters match any value
      for (const auto& v : values)
        if (!label_matches(c.options.value("labels", json::object()), v)) return false;
      continue;
    }
    bool any = false;
    for (const auto& v : values) {
      if (key == "status")
        any |= (c.state == "creating" ? "created" : c.state) == v;
      else if (key == "name")
        any |= c.name.find(v[0] == '/' ? v.substr(1) : v) != std::string::npos;
      else if (key == "id")
        any |= c.id.rfind(v, 0) == 0;
      else if (key == "label")
        any |= label_matches(c.options.value("labels", json::object()), v);
      else if (key == "ancestor") {
        auto img = store.find_image(v);
        any |= (img && img->id == c.image_id) || c.options.value("image", "") == v;
      } else if (key == "exited")
        any |= c.state == "exited" && std::to_string(c.exit_code) == v;
      else if (key == "network") {
        for (const auto& n : c.options.value("networks", std::vector<std::string>{})) any |= n == v;
      } else if (key == "volume") {
        for (const auto& m : c.options.value("volumes", json::array()))
          any |= m.value("source", "") == v || m.value("target", "") == v;
      } else {
        throw ApiError(400, "invalid filter '" + key + "'");
      }
    }
    if (!any) return false;
  }
  return true;
}

void list(manager::Store& store, const Request& req, Conn& conn, const Params&) {
  bool all = req.q_bool("all");
  long limit = req.q_int("limit", -1);
  auto filters = parse_filters(req);
  std::vector<ContainerRecord> shown;
  for (auto c : store.containers()) {
    c = manager::refresh(store, c);
    if (!all && !is_live(c.state) && !filters.count("status")) continue;
    if (!passes(store, c, filters)) continue;
    shown.push_back(c);
  }
  std::sort(shown.begin(), shown.end(),
            [](const auto& a, const auto& b) { return a.created > b.created; });
  if (limit > 0 && shown.size() > static_cast<size_t>(limit)) shown.resize(limit);
  json out = json::array();
  for (const auto& c : shown) out.push_back(container_summary(store, c));
  conn.json(200, out);
}

void inspect(manager::Store& store, const Request&, Conn& conn, const Params& p) {
  conn.json(200, container_inspect(store, find(store, p.at("id"))));
}

void start(manager::Store& store, const Request&, Conn& conn, const Params& p);

void stop(manager::Store& store, const Request& req, Conn& conn, const Params& p) {
  auto c = find(store, p.at("id"));
  std::optional<int> t;
  if (req.has("t")) t = static_cast<int>(req.q_int("t", 10));
  if (!is_live(c.state)) {
    store.set_stop_requested(c.id, true);
    return conn.empty(304);
  }
  manager::stop_container(store, c.id, t);
  conn.empty(204);
}

void restart(manager::Store& store, const Request& req, Conn& conn, const Params& p) {
  auto c = find(store, p.at("id"));
  std::optional<int> t;
  if (req.has("t")) t = static_cast<int>(req.q_int("t", 10));
  if (is_live(c.state)) manager::stop_container(store, c.id, t);
  start(store, req, conn, p);
}

void kill(manager::Store& store, const Request& req, Conn& conn, const Params& p) {
  auto c = find(store, p.at("id"));
  if (c.state != "running" && c.state != "paused")
    throw ApiError(409, "Container " + c.id + " is not running");
  std::string sig = req.q("signal", "SIGKILL");
  // A kill ends the container for good, as `docker kill`: no restart policy brings it back.
  if (sig == "SIGKILL" || sig == "KILL" || sig == "9") store.set_stop_requested(c.id, true);
  manager::kill_container(store, c.id, sig);
  conn.empty(204);
}

void wait(manager::Store& store, const Request& req, Conn& conn, const Params& p) {
  auto c = find(store, p.at("id"));
  std::string condition = req.q("condition", "not-running");
  if (condition != "not-running" && condition != "next-exit" && condition != "removed")
    throw ApiError(400, "invalid condition \"" + condition + "\"");
  std::string finished_before = c.finished_at;
  // The status line goes out at once (clients wait on it before starting the container).
  conn.begin_stream(200, "application/json");
  int code = c.exit_code;
  // While the container runs, its monitor's stream says how it exits, even when the record
  // goes with it (AutoRemove).
  UniqueFd stream;
  bool exited_seen = false;
  while (true) {
    auto now = store.container_by_id(c.id);
    if (!now) {
      // Removed (AutoRemove) before this loop saw it stop: an attach stream may have seen
      // the exit; else the monitor's "die" event says it.
      if (auto seen = noted_exit(c.id)) {
        code = *seen;
      } else if (!exited_seen) {
        code = manager::last_exit_code(store.paths().root, c.id).value_or(code);
      }
      break;
    }
    auto r = manager::refresh(store, *now);
    if (!exited_seen) code = r.exit_code;
    bool stopped = !is_live(r.state) && !manager::monitor_alive(r) && r.state != "creating";
    if (condition == "not-running" && (stopped || exited_seen)) break;
    if (condition == "next-exit" && ((stopped && r.finished_at != finished_before) || exited_seen))
      break;
    if (conn.peer_closed()) {
      conn.keep_alive = false;
      return;
    }
    if (!stream && r.state == "running") {
      try {
        stream = linux::connect_unix(manager::attach_socket_path(store, c.id));
      } catch (const std::exception&) {
      }
    }
    if (stream) {
      pollfd pf{stream.get(), POLLIN, 0};
      if (::poll(&pf, 1, 50) > 0) {
        auto f = manager::read_frame(stream.get());
        if (!f) {
          stream.reset();
        } else if (f->type == manager::Frame::exited) {
          try {
            code = std::stoi(f->data);
            exited_seen = true;
            note_exit(c.id, code);
          } catch (const std::exception&) {
          }
          stream.reset();
        }
      }
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  conn.write(json{{"StatusCode", code}, {"Error", nullptr}}.dump() + "\n");
  conn.end_stream();
}

void remove(manager::Store& store, const Request& req, Conn& conn, const Params& p) {
  auto c = find(store, p.at("id"));
  bool force = req.q_bool("force");
  if (is_live(c.state) && !force)
    throw ApiError(409, "You cannot remove a running container " + c.id +
                            ". Stop the container before attempting removal or force remove");
  manager::remove_container(store, c.id, force, req.q_bool("v"));
  conn.empty(204);
}

void pause(manager::Store& store, const Request&, Conn& conn, const Params& p) {
  manager::pause_container(store, find(store, p.at("id")).id, true);
  conn.empty(204);
}

void unpause(manager::Store& store, const Request&, Conn& conn, const Params& p) {
  manager::pause_container(store, find(store, p.at("id")).id, false);
  conn.empty(204);
}

void rename(manager::Store& store, const Request& req, Conn& conn, const Params& p) {
  auto c = find(store, p.at("id"));
  std::string name = req.q("name");
  if (!name.empty() && name[0] == '/') name = name.substr(1);
  manager::validate_name("container name", name);
  if (auto other = store.find_container(name); other && other->name == name)
    throw ApiError(409, "Conflict. The name \"/" + name + "\" is already in use");
  store.rename_container(c.id, name);
  conn.empty(204);
}

// The terminal size of a running container with a tty, through its monitor.
void resize(manager::Store& store, const Request& req, Conn& conn, const Params& p) {
  auto c = find(store, p.at("id"));
  if (c.state != "running") throw ApiError(409, "Container " + c.id + " is not running");
  long h = req.q_int("h", 0), w = req.q_int("w", 0);
  if (h <= 0 || w <= 0 || h > 65535 || w > 65535) throw ApiError(400, "invalid h or w");
  if (c.options.value("tty", false)) {
    UniqueFd s = linux::connect_unix(manager::attach_socket_path(store, c.id));
    manager::write_frame(s.get(), manager::Frame::resize,
                         std::to_string(h) + " " + std::to_string(w));
  }
  conn.empty(200);
}

// The container's processes (host view), as docker's default `ps -ef` columns.
void top(manager::Store& store, const Request&, Conn& conn, const Params& p) {
  auto c = find(store, p.at("id"));
  if (c.state != "running" && c.state != "paused")
    throw ApiError(409, "Container " + c.id + " is not running");
  json procs = json::array();
  for (pid_t pid : manager::runtime_for(store, c)->pids(c.id)) {
    std::string dir = "/proc/" + std::to_string(pid);
    std::string cmdline, stat, status;
    try {
      cmdline = read_file(dir + "/cmdline");
      stat = read_file(dir + "/stat");
      status = read_file(dir + "/status");
    } catch (const std::exception&) {
      continue;  // gone meanwhile
    }
    for (auto& ch : cmdline)
      if (ch == '\0') ch = ' ';
    while (!cmdline.empty() && cmdline.back() == ' ') cmdline.pop_back();
    std::string ppid = "0";
    auto close = stat.rfind(')');
    if (close != std::string::npos) {
      std::istringstream rest(stat.substr(close + 2));
      std::string state;
      rest >> state >> ppid;
    }
    std::string uid = "0";
    auto u = status.find("\nUid:");
    if (u != std::string::npos) std::istringstream(status.substr(u + 5)) >> uid;
    procs.push_back({uid, std::to_string(pid), ppid, cmdline});
  }
  conn.json(200, {{"Titles", {"UID", "PID", "PPID", "CMD"}}, {"Processes", procs}});
}

void prune(manager::Store& store, const Request&, Conn& conn, const Params&) {
  json deleted = json::array();
  for (auto c : store.containers()) {
    c = manager::refresh(store, c);
    if (c.state != "exited" && c.state != "created") continue;
    manager::remove_container(store, c.id, false);
    deleted.push_back(c.id);
  }
  conn.json(200, {{"ContainersDeleted", deleted}, {"SpaceReclaimed", 0}});
}

}  // namespace

namespace {
void start(manager::Store& store, const Request&, Conn& conn, const Params& p) {
  auto c = find(store, p.at("id"));
  if (is_live(c.state)) return conn.empty(304);
  start_with_attach(store, c.id);
  conn.empty(204);
}
}  // namespace

void add_container_routes(std::vector<Route>& r) {
  r.push_back({"POST", "/containers/create", create});
  r.push_back({"GET", "/containers/json", list});
  r.push_back({"POST", "/containers/prune", prune});
  r.push_back({"GET", "/containers/{id}/json", inspect});
  r.push_back({"POST", "/containers/{id}/start", start});
  r.push_back({"POST", "/containers/{id}/stop", stop});
  r.push_back({"POST", "/containers/{id}/restart", restart});
  r.push_back({"POST", "/containers/{id}/kill", kill});
  r.push_back({"POST", "/containers/{id}/wait", wait});
  r.push_back({"POST", "/containers/{id}/pause", pause});
  r.push_back({"POST", "/containers/{id}/unpause", unpause});
  r.push_back({"POST", "/containers/{id}/rename", rename});
  r.push_back({"POST", "/containers/{id}/resize", resize});
  r.push_back({"GET", "/containers/{id}/top", top});
  r.push_back({"DELETE", "/containers/{id}", remove});
}

}  // namespace vessel::api
