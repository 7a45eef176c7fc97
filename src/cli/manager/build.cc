// vessel build.
#include "manager/build.h"

#include <cstdio>

#include "cli/manager/commands.h"
#include "util/error.h"
#include "util/progress.h"

namespace vessel::cli {

using namespace vessel::manager;

namespace {

struct BuildArgs {
  std::string context, file, target, network = "none", format = "oci";
  std::vector<std::string> tags, build_args, labels;
  bool no_cache = false, quiet = false;
};

std::pair<std::string, std::string> key_value(const std::string& flag, const std::string& kv) {
  auto eq = kv.find('=');
  if (eq == 0 || kv.empty()) fail("{} \"{}\": KEY=VALUE", flag, kv);
  if (eq == std::string::npos) {
    // --build-arg KEY: the value from this environment, as docker does.
    const char* env = std::getenv(kv.c_str());
    if (!env) fail("{} \"{}\": KEY=VALUE (and {} is not set here)", flag, kv, kv);
    return {kv, env};
  }
  return {kv.substr(0, eq), kv.substr(eq + 1)};
}

}  // namespace

void add_build(CLI::App& app, Globals& g, Action& action) {
  auto a = std::make_shared<BuildArgs>();
  auto* build = app.add_subcommand("build", "build an image from a Containerfile: CONTEXT");
  build->add_option("CONTEXT", a->context, "the build context directory")->required();
  build->add_option("-t,--tag", a->tags, "name the image NAME[:TAG] (repeatable)")
      ->allow_extra_args(false);
  build->add_option("-f,--file", a->file,
                    "the Containerfile (default: CONTEXT/Containerfile, else Dockerfile)");
  build->add_option("--build-arg", a->build_args, "set an ARG: KEY=VALUE")->allow_extra_args(false);
  build->add_option("--target", a->target, "build up to this stage (AS NAME)");
  build->add_flag("--no-cache", a->no_cache, "run every step, ignoring the layer cache");
  build->add_option("--network", a->network,
                    "network of RUN steps: none (default), host, or a network's name");
  build->add_option("--label", a->labels, "add a label to the image: KEY=VALUE")
      ->allow_extra_args(false);
  build
      ->add_option("--format", a->format,
                   "the image's media types: oci (default) or docker (Docker schema 2; keeps "
                   "HEALTHCHECK and SHELL, which OCI images cannot hold)")
      ->check(CLI::IsMember({"oci", "docker"}));
  build->add_flag("-q,--quiet", a->quiet,
                  "print nothing but the image ID (otherwise the steps on stdout, and a bar per "
                  "layer written with its size and speed on stderr: a line per layer if not a "
                  "terminal)");
  build->callback([&g, &action, a] {
    action = [&g, a]() -> int {
      BuildOptions o;
      o.context = a->context;
      o.file = a->file;
      o.tags = a->tags;
      o.target = a->target;
      o.no_cache = a->no_cache;
      o.network = a->network;
      o.quiet = a->quiet;
      o.format = a->format;
      for (const auto& kv : a->build_args) o.build_args.push_back(key_value("--build-arg", kv));
      for (const auto& kv : a->labels) o.labels.push_back(key_value("--label", kv));
      if (!a->quiet)
        o.out = [](const std::string& s) {
          std::fwrite(s.data(), 1, s.size(), stdout);
          std::fflush(stdout);
        };
      // Each layer written: a bar with its size and speed on a terminal (stderr), a line if not.
      Progress progress(a->quiet);
      ProgressScope scope(&progress);
      auto img = build_image(g.store(), o);
      std::printf("%s\n", img.id.c_str());
      return 0;
    };
  });
}

}  // namespace vessel::cli
