#include "api/routes.h"
#include "util/error.h"
#include "util/log.h"

namespace vessel::api {

namespace {

std::vector<std::string> segments(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 1;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  while (!out.empty() && out.back().empty()) out.pop_back();  // a trailing slash
  return out;
}

bool match(const std::vector<std::string>& pat, const std::vector<std::string>& path,
           Params& params) {
  size_t greedy = pat.size();
  for (size_t i = 0; i < pat.size(); ++i)
    if (pat[i].size() > 3 && pat[i].ends_with("*}")) greedy = i;
  auto one = [&](const std::string& p, const std::string& s) {
    if (p.size() > 2 && p.front() == '{' && p.back() == '}') {
      if (s.empty()) return false;
      params[p.substr(1, p.size() - 2)] = s;
      return true;
    }
    return p == s;
  };
  if (greedy == pat.size()) {
    if (pat.size() != path.size()) return false;
    for (size_t i = 0; i < pat.size(); ++i)
      if (!one(pat[i], path[i])) return false;
    return true;
  }
  size_t after = pat.size() - greedy - 1;
  if (path.size() < greedy + 1 + after) return false;
  for (size_t i = 0; i < greedy; ++i)
    if (!one(pat[i], path[i])) return false;
  for (size_t i = 0; i < after; ++i)
    if (!one(pat[greedy + 1 + i], path[path.size() - after + i])) return false;
  std::string joined;
  for (size_t i = greedy; i < path.size() - after; ++i)
    joined += (joined.empty() ? "" : "/") + path[i];
  params[pat[greedy].substr(1, pat[greedy].size() - 3)] = joined;
  return true;
}

const std::vector<Route>& routes() {
  static const std::vector<Route> all = [] {
    std::vector<Route> r;
    add_system_routes(r);
    add_container_routes(r);
    add_stream_routes(r);
    add_image_routes(r);
    add_object_routes(r);
    add_file_routes(r);
    add_image_io_routes(r);
    add_event_routes(r);
    add_stats_routes(r);
    return r;
  }();
  return all;
}

}  // namespace

int status_for(const std::string& m) {
  auto has = [&](const char* s) { return m.find(s) != std::string::npos; };
  if (has("no such") || has("No such") || has("not found") || has("not known")) return 404;
  if (has("in use") || has("already running") || has("already exists") || has("is running") ||
      has("is not running") || has("is paused") || has("not paused") || has("being started") ||
      has("conflict") || has("used by"))
    return 409;
  if (has("invalid") || has("expected") || has("must be") || has("cannot be combined") ||
      has("conflicting"))
    return 400;
  return 500;
}

void handle(manager::Store& store, Request& req, Conn& conn) {
  std::string method = req.method == "HEAD" ? "GET" : req.method;
  auto path = segments(req.path);
  bool path_matched = false;
  try {
    for (const auto& r : routes()) {
      Params params;
      if (!match(segments(r.pattern), path, params)) continue;
      path_matched = true;
      if (r.method != method) continue;
      log::debug(fmt::format("API {} {}", req.method, req.path));
      r.fn(store, req, conn, params);
      if (!conn.answered()) conn.empty(204);
      return;
    }
    if (path_matched) throw ApiError(405, "method " + req.method + " not allowed on " + req.path);
    throw ApiError(404, "page not found: " + req.method + " " + req.path);
  } catch (const ApiError& e) {
    if (!conn.answered()) conn.json(e.status(), {{"message", e.what()}});
  } catch (const std::exception& e) {
    if (!conn.answered())
      conn.json(status_for(e.what()), {{"message", e.what()}});
    else
      conn.keep_alive = false;
  }
}

}  // namespace vessel::api
