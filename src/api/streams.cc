// Logs and attach: a container's output as docker streams it (multiplexed frames without a
// terminal, raw bytes with one), and the attach handshake with start.
#include "api/streams.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <mutex>
#include <thread>

#include "api/convert.h"
#include "api/routes.h"
#include "linux/terminal.h"
#include "manager/attach.h"
#include "manager/containers.h"
#include "util/fd.h"

namespace vessel::api {

using manager::Frame;
using nlohmann::json;

std::string mux_frame(int stream, const std::string& data) {
  std::string out(8, '\0');
  out[0] = static_cast<char>(stream);
  uint32_t n = static_cast<uint32_t>(data.size());
  for (int i = 0; i < 4; ++i) out[4 + i] = static_cast<char>((n >> (24 - 8 * i)) & 0xff);
  return out + data;
}

namespace {

// ---- logs ----

struct LogFilter {
  bool out = true, err = true, timestamps = false, tty = false;
  int64_t since = 0, until = 0;
  // The frame (or raw bytes) for one JSON log line; empty when filtered out.
  std::string render(const std::string& line) const {
    json j;
    try {
      j = json::parse(line);
    } catch (const json::exception&) {
      return "";
    }
    std::string stream = j.value("stream", "stdout");
    if ((stream == "stderr" && !err) || (stream != "stderr" && !out)) return "";
    std::string time = j.value("time", "");
    int64_t t = unix_time(time);
    if (since > 0 && t < since) return "";
    if (until > 0 && t > until) return "";
    std::string text = j.value("log", "");
    if (timestamps) text = time + " " + text;
    return tty ? text : mux_frame(stream == "stderr" ? 2 : 1, text);
  }
};

int64_t time_param(const Request& req, const std::string& key) {
  std::string v = req.q(key);
  if (v.empty()) return 0;
  try {
    return static_cast<int64_t>(std::stod(v));
  } catch (const std::exception&) {
    int64_t t = unix_time(v);
    if (t == 0) throw ApiError(400, "invalid value for " + key + ": \"" + v + "\"");
    return t;
  }
}

void logs(manager::Store& store, const Request& req, Conn& conn, const Params& p) {
  auto c0 = store.find_container(p.at("id"));
  if (!c0) throw ApiError(404, "No such container: " + p.at("id"));
  auto c = manager::refresh(store, *c0);
  LogFilter f;
  f.out = req.q_bool("stdout");
  f.err = req.q_bool("stderr");
  if (!f.out && !f.err) throw ApiError(400, "Bad parameters: you must choose at least one stream");
  f.timestamps = req.q_bool("timestamps");
  f.tty = c.options.value("tty", false);
  f.since = time_param(req, "since");
  f.until = time_param(req, "until");
  long tail = -1;
  std::string tail_s = req.q("tail", "all");
  if (tail_s != "all" && !tail_s.empty()) tail = req.q_int("tail", -1);
  bool follow = req.q_bool("follow");

  std::string path = manager::log_path(store, c.id);
  std::deque<std::string> lines;
  for (const auto& file : manager::log_files(store, c.id)) {
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
      lines.push_back(line);
      if (tail >= 0 && static_cast<long>(lines.size()) > tail) lines.pop_front();
    }
  }
  conn.begin_stream(200, f.tty ? kRawStream : kMuxStream);
  for (const auto& l : lines)
    if (!conn.write(f.render(l))) return;
  if (!follow) return conn.end_stream();
  std::ifstream in(path);
  in.seekg(0, std::ios::end);
  std::string partial;
  for (int idle = 0;; ++idle) {
    std::string line;
    bool got = false;
    while (std::getline(in, line)) {
      if (in.eof()) {
        partial += line;
        break;
      }
      if (!conn.write(f.render(partial + line))) return;
      partial.clear();
      got = true;
    }
    in.clear();
    if (got) continue;
    if (conn.peer_closed()) {
      conn.keep_alive = false;
      return;
    }
    if (idle % 5 == 0) {
      auto now = store.container_by_id(c.id);
      if (!now) break;
      auto r = manager::refresh(store, *now);
      if (!is_live(r.state) && !manager::monitor_alive(r) && r.state != "created") {
        while (std::getline(in, line)) conn.write(f.render(partial + line)), partial.clear();
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  conn.end_stream();
}

// ---- attach ----

// An attach to a container that is not running yet waits here for start, which hands it
// the monitor's stream from before the container runs: no output is lost.
struct PendingAttach {
  UniqueFd stream;
  bool ready = false;
};
std::mutex g_attach_mu;
std::condition_variable g_attach_cv;
std::map<std::string, std::shared_ptr<PendingAttach>> g_pending;

// Copies the monitor's frames to the client (and the client's bytes to the container's
// stdin) until the container exits or either side goes.
void relay(const std::string& id, int stream, Conn& conn, bool tty, bool want_stdin, bool out,
           bool err, std::string pending_input) {
  if (want_stdin && !pending_input.empty())
    manager::write_frame(stream, Frame::stdin_data, pending_input);
  bool client_in = want_stdin;
  char buf[65536];
  while (true) {
    pollfd pf[2] = {{stream, POLLIN, 0},
                    {conn.fd(), static_cast<short>(client_in ? POLLIN : 0), 0}};
    if (::poll(pf, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (client_in && (pf[1].revents & POLLIN)) {
      ssize_t n = ::read(conn.fd(), buf, sizeof buf);
      if (n > 0) {
        manager::write_frame(stream, Frame::stdin_data, std::string(buf, static_cast<size_t>(n)));
      } else if (n == 0) {
        // The client closed its writing side (the end of its input): output still goes to it.
        manager::write_frame(stream, Frame::stdin_eof, "");
        client_in = false;
      } else if (errno != EINTR) {
        return;
      }
    } else if (pf[1].revents & (POLLHUP | POLLERR)) {
      return;  // the client is gone: it detaches, the container runs on
    }
    if (pf[0].revents & (POLLIN | POLLHUP)) {
      auto f = manager::read_frame(stream);
      if (!f) return;
      if (f->type == Frame::exited) {
        try {
          note_exit(id, std::stoi(f->data));
        } catch (const std::exception&) {
        }
        return;
      }
      if (f->type == Frame::error) return;
      int which = f->type == Frame::stdout_data ? 1 : f->type == Frame::stderr_data ? 2 : 0;
      if (which == 0 || (which == 1 && !out) || (which == 2 && !err)) continue;
      if (!conn.write_raw(tty ? f->data : mux_frame(which, f->data))) return;
    }
  }
}

void attach(manager::Store& store, const Request& req, Conn& conn, const Params& p) {
  auto c0 = store.find_container(p.at("id"));
  if (!c0) throw ApiError(404, "No such container: " + p.at("id"));
  auto c = manager::refresh(store, *c0);
  bool tty = c.options.value("tty", false);
  bool want_stdin = req.q_bool("stdin") && c.options.value("interactive", false);
  bool out = req.q_bool("stdout"), err = req.q_bool("stderr");
  UniqueFd stream;
  std::shared_ptr<PendingAttach> pending;
  if (c.state == "running" || c.state == "paused") {
    stream = linux::connect_unix(manager::attach_socket_path(store, c.id));
  } else {
    pending = std::make_shared<PendingAttach>();
    std::lock_guard lk(g_attach_mu);
    g_pending[c.id] = pending;
  }
  conn.hijack(req, tty ? kRawStream : kMuxStream);
  if (pending) {
    std::unique_lock lk(g_attach_mu);
    while (!pending->ready) {
      g_attach_cv.wait_for(lk, std::chrono::milliseconds(200));
      if (!pending->ready && conn.peer_closed()) break;
    }
    if (g_pending[c.id] == pending) g_pending.erase(c.id);
    if (!pending->ready) return;
    stream = std::move(pending->stream);
  }
  relay(c.id, stream.get(), conn, tty, want_stdin, out, err, req.pending_input);
}

std::mutex g_exit_mu;
std::map<std::string, int> g_exits;

}  // namespace

void note_exit(const std::string& id, int code) {
  std::lock_guard lk(g_exit_mu);
  if (g_exits.size() > 4096) g_exits.clear();
  g_exits[id] = code;
}

std::optional<int> noted_exit(const std::string& id) {
  std::lock_guard lk(g_exit_mu);
  auto it = g_exits.find(id);
  if (it == g_exits.end()) return std::nullopt;
  return it->second;
}

void start_with_attach(manager::Store& store, const std::string& id) {
  std::shared_ptr<PendingAttach> pending;
  {
    std::lock_guard lk(g_attach_mu);
    auto it = g_pending.find(id);
    if (it != g_pending.end()) {
      pending = it->second;
      g_pending.erase(it);
    }
  }
  if (!pending) {
    manager::start_container(store, id, false);
    return;
  }
  manager::StartResult r;
  try {
    r = manager::start_container(store, id, true);
  } catch (...) {
    std::lock_guard lk(g_attach_mu);
    pending->ready = true;  // with no stream: the attach ends
    g_attach_cv.notify_all();
    throw;
  }
  std::lock_guard lk(g_attach_mu);
  pending->stream = std::move(r.stream);
  pending->ready = true;
  g_attach_cv.notify_all();
}

void add_stream_routes(std::vector<Route>& r) {
  r.push_back({"GET", "/containers/{id}/logs", logs});
  r.push_back({"POST", "/containers/{id}/attach", attach});
  add_exec_routes(r);
}

}  // namespace vessel::api
