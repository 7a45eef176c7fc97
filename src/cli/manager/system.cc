// vessel system df.
#include <cstdio>

#include "cli/manager/commands.h"
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
}

}  // namespace vessel::cli
