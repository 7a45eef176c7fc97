// vessel: run containers from images and templates (the lifecycle manager).
#include <cstdio>

#include "cli/manager/commands.h"
#include "manager/rootfs.h"
#include "manager/rootless.h"
#include "util/error.h"
#include "util/log.h"

namespace vessel::cli {

manager::Store& Globals::store() {
  if (!store_) {
    manager::StorePaths p;
    p.root = root;
    p.runroot = !runroot.empty()            ? runroot
                : root == "/var/lib/vessel" ? "/run/vessel"
                                            : root + "/run";
    // An ordinary user's store and state are their own (manager/rootless.h).
    if (manager::running_rootless() && root == "/var/lib/vessel") {
      p.root = manager::rootless_store_root();
      if (runroot.empty()) p.runroot = manager::rootless_runroot();
    }
    store_ = std::make_unique<manager::Store>(p);
  }
  return *store_;
}

}  // namespace vessel::cli

int main(int argc, char** argv) {
  using namespace vessel;
  CLI::App app{"vessel: run containers from images and base-OS templates"};
  app.set_version_flag("-v,--version", std::string("vessel version ") + VESSEL_VERSION);
  app.require_subcommand(1);
  cli::Globals g;
  app.add_option("--root", g.root,
                 "store directory: images, containers, volumes (for a user "
                 "$XDG_DATA_HOME/vessel, default ~/.local/share/vessel)")
      ->default_val(g.root);
  app.add_option("--runroot", g.runroot,
                 "runtime state directory (default /run/vessel, or ROOT/run with --root; "
                 "for a user $XDG_RUNTIME_DIR/vessel)");
  app.add_flag("--debug", g.debug, "log debug messages");
  std::string storage_driver;
  app.add_option("--storage-driver", storage_driver,
                 "storage driver for new containers: overlay, fuse-overlayfs (users) or vfs (a "
                 "full copy of the image; default: overlay where it can be mounted (for a user: "
                 "in the container's user namespace), else fuse-overlayfs for a user, else vfs)")
      ->check(CLI::IsMember({"overlay", "fuse-overlayfs", "vfs"}))
      ->envname("VESSEL_STORAGE_DRIVER");
  std::string config_file;
  app.add_option("--config", config_file,
                 "settings file (TOML; default /etc/vessel/vessel.conf, then "
                 "~/.config/vessel/vessel.conf)")
      ->envname("VESSEL_CONFIG");

  cli::Action action;
  cli::add_run(app, g, action);
  cli::add_stop(app, g, action);
  cli::add_rm(app, g, action);
  cli::add_ps(app, g, action);
  cli::add_logs(app, g, action);
  cli::add_exec(app, g, action);
  cli::add_inspect(app, g, action);
  cli::add_pause(app, g, action);
  cli::add_images(app, g, action);
  cli::add_load(app, g, action);
  cli::add_pull(app, g, action);
  cli::add_template(app, g, action);
  cli::add_volume(app, g, action);
  cli::add_network(app, g, action);
  cli::add_system(app, g, action);
  cli::add_cp(app, g, action);
  cli::add_commit(app, g, action);
  cli::add_build(app, g, action);
  cli::add_docs(app, g, action);
  cli::add_info(app, g, action);
  cli::add_login(app, g, action);
  cli::add_events(app, g, action);
  cli::add_healthcheck(app, g, action);
  cli::add_update(app, g, action);
  cli::add_port(app, g, action);
  cli::add_checkpoint(app, g, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  log::configure("", log::Format::plain, g.debug);
  try {
    cli::apply_config(app, g, config_file, storage_driver);
    manager::set_storage_driver(storage_driver);
    return action ? action() : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vessel: %s\n", e.what());
    return 125;
  }
}
