#include "api/http.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "util/fd.h"
#include "util/file.h"

namespace vessel::api {

std::string Request::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

std::string Request::q(const std::string& key, const std::string& def) const {
  auto it = query.find(key);
  return it == query.end() ? def : it->second;
}

bool Request::q_bool(const std::string& key, bool def) const {
  auto it = query.find(key);
  if (it == query.end()) return def;
  const auto& v = it->second;
  if (v == "1" || v == "true" || v == "True" || v == "TRUE") return true;
  if (v == "0" || v == "false" || v == "False" || v == "FALSE" || v.empty()) return false;
  throw ApiError(400, "invalid value for " + key + ": \"" + v + "\" (expected a boolean)");
}

long Request::q_int(const std::string& key, long def) const {
  auto it = query.find(key);
  if (it == query.end() || it->second.empty()) return def;
  try {
    size_t used = 0;
    long v = std::stol(it->second, &used);
    if (used == it->second.size()) return v;
  } catch (const std::exception&) {
  }
  throw ApiError(400, "invalid value for " + key + ": \"" + it->second + "\" (expected a number)");
}

nlohmann::json Request::json_body() const {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) return nlohmann::json::object();
  try {
    return nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception& e) {
    throw ApiError(400, std::string("invalid JSON in the request body: ") + e.what());
  }
}

const char* status_text(int status) {
  switch (status) {
    case 101:
      return "UPGRADED";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 501:
      return "Not Implemented";
    default:
      return status >= 500 ? "Internal Server Error" : "Unknown";
  }
}

void Conn::send_head(int status, const std::string& extra_headers) {
  answered_ = true;
  std::string head = "HTTP/1.1 " + std::to_string(status) + " " + status_text(status) + "\r\n";
  head += "Api-Version: 1.41\r\nDocker-Experimental: false\r\nOstype: linux\r\n";
  head += "Server: vessel\r\n";
  head += extra_headers;
  head += this->extra_headers;
  head += "\r\n";
  send_all(fd_, head.data(), head.size());
}

void Conn::respond(int status, const std::string& content_type, const std::string& body) {
  std::string h;
  if (!content_type.empty()) h += "Content-Type: " + content_type + "\r\n";
  if (status != 204 && status != 304)
    h += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  if (!keep_alive) h += "Connection: close\r\n";
  send_head(status, h);
  if (status != 204 && status != 304 && !head_only) send_all(fd_, body.data(), body.size());
}

void Conn::begin_stream(int status, const std::string& content_type) {
  std::string h = "Content-Type: " + content_type + "\r\nTransfer-Encoding: chunked\r\n";
  if (!keep_alive) h += "Connection: close\r\n";
  send_head(status, h);
  chunked_ = true;
}

bool Conn::write(const std::string& data) {
  if (data.empty()) return true;
  char len[32];
  int n = std::snprintf(len, sizeof len, "%zx\r\n", data.size());
  std::string chunk(len, static_cast<size_t>(n));
  chunk += data;
  chunk += "\r\n";
  return send_all(fd_, chunk.data(), chunk.size());
}

void Conn::end_stream() {
  if (chunked_) send_all(fd_, "0\r\n\r\n", 5);
  chunked_ = false;
}

void Conn::hijack(const Request& req, const std::string& content_type) {
  keep_alive = false;
  std::string upgrade = req.header("upgrade");
  if (!upgrade.empty()) {
    send_head(101, "Content-Type: " + content_type +
                       "\r\nConnection: Upgrade\r\nUpgrade: " + upgrade + "\r\n");
  } else {
    send_head(200, "Content-Type: " + content_type + "\r\nConnection: close\r\n");
  }
}

bool Conn::write_raw(const std::string& data) { return send_all(fd_, data.data(), data.size()); }

bool Conn::peer_closed() const {
  // A unix socket whose peer closed reports POLLHUP (a half-close, shutdown(SHUT_WR), does not).
  pollfd p{fd_, 0, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR));
}

}  // namespace vessel::api

namespace vessel::api {

bool Conn::stream_from(int status, const std::string& content_type,
                       const std::function<void(int fd)>& producer) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) throw std::runtime_error("pipe: " + std::string(strerror(errno)));
  UniqueFd rd(p[0]), wr(p[1]);
  std::string failure;
  std::thread t([&] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    try {
      producer(wr.get());
    } catch (const std::exception& e) {
      failure = e.what();
    }
    wr.reset();
  });
  begin_stream(status, content_type);
  bool client_ok = true;
  std::string buf(64 * 1024, '\0');
  for (;;) {
    ssize_t n = ::read(rd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (!write(buf.substr(0, static_cast<size_t>(n)))) {
      client_ok = false;
      break;
    }
  }
  rd.reset();  // a producer still writing gets EPIPE
  t.join();
  if (client_ok && failure.empty()) {
    end_stream();
    return true;
  }
  keep_alive = false;
  chunked_ = false;
  return false;
}

}  // namespace vessel::api
