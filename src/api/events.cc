// GET /events: the events log (manager/events.h) as docker's stream of JSON objects, from
// `since` (or now) until `until` (or the client goes), filtered by `filters`.
#include "manager/events.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>
#include <thread>

#include "api/routes.h"
#include "util/fd.h"

namespace vessel::api {

using nlohmann::json;

namespace {

long long now_ns() {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

// Docker's since/until: Unix seconds, with up to nine digits of fraction.
long long parse_time(const std::string& key, const std::string& s) {
  auto dot = s.find('.');
  std::string secs = s.substr(0, dot), frac = dot == std::string::npos ? "" : s.substr(dot + 1);
  bool ok = !secs.empty() && secs.find_first_not_of("0123456789") == std::string::npos &&
            frac.size() <= 9 && frac.find_first_not_of("0123456789") == std::string::npos;
  if (!ok) throw ApiError(400, "invalid value for " + key + ": \"" + s + "\" (Unix seconds)");
  frac.resize(9, '0');
  return std::stoll(secs) * 1000000000LL + std::stoll(frac);
}

using Filters = std::map<std::string, std::vector<std::string>>;

Filters parse_filters(const std::string& raw) {
  Filters out;
  if (raw.empty()) return out;
  json f;
  try {
    f = json::parse(raw);
  } catch (const json::exception& e) {
    throw ApiError(400, std::string("invalid filters: ") + e.what());
  }
  if (!f.is_object()) throw ApiError(400, "invalid filters: expected a JSON object");
  static const std::vector<std::string> keys = {"container", "event", "type",  "image", "network",
                                                "volume",    "label", "scope", "daemon"};
  for (auto& [k, v] : f.items()) {
    if (std::find(keys.begin(), keys.end(), k) == keys.end())
      throw ApiError(400, "invalid filter '" + k + "'");
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

// The same key ORs, different keys AND (docker's rule).
bool matches(const Filters& filters, const json& e) { return manager::event_matches(filters, e); }

class Follower {
 public:
  Follower(Conn& conn, Filters f, long long since, long long until)
      : conn_(conn), filters_(std::move(f)), since_(since), until_(until) {}

  // Whole lines from `fd`; false once the client is gone.
  bool drain(int fd) {
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) return true;
      rest_.append(buf, static_cast<size_t>(n));
      size_t from = 0;
      for (size_t nl; (nl = rest_.find('\n', from)) != std::string::npos; from = nl + 1)
        if (!line(rest_.substr(from, nl - from))) return false;
      rest_.erase(0, from);
    }
  }
  void reset() { rest_.clear(); }

 private:
  bool line(const std::string& text) {
    json e;
    try {
      e = json::parse(text);
    } catch (const std::exception&) {
      return true;
    }
    if (!e.is_object() || !e.contains("Actor")) return true;
    long long t = e.value("timeNano", 0LL);
    if (t < since_ || (until_ >= 0 && t > until_) || !matches(filters_, e)) return true;
    e["scope"] = "local";
    std::string type = e.value("Type", "");
    if (type == "container" || type == "image") {  // the fields of API versions before 1.22
      e["status"] = e.value("Action", "");
      e["id"] = e["Actor"].value("ID", "");
      if (type == "container")
        e["from"] = e["Actor"].value("Attributes", json::object()).value("image", "");
    }
    return conn_.write(e.dump() + "\n");
  }

  Conn& conn_;
  Filters filters_;
  long long since_, until_;
  std::string rest_;
};

void events(manager::Store& store, const Request& req, Conn& conn, const Params&) {
  long long now = now_ns();
  bool has_since = !req.q("since").empty();
  long long since = has_since ? parse_time("since", req.q("since")) : now;
  long long until = req.q("until").empty() ? -1 : parse_time("until", req.q("until"));
  Follower f(conn, parse_filters(req.q("filters")), since, until);
  std::string path = manager::events_path(store.paths().root);
  conn.begin_stream(200, "application/json");
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (has_since) {
    UniqueFd old(::open((path + ".1").c_str(), O_RDONLY | O_CLOEXEC));
    if (old.get() >= 0 && !f.drain(old.get())) return;
    f.reset();
  } else if (fd.get() >= 0) {
    ::lseek(fd.get(), 0, SEEK_END);
  }
  for (;;) {
    if (fd.get() >= 0 && !f.drain(fd.get())) return;
    if (until >= 0 && now_ns() > until) break;
    if (conn.peer_closed()) {
      conn.keep_alive = false;
      return;
    }
    // A rotation (or the first event) puts a new file at the path: read it from its start.
    struct stat at, open_st;
    if (::stat(path.c_str(), &at) == 0 &&
        (fd.get() < 0 || (::fstat(fd.get(), &open_st) == 0 && open_st.st_ino != at.st_ino))) {
      if (fd.get() >= 0 && !f.drain(fd.get())) return;
      f.reset();
      fd = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  conn.end_stream();
}

}  // namespace

void add_event_routes(std::vector<Route>& r) { r.push_back({"GET", "/events", events}); }

}  // namespace vessel::api
