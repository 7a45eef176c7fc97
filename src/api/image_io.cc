// Images in and out: push (progress JSON), load (POST /images/load), get (docker save), build
// (POST /build: a tar context, streamed JSON output).
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "api/routes.h"
#include "image/archive.h"
#include "image/layer.h"
#include "image/reference.h"
#include "image/registry.h"
#include "manager/build.h"
#include "manager/events.h"
#include "manager/images.h"
#include "util/fd.h"
#include "util/file.h"

namespace vessel::api {

using manager::ImageRecord;
using nlohmann::json;

namespace {

// A directory under the store's tmp/, removed with everything in it at the end of the scope.
class ScratchDir {
 public:
  explicit ScratchDir(manager::Store& store, const char* what) {
    mkdir_p(store.paths().tmp(), 0700);
    std::string tmpl = store.paths().tmp() + "/api-" + what + "-XXXXXX";
    if (!::mkdtemp(tmpl.data()))
      throw std::runtime_error("mkdtemp " + tmpl + ": " + std::string(strerror(errno)));
    path_ = tmpl;
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir() {
    try {
      remove_tree(path_);
    } catch (const std::exception&) {
    }
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string line(const json& j) { return j.dump() + "\r\n"; }

bool loopback(const std::string& host) {
  return host.rfind("localhost", 0) == 0 || host.rfind("127.", 0) == 0 ||
         host.rfind("[::1]", 0) == 0;
}

// POST /images/{name}/push?tag=T: the image NAME:T to the registry its name says.
void push(manager::Store& store, const Request& req, Conn& conn, const Params& p) {
  std::string name = p.at("name");
  std::string tag = req.q("tag");
  std::string text = name + (tag.empty() ? "" : (tag.rfind("sha256:", 0) == 0 ? "@" : ":") + tag);
  image::Reference ref;
  try {
    ref = image::parse_reference(text);
  } catch (const std::exception& e) {
    throw ApiError(400, e.what());
  }
  auto img = store.find_image(ref.stored_name());
  if (!img) img = store.find_image(text);
  if (!img) throw ApiError(404, "No such image: " + text);
  conn.begin_stream(200, "application/json");
  conn.write(line(
      {{"status", "The push refers to repository [" + ref.registry + "/" + ref.repository + "]"}}));
  try {
    auto stored = manager::stored_image(store, *img);
    image::RegistryOptions ro;
    ro.quiet = true;
    ro.tls_verify = !loopback(ref.registry);
    std::string digest = image::push_image(stored, ref, store.blobs(), ro);
    for (const auto& l : stored.layers)
      conn.write(line({{"status", "Pushed"},
                       {"progressDetail", json::object()},
                       {"id", l.digest.substr(l.digest.find(':') + 1, 12)}}));
    std::string t = ref.tag.empty() ? "latest" : ref.tag;
    conn.write(line({{"status", t + ": digest: " + digest}}));
    conn.write(line({{"progressDetail", json::object()},
                     {"aux", {{"Tag", t}, {"Digest", digest}, {"Size", 0}}}}));
    manager::emit_event(store.paths().root, "image", "push", ref.str(), {{"name", ref.str()}});
  } catch (const std::exception& e) {
    conn.write(line({{"errorDetail", {{"message", e.what()}}}, {"error", e.what()}}));
  }
  conn.end_stream();
}

// POST /images/load: a docker-archive or oci-archive in the body.
void load(manager::Store& store, const Request& req, Conn& conn, const Params&) {
  ScratchDir tmp(store, "load");
  std::string file = tmp.path() + "/archive.tar";
  write_file(file, req.body, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC);
  std::vector<ImageRecord> recs;
  try {
    recs = manager::register_images(store, image::load_images(file, store.blobs()));
  } catch (const std::exception& e) {
    std::string m = e.what();
    auto at = m.find(file);
    if (at != std::string::npos) m.replace(at, file.size(), "the request body");
    throw ApiError(400, m);
  }
  std::string out;
  for (const auto& img : recs) {
    if (img.tags.empty()) out += line({{"stream", "Loaded image ID: sha256:" + img.id + "\n"}});
    for (const auto& t : img.tags) {
      out += line({{"stream", "Loaded image: " + t + "\n"}});
      manager::emit_event(store.paths().root, "image", "load", "sha256:" + img.id, {{"name", t}});
    }
  }
  conn.respond(200, "application/json", out);
}

// GET /images/{name}/get and GET /images/get?names=NAME: a docker-archive of the image.
void save(manager::Store& store, const std::string& ref, Conn& conn) {
  auto img = store.find_image(ref);
  if (!img) throw ApiError(404, "No such image: " + ref);
  ScratchDir tmp(store, "save");
  std::string file = tmp.path() + "/image.tar";
  auto stored = manager::stored_image(store, *img);
  image::save_image(stored, manager::save_names(*img, ref, "docker-archive"), "docker-archive",
                    file, store.blobs());
  UniqueFd in = open_or_throw(file, O_RDONLY | O_CLOEXEC);
  conn.stream_from(200, "application/x-tar", [&](int fd) {
    std::string buf(64 * 1024, '\0');
    for (;;) {
      ssize_t n = ::read(in.get(), buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw std::runtime_error("read " + file + ": " + strerror(errno));
      if (n == 0) break;
      write_all(fd, buf.data(), static_cast<size_t>(n));
    }
  });
}

void get_one(manager::Store& store, const Request&, Conn& conn, const Params& p) {
  save(store, p.at("name"), conn);
}

void get_names(manager::Store& store, const Request& req, Conn& conn, const Params&) {
  std::string names = req.q("names");
  if (names.empty()) throw ApiError(400, "names is required");
  save(store, names, conn);
}

std::vector<std::pair<std::string, std::string>> string_map(const std::string& raw,
                                                            const std::string& what) {
  std::vector<std::pair<std::string, std::string>> out;
  if (raw.empty()) return out;
  json j;
  try {
    j = json::parse(raw);
  } catch (const std::exception& e) {
    throw ApiError(400, "invalid " + what + ": " + e.what());
  }
  if (!j.is_object()) throw ApiError(400, "invalid " + what + ": expected a JSON object");
  for (auto& [k, v] : j.items())
    if (v.is_string()) out.push_back({k, v.get<std::string>()});
  return out;
}

// POST /build?t=NAME&dockerfile=F&buildargs={..}&labels={..}&target=&nocache=&q=&networkmode=:
// the body is the context as a tar; the output is docker's stream of {"stream": …} lines, then
// {"aux": {"ID": …}}, or {"error": …}.
void build(manager::Store& store, const Request& req, Conn& conn, const Params&) {
  if (req.q("remote").size()) throw ApiError(501, "remote build contexts are not supported");
  std::string version = req.q("version");
  if (version == "2") throw ApiError(501, "BuildKit builds are not supported (use version 1)");
  manager::BuildOptions o;
  for (const auto& [k, v] : req.query)
    if (k == "t") o.tags.push_back(v);
  o.target = req.q("target");
  o.no_cache = req.q_bool("nocache");
  o.quiet = req.q_bool("q");
  std::string net = req.q("networkmode");
  o.network = net.empty() || net == "default" || net == "bridge" ? "none" : net;
  o.build_args = string_map(req.q("buildargs"), "buildargs");
  o.labels = string_map(req.q("labels"), "labels");
  ScratchDir tmp(store, "build");
  std::string ctx = tmp.path() + "/context";
  mkdir_p(ctx, 0755);
  {
    UniqueFd body(::memfd_create("vessel-build-context", MFD_CLOEXEC));
    if (!body) throw std::runtime_error("memfd_create: " + std::string(strerror(errno)));
    write_all(body.get(), req.body.data(), req.body.size());
    ::lseek(body.get(), 0, SEEK_SET);
    UniqueFd dir = open_or_throw(ctx, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    image::UnpackOptions uo;
    uo.same_owner = true;
    uo.interpret_whiteouts = false;
    try {
      image::unpack_tar_fd(body.get(), dir.get(), "the build context", uo);
    } catch (const std::exception& e) {
      throw ApiError(400, std::string("the build context: ") + e.what());
    }
  }
  o.context = ctx;
  std::string df = req.q("dockerfile");
  if (!df.empty()) {
    if (df.find("..") != std::string::npos || df.front() == '/')
      throw ApiError(400, "dockerfile must be a path inside the context: " + df);
    o.file = ctx + "/" + df;
  }
  conn.begin_stream(200, "application/json");
  bool client = true;
  o.out = [&](const std::string& s) {
    if (client) client = conn.write(line({{"stream", s}}));
  };
  try {
    auto img = manager::build_image(store, o);
    conn.write(line({{"aux", {{"ID", "sha256:" + img.id}}}}));
    conn.write(line({{"stream", "Successfully built " + img.id.substr(0, 12) + "\n"}}));
    for (const auto& t : o.tags) conn.write(line({{"stream", "Successfully tagged " + t + "\n"}}));
  } catch (const std::exception& e) {
    conn.write(line({{"errorDetail", {{"message", e.what()}}}, {"error", e.what()}}));
  }
  conn.end_stream();
}

}  // namespace

void add_image_io_routes(std::vector<Route>& r) {
  r.push_back({"POST", "/images/load", load});
  r.push_back({"GET", "/images/get", get_names});
  r.push_back({"GET", "/images/{name*}/get", get_one});
  r.push_back({"POST", "/images/{name*}/push", push});
  r.push_back({"POST", "/build", build});
}

}  // namespace vessel::api
