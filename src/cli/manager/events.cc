// vessel events: reads the events log (manager/events.h) as a stream, as docker's: new events
// as they come (from --since on, if given), until --until or an interrupt.
#include "manager/events.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <regex>
#include <thread>

#include "cli/manager/commands.h"
#include "util/error.h"
#include "util/fd.h"
#include "util/go_template.h"

namespace vessel::cli {

using namespace vessel::manager;
using nlohmann::json;

namespace {

long long now_ns() {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

// --since/--until: Unix seconds ("1733480000.5"), an RFC 3339 time or date (UTC unless it has
// an offset), or a Go duration before now ("10m", "1h30m", "500ms").
long long parse_event_time(const std::string& flag, const std::string& s, long long now) {
  static const std::regex unix_re(R"(^(\d+)(\.(\d{1,9}))?$)");
  static const std::regex dur_re(R"(^((\d+(\.\d+)?)(ns|us|µs|ms|s|m|h))+$)");
  static const std::regex part_re(R"((\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h))");
  static const std::regex time_re(
      R"(^(\d{4}-\d\d-\d\d)(?:[T ](\d\d:\d\d(?::\d\d)?)(?:\.(\d{1,9}))?)?(Z|[+-]\d\d:?\d\d)?$)");
  std::smatch m;
  if (std::regex_match(s, m, unix_re)) {
    std::string frac = m[3].str();
    frac.resize(9, '0');
    return std::stoll(m[1].str()) * 1000000000LL + (m[3].matched ? std::stoll(frac) : 0);
  }
  if (std::regex_match(s, dur_re)) {
    double total = 0;
    for (auto it = std::sregex_iterator(s.begin(), s.end(), part_re); it != std::sregex_iterator();
         ++it) {
      double v = std::stod((*it)[1].str());
      std::string u = (*it)[2].str();
      double mul = u == "h"    ? 3600e9
                   : u == "m"  ? 60e9
                   : u == "s"  ? 1e9
                   : u == "ms" ? 1e6
                   : u == "ns" ? 1
                               : 1e3;
      total += v * mul;
    }
    return now - static_cast<long long>(total);
  }
  if (std::regex_match(s, m, time_re)) {
    std::tm tm{};
    std::string t = m[1].str() + "T" + (m[2].matched ? m[2].str() : "00:00");
    if (t.size() == 16) t += ":00";
    if (!strptime(t.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) fail("--{} {}: not a time", flag, s);
    long long secs = timegm(&tm);
    if (m[4].matched && m[4].str() != "Z") {
      std::string off = m[4].str();
      off.erase(std::remove(off.begin(), off.end(), ':'), off.end());
      int mins = std::stoi(off.substr(1, 2)) * 60 + std::stoi(off.substr(3, 2));
      secs -= (off[0] == '-' ? -1 : 1) * mins * 60;
    }
    std::string frac = m[3].str();
    frac.resize(9, '0');
    return secs * 1000000000LL + (m[3].matched ? std::stoll(frac) : 0);
  }
  fail(
      "--{} {}: expected Unix seconds, an RFC 3339 time (2006-01-02T15:04:05Z) or a duration "
      "before now (10m, 1h30m)",
      flag, s);
}

// --filter KEY=VALUE: the same key ORs, different keys AND, as docker.
class EventFilter {
 public:
  void add(const std::string& f) {
    auto eq = f.find('=');
    if (eq == std::string::npos || eq == 0)
      fail(
          "--filter {}: expected KEY=VALUE (container, event, type, image, network, volume, "
          "label)",
          f);
    std::string k = f.substr(0, eq);
    static const std::vector<std::string> keys = {"container", "event",  "type", "image",
                                                  "network",   "volume", "label"};
    if (std::find(keys.begin(), keys.end(), k) == keys.end())
      fail(
          "--filter {}: unknown key \"{}\" (container, event, type, image, network, volume, "
          "label)",
          f, k);
    by_[k].push_back(f.substr(eq + 1));
  }

  bool match(const json& e) const { return manager::event_matches(by_, e); }

 private:
  std::map<std::string, std::vector<std::string>> by_;
};

std::string default_line(const json& e) {
  long long ns = e.value("timeNano", 0LL);
  std::time_t secs = ns / 1000000000LL;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string line = fmt::format("{}.{:09d}Z {} {} {}", buf, ns % 1000000000LL, e.value("Type", ""),
                                 e.value("Action", ""), e["Actor"].value("ID", ""));
  std::vector<std::pair<std::string, std::string>> attrs;
  json all = e["Actor"].value("Attributes", json::object());  // a local: items() refers to it
  for (const auto& [k, v] : all.items())
    attrs.push_back({k, v.is_string() ? v.get<std::string>() : v.dump()});
  std::sort(attrs.begin(), attrs.end());
  std::string a;
  for (const auto& [k, v] : attrs) a += (a.empty() ? "" : ", ") + k + "=" + v;
  if (!a.empty()) line += " (" + a + ")";
  return line;
}

class Printer {
 public:
  Printer(const std::string& format, EventFilter filter, long long since, long long until)
      : format_(format), filter_(std::move(filter)), since_(since), until_(until) {
    if (!format.empty() && format != "json") tmpl_.emplace(parse_format(format).text);
  }
  // One line of the log; false once past --until.
  void line(const std::string& text) {
    json e;
    try {
      e = json::parse(text);
    } catch (const std::exception&) {
      return;  // a torn line (a writer that died mid-write cannot leave one; a crash may)
    }
    if (!e.is_object() || !e.contains("Actor")) return;
    long long t = e.value("timeNano", 0LL);
    if (t < since_ || (until_ >= 0 && t > until_) || !filter_.match(e)) return;
    std::string out;
    if (format_ == "json") {
      out = text;
    } else if (tmpl_) {
      json dot = e;
      dot["ID"] = e["Actor"].value("ID", "");
      dot["Status"] = e.value("Action", "");
      dot["From"] = e["Actor"].value("Attributes", json::object()).value("image", "");
      dot["Scope"] = "local";
      out = tmpl_->render(dot);
    } else {
      out = default_line(e);
    }
    std::fputs((out + "\n").c_str(), stdout);
    std::fflush(stdout);
  }

 private:
  std::string format_;
  std::optional<GoTemplate> tmpl_;
  EventFilter filter_;
  long long since_, until_;
};

// Reads whole lines from `fd` (a partial last line waits in `rest`).
void drain(int fd, std::string& rest, Printer& p) {
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    rest.append(buf, static_cast<size_t>(n));
    size_t from = 0;
    for (size_t nl; (nl = rest.find('\n', from)) != std::string::npos; from = nl + 1)
      p.line(rest.substr(from, nl - from));
    rest.erase(0, from);
  }
}

int run_events(Store& store, const std::string& format, const std::vector<std::string>& filters,
               const std::string& since_text, const std::string& until_text) {
  long long now = now_ns();
  EventFilter filter;
  for (const auto& f : filters) filter.add(f);
  long long since = since_text.empty() ? now : parse_event_time("since", since_text, now);
  long long until = until_text.empty() ? -1 : parse_event_time("until", until_text, now);
  Printer printer(format, std::move(filter), since, until);
  std::string path = events_path(store.paths().root);
  std::string rest;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!since_text.empty()) {
    UniqueFd old(::open((path + ".1").c_str(), O_RDONLY | O_CLOEXEC));
    if (old.get() >= 0) drain(old.get(), rest, printer);
    rest.clear();
  } else if (fd.get() >= 0) {
    ::lseek(fd.get(), 0, SEEK_END);
  }
  for (;;) {
    if (fd.get() >= 0) drain(fd.get(), rest, printer);
    if (until >= 0 && now_ns() > until) return 0;
    // A rotation (or the first event) puts a new file at the path: read it from its start.
    struct stat at, open_st;
    if (::stat(path.c_str(), &at) == 0 &&
        (fd.get() < 0 || (::fstat(fd.get(), &open_st) == 0 && open_st.st_ino != at.st_ino))) {
      if (fd.get() >= 0) drain(fd.get(), rest, printer);
      rest.clear();
      fd = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace

void add_events(CLI::App& app, Globals& g, Action& action) {
  auto* cmd = app.add_subcommand(
      "events", "stream container, image, network and volume events (follows until --until or ^C)");
  auto filters = std::make_shared<std::vector<std::string>>();
  auto since = std::make_shared<std::string>();
  auto until = std::make_shared<std::string>();
  auto format = std::make_shared<std::string>();
  cmd->add_option("-f,--filter", *filters,
                  "container=NAME|ID, event=ACTION, type=container|image|network|volume, "
                  "image=NAME, network=NAME, volume=NAME, label=KEY[=VALUE]");
  cmd->add_option("--since", *since,
                  "show events from this time on: Unix seconds, RFC 3339, or a duration (10m)");
  cmd->add_option("--until", *until, "stop at this time (same forms as --since)");
  cmd->add_option(
      "--format", *format,
      "json (the log's lines) or a Go template ('{{.Action}} {{.Actor.Attributes.name}}'); "
      "fields: Type, Action, Actor.ID, Actor.Attributes, ID, Status, From, time, timeNano");
  cmd->callback([&g, &action, filters, since, until, format] {
    action = [&g, filters, since, until, format]() -> int {
      return run_events(g.store(), *format, *filters, *since, *until);
    };
  });
}

}  // namespace vessel::cli
