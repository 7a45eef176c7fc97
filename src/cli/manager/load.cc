// vessel load, import, save.
#include <cstdio>

#include "cli/manager/commands.h"
#include "image/archive.h"
#include "manager/images.h"
#include "util/error.h"
#include "util/progress.h"

namespace vessel::cli {

using namespace vessel::manager;

void add_load(CLI::App& app, Globals& g, Action& action) {
  auto* load =
      app.add_subcommand("load", "load images from an OCI layout, oci-archive or docker-archive");
  auto input = std::make_shared<std::string>();
  auto lquiet = std::make_shared<bool>(false);
  load->add_option("-i,--input", *input, "file or directory")->required();
  load->add_flag("-q,--quiet", *lquiet,
                 "no progress (otherwise on stderr: a bar per layer with its size and speed on "
                 "a terminal, a line per layer if not)");
  load->callback([&g, &action, input, lquiet] {
    action = [&g, input, lquiet]() -> int {
      Progress progress(*lquiet);
      ProgressScope scope(&progress);
      auto loaded = image::load_images(*input, g.store().blobs());
      for (const auto& img : register_images(g.store(), loaded)) {
        if (img.tags.empty()) std::printf("Loaded image: %s\n", img.id.c_str());
        for (const auto& t : img.tags) std::printf("Loaded image: %s\n", t.c_str());
      }
      return 0;
    };
  });

  auto* import =
      app.add_subcommand("import", "make an image from a root filesystem tarball: FILE NAME[:TAG]");
  auto file = std::make_shared<std::string>();
  auto name = std::make_shared<std::string>();
  import->add_option("FILE", *file)->required();
  import->add_option("NAME", *name)->required();
  import->callback([&g, &action, file, name] {
    action = [&g, file, name]() -> int {
      auto img = import_rootfs(g.store(), *file, *name);
  std::puts(img.id.c_str());
  return 0;
};
}  // namespace vessel::cli
);

auto* save = app.add_subcommand("save", "write one image to an archive, under the name given");
auto out = std::make_shared<std::string>();
auto format = std::make_shared<std::string>("oci-archive");
auto ref = std::make_shared<std::string>();
save->add_option("-o,--output", *out, "file to write")->required();
save->add_option("--format", *format, "oci-archive (default), docker-archive or oci-dir")
    ->check(CLI::IsMember({"oci-archive", "docker-archive", "oci-dir"}));
save->add_option("IMAGE", *ref, "name or ID")->required();
auto squiet = std::make_shared<bool>(false);
save->add_flag("-q,--quiet", *squiet,
               "no progress (otherwise on stderr: a bar per blob with its size and speed on a "
               "terminal, a line per blob if not)");
save->callback([&g, &action, out, format, ref, squiet] {
  action = [&g, out, format, ref, squiet]() -> int {
    Progress progress(*squiet);
    ProgressScope scope(&progress);
    auto img = g.store().find_image(*ref);
    if (!img) fail("image not known: {}", *ref);
    auto stored = stored_image(g.store(), *img);
    std::vector<std::string> names = save_names(*img, *ref, *format);
    image::save_image(stored, names, *format, *out, g.store().blobs());
    return 0;
  };
});
}

}  // namespace vessel::cli
