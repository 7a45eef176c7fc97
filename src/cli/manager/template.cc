// vessel template ls|build.
#include <cstdio>

#include "cli/manager/commands.h"
#include "manager/images.h"

namespace vessel::cli {

using namespace vessel::manager;

void add_template(CLI::App& app, Globals& g, Action& action) {
  auto* tpl = app.add_subcommand("template", "base-OS templates that become images");
  tpl->require_subcommand(1);
  auto* ls = tpl->add_subcommand("ls", "list the templates");
  ls->callback([&action] {
    action = []() -> int {
      std::vector<std::vector<std::string>> rows = {{"NAME", "DESCRIPTION"}};
      for (const auto& t : templates()) rows.push_back({t.name, t.description});
      print_table(rows);
      return 0;
    };
  });
  auto* build =
      tpl->add_subcommand("build", "build a template into an image: NAME [--tag NAME:TAG]");
  auto name = std::make_shared<std::string>();
  auto tag = std::make_shared<std::string>();
  build->add_option("NAME", *name)->required();
  build->add_option("--tag", *tag, "image name (default localhost/NAME:latest)");
  build->callback([&g, &action, name, tag] {
    action = [&g, name, tag]() -> int {
      auto img = build_template(g.store(), *name, *tag);
      std::puts(img.id.c_str());
      return 0;
    };
  });
}

}  // namespace vessel::cli
