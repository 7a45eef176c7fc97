// A container's files: archive (GET/HEAD/PUT: docker cp), export, changes (docker diff), and
// commit (POST /commit).
#include <sys/mman.h>
#include <unistd.h>

#include "api/routes.h"
#include "manager/commit.h"
#include "manager/containers.h"
#include "manager/copy.h"
#include "util/fd.h"
#include "util/file.h"

namespace vessel::api {

using nlohmann::json;

namespace {

std::string base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i + 1 == in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    unsigned v =
        (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return out;
}

std::string container_id(manager::Store& store, const std::string& ref) {
  auto c = store.find_container(ref);
  if (!c) throw ApiError(404, "No such container: " + ref);
  return c->id;
}

std::string path_param(const Request& req) {
  std::string path = req.q("path");
  if (path.empty()) throw ApiError(400, "path is required");
  return path;
}

// The stat of `path` in the container, 404 when it is not there.
manager::PathStat stat_or_404(manager::Store& store, const std::string& id, const std::string& path,
                              const std::string& ref) {
  try {
    return manager::stat_container_path(store, id, path);
  } catch (const std::exception& e) {
    if (std::string(e.what()).find("no such file") != std::string::npos)
      throw ApiError(404, "Could not find the file " + path + " in container " + ref);
    throw;
  }
}

std::string stat_header(const manager::PathStat& st) {
  json j = {{"name", st.name},
            {"size", st.size},
            {"mode", st.mode},
            {"mtime", st.mtime},
            {"linkTarget", st.link_target}};
  return "X-Docker-Container-Path-Stat: " + base64(j.dump()) + "\r\n";
}

// GET and HEAD /containers/{id}/archive?path=P: the stat in a header, and (GET) a tar of P.
void archive_get(manager::Store& store, const Request& req, Conn& conn, const Params& p) {
  std::string id = container_id(store, p.at("id"));
  std::string path = path_param(req);
  auto st = stat_or_404(store, id, path, p.at("id"));
  conn.extra_headers = stat_header(st);
  if (conn.head_only) {
    conn.respond(200, "application/x-tar", "");
    return;
  }
  conn.stream_from(200, "application/x-tar", [&](int fd) {
    manager::CopyEndpoint src, dest;
    src.container = id;
    src.path = path;
    dest.stream = true;
    dest.fd = fd;
    manager::copy_files(store, src, dest, {});
  });
}

// PUT /containers/{id}/archive?path=DIR: a tar in the body, unpacked into DIR.
void archive_put(manager::Store& store, const Request& req, Conn& conn, const Params& p) {
  std::string id = container_id(store, p.at("id"));
  std::string path = path_param(req);
  auto st = stat_or_404(store, id, path, p.at("id"));
  if (!(st.mode & (1u << 31))) throw ApiError(400, "extraction point is not a directory: " + path);
  UniqueFd body(::memfd_create("vessel-archive", MFD_CLOEXEC));
  if (!body) throw std::runtime_error("memfd_create: " + std::string(strerror(errno)));
  write_all(body.get(), req.body.data(), req.body.size());
  ::lseek(body.get(), 0, SEEK_SET);
  manager::CopyEndpoint src, dest;
  src.stream = true;
  src.fd = body.get();
  dest.container = id;
  dest.path = path;
  manager::CopyOptions o;
  o.archive = req.q_bool("copyUIDGID");
  manager::copy_files(store, src, dest, o);
  conn.empty(200);
}

void export_tar(manager::Store& store, const Request&, Conn& conn, const Params& p) {
  std::string id = container_id(store, p.at("id"));
  conn.stream_from(200, "application/x-tar",
                   [&](int fd) { manager::export_container(store, id, fd); });
}

// GET /containers/{id}/changes: [{"Path": P, "Kind": 0 changed | 1 added | 2 deleted}].
void changes(manager::Store& store, const Request&, Conn& conn, const Params& p) {
  std::string id = container_id(store, p.at("id"));
  json out = json::array();
  for (const auto& ch : manager::container_changes(store, id))
    out.push_back({{"Path", ch.path}, {"Kind", ch.kind == 'C' ? 0 : ch.kind == 'A' ? 1 : 2}});
  conn.json(200, out.empty() ? json(nullptr) : out);
}

// POST /commit?container=C&repo=R&tag=T&comment=&author=&pause=&changes=: an image of the
// container's writable layer. (The body's Config is not merged; `changes` lines are.)
void commit(manager::Store& store, const Request& req, Conn& conn, const Params&) {
  std::string ref = req.q("container");
  if (ref.empty()) throw ApiError(400, "container is required");
  std::string id = container_id(store, ref);
  std::string name = req.q("repo");
  if (!name.empty() && !req.q("tag").empty()) name += ":" + req.q("tag");
  manager::CommitOptions o;
  o.message = req.q("comment");
  o.author = req.q("author");
  o.pause = req.q_bool("pause", true);
  std::string ch = req.q("changes");
  size_t start = 0;
  while (start < ch.size()) {
    size_t nl = ch.find('\n', start);
    if (nl == std::string::npos) nl = ch.size();
    std::string line = ch.substr(start, nl - start);
    if (line.find_first_not_of(" \t\r") != std::string::npos) o.changes.push_back(line);
    start = nl + 1;
  }
  manager::ImageRecord img;
  try {
    img = manager::commit_container(store, id, name, o);
  } catch (const std::exception& e) {
    std::string m = e.what();
    if (m.find("unknown") != std::string::npos || m.find("invalid") != std::string::npos)
      throw ApiError(400, m);
    throw;
  }
  conn.json(201, {{"Id", "sha256:" + img.id}});
}

}  // namespace

void add_file_routes(std::vector<Route>& r) {
  r.push_back({"GET", "/containers/{id}/archive", archive_get});  // HEAD too (router)
  r.push_back({"PUT", "/containers/{id}/archive", archive_put});
  r.push_back({"GET", "/containers/{id}/export", export_tar});
  r.push_back({"GET", "/containers/{id}/changes", changes});
  r.push_back({"POST", "/commit", commit});
}

}  // namespace vessel::api
