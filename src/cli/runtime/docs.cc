// vessel-runtime __generate-man DIR (hidden): the build writes the section-8 man pages with it,
// from the same definitions as --help.
#include "cli/doc/cli_doc.h"
#include "cli/runtime/commands.h"

namespace vessel::cli {

void add_docs(CLI::App& app, Globals& /*g*/, Action& action) {
  auto* man = app.add_subcommand("__generate-man", "write the man pages into DIR")->group("");
  auto dir = std::make_shared<std::string>();
  man->add_option("DIR", *dir)->required();
  man->callback([&app, &action, dir] {
    action = [&app, dir]() -> int {
      doc::write_man_pages(app, "vessel-runtime", 8, VESSEL_VERSION, *dir);
      return 0;
    };
  });
}

}  // namespace vessel::cli
