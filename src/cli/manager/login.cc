// vessel login, logout: credentials for a registry in the auth file pull and push read.
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "cli/manager/commands.h"
#include "image/auth_file.h"
#include "image/registry.h"
#include "manager/config.h"
#include "util/error.h"

namespace vessel::cli {

namespace {

struct LoginFlags {
  std::string registry, username, password, authfile;
  bool password_stdin = false;
  bool tls_verify = true;
};

std::string prompt(const char* what, bool echo) {
  std::fprintf(stderr, "%s", what);
  std::fflush(stderr);
  termios old{};
  bool restore = false;
  if (!echo && ::tcgetattr(0, &old) == 0) {
    termios t = old;
    t.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    restore = ::tcsetattr(0, TCSANOW, &t) == 0;
  }
  std::string line;
  std::getline(std::cin, line);
  if (restore) {
    ::tcsetattr(0, TCSANOW, &old);
    std::fprintf(stderr, "\n");
  }
  return line;
}

bool insecure(const std::string& host) {
  for (const auto& h : manager::config().list("registries.insecure"))
    if (h == host) return true;
  return false;
}

}  // namespace

void add_login(CLI::App& app, Globals& /*g*/, Action& action) {
  auto* login = app.add_subcommand(
      "login", "log in to a registry: check the credentials and store them in the auth file");
  auto f = std::make_shared<LoginFlags>();
  login
      ->add_option("REGISTRY", f->registry, "the registry, HOST[:PORT] (docker.io, 127.0.0.1:5000)")
      ->required();
  login->add_option("-u,--username", f->username, "user name (asked for on a terminal)");
  login->add_option("-p,--password", f->password,
                    "password (visible in the process list: prefer --password-stdin)");
  login->add_flag("--password-stdin", f->password_stdin, "read the password from stdin");
  login->add_option("--authfile", f->authfile,
                    "the auth file (default: $REGISTRY_AUTH_FILE, "
                    "$XDG_RUNTIME_DIR/containers/auth.json, ~/.docker/config.json)");
  login->add_flag("--tls-verify", f->tls_verify,
                  "require https with a verified certificate (--tls-verify=false: allow plain "
                  "http; also for registries.insecure in vessel.conf)");
  login->callback([&action, login, f] {
    if (f->password_stdin && login->count("--password") > 0)
      throw CLI::ValidationError("--password and --password-stdin exclude each other");
    action = [f, login]() -> int {
      std::string host = image::normalize_registry(f->registry);
      bool tty = ::isatty(0);
      if (f->username.empty()) {
        if (!tty || f->password_stdin) fail("login {}: give the user name with -u", host);
        f->username = prompt("Username: ", true);
      }
      if (f->password_stdin) {
        std::string all((std::istreambuf_iterator<char>(std::cin)),
                        std::istreambuf_iterator<char>());
        while (!all.empty() && (all.back() == '\n' || all.back() == '\r')) all.pop_back();
        f->password = all;
      } else if (login->count("--password") == 0) {
        if (!tty) fail("login {}: give the password with --password-stdin (or -p)", host);
        f->password = prompt("Password: ", false);
      }
      if (f->username.empty() || f->password.empty())
        fail("login {}: the user name and the password must not be empty", host);
      if (f->username.find(':') != std::string::npos)
        fail("login {}: the user name must not contain ':'", host);
      image::RegistryOptions o;
      o.tls_verify = f->tls_verify && !insecure(host);
      o.creds = f->username + ":" + f->password;
      image::check_credentials(host, o);
      std::string file = image::auth_file_for_write(f->authfile);
      image::store_credentials(file, host, f->username, f->password);
      std::printf("Login Succeeded (credentials in %s)\n", file.c_str());
      return 0;
    };
  });

  auto* logout = app.add_subcommand("logout", "remove a registry's credentials from the auth file");
  auto lf = std::make_shared<LoginFlags>();
  logout->add_option("REGISTRY", lf->registry, "the registry, HOST[:PORT]")->required();
  logout->add_option("--authfile", lf->authfile, "the auth file (as login)");
  logout->callback([&action, lf] {
    action = [lf]() -> int {
      std::string host = image::normalize_registry(lf->registry);
      std::string file = image::auth_file_for_write(lf->authfile);
      if (!image::remove_credentials(file, host)) fail("not logged in to {} (in {})", host, file);
      std::printf("Removed login credentials for %s\n", host.c_str());
      return 0;
    };
  });
}

}  // namespace vessel::cli
