// vessel pull, push: images from and to registries (the OCI distribution API).
#include <cstdio>
#include <memory>

#include "cli/manager/commands.h"
#include "image/reference.h"
#include "image/registry.h"
#include "manager/events.h"
#include "manager/images.h"
#include "util/error.h"

namespace vessel::cli {

namespace {

struct RegistryFlags {
  bool tls_verify = true;
  std::string creds, authfile;
  std::vector<std::string> args;
};

void add_registry_flags(CLI::App* cmd, RegistryFlags& f) {
  cmd->add_flag("--tls-verify", f.tls_verify,
                "require https with a verified certificate (--tls-verify=false: allow plain "
                "http and unverified certificates)");
  cmd->add_option("--creds", f.creds, "USER:PASSWORD for the registry");
  cmd->add_option("--authfile", f.authfile,
                  "credentials file (default: $XDG_RUNTIME_DIR/containers/auth.json, then "
                  "~/.docker/config.json)");
}

// The positional arguments, after taking a "true"/"false" that followed a bare --tls-verify
// (podman also accepts "--tls-verify false").
std::vector<std::string> positionals(CLI::App* cmd, RegistryFlags& f) {
  std::vector<std::string> a = f.args;
  if (cmd->count("--tls-verify") > 0 && !a.empty() && (a[0] == "true" || a[0] == "false")) {
    f.tls_verify = a[0] == "true";
    a.erase(a.begin());
  }
  return a;
}

image::RegistryOptions options(const RegistryFlags& f) {
  image::RegistryOptions o;
  o.tls_verify = f.tls_verify;
  o.creds = f.creds;
  o.authfile = f.authfile;
  return o;
}

}  // namespace

void add_pull(CLI::App& app, Globals& g, Action& action) {
  auto* pull =
      app.add_subcommand("pull", "pull an image from a registry: [REGISTRY/]REPO[:TAG][@DIGEST]");
  auto pf = std::make_shared<RegistryFlags>();
  add_registry_flags(pull, *pf);
  pull->add_option("IMAGE", pf->args, "the image reference")->required()->expected(1, 2);
  pull->callback([&g, &action, pull, pf] {
    auto args = positionals(pull, *pf);
    if (args.size() != 1) throw CLI::ValidationError("pull takes one IMAGE");
    action = [&g, pf, ref_text = args[0]]() -> int {
      image::Reference ref = image::parse_reference(ref_text);
      auto stored = image::pull_image(ref, g.store().blobs(), options(*pf));
      auto recs = manager::register_images(g.store(), {stored}, {ref.stored_name()});
      for (const auto& r : recs) {
        manager::emit_event(g.store().paths().root, "image", "pull", "sha256:" + r.id,
                            {{"name", ref.stored_name()}});
        std::printf("%s\n", r.id.c_str());
      }
      return 0;
    };
  });

  auto* push = app.add_subcommand("push", "push a local image to a registry: IMAGE [DESTINATION]");
  auto sf = std::make_shared<RegistryFlags>();
  add_registry_flags(push, *sf);
  push->add_option("IMAGE", sf->args, "the local image, then the destination reference")
      ->required()
      ->expected(1, 3);
  push->callback([&g, &action, push, sf] {
    auto args = positionals(push, *sf);
    if (args.empty() || args.size() > 2)
      throw CLI::ValidationError("push takes IMAGE [DESTINATION]");
    action = [&g, sf, args]() -> int {
      auto img = g.store().find_image(args[0]);
      if (!img) fail("image not known: {}", args[0]);
      std::string dest_text = args.size() > 1 ? args[1] : args[0];
      if (args.size() == 1 && !img->tags.empty() && args[0].find('/') == std::string::npos)
        fail("give a destination: vessel push {} REGISTRY/REPO[:TAG]", args[0]);
      image::Reference dest = image::parse_reference(dest_text);
      auto stored = manager::stored_image(g.store(), *img);
      std::string digest = image::push_image(stored, dest, g.store().blobs(), options(*sf));
      std::printf("%s\n", digest.c_str());
      return 0;
    };
  });
}

}  // namespace vessel::cli
