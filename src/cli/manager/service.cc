// vessel system service: the Docker Engine API on a unix socket (src/api/).
#include "api/server.h"
#include "cli/manager/commands.h"

namespace vessel::cli {

void add_system_service(CLI::App* sys, Globals& g, Action& action) {
  auto* svc =
      sys->add_subcommand("service",
                          "serve the Docker Engine API (1.41) on a unix socket, for docker, "
                          "docker-compose and the Docker SDKs");
  auto o = std::make_shared<api::ServiceOptions>();
  svc->add_option("--socket", o->socket, "where to listen: unix:///PATH")->default_val(o->socket);
  svc->add_option("--timeout,-t", o->timeout,
                  "seconds without a connection before exiting; 0: run until killed")
      ->default_val(o->timeout);
  svc->callback([&g, &action, o] {
    action = [&g, o]() -> int { return api::serve(g.store().paths(), *o); };
  });
}

}  // namespace vessel::cli
