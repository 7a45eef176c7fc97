// vessel pull, push: images from and to registries (the OCI distribution API).
#include <cstdio>
#include <memory>
#include <optional>

#include "cli/manager/commands.h"
#include "image/reference.h"
#include "image/registry.h"
#include "manager/config.h"
#include "manager/events.h"
#include "manager/images.h"
#include "util/error.h"

namespace vessel::cli {

namespace {

struct RegistryFlags {
  bool tls_verify = true;
  bool quiet = false;
  std::string creds, authfile;
  std::vector<std::string> args;
};

void add_registry_flags(CLI::App* cmd, RegistryFlags& f) {
  cmd->add_flag("--tls-verify", f.tls_verify,
                "require https with a verified certificate (--tls-verify=false: allow plain "
                "http and unverified certificates)");
  cmd->add_option("--creds", f.creds, "USER:PASSWORD for the registry");
  cmd->add_flag("-q,--quiet", f.quiet,
                "no progress (otherwise on stderr: bars on a terminal, a line per layer if not)");
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

// The options for one registry: vessel.conf's registries.insecure turns TLS checks off there.
image::RegistryOptions options(const RegistryFlags& f, const std::string& registry = "") {
  image::RegistryOptions o;
  o.tls_verify = f.tls_verify;
  for (const auto& h : manager::config().list("registries.insecure"))
    if (h == registry) o.tls_verify = false;
  o.creds = f.creds;
  o.authfile = f.authfile;
  o.quiet = f.quiet;
  return o;
}

// A short name ("busybox", "me/app:1"): no registry part (a first component with a dot or a
// colon, or localhost).
bool short_name(const std::string& text) {
  auto slash = text.find('/');
  if (slash == std::string::npos) return true;
  std::string first = text.substr(0, slash);
  return first.find_first_of(".:") == std::string::npos && first != "localhost";
}

// Where to try a pull, in order: each mirror of the registry (vessel.conf registries.mirrors),
// then the registry; for a short name, that for each registry of registries.search.
struct Source {
  image::Reference ref;
  std::string stored_name;  // a mirror's image is stored under the mirrored registry's name
};
std::vector<Source> pull_sources(const std::string& text) {
  const manager::Config& conf = manager::config();
  std::vector<image::Reference> targets;
  auto search = conf.list("registries.search");
  if (short_name(text) && !search.empty()) {
    for (const auto& reg : search) targets.push_back(image::parse_reference(reg + "/" + text));
  } else {
    targets.push_back(image::parse_reference(text));
  }
  std::vector<Source> out;
  const auto& mirrors = conf.get("registries.mirrors").value;
  for (const auto& t : targets) {
    if (mirrors.contains(t.registry))
      for (const auto& m : mirrors[t.registry]) {
        image::Reference r = t;
        r.registry = m.get<std::string>();
        out.push_back({r, t.stored_name()});
      }
    out.push_back({t, t.stored_name()});
  }
  return out;
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
      auto sources = pull_sources(ref_text);
      std::optional<image::StoredImage> stored;
      std::string stored_name, errors;
      for (size_t i = 0; i < sources.size() && !stored; ++i) {
        const image::Reference& src = sources[i].ref;
        try {
          stored = image::pull_image(src, g.store().blobs(), options(*pf, src.registry));
          stored_name = sources[i].stored_name;
        } catch (const std::exception& e) {
          if (sources.size() == 1) throw;
          errors += std::string(errors.empty() ? "" : "; ") + src.str() + ": " + e.what();
        }
      }
      if (!stored) fail("pull {}: {}", ref_text, errors);
      auto recs = manager::register_images(g.store(), {*stored}, {stored_name});
      for (const auto& r : recs) {
        manager::emit_event(g.store().paths().root, "image", "pull", "sha256:" + r.id,
                            {{"name", stored_name}});
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
      std::string digest =
          image::push_image(stored, dest, g.store().blobs(), options(*sf, dest.registry));
      std::printf("%s\n", digest.c_str());
      return 0;
    };
  });
}

}  // namespace vessel::cli
