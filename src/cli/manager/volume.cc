// vessel volume create|ls|inspect|rm|prune.
#include <cstdio>
#include <set>

#include "cli/manager/commands.h"
#include "manager/containers.h"
#include "util/error.h"

namespace vessel::cli {

using namespace vessel::manager;
using nlohmann::json;

void add_volume(CLI::App& app, Globals& g, Action& action) {
  auto* vol = app.add_subcommand("volume", "named volumes that outlive containers");
  vol->require_subcommand(1);
  auto* create = vol->add_subcommand("create", "create a volume");
  auto name = std::make_shared<std::string>();
  create->add_option("NAME", *name, "volume name (default: generated)");
  create->callback([&g, &action, name] {
    action = [&g, name]() -> int {
      std::string n = name->empty() ? random_hex_id() : *name;
      create_volume(g.store(), n);
      std::puts(n.c_str());
      return 0;
    };
  });
  auto* ls = vol->add_subcommand("ls", "list volumes");
  auto quiet = std::make_shared<bool>(false);
  auto format = std::make_shared<std::string>();
  ls->add_flag("-q,--quiet", *quiet, "names only");
  ls->add_option("--format", *format,
                 "json, a Go template ('{{.Name}}') or 'table TEMPLATE'; fields: Name, "
                 "Driver, Scope, Mountpoint, CreatedAt, Labels, Label \"key\"");
  ls->callback([&g, &action, quiet, format] {
    action = [&g, quiet, format]() -> int {
      auto vols = g.store().volumes();
      if (!*quiet) {
        json rows = json::array();
        for (const auto& v : vols) {
          std::string labels;
          for (const auto& [k, x] : v.labels.items())
            labels += (labels.empty() ? "" : ",") + k + "=" + x.get<std::string>();
          rows.push_back({{"Name", v.name},
                          {"Driver", "local"},
                          {"Scope", "local"},
                          {"Mountpoint", v.mountpoint},
                          {"CreatedAt", docker_time(v.created)},
                          {"Labels", labels},
                          {"Label", v.labels}});
        }
        static const json headers = {{"Name", "VOLUME NAME"},     {"Driver", "DRIVER"},
                                     {"Scope", "SCOPE"},          {"Mountpoint", "MOUNTPOINT"},
                                     {"CreatedAt", "CREATED AT"}, {"Labels", "LABELS"},
                                     {"Label", "LABEL"}};
        if (print_template(*format, rows, headers)) return 0;
      }
      if (*format == "json") {
        json out = json::array();
        for (const auto& v : vols)
          out.push_back({{"Name", v.name},
                         {"Mountpoint", v.mountpoint},
                         {"CreatedAt", v.created},
                         {"Driver", "local"}});
        std::puts(out.dump(2).c_str());
        return 0;
      }
      std::vector<std::vector<std::string>> rows;
      if (!*quiet) rows.push_back({"DRIVER", "VOLUME NAME"});
      for (const auto& v : vols) {
        if (*quiet)
          rows.push_back({v.name});
        else
          rows.push_back({"local", v.name});
      }
      print_table(rows);
      return 0;
    };
  });
  auto* inspect = vol->add_subcommand("inspect", "show volumes as JSON");
  auto names = std::make_shared<std::vector<std::string>>();
  auto iformat = std::make_shared<std::string>();
  inspect->add_option("NAME", *names)->required();
  inspect->add_option("-f,--format", *iformat, "a Go template run on each volume's JSON");
  inspect->callback([&g, &action, names, iformat] {
    action = [&g, names, iformat]() -> int {
      json out = json::array();
      for (const auto& n : *names) {
        auto v = g.store().volume(n);
        if (!v) fail("no such volume: {}", n);
        out.push_back({{"Name", v->name},
                       {"Mountpoint", v->mountpoint},
                       {"CreatedAt", v->created},
                       {"Driver", "local"},
                       {"Labels", v->labels}});
      }
      if (print_inspect(*iformat, out)) return 0;
      std::puts(out.dump(2).c_str());
      return 0;
    };
  });
  auto* rm = vol->add_subcommand("rm", "remove volumes (not while a container uses them)");
  auto rnames = std::make_shared<std::vector<std::string>>();
  auto force = std::make_shared<bool>(false);
  rm->add_option("NAME", *rnames)->required();
  rm->add_flag("-f,--force", *force, "also remove the containers that use it");
  rm->callback([&g, &action, rnames, force] {
    action = [&g, rnames, force]() -> int {
      for (const auto& n : *rnames) {
        remove_volume(g.store(), n, *force);
        std::puts(n.c_str());
      }
      return 0;
    };
  });
  auto* prune = vol->add_subcommand("prune", "remove volumes no container uses");
  prune->add_flag("-f,--force")->description("do not ask (accepted for compatibility)");
  prune->callback([&g, &action] {
    action = [&g]() -> int {
      for (const auto& v : g.store().volumes())
        if (g.store().volume_users(v.name).empty()) {
          remove_volume(g.store(), v.name, false);
          std::puts(v.name.c_str());
        }
      return 0;
    };
  });
}

}  // namespace vessel::cli
