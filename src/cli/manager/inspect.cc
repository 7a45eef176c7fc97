// vessel inspect, wait, rename, top, stats.
#include <cstdio>
#include <set>
#include <thread>

#include "cli/manager/commands.h"
#include "manager/checkpoint.h"
#include "manager/containers.h"
#include "manager/health.h"
#include "manager/images.h"
#include "manager/networks.h"
#include "manager/oci_runtime.h"
#include "runtime/container.h"
#include "util/error.h"
#include "util/file.h"
#include "util/go_template.h"

namespace vessel::cli {

using namespace vessel::manager;
using nlohmann::json;

namespace {

json container_json(Store& store, const ContainerRecord& c) {
  json spec = json::object();
  try {
    spec = json::parse(read_file(container_dir(store, c.id) + "/config.json"));
  } catch (const std::exception&) {
  }
  json proc = spec.value("process", json::object());
  json args = proc.value("args", json::array());
  json mounts = json::array();
  for (const auto& v : c.options.value("volumes", json::array()))
    mounts.push_back({{"Type", v.value("type", "")},
                      {"Source", v.value("source", "")},
                      {"Destination", v.value("target", "")},
                      {"RW", !v.value("readonly", false)}});
  json res = spec.value("linux", json::object()).value("resources", json::object());
  json out = {
      {"Id", c.id},
      {"Name", c.name},
      {"Created", c.created},
      {"Path", args.empty() ? "" : args[0].get<std::string>()},
      {"Args",
       args.size() > 1 ? json(std::vector<json>(args.begin() + 1, args.end())) : json::array()},
      {"State",
       {{"Status", c.state},
        {"Running", c.state == "running" || c.state == "paused"},
        {"Paused", c.state == "paused"},
        {"Restarting", c.state == "restarting"},
        {"OOMKilled", oom_killed(store, c.id)},
        {"Pid", c.pid},
        {"ExitCode", c.exit_code},
        {"Error", c.error},
        {"StartedAt", c.started_at},
        {"FinishedAt", c.finished_at},
        {"MonitorPid", c.monitor_pid},
        {"Health", health_state(store, c)}}},
      {"Image", c.image_id},
      {"ImageName", c.image_name},
      {"RestartCount", c.restart_count},
      {"LogPath", log_path(store, c.id)},
      {"BundlePath", container_dir(store, c.id)},
      {"Mounts", mounts},
      {"NetworkSettings", network_settings(store, c)},
      {"HostConfig",
       {{"RestartPolicy",
         {{"Name", c.options.value("restart", "no")},
          {"MaximumRetryCount", c.options.value("restart_max", 0)}}},
        {"AutoRemove", c.options.value("remove", false)},
        {"ReadonlyRootfs", c.options.value("read_only", false)},
        {"NetworkMode", c.options.value("network", "")},
        {"Privileged", c.options.value("privileged", false)},
        {"Resources", res}}},
      {"Config",
       {{"Hostname", spec.value("hostname", "")},
        {"Env", proc.value("env", json::array())},
        {"Cmd", c.options.value("command", json::array())},
        {"WorkingDir", proc.value("cwd", "/")},
        {"Tty", proc.value("terminal", false)},
        {"Labels", c.options.value("labels", json::object())},
        {"Healthcheck", c.options.value("healthcheck", json())},
        {"StopSignal", spec.value("annotations", json::object())
                           .value("org.opencontainers.image.stopSignal", "SIGTERM")}}},
  };
  out["State"].update(checkpoint_state(store, c));
  return out;
}

json image_json(Store& store, const ImageRecord& img) {
  json cfg = image_config(store, img);
  json layers = json::array();
  for (const auto& l : img.layers) layers.push_back(l.diff_id);
  return {{"Id", img.id},
          {"Digest", img.manifest_digest},
          {"RepoTags", img.tags},
          {"Created", img.created},
          {"Size", img.size},
          {"Architecture", cfg.value("architecture", "")},
          {"Os", cfg.value("os", "")},
          {"Config", cfg.value("config", json::object())},
          {"RootFS", {{"Type", "layers"}, {"Layers", layers}}}};
}

}  // namespace

void add_inspect(CLI::App& app, Globals& g, Action& action) {
  auto* inspect = app.add_subcommand("inspect", "show containers, images or volumes as JSON");
  auto names = std::make_shared<std::vector<std::string>>();
  auto type = std::make_shared<std::string>("all");
  inspect->add_option("NAME", *names, "container, image or volume")->required();
  auto format = std::make_shared<std::string>();
  inspect->add_option("--type", *type, "container, image, volume or all");
  inspect->add_option("-f,--format", *format,
                      "a Go template run on each object's JSON ('{{.State.Status}}', "
                      "'{{json .Config}}', '{{range .Mounts}}{{.Source}} {{end}}')");
  inspect->callback([&g, &action, names, type, format] {
    action = [&g, names, type, format]() -> int {
      if (!format->empty()) GoTemplate check(*format);  // a bad template fails before any output
      auto& store = g.store();
      json out = json::array();
      for (const auto& n : *names) {
        if (*type == "all" || *type == "container")
          if (auto c = store.find_container(n)) {
            out.push_back(container_json(store, refresh(store, *c)));
            continue;
          }
        if (*type == "all" || *type == "image")
          if (auto img = store.find_image(n)) {
            out.push_back(image_json(store, *img));
            continue;
          }
        if (*type == "all" || *type == "volume")
          if (auto v = store.volume(n)) {
            out.push_back({{"Name", v->name},
                           {"Mountpoint", v->mountpoint},
                           {"CreatedAt", v->created},
                           {"Driver", "local"},
                           {"Labels", v->labels}});
            continue;
          }
        if (!print_inspect(*format, out)) std::puts(out.dump(2).c_str());
        fail("no such object: {}", n);
      }
      if (print_inspect(*format, out)) return 0;
      std::puts(out.dump(2).c_str());
      return 0;
    };
  });

  auto* wait = app.add_subcommand("wait", "wait for containers to exit; print their exit codes");
  auto wnames = std::make_shared<std::vector<std::string>>();
  wait->add_option("CONTAINER", *wnames, "names or IDs")->required();
  wait->callback([&g, &action, wnames] {
    action = [&g, wnames]() -> int {
      for (const auto& n : *wnames) std::printf("%d\n", wait_container(g.store(), n));
      return 0;
    };
  });

  auto* rename = app.add_subcommand("rename", "rename a container: CONTAINER NEW_NAME");
  auto from = std::make_shared<std::string>();
  auto to = std::make_shared<std::string>();
  rename->add_option("CONTAINER", *from)->required();
  rename->add_option("NEW_NAME", *to)->required();
  rename->callback([&g, &action, from, to] {
    action = [&g, from, to]() -> int {
      validate_name("container name", *to);
      auto c = find_or_fail(g.store(), *from);
      g.store().rename_container(c.id, *to);
      return 0;
    };
  });

  auto* top = app.add_subcommand("top", "list a container's processes (host PIDs)");
  auto tname = std::make_shared<std::string>();
  top->add_option("CONTAINER", *tname)->required();
  top->callback([&g, &action, tname] {
    action = [&g, tname]() -> int {
      auto c = find_or_fail(g.store(), *tname);
      if (c.state != "running" && c.state != "paused") fail("container {} is not running", c.name);
      std::vector<std::vector<std::string>> rows = {{"PID", "STATE", "COMMAND"}};
      for (pid_t pid : runtime_for(g.store(), c)->pids(c.id)) {
        std::string cmdline, stat;
        try {
          cmdline = read_file("/proc/" + std::to_string(pid) + "/cmdline");
          stat = read_file("/proc/" + std::to_string(pid) + "/stat");
        } catch (const Error&) {
          continue;
        }
        for (auto& ch : cmdline)
          if (ch == '\0') ch = ' ';
        auto rp = stat.rfind(')');
        std::string state =
            rp != std::string::npos && rp + 2 < stat.size() ? stat.substr(rp + 2, 1) : "?";
        rows.push_back({std::to_string(pid), state, cmdline});
      }
      print_table(rows);
      return 0;
    };
  });

  auto* stats = app.add_subcommand("stats", "resource usage of running containers");
  auto snames = std::make_shared<std::vector<std::string>>();
  auto no_stream = std::make_shared<bool>(false);
  auto sformat = std::make_shared<std::string>();
  stats->add_option("CONTAINER", *snames, "names or IDs (default: all running)");
  stats->add_flag("--no-stream", *no_stream, "print once");
  stats->add_option("--format", *sformat, "json, or a table (default)");
  stats->callback([&g, &action, snames, no_stream, sformat] {
    action = [&g, snames, no_stream, sformat]() -> int {
      auto& store = g.store();
      while (true) {
        std::vector<ContainerRecord> cs;
        if (snames->empty()) {
          for (auto c : store.containers())
            if (refresh(store, c).state == "running") cs.push_back(c);
        } else {
          for (const auto& n : *snames) cs.push_back(find_or_fail(store, n));
        }
        json out = json::array();
        std::vector<std::vector<std::string>> rows = {
            {"ID", "NAME", "CPU TIME", "MEM USAGE / LIMIT", "PIDS"}};
        for (const auto& c : cs) {
          json s;
          try {
            s = runtime_for(store, c)->stats(c.id);
          } catch (const Error&) {
            continue;
          }
          uint64_t mem =
              s.value("memory", json::object()).value("usage", json::object()).value("usage", 0ULL);
          uint64_t lim =
              s.value("memory", json::object()).value("usage", json::object()).value("limit", 0ULL);
          uint64_t cpu =
              s.value("cpu", json::object()).value("usage", json::object()).value("total", 0ULL);
          uint64_t pids = s.value("pids", json::object()).value("current", 0ULL);
          out.push_back({{"id", c.id}, {"name", c.name}, {"stats", s}});
          rows.push_back({short_id(c.id), c.name,
                          fmt::format("{:.2f}s", static_cast<double>(cpu) / 1e9),
                          human_size(mem) + " / " +
                              (lim > (1ULL << 60) || lim == 0 ? "unlimited" : human_size(lim)),
                          std::to_string(pids)});
        }
        if (*sformat == "json")
          std::puts(out.dump(2).c_str());
        else
          print_table(rows);
        std::fflush(stdout);
        if (*no_stream) return 0;
        std::this_thread::sleep_for(std::chrono::seconds(1));
      }
    };
  });
}

}  // namespace vessel::cli
