// vessel system df.
#include <cstdio>

#include "cli/manager/commands.h"
#include "manager/check.h"
#include "manager/containers.h"

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
}

}  // namespace vessel::cli
