// vessel images, rmi, tag, image ls|rm|inspect|prune.
#include "manager/images.h"

#include <cstdio>
#include <set>

#include "cli/manager/commands.h"
#include "manager/build.h"
#include "manager/containers.h"
#include "manager/events.h"
#include "util/error.h"

namespace vessel::cli {

using namespace vessel::manager;
using nlohmann::json;

namespace {

// One row per tag, with docker's field names, for `images --format`.
json image_rows(const std::vector<ImageRecord>& imgs) {
  json rows = json::array();
  for (const auto& i : imgs) {
    auto tags = i.tags.empty() ? std::vector<std::string>{"<none>:<none>"} : i.tags;
    for (const auto& t : tags) {
      auto colon = t.rfind(':');
      rows.push_back({{"ID", short_id(i.id)},
                      {"Repository", t.substr(0, colon)},
                      {"Tag", t.substr(colon + 1)},
                      {"Digest", i.manifest_digest.empty() ? "<none>" : i.manifest_digest},
                      {"CreatedSince", human_ago(i.created)},
                      {"CreatedAt", docker_time(i.created)},
                      {"Size", human_size(i.size)}});
    }
  }
  return rows;
}

int list_images(Globals& g, bool quiet, const std::string& format, bool all = false) {
  auto imgs = g.store().images();
  // Build steps (the layer cache) without a name are shown with --all only.
  if (!all) {
    auto steps = build_cache_images(g.store());
    std::erase_if(imgs, [&](const ImageRecord& i) { return i.tags.empty() && steps.count(i.id); });
  }
  static const json headers = {
      {"ID", "IMAGE ID"},   {"Repository", "REPOSITORY"}, {"Tag", "TAG"},
      {"Digest", "DIGEST"}, {"CreatedSince", "CREATED"},  {"CreatedAt", "CREATED AT"},
      {"Size", "SIZE"}};
  if (!quiet && print_template(format, image_rows(imgs), headers)) return 0;
  if (format == "json") {
    json out = json::array();
    for (const auto& i : imgs)
      out.push_back({{"Id", i.id},
                     {"Names", i.tags},
                     {"Digest", i.manifest_digest},
                     {"Created", i.created},
                     {"Size", i.size}});
    std::puts(out.dump(2).c_str());
    return 0;
  }
  if (quiet) {
    for (const auto& i : imgs) std::puts(short_id(i.id).c_str());
    return 0;
  }
  std::vector<std::vector<std::string>> rows = {
      {"REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"}};
  for (const auto& i : imgs) {
    auto tags = i.tags.empty() ? std::vector<std::string>{"<none>:<none>"} : i.tags;
    for (const auto& t : tags) {
      auto colon = t.rfind(':');
      rows.push_back({t.substr(0, colon), t.substr(colon + 1), short_id(i.id), human_ago(i.created),
                      human_size(i.size)});
    }
  }
  print_table(rows);
  return 0;
}

}  // namespace

void add_images(CLI::App& app, Globals& g, Action& action) {
  auto quiet = std::make_shared<bool>(false);
  auto format = std::make_shared<std::string>();
  auto list_all = std::make_shared<bool>(false);
  auto* images = app.add_subcommand("images", "list images");
  images->add_flag("-q,--quiet", *quiet, "print IDs only");
  images->add_flag("-a,--all", *list_all,
                   "also the unnamed images of build steps (the layer cache)");
  images->add_option(
      "--format", *format,
      "json, a Go template ('{{.Repository}}:{{.Tag}}') or 'table TEMPLATE'; fields: "
      "ID, Repository, Tag, Digest, CreatedSince, CreatedAt, Size");
  images->callback([&g, &action, quiet, format, list_all] {
    action = [&g, quiet, format, list_all]() -> int {
      return list_images(g, *quiet, *format, *list_all);
    };
  });

  auto names = std::make_shared<std::vector<std::string>>();
  auto force = std::make_shared<bool>(false);
  auto rmi_action = [&g, names, force]() -> int {
    int rc = 0;
    for (const auto& n : *names) {
      try {
        for (const auto& line : remove_image(g.store(), n, *force)) std::puts(line.c_str());
      } catch (const Error& e) {
        std::fprintf(stderr, "vessel: %s\n", e.what());
        rc = 125;
      }
    }
    return rc;
  };
  auto* rmi = app.add_subcommand("rmi", "remove images");
  rmi->add_option("IMAGE", *names, "names or IDs")->required();
  rmi->add_flag("-f,--force", *force, "remove even if containers use it");
  rmi->callback([&action, rmi_action] { action = rmi_action; });

  auto tag_args = std::make_shared<std::vector<std::string>>();
  auto* tag = app.add_subcommand("tag", "add a name to an image: IMAGE NEW_NAME...");
  tag->add_option("ARGS", *tag_args)->required()->expected(2, -1);
  tag->callback([&g, &action, tag_args] {
    action = [&g, tag_args]() -> int {
      auto img = g.store().find_image((*tag_args)[0]);
      if (!img) fail("image not known: {}", (*tag_args)[0]);
      for (size_t i = 1; i < tag_args->size(); ++i) {
        g.store().tag_image(img->id, (*tag_args)[i]);
        emit_event(g.store().paths().root, "image", "tag", "sha256:" + img->id,
                   {{"name", normalize_image_name((*tag_args)[i])}});
      }
      return 0;
    };
  });

  auto* image = app.add_subcommand("image", "image commands");
  image->require_subcommand(1);
  auto* ls = image->add_subcommand("ls", "list images");
  ls->add_flag("-q,--quiet", *quiet, "print IDs only");
  ls->add_option("--format", *format,
                 "json, a Go template ('{{.Repository}}:{{.Tag}}') or 'table TEMPLATE'; fields: "
                 "ID, Repository, Tag, Digest, CreatedSince, CreatedAt, Size");
  ls->callback([&g, &action, quiet, format] {
    action = [&g, quiet, format]() -> int { return list_images(g, *quiet, *format); };
  });
  auto* rm = image->add_subcommand("rm", "remove images");
  rm->add_option("IMAGE", *names, "names or IDs")->required();
  rm->add_flag("-f,--force", *force, "remove even if containers use it");
  rm->callback([&action, rmi_action] { action = rmi_action; });
  auto* inspect = image->add_subcommand("inspect", "show images as JSON");
  auto inames = std::make_shared<std::vector<std::string>>();
  auto iformat = std::make_shared<std::string>();
  inspect->add_option("IMAGE", *inames)->required();
  inspect->add_option("-f,--format", *iformat, "a Go template run on each image's JSON");
  inspect->callback([&g, &action, inames, iformat] {
    action = [&g, inames, iformat]() -> int {
      json out = json::array();
      for (const auto& n : *inames) {
        auto img = g.store().find_image(n);
        if (!img) fail("image not known: {}", n);
        json cfg = image_config(g.store(), *img);
        out.push_back({{"Id", img->id},
                       {"Digest", img->manifest_digest},
                       {"RepoTags", img->tags},
                       {"Created", img->created},
                       {"Size", img->size},
                       {"Architecture", cfg.value("architecture", "")},
                       {"Os", cfg.value("os", "")},
                       {"Config", cfg.value("config", json::object())},
                       {"RootFS", cfg.value("rootfs", json::object())}});
      }
      if (print_inspect(*iformat, out)) return 0;
      std::puts(out.dump(2).c_str());
      return 0;
    };
  });
  auto* prune = image->add_subcommand("prune", "remove untagged images no container uses");
  auto all = std::make_shared<bool>(false);
  prune->add_flag("-a,--all", *all, "remove every image no container uses");
  prune->add_flag("-f,--force")->description("do not ask (accepted for compatibility)");
  prune->callback([&g, &action, all] {
    action = [&g, all]() -> int {
      auto& store = g.store();
      std::set<std::string> used;
      for (const auto& c : store.containers()) used.insert(c.image_id);
      for (const auto& img : store.images()) {
        if (used.count(img.id) || (!*all && !img.tags.empty())) continue;
        store.remove_image(img.id);
        std::puts(img.id.c_str());
      }
      uint64_t freed = collect_garbage(store);
      std::printf("Total reclaimed space: %s\n", human_size(freed).c_str());
      return 0;
    };
  });
}

}  // namespace vessel::cli
