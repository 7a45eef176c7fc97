// vessel port CONTAINER [PORT[/PROTO]]: a container's published ports, in docker's format.
#include <cstdio>

#include "cli/manager/commands.h"
#include "manager/containers.h"
#include "manager/networks.h"
#include "util/error.h"

namespace vessel::cli {

using namespace vessel::manager;
using nlohmann::json;

void add_port(CLI::App& app, Globals& g, Action& action) {
  auto* cmd = app.add_subcommand(
      "port",
      "list a container's published ports, or the host side of one: CONTAINER [PORT[/PROTO]]");
  auto name = std::make_shared<std::string>();
  auto port = std::make_shared<std::string>();
  cmd->add_option("CONTAINER", *name)->required();
  cmd->add_option("PORT", *port, "a container port, PORT or PORT/tcp|udp|sctp");
  cmd->callback([&g, &action, name, port] {
    action = [&g, name, port]() -> int {
      auto c = find_or_fail(g.store(), *name);
      std::string want = *port;
      if (!want.empty()) {
        std::string num = want.substr(0, want.find('/'));
        std::string proto =
            want.find('/') == std::string::npos ? "tcp" : want.substr(want.find('/') + 1);
        if (num.empty() || num.size() > 5 ||
            num.find_first_not_of("0123456789") != std::string::npos || std::stoi(num) < 1 ||
            std::stoi(num) > 65535 || (proto != "tcp" && proto != "udp" && proto != "sctp"))
          fail("invalid port \"{}\": expected PORT or PORT/tcp|udp|sctp", want);
        want = num + "/" + proto;
      }
      json ports = network_settings(g.store(), c)["Ports"];
      bool found = false;
      for (const auto& [key, bindings] : ports.items()) {
        if (!want.empty() && key != want) continue;
        for (const auto& b : bindings) {
          std::string ip = b.value("HostIp", "0.0.0.0"), hp = b.value("HostPort", "");
          if (hp.empty()) continue;  // not started: no host port chosen yet
          std::string host = (ip.find(':') != std::string::npos ? "[" + ip + "]" : ip) + ":" + hp;
          if (want.empty())
            std::printf("%s -> %s\n", key.c_str(), host.c_str());
          else
            std::printf("%s\n", host.c_str());
          found = true;
        }
      }
      if (!want.empty() && !found) fail("no public port '{}' published for {}", want, c.name);
      return 0;
    };
  });
}

}  // namespace vessel::cli
