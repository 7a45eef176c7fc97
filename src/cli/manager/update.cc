// vessel update.
#include "manager/update.h"

#include <cstdio>

#include "cli/manager/commands.h"

namespace vessel::cli {

using namespace vessel::manager;

void add_update(CLI::App& app, Globals& g, Action& action) {
  auto* cmd = app.add_subcommand(
      "update", "change a container's limits (live, if it runs) and restart policy: CONTAINER...");
  auto names = std::make_shared<std::vector<std::string>>();
  auto memory = std::make_shared<std::string>();
  auto memory_swap = std::make_shared<std::string>();
  auto restart = std::make_shared<std::string>();
  auto cpus = std::make_shared<double>(0);
  auto shares = std::make_shared<uint64_t>(0);
  auto pids = std::make_shared<int64_t>(0);
  cmd->add_option("CONTAINER", *names)->required();
  cmd->add_option("-m,--memory", *memory, "memory limit (64m, 1g; -1 unlimited)");
  cmd->add_option("--memory-swap", *memory_swap, "memory plus swap (-1 unlimited)");
  cmd->add_option("--cpus", *cpus, "CPUs (0.5: half of one)");
  cmd->add_option("--cpu-shares", *shares, "relative CPU weight");
  cmd->add_option("--pids-limit", *pids, "most processes (0 or -1: unlimited)");
  cmd->add_option("--restart", *restart, "no, on-failure[:N], always, unless-stopped");
  cmd->callback([&g, &action, cmd, names, memory, memory_swap, restart, cpus, shares, pids] {
    UpdateOptions u;
    if (!memory->empty()) u.memory = parse_size("--memory", *memory);
    if (!memory_swap->empty()) u.memory_swap = parse_size("--memory-swap", *memory_swap);
    if (cmd->count("--cpus")) u.cpus = *cpus;
    if (cmd->count("--cpu-shares")) u.cpu_shares = *shares;
    if (cmd->count("--pids-limit")) u.pids_limit = *pids;
    u.restart = *restart;
    action = [&g, names, u]() -> int {
      for (const auto& n : *names) {
        update_container(g.store(), n, u);
        std::puts(n.c_str());
      }
      return 0;
    };
  });
}

}  // namespace vessel::cli
