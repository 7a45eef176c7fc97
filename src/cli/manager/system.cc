// vessel system df, system prune.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <set>

#include "cli/manager/commands.h"
#include "manager/boot.h"
#include "manager/check.h"
#include "manager/containers.h"
#include "manager/images.h"
#include "manager/networks.h"
#include "util/error.h"

namespace vessel::cli {

using namespace vessel::manager;

void add_system(CLI::App& app, Globals& g, Action& action) {
  auto* sys = app.add_subcommand("system", "store-wide commands");
  sys->require_subcommand(1);
  add_system_service(sys, g, action);
  auto* df = sys->add_subcommand("df", "disk space used by images, containers and volumes");
  df->callback([&g, &action] {
    action = [&g]() -> int {
      auto& store = g.store();
      uint64_t image_bytes = 0;
      for (const auto& i : store.images()) image_bytes += i.size;
      auto containers = store.containers();
      size_t running = 0;
      for (auto c : containers) running += refresh(store, c).state == "running";
      std::vector<std::vector<std::string>> rows = {{"TYPE", "TOTAL", "ACTIVE", "SIZE"}};
      rows.push_back(
          {"Images", std::to_string(store.images().size()), "", human_size(image_bytes)});
      rows.push_back(
          {"Containers", std::to_string(containers.size()), std::to_string(running), ""});
      rows.push_back({"Local Volumes", std::to_string(store.volumes().size()), "", ""});
      print_table(rows);
      return 0;
    };
  });

  auto* restart_all = sys->add_subcommand(
      "restart-all",
      "start the containers whose restart policy is always, or unless-stopped when they were "
      "not stopped by hand (at boot: vessel-restart.service)");
  restart_all->callback([&g, &action] {
    action = [&g]() -> int {
      auto r = manager::restart_all(g.store());
      for (const auto& n : r.started) std::printf("%s\n", n.c_str());
      for (const auto& f : r.failed) std::fprintf(stderr, "vessel: restart-all: %s\n", f.c_str());
      return r.failed.empty() ? 0 : 1;
    };
  });

  auto* check = sys->add_subcommand(
      "check",
      "verify every blob against its digest and every layer and container against the "
      "database; report orphans (exit status 1 if a problem remains)");
  static bool repair = false;
  check->add_flag("--repair", repair,
                  "remove corrupt blobs and orphans, forget layers whose directory is gone, set "
                  "the database to WAL mode");
  check->callback([&g, &action] {
    action = [&g]() -> int {
      CheckReport r = check_store(g.store(), repair);
      for (const CheckFinding& f : r.findings)
        std::printf("%s\t%s: %s%s\n", f.kind.c_str(), f.path.c_str(), f.detail.c_str(),
                    f.repaired ? " (repaired)" : "");
      std::printf("checked %zu blobs, %zu images, %zu layers, %zu containers: ", r.blobs, r.images,
                  r.layers, r.containers);
      if (r.findings.empty())
        std::printf("no problem found\n");
      else
        std::printf("%zu problem(s), %zu repaired\n", r.findings.size(),
                    r.findings.size() - r.unresolved());
      return r.unresolved() ? 1 : 0;
    };
  });

  auto* prune = sys->add_subcommand("prune",
                                    "remove stopped containers, unused networks and dangling "
                                    "images (and more with -a, --volumes)");
  struct PruneFlags {
    bool all = false, volumes = false, force = false;
  };
  auto pf = std::make_shared<PruneFlags>();
  prune->add_flag("-a,--all", pf->all,
                  "remove every image no container uses, not only untagged ones");
  prune->add_flag("--volumes", pf->volumes, "remove volumes no container uses too");
  prune->add_flag("-f,--force", pf->force, "do not ask for confirmation");
  prune->callback([&g, &action, pf] {
    action = [&g, pf]() -> int {
      if (!pf->force) {
        if (!::isatty(0))
          fail("system prune: nothing removed; give -f to prune without a terminal");
        std::fprintf(stderr,
                     "This removes all stopped containers, networks no container uses, %s%s. "
                     "Continue? [y/N] ",
                     pf->all ? "every image no container uses" : "untagged images",
                     pf->volumes ? " and volumes no container uses" : "");
        std::string answer;
        std::getline(std::cin, answer);
        if (answer != "y" && answer != "Y" && answer != "yes") {
          std::fprintf(stderr, "nothing removed\n");
          return 0;
        }
      }
      auto& store = g.store();
      std::vector<std::string> gone;
      for (auto c : store.containers()) {
        c = refresh(store, c);
        if (c.state == "exited" || c.state == "created") {
          remove_container(store, c.id, false);
          gone.push_back(c.name);
        }
      }
      if (!gone.empty()) std::printf("Deleted containers:\n");
      for (const auto& n : gone) std::printf("%s\n", n.c_str());
      gone.clear();
      for (const auto& n : store.networks())
        if (n.name != kDefaultNetwork && store.network_users(n.name).empty()) {
          remove_network(store, n.name, false);
          gone.push_back(n.name);
        }
      if (!gone.empty()) std::printf("Deleted networks:\n");
      for (const auto& n : gone) std::printf("%s\n", n.c_str());
      gone.clear();
      if (pf->volumes) {
        for (const auto& v : store.volumes())
          if (store.volume_users(v.name).empty()) {
            remove_volume(store, v.name, false);
            gone.push_back(v.name);
          }
        if (!gone.empty()) std::printf("Deleted volumes:\n");
        for (const auto& n : gone) std::printf("%s\n", n.c_str());
        gone.clear();
      }
      std::set<std::string> used;
      for (const auto& c : store.containers()) used.insert(c.image_id);
      for (const auto& img : store.images()) {
        if (used.count(img.id) || (!pf->all && !img.tags.empty())) continue;
        store.remove_image(img.id);
        gone.push_back(img.tags.empty() ? img.id : img.tags[0]);
      }
      if (!gone.empty()) std::printf("Deleted images:\n");
      for (const auto& n : gone) std::printf("%s\n", n.c_str());
      uint64_t freed = collect_garbage(store);
      std::printf("Total reclaimed space: %s\n", human_size(freed).c_str());
      return 0;
    };
  });
}

}  // namespace vessel::cli
