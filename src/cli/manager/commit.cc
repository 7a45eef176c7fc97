// vessel commit, diff, history.
#include "manager/commit.h"

#include <cstdio>

#include "cli/manager/commands.h"
#include "manager/images.h"
#include "util/error.h"

namespace vessel::cli {

using namespace vessel::manager;
using nlohmann::json;

namespace {

struct CommitArgs {
  std::string container, image, message, author;
  std::vector<std::string> changes;
  bool pause = false, quiet = false;
};

struct HistoryArgs {
  std::string image;
  bool no_trunc = false, quiet = false, human = true;
};

int history(Globals& g, const HistoryArgs& a) {
  auto img = g.store().find_image(a.image);
  if (!img) fail("image not known: {}", a.image);
  json config = image_config(g.store(), *img);
  json hist = config.value("history", json::array());
  // Each entry that is not an empty layer made the next layer.
  std::vector<uint64_t> sizes(hist.size(), 0);
  size_t layer = 0;
  for (size_t i = 0; i < hist.size(); ++i)
    if (!hist[i].value("empty_layer", false) && layer < img->layers.size())
      sizes[i] = img->layers[layer++].size;
  std::vector<std::vector<std::string>> rows = {
      {"IMAGE ID", "CREATED", "CREATED BY", "SIZE", "COMMENT"}};
  for (size_t n = hist.size(); n-- > 0;) {
    std::string id = n + 1 == hist.size() ? img->id : "<missing>";
    if (a.quiet) {
      std::puts((a.no_trunc || id == "<missing>" ? id : short_id(id)).c_str());
      continue;
    }
    std::string by = hist[n].value("created_by", "");
    std::string comment = hist[n].value("comment", "");
    if (!a.no_trunc) {
      if (id != "<missing>") id = short_id(id);
      if (by.size() > 45) by = by.substr(0, 44) + "…";
    }
    for (auto& c : by)
      if (c == '\n' || c == '\t') c = ' ';
    std::string created = hist[n].value("created", "");
    rows.push_back({id, a.human ? human_ago(created) : created, by, human_size(sizes[n]), comment});
  }
  if (!a.quiet) print_table(rows);
  return 0;
}

}  // namespace

void add_commit(CLI::App& app, Globals& g, Action& action) {
  auto ca = std::make_shared<CommitArgs>();
  auto* commit = app.add_subcommand(
      "commit", "make an image of a container's changes: CONTAINER [IMAGE[:TAG]]");
  commit->add_option("CONTAINER", ca->container, "name or ID")->required();
  commit->add_option("IMAGE", ca->image, "name of the new image (none: untagged)");
  commit
      ->add_option("-c,--change", ca->changes,
                   "apply a Containerfile instruction: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, "
                   "STOPSIGNAL, USER, VOLUME, WORKDIR")
      ->allow_extra_args(false);
  commit->add_option("-m,--message", ca->message, "commit message (the history comment)");
  commit->add_option("-a,--author", ca->author, "author of the image");
  commit->add_flag("-p,--pause", ca->pause, "pause a running container while committing");
  commit->add_flag("-q,--quiet", ca->quiet, "print nothing but the image ID");
  commit->callback([&g, &action, ca] {
    action = [&g, ca]() -> int {
      CommitOptions o;
      o.changes = ca->changes;
      o.message = ca->message;
      o.author = ca->author;
      o.pause = ca->pause;
      auto img = commit_container(g.store(), ca->container, ca->image, o);
      std::printf("%s\n", (ca->quiet ? img.id : "sha256:" + img.id).c_str());
      return 0;
    };
  });

  auto dname = std::make_shared<std::string>();
  auto* diff = app.add_subcommand(
      "diff", "list the files a container added (A), changed (C) or deleted (D)");
  diff->add_option("CONTAINER", *dname, "name or ID")->required();
  diff->callback([&g, &action, dname] {
    action = [&g, dname]() -> int {
      for (const auto& c : container_changes(g.store(), *dname))
        std::printf("%c %s\n", c.kind, c.path.c_str());
      return 0;
    };
  });

  auto ha = std::make_shared<HistoryArgs>();
  auto* hist = app.add_subcommand("history", "show how an image's layers were made");
  hist->add_option("IMAGE", ha->image, "name or ID")->required();
  hist->add_flag("--no-trunc", ha->no_trunc, "print IDs and commands in full");
  hist->add_flag("-q,--quiet", ha->quiet, "print the IDs only");
  hist->callback([&g, &action, ha] { action = [&g, ha]() -> int { return history(g, *ha); }; });
}

}  // namespace vessel::cli
