// The events log's writer (manager/events.h, docs/events.md).
#include "manager/events.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <ctime>

#include "manager/store.h"
#include "util/file.h"
#include "util/log.h"

namespace vessel::manager {

namespace {

// A JSON string literal: quotes, backslashes and control characters escaped, other bytes kept.
void append_json_string(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

}  // namespace

std::string events_path(const std::string& root) { return root + "/events.log"; }

std::string event_line(const std::string& type, const std::string& action, const std::string& id,
                       const EventAttrs& attrs, long long time_nano) {
  std::string head = "{\"Type\":";
  append_json_string(head, type);
  head += ",\"Action\":";
  append_json_string(head, action);
  head += ",\"Actor\":{\"ID\":";
  append_json_string(head, id);
  head += ",\"Attributes\":{";
  std::string tail = "}},\"time\":" + std::to_string(time_nano / 1000000000) +
                     ",\"timeNano\":" + std::to_string(time_nano) + "}\n";
  std::string body;
  for (const auto& [k, v] : attrs) {
    std::string item = body.empty() ? "" : ",";
    append_json_string(item, k);
    item += ':';
    append_json_string(item, v);
    if (head.size() + body.size() + item.size() + tail.size() > kEventLineMax) continue;
    body += item;
  }
  return head + body + tail;
}

void emit_event(const std::string& root, const std::string& type, const std::string& action,
                const std::string& id, const EventAttrs& attrs) {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  std::string line = event_line(type, action, id, attrs,
                                static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec);
  std::string path = events_path(root);
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    log::debug(fmt::format("events: open {}: {}", path, std::strerror(errno)));
    return;
  }
  struct stat st;
  if (::fstat(fd, &st) == 0 && st.st_size >= kEventLogRotate) {
    // The first writer to see the file full renames it; the others find a new inode at the path
    // once they hold the lock, and reopen.
    if (::flock(fd, LOCK_EX) == 0) {
      struct stat now;
      if (::stat(path.c_str(), &now) == 0 && now.st_ino == st.st_ino &&
          now.st_size >= kEventLogRotate)
        ::rename(path.c_str(), (path + ".1").c_str());
      ::flock(fd, LOCK_UN);
    }
    ::close(fd);
    fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) return;
  }
  ssize_t n;
  do {
    n = ::write(fd, line.data(), line.size());
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(line.size()))
    log::debug(fmt::format("events: write {}: {}", path, n < 0 ? std::strerror(errno) : "short"));
  ::close(fd);
}

void emit_container_event(Store& store, const ContainerRecord& c, const std::string& action,
                          EventAttrs extra) {
  EventAttrs attrs = {{"name", c.name}, {"image", c.image_name}};
  if (c.options.is_object() && c.options.contains("labels"))
    for (const auto& [k, v] : c.options["labels"].items())
      if (v.is_string()) attrs.push_back({k, v.get<std::string>()});
  for (auto& a : extra) attrs.push_back(std::move(a));
  emit_event(store.paths().root, "container", action, c.id, attrs);
}

bool event_matches(const std::map<std::string, std::vector<std::string>>& filters,
                   const nlohmann::json& e) {
  std::string type = e.value("Type", ""), action = e.value("Action", "");
  std::string id = e["Actor"].value("ID", "");
  nlohmann::json attrs = e["Actor"].value("Attributes", nlohmann::json::object());
  std::string name = attrs.value("name", "");
  for (const auto& [k, values] : filters) {
    bool any = false;
    for (const auto& v : values) {
      if (k == "type") any |= type == v;
      if (k == "scope") any |= v == "local";
      if (k == "daemon") any = true;
      if (k == "event") any |= action == v || action.rfind(v + ":", 0) == 0;
      if (k == "container" || k == "network" || k == "volume")
        any |= type == k && (name == v || id == v || (v.size() >= 3 && id.rfind(v, 0) == 0));
      if (k == "image")
        any |= attrs.value("image", "") == v ||
               (type == "image" && (name == v || id == v || id == "sha256:" + v));
      if (k == "label") {
        auto eq = v.find('=');
        std::string lk = v.substr(0, eq);
        any |= attrs.contains(lk) && (eq == std::string::npos || attrs[lk] == v.substr(eq + 1));
      }
    }
    if (!any) return false;
  }
  return true;
}

std::optional<int> last_exit_code(const std::string& root, const std::string& id) {
  for (const std::string& path : {events_path(root), events_path(root) + ".1"}) {
    std::string text;
    try {
      text = read_file(path);
    } catch (const std::exception&) {
      continue;
    }
    // Newest last: scan the lines backwards, parsing only those that name the container.
    size_t end = text.size();
    while (end > 0) {
      size_t start = text.rfind('\n', end - 1);
      start = start == std::string::npos ? 0 : start + 1;
      std::string_view line(text.data() + start, end - start);
      end = start == 0 ? 0 : start - 1;
      if (line.find(id) == std::string_view::npos || line.find("\"die\"") == std::string_view::npos)
        continue;
      auto e = nlohmann::json::parse(line, nullptr, false);
      if (e.is_discarded() || e.value("Action", "") != "die") continue;
      const auto& actor = e.value("Actor", nlohmann::json::object());
      if (actor.value("ID", "") != id) continue;
      try {
        return std::stoi(actor.value("Attributes", nlohmann::json::object()).value("exitCode", ""));
      } catch (const std::exception&) {
        return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

}  // namespace vessel::manager
