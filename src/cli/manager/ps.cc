// vessel ps.
#include <cstdio>

#include "cli/manager/commands.h"
#include "manager/containers.h"
#include "manager/networks.h"

namespace vessel::cli {

using namespace vessel::manager;
using nlohmann::json;

namespace {

std::string duration_since(const std::string& t) {
  std::string ago = human_ago(t);
  auto pos = ago.find(" ago");
  return pos == std::string::npos ? ago : ago.substr(0, pos);
}

std::string status_text(const ContainerRecord& c) {
  if (c.state == "running") return "Up " + duration_since(c.started_at);
  if (c.state == "paused") return "Up " + duration_since(c.started_at) + " (Paused)";
  if (c.state == "restarting")
    return "Restarting (" + std::to_string(c.exit_code) + ") " + human_ago(c.finished_at);
  if (c.state == "exited")
    return "Exited (" + std::to_string(c.exit_code) + ") " + human_ago(c.finished_at);
  if (c.state == "created") return "Created";
  return c.state;
}

std::string command_text(const ContainerRecord& c) {
  std::string s;
  for (const auto& a : c.options.value("command", std::vector<std::string>{}))
    s += (s.empty() ? "" : " ") + a;
  return s;
}

}  // namespace

void add_ps(CLI::App& app, Globals& g, Action& action) {
  auto* cmd = app.add_subcommand("ps", "list containers");
  auto all = std::make_shared<bool>(false);
  auto quiet = std::make_shared<bool>(false);
  auto no_trunc = std::make_shared<bool>(false);
  auto format = std::make_shared<std::string>();
  cmd->add_flag("-a,--all", *all, "show all containers (default: running ones)");
  cmd->add_flag("-q,--quiet", *quiet, "print IDs only");
  cmd->add_flag("--no-trunc", *no_trunc, "do not shorten IDs and commands");
  cmd->add_option("--format", *format, "json, or a table (default)");
  cmd->callback([&g, &action, all, quiet, no_trunc, format] {
    action = [&g, all, quiet, no_trunc, format]() -> int {
      if (!format->empty() && *format != "json" && *format != "table")
        throw std::runtime_error("ps --format: expected json or table");
      auto& store = g.store();
      std::vector<ContainerRecord> shown;
      for (auto c : store.containers()) {
        c = refresh(store, c);
        if (!*all && c.state != "running" && c.state != "paused" && c.state != "restarting")
          continue;
        shown.push_back(c);
      }
      if (*format == "json") {
        json out = json::array();
        for (const auto& c : shown)
          out.push_back({{"Id", c.id},
                         {"Names", {c.name}},
                         {"Image", c.image_name},
                         {"ImageID", c.image_id},
                         {"Command", c.options.value("command", json::array())},
                         {"Created", c.created},
                         {"State", c.state},
                         {"Status", status_text(c)},
                         {"ExitCode", c.exit_code},
                         {"Pid", c.pid},
                         {"Ports", ports_summary(store, c)},
                         {"Networks", c.options.value("networks", json::array())},
                         {"Restarts", c.restart_count},
                         {"StartedAt", c.started_at},
                         {"ExitedAt", c.finished_at}});
        std::puts(out.dump(2).c_str());
        return 0;
      }
      if (*quiet) {
        for (const auto& c : shown) std::puts((*no_trunc ? c.id : short_id(c.id)).c_str());
        return 0;
      }
      std::vector<std::vector<std::string>> rows = {
          {"CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"}};
      for (const auto& c : shown) {
        std::string cmdline = command_text(c);
        if (!*no_trunc && cmdline.size() > 20) cmdline = cmdline.substr(0, 17) + "...";
        rows.push_back({*no_trunc ? c.id : short_id(c.id), c.image_name, "\"" + cmdline + "\"",
                        human_ago(c.created), status_text(c), ports_summary(store, c), c.name});
      }
      print_table(rows);
      return 0;
    };
  });
}

}  // namespace vessel::cli
