// vessel ps.
#include <cstdio>

#include "cli/manager/commands.h"
#include "manager/containers.h"
#include "manager/health.h"
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

std::string status_text(Store& store, const ContainerRecord& c) {
  if (c.state == "running") return "Up " + duration_since(c.started_at) + health_suffix(store, c);
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

std::string joined(const json& list, const char* key = nullptr) {
  std::string s;
  for (const auto& x : list) {
    std::string v = key ? x.value(key, "") : x.get<std::string>();
    if (!v.empty()) s += (s.empty() ? "" : ",") + v;
  }
  return s;
}

// One row of `ps --format`: docker's field names, each a string as docker prints it, and
// Label, a map, for {{.Label "key"}}.
// docker's SIZE: "12B (virtual 4.3MB)", the writable layer and that plus the image.
std::string size_text(Store& store, const ContainerRecord& c) {
  uint64_t rw = container_rw_size(store, c.id);
  auto img = store.image_by_id(c.image_id);
  return human_size(rw) + " (virtual " + human_size(rw + (img ? img->size : 0)) + ")";
}

json template_row(Store& store, const ContainerRecord& c, bool no_trunc, bool size) {
  std::string cmdline = command_text(c);
  if (!no_trunc && cmdline.size() > 20) cmdline = cmdline.substr(0, 19) + "…";
  json labels = c.options.value("labels", json::object());
  std::string label_text;
  for (const auto& [k, v] : labels.items())
    label_text += (label_text.empty() ? "" : ",") + k + "=" + v.get<std::string>();
  std::string networks = joined(c.options.value("networks", json::array()));
  if (networks.empty()) networks = c.options.value("network", "");
  return {{"ID", no_trunc ? c.id : short_id(c.id)},
          {"Image", c.image_name},
          {"Command", "\"" + cmdline + "\""},
          {"CreatedAt", docker_time(c.created)},
          {"RunningFor", human_ago(c.created)},
          {"Ports", ports_summary(store, c)},
          {"State", c.state},
          {"Status", status_text(store, c)},
          {"Names", c.name},
          {"Labels", label_text},
          {"Label", labels},
          {"Mounts", joined(c.options.value("volumes", json::array()), "source")},
          {"Networks", networks},
          {"ExitCode", c.exit_code},
          {"Pid", c.pid},
          {"Size", size ? size_text(store, c) : ""}};
}

const json& template_headers() {
  static const json h = {{"ID", "CONTAINER ID"},
                         {"Image", "IMAGE"},
                         {"Command", "COMMAND"},
                         {"CreatedAt", "CREATED AT"},
                         {"RunningFor", "CREATED"},
                         {"Ports", "PORTS"},
                         {"State", "STATE"},
                         {"Status", "STATUS"},
                         {"Names", "NAMES"},
                         {"Labels", "LABELS"},
                         {"Label", "LABEL"},
                         {"Mounts", "MOUNTS"},
                         {"Networks", "NETWORKS"},
                         {"ExitCode", "EXIT CODE"},
                         {"Pid", "PID"},
                         {"Size", "SIZE"}};
  return h;
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
  auto size = std::make_shared<bool>(false);
  cmd->add_flag("-s,--size", *size,
                "show what each container wrote (its writable layer) and that plus its image");
  cmd->add_option("--format", *format,
                  "json, a Go template ('{{.Names}} {{.Status}}'), or 'table TEMPLATE' with "
                  "headers; fields: ID, Image, Command, CreatedAt, RunningFor, Ports, State, "
                  "Status, Names, Labels, Label \"key\", Mounts, Networks, ExitCode, Pid, Size");
  cmd->callback([&g, &action, all, quiet, no_trunc, format, size] {
    action = [&g, all, quiet, no_trunc, format, size]() -> int {
      auto& store = g.store();
      std::vector<ContainerRecord> shown;
      for (auto c : store.containers()) {
        c = refresh(store, c);
        if (!*all && c.state != "running" && c.state != "paused" && c.state != "restarting")
          continue;
        shown.push_back(c);
      }
      if (!*quiet) {
        json rows = json::array();
        if (!format->empty() && *format != "json")
          for (const auto& c : shown) rows.push_back(template_row(store, c, *no_trunc, *size));
        if (print_template(*format, rows, template_headers())) return 0;
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
                         {"Status", status_text(store, c)},
                         {"ExitCode", c.exit_code},
                         {"Pid", c.pid},
                         {"Ports", ports_summary(store, c)},
                         {"Networks", c.options.value("networks", json::array())},
                         {"Restarts", c.restart_count},
                         {"StartedAt", c.started_at},
                         {"ExitedAt", c.finished_at}});
        if (*size)
          for (size_t i = 0; i < shown.size(); ++i) {
            uint64_t rw = container_rw_size(store, shown[i].id);
            auto img = store.image_by_id(shown[i].image_id);
            out[i]["SizeRw"] = rw;
            out[i]["SizeRootFs"] = rw + (img ? img->size : 0);
          }
        std::puts(out.dump(2).c_str());
        return 0;
      }
      if (*quiet) {
        for (const auto& c : shown) std::puts((*no_trunc ? c.id : short_id(c.id)).c_str());
        return 0;
      }
      std::vector<std::vector<std::string>> rows = {
          {"CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"}};
      if (*size) rows[0].push_back("SIZE");
      for (const auto& c : shown) {
        std::string cmdline = command_text(c);
        if (!*no_trunc && cmdline.size() > 20) cmdline = cmdline.substr(0, 17) + "...";
        rows.push_back({*no_trunc ? c.id : short_id(c.id), c.image_name, "\"" + cmdline + "\"",
                        human_ago(c.created), status_text(store, c), ports_summary(store, c),
                        c.name});
        if (*size) rows.back().push_back(size_text(store, c));
      }
      print_table(rows);
      return 0;
    };
  });
}

}  // namespace vessel::cli
