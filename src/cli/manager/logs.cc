// vessel logs: the monitor's JSON-lines log of a container, optionally followed.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <fstream>
#include <thread>

#include "cli/manager/commands.h"
#include "manager/containers.h"
#include "util/error.h"
#include "util/file.h"

namespace vessel::cli {

using namespace vessel::manager;
using nlohmann::json;

namespace {

// --since/--until: an RFC 3339 time, or a duration before now ("10m", "1h", "30s").
std::string since_cutoff(const std::string& since, const char* flag = "--since") {
  if (since.empty()) return "";
  char unit = since.back();
  std::string num = since.substr(0, since.size() - 1);
  if ((unit == 's' || unit == 'm' || unit == 'h') && !num.empty() &&
      num.find_first_not_of("0123456789") == std::string::npos) {
    long secs = std::stol(num) * (unit == 's' ? 1 : unit == 'm' ? 60 : 3600);
    auto t = std::chrono::system_clock::now() - std::chrono::seconds(secs);
    std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    return buf;
  }
  if (since.size() >= 19 && since[4] == '-' && since[10] == 'T') return since;
  fail("invalid {} \"{}\": expected a time (2026-11-28T10:00:00Z) or a duration (10m)", flag,
       since);
}

struct Printer {
  bool timestamps = false;
  std::string cutoff;
  std::string until;  // lines from this time on are left out
  void print(const std::string& line) {
    json j;
    try {
      j = json::parse(line);
    } catch (const json::exception&) {
      return;
    }
    std::string time = j.value("time", "");
    if (!cutoff.empty() && time.substr(0, cutoff.size()) < cutoff) return;
    if (!until.empty() && time.substr(0, until.size()) >= until) return;
    std::string text = j.value("log", "");
    if (timestamps) text = time + " " + text;
    int fd = j.value("stream", "stdout") == "stderr" ? 2 : 1;
    write_all(fd, text.data(), text.size());
  }
};

}  // namespace

void add_logs(CLI::App& app, Globals& g, Action& action) {
  auto* cmd = app.add_subcommand("logs", "print a container's output");
  auto name = std::make_shared<std::string>();
  auto follow = std::make_shared<bool>(false);
  auto timestamps = std::make_shared<bool>(false);
  auto tail = std::make_shared<std::string>("all");
  auto since = std::make_shared<std::string>();
  auto until = std::make_shared<std::string>();
  cmd->add_option("CONTAINER", *name, "name or ID")->required();
  cmd->add_flag("-f,--follow", *follow, "keep printing new output until the container stops");
  cmd->add_flag("-t,--timestamps", *timestamps, "prefix each line with its time");
  cmd->add_option("--tail", *tail, "only the last N lines (default all)");
  cmd->add_option("--since", *since, "only output after this time or duration (10m)");
  cmd->add_option("--until", *until,
                  "only output before this time or duration (10m: ten minutes ago); with -f, "
                  "stop there");
  cmd->callback([&g, &action, name, follow, timestamps, tail, since, until] {
    action = [&g, name, follow, timestamps, tail, since, until]() -> int {
      auto& store = g.store();
      auto c = find_or_fail(store, *name);
      long tail_n = -1;
      if (*tail != "all") {
        if (tail->empty() || tail->find_first_not_of("0123456789") != std::string::npos)
          fail("invalid --tail \"{}\": expected a number or all", *tail);
        tail_n = std::stol(*tail);
      }
      Printer p{*timestamps, since_cutoff(*since), since_cutoff(*until, "--until")};
      std::string path = log_path(store, c.id);
      std::deque<std::string> lines;
      for (const auto& file : log_files(store, c.id)) {
        std::ifstream in(file);
        std::string line;
        while (std::getline(in, line)) {
          lines.push_back(line);
          if (tail_n >= 0 && static_cast<long>(lines.size()) > tail_n) lines.pop_front();
        }
      }
      for (const auto& l : lines) p.print(l);
      if (!*follow) return 0;
      // Follow: read what is appended until the container is no longer running.
      std::ifstream in(path);
      in.seekg(0, std::ios::end);
      auto inode = [](const std::string& f) {
        struct stat st {};
        return ::stat(f.c_str(), &st) == 0 ? st.st_ino : ino_t{0};
      };
      ino_t following = inode(path);
      std::string partial;
      int idle_checks = 0;
      while (true) {
        std::string line;
        bool got = false;
        while (std::getline(in, line)) {
          if (in.eof()) {  // no newline yet: a line being written
            partial += line;
            break;
          }
          p.print(partial + line);
          partial.clear();
          got = true;
        }
        in.clear();
        if (!got && inode(path) != following) {
          // The monitor rotated the log: what was left in the old file is read; on to the new.
          in = std::ifstream(path);
          following = inode(path);
          continue;
        }
        if (!got && ++idle_checks % 5 == 0) {
          if (!p.until.empty() && since_cutoff("0s").substr(0, p.until.size()) >= p.until) return 0;
          auto now = store.container_by_id(c.id);
          if (!now) return 0;
          auto r = refresh(store, *now);
          bool live = r.state == "running" || r.state == "paused" || r.state == "restarting";
          if (!live && !monitor_alive(r)) {
            // One last read for what the monitor wrote before it ended.
            while (std::getline(in, line)) p.print(partial + line), partial.clear();
            return 0;
          }
        }
        if (!got) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    };
  });
}

}  // namespace vessel::cli
