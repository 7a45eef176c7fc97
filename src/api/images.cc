// Images: list, inspect, history, create (pull), tag, remove, prune.
#include "manager/images.h"

#include "api/convert.h"
#include "api/routes.h"
#include "image/reference.h"
#include "image/registry.h"

namespace vessel::api {

using manager::ImageRecord;
using nlohmann::json;

namespace {

ImageRecord find(manager::Store& store, const std::string& ref) {
  auto img = store.find_image(ref);
  if (!img) {
    // The short names of vessel's templates (busybox) name their localhost/ images, built on
    // first use.
    try {
      img = manager::resolve_image(store, ref);
    } catch (const std::exception&) {
    }
  }
  if (!img) throw ApiError(404, "No such image: " + ref);
  return *img;
}

json digests(const ImageRecord& img) {
  json out = json::array();
  for (const auto& t : img.tags) {
    auto colon = t.rfind(':');
    std::string repo = colon == std::string::npos || t.find('/', colon) != std::string::npos
                           ? t
                           : t.substr(0, colon);
    if (!img.manifest_digest.empty()) out.push_back(repo + "@" + img.manifest_digest);
  }
  return out;
}

void list(manager::Store& store, const Request& req, Conn& conn, const Params&) {
  json out = json::array();
  bool dangling_only = req.q("filters").find("\"dangling\"") != std::string::npos &&
                       req.q("filters").find("true") != std::string::npos;
  for (const auto& img : store.images()) {
    if (dangling_only && !img.tags.empty()) continue;
    json cfg = json::object();
    try {
      cfg = manager::image_config(store, img);
    } catch (const std::exception&) {
    }
    json labels = cfg.value("config", json::object()).value("Labels", json());
    out.push_back({{"Id", "sha256:" + img.id},
                   {"ParentId", ""},
                   {"RepoTags", img.tags.empty() ? json(nullptr) : json(img.tags)},
                   {"RepoDigests", digests(img)},
                   {"Created", unix_time(img.created)},
                   {"Size", img.size},
                   {"VirtualSize", img.size},
                   {"SharedSize", -1},
                   {"Labels", labels.is_object() ? labels : json(nullptr)},
                   {"Containers", -1}});
  }
  conn.json(200, out);
}

void inspect(manager::Store& store, const Request&, Conn& conn, const Params& p) {
  auto img = find(store, p.at("name"));
  json cfg = manager::image_config(store, img);
  json layers = json::array();
  for (const auto& l : img.layers) layers.push_back(l.diff_id);
  conn.json(200, {{"Id", "sha256:" + img.id},
                  {"RepoTags", img.tags},
                  {"RepoDigests", digests(img)},
                  {"Parent", ""},
                  {"Comment", ""},
                  {"Created", docker_time(img.created)},
                  {"Container", ""},
                  {"ContainerConfig", cfg.value("config", json::object())},
                  {"DockerVersion", ""},
                  {"Author", cfg.value("author", "")},
                  {"Config", cfg.value("config", json::object())},
                  {"Architecture", cfg.value("architecture", "")},
                  {"Os", cfg.value("os", "")},
                  {"Size", img.size},
                  {"VirtualSize", img.size},
                  {"GraphDriver", {{"Name", "overlay2"}, {"Data", json::object()}}},
                  {"RootFS", {{"Type", "layers"}, {"Layers", layers}}},
                  {"Metadata", {{"LastTagTime", "0001-01-01T00:00:00Z"}}}});
}

void history(manager::Store& store, const Request&, Conn& conn, const Params& p) {
  auto img = find(store, p.at("name"));
  json cfg = manager::image_config(store, img);
  json out = json::array();
  json hist = cfg.value("history", json::array());
  for (auto it = hist.rbegin(); it != hist.rend(); ++it)
    out.push_back({{"Id", it == hist.rbegin() ? "sha256:" + img.id : "<missing>"},
                   {"Created", unix_time(it->value("created", ""))},
                   {"CreatedBy", it->value("created_by", "")},
                   {"Tags", it == hist.rbegin() ? json(img.tags) : json(nullptr)},
                   {"Size", 0},
                   {"Comment", it->value("comment", "")}});
  if (out.empty())
    out.push_back({{"Id", "sha256:" + img.id},
                   {"Created", unix_time(img.created)},
                   {"CreatedBy", ""},
                   {"Tags", img.tags},
                   {"Size", img.size},
                   {"Comment", ""}});
  conn.json(200, out);
}

// POST /images/create?fromImage=NAME&tag=TAG: a pull, reported as JSON progress lines.
void create(manager::Store& store, const Request& req, Conn& conn, const Params&) {
  std::string from = req.q("fromImage");
  if (from.empty())
    throw ApiError(501, "importing images (fromSrc) is not supported; use vessel import");
  std::string tag = req.q("tag");
  std::string text = from;
  if (!tag.empty()) text += (tag.rfind("sha256:", 0) == 0 ? "@" : ":") + tag;
  image::Reference ref;
  try {
    ref = image::parse_reference(text);
  } catch (const std::exception& e) {
    throw ApiError(400, e.what());
  }
  conn.begin_stream(200, "application/json");
  conn.write(json{{"status", "Pulling from " + ref.repository},
                  {"id", ref.tag.empty() ? ref.digest : ref.tag}}
                 .dump() +
             "\r\n");
  try {
    image::RegistryOptions ro;
    // As docker: registries on the loopback addresses are reached over plain http.
    const std::string& host = ref.registry;
    ro.tls_verify = !(host.rfind("localhost", 0) == 0 || host.rfind("127.", 0) == 0 ||
                      host.rfind("[::1]", 0) == 0);
    auto stored = image::pull_image(ref, store.blobs(), ro);
    auto recs = manager::register_images(store, {stored}, {ref.stored_name()});
    std::string digest = recs.empty() ? "" : recs.front().manifest_digest;
    conn.write(json{{"status", "Digest: " + digest}}.dump() + "\r\n");
    conn.write(json{{"status", "Status: Downloaded newer image for " + ref.str()}}.dump() + "\r\n");
  } catch (const std::exception& e) {
    conn.write(json{{"errorDetail", {{"message", e.what()}}}, {"error", e.what()}}.dump() + "\r\n");
  }
  conn.end_stream();
}

void tag(manager::Store& store, const Request& req, Conn& conn, const Params& p) {
  auto img = find(store, p.at("name"));
  std::string repo = req.q("repo");
  if (repo.empty()) throw ApiError(400, "repo is required");
  std::string t = req.q("tag", "latest");
  std::string name;
  try {
    name = image::parse_reference(repo + ":" + (t.empty() ? "latest" : t)).stored_name();
  } catch (const std::exception& e) {
    throw ApiError(400, e.what());
  }
  store.tag_image(img.id, name);
  conn.empty(201);
}

void remove(manager::Store& store, const Request& req, Conn& conn, const Params& p) {
  std::string ref = p.at("name");
  auto img = find(store, ref);
  std::vector<std::string> done;
  try {
    done = manager::remove_image(store,
                                 store.find_image(ref) ? ref
                                 : img.tags.empty()    ? img.id
                                                       : img.tags.front(),
                                 req.q_bool("force"));
  } catch (const std::exception& e) {
    std::string m = e.what();
    if (m.find("in use") != std::string::npos) throw ApiError(409, m);
    throw;
  }
  json out = json::array();
  for (std::string d : done) {
    // The manager's lines are "Untagged: NAME" and "Deleted: ID" (as vessel rmi prints them).
    bool deleted = d.rfind("Deleted: ", 0) == 0 || d.rfind("sha256:", 0) == 0 || d.size() == 64;
    for (const char* prefix : {"Untagged: ", "Deleted: "})
      if (d.rfind(prefix, 0) == 0) d = d.substr(std::string(prefix).size());
    out.push_back({{deleted ? "Deleted" : "Untagged", d}});
  }
  conn.json(200, out);
}

void prune(manager::Store& store, const Request&, Conn& conn, const Params&) {
  uint64_t freed = manager::collect_garbage(store);
  conn.json(200, {{"ImagesDeleted", json::array()}, {"SpaceReclaimed", freed}});
}

}  // namespace

void add_image_routes(std::vector<Route>& r) {
  r.push_back({"GET", "/images/json", list});
  r.push_back({"POST", "/images/create", create});
  r.push_back({"POST", "/images/prune", prune});
  r.push_back({"GET", "/images/{name*}/json", inspect});
  r.push_back({"GET", "/images/{name*}/history", history});
  r.push_back({"POST", "/images/{name*}/tag", tag});
  r.push_back({"DELETE", "/images/{name*}", remove});
}

}  // namespace vessel::api
