// vessel: the lifecycle manager. Its commands arrive with the manager issues; this entry point
// already reports its version and points at vessel-runtime.
#include <CLI/CLI.hpp>
#include <cstdio>

int main(int argc, char** argv) {
  CLI::App app{"vessel: run containers from images and templates"};
  app.set_version_flag("--version", std::string("vessel version ") + VESSEL_VERSION);
  app.require_subcommand(0);
  CLI11_PARSE(app, argc, argv);
  std::puts("vessel: the manager commands are not built yet; use vessel-runtime for OCI bundles.");
  return 1;
}
