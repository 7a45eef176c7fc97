// vessel network create|ls|inspect|rm|prune|connect|disconnect.
#include <cstdio>

#include "cli/manager/commands.h"
#include "manager/containers.h"
#include "manager/networks.h"
#include "util/error.h"

namespace vessel::cli {

using namespace vessel::manager;
using nlohmann::json;

namespace {

json network_json(Store& store, const NetworkRecord& n) {
  json containers = json::object();
  for (const auto& id : store.network_users(n.name)) {
    auto c = store.container_by_id(id);
    if (!c) continue;
    auto settings = network_settings(store, *c);
    json e = {{"Name", c->name}};
    if (settings["Networks"].contains(n.name)) e.update(settings["Networks"][n.name]);
    containers[id] = e;
  }
  json subnets = json::array({{{"Subnet", n.subnet}, {"Gateway", n.gateway}}});
  if (!n.subnet6.empty()) subnets.push_back({{"Subnet", n.subnet6}, {"Gateway", n.gateway6}});
  return {{"Name", n.name},
          {"Id", n.id},
          {"Created", n.created},
          {"Driver", n.driver},
          {"NetworkInterface", n.bridge},
          {"Subnets", subnets},
          {"EnableIPv6", !n.subnet6.empty()},
          {"DNS", n.dns},
          {"Internal", n.internal},
          {"Labels", n.labels},
          {"Containers", containers}};
}

}  // namespace

void add_network(CLI::App& app, Globals& g, Action& action) {
  auto* net = app.add_subcommand("network", "bridge networks (CNI) that containers join");
  net->require_subcommand(1);

  auto* create = net->add_subcommand("create", "create a bridge network");
  auto copts = std::make_shared<NetworkCreateOptions>();
  auto labels = std::make_shared<std::vector<std::string>>();
  auto driver = std::make_shared<std::string>("bridge");
  create->add_option("NAME", copts->name, "network name")->required();
  create
      ->add_option("--subnet", copts->subnets,
                   "IPv4 subnet (default: a free 10.91.N.0/24); with --ipv6 also an IPv6 one "
                   "(default: a free fdXX:…::/64)")
      ->allow_extra_args(false);
  create->add_flag("--ipv6", copts->ipv6, "dual stack: an IPv6 subnet too");
  create
      ->add_option("--dns", copts->dns,
                   "where the network's DNS resolver forwards other names (default: the "
                   "host's nameservers)")
      ->allow_extra_args(false);
  create
      ->add_option("--gateway", copts->gateways,
                   "gateway address (default: the subnet's first); one per subnet")
      ->allow_extra_args(false);
  create->add_flag("--internal", copts->internal, "no outbound traffic, no published ports");
  create->add_option("-d,--driver", *driver, "bridge (the only driver)");
  create->add_option("-l,--label", *labels, "set a label: KEY=VALUE")->allow_extra_args(false);
  create->callback([&g, &action, copts, labels, driver] {
    action = [&g, copts, labels, driver]() -> int {
      if (*driver != "bridge") fail("invalid --driver {}: only bridge is supported", *driver);
      for (const auto& l : *labels) {
        auto eq = l.find('=');
        copts->labels[l.substr(0, eq)] = eq == std::string::npos ? "" : l.substr(eq + 1);
      }
      auto n = create_network(g.store(), *copts);
      std::puts(n.name.c_str());
      return 0;
    };
  });

  auto* ls = net->add_subcommand("ls", "list networks");
  auto quiet = std::make_shared<bool>(false);
  auto format = std::make_shared<std::string>();
  ls->add_flag("-q,--quiet", *quiet, "names only");
  ls->add_option("--format", *format,
                 "json, a Go template ('{{.Name}}') or 'table TEMPLATE'; fields: ID, Name, "
                 "Driver, Scope, IPv6, Internal, Subnet, Gateway, Bridge, CreatedAt, Labels, "
                 "Label \"key\"");
  ls->callback([&g, &action, quiet, format] {
    action = [&g, quiet, format]() -> int {
      default_network(g.store());
      auto nets = g.store().networks();
      if (!*quiet) {
        json rows = json::array();
        for (const auto& n : nets) {
          std::string labels;
          for (const auto& [k, x] : n.labels.items())
            labels += (labels.empty() ? "" : ",") + k + "=" + x.get<std::string>();
          rows.push_back({{"ID", short_id(n.id)},
                          {"Name", n.name},
                          {"Driver", n.driver},
                          {"Scope", "local"},
                          {"IPv6", n.subnet6.empty() ? "false" : "true"},
                          {"Internal", n.internal ? "true" : "false"},
                          {"Subnet", n.subnet},
                          {"Gateway", n.gateway},
                          {"Bridge", n.bridge},
                          {"CreatedAt", docker_time(n.created)},
                          {"Labels", labels},
                          {"Label", n.labels}});
        }
        static const json headers = {
            {"ID", "NETWORK ID"},        {"Name", "NAME"},       {"Driver", "DRIVER"},
            {"Scope", "SCOPE"},          {"IPv6", "IPV6"},       {"Internal", "INTERNAL"},
            {"Subnet", "SUBNET"},        {"Gateway", "GATEWAY"}, {"Bridge", "BRIDGE"},
            {"CreatedAt", "CREATED AT"}, {"Labels", "LABELS"},   {"Label", "LABEL"}};
        if (print_template(*format, rows, headers)) return 0;
      }
      if (*format == "json") {
        json out = json::array();
        for (const auto& n : nets) out.push_back(network_json(g.store(), n));
        std::puts(out.dump(2).c_str());
        return 0;
      }
      std::vector<std::vector<std::string>> rows;
      if (!*quiet) rows.push_back({"NETWORK ID", "NAME", "DRIVER", "SUBNET", "BRIDGE"});
      for (const auto& n : nets) {
        if (*quiet)
          rows.push_back({n.name});
        else
          rows.push_back({short_id(n.id), n.name, n.driver,
                          n.subnet + (n.subnet6.empty() ? "" : "," + n.subnet6) +
                              (n.internal ? " (internal)" : ""),
                          n.bridge});
      }
      print_table(rows);
      return 0;
    };
  });

  auto* inspect = net->add_subcommand("inspect", "show networks as JSON");
  auto names = std::make_shared<std::vector<std::string>>();
  auto iformat = std::make_shared<std::string>();
  inspect->add_option("NETWORK", *names)->required();
  inspect->add_option("-f,--format", *iformat, "a Go template run on each network's JSON");
  inspect->callback([&g, &action, names, iformat] {
    action = [&g, names, iformat]() -> int {
      json out = json::array();
      for (const auto& n : *names)
        out.push_back(network_json(g.store(), find_network_or_fail(g.store(), n)));
      if (print_inspect(*iformat, out)) return 0;
      std::puts(out.dump(2).c_str());
      return 0;
    };
  });

  auto* rm = net->add_subcommand("rm", "remove networks (not while containers use them)");
  auto rnames = std::make_shared<std::vector<std::string>>();
  auto force = std::make_shared<bool>(false);
  rm->add_option("NETWORK", *rnames)->required();
  rm->add_flag("-f,--force", *force, "also remove the containers that use it");
  rm->callback([&g, &action, rnames, force] {
    action = [&g, rnames, force]() -> int {
      for (const auto& n : *rnames) {
        remove_network(g.store(), n, *force);
        std::puts(n.c_str());
      }
      return 0;
    };
  });

  auto* prune = net->add_subcommand("prune", "remove networks no container uses");
  prune->add_flag("-f,--force")->description("do not ask (accepted for compatibility)");
  prune->callback([&g, &action] {
    action = [&g]() -> int {
      for (const auto& n : g.store().networks())
        if (n.name != kDefaultNetwork && g.store().network_users(n.name).empty()) {
          remove_network(g.store(), n.name, false);
          std::puts(n.name.c_str());
        }
      return 0;
    };
  });

  auto* connect = net->add_subcommand("connect", "attach a container to a network");
  auto cnet = std::make_shared<std::string>();
  auto cctr = std::make_shared<std::string>();
  connect->add_option("NETWORK", *cnet)->required();
  connect->add_option("CONTAINER", *cctr)->required();
  auto calias = std::make_shared<std::vector<std::string>>();
  connect->add_option("--alias", *calias, "another name the network's DNS answers for it")
      ->allow_extra_args(false);
  connect->callback([&g, &action, cnet, cctr, calias] {
    action = [&g, cnet, cctr, calias]() -> int {
      connect_network(g.store(), *cctr, *cnet, *calias);
      return 0;
    };
  });
  auto* disconnect = net->add_subcommand("disconnect", "detach a container from a network");
  auto dnet = std::make_shared<std::string>();
  auto dctr = std::make_shared<std::string>();
  disconnect->add_option("NETWORK", *dnet)->required();
  disconnect->add_option("CONTAINER", *dctr)->required();
  disconnect->add_flag("-f,--force")->description("accepted for compatibility");
  disconnect->callback([&g, &action, dnet, dctr] {
    action = [&g, dnet, dctr]() -> int {
      disconnect_network(g.store(), *dctr, *dnet);
      return 0;
    };
  });
}

}  // namespace vessel::cli
