// The listener and the HTTP/1.1 connections of the API server. Boost.Beast parses the
// requests (chunked bodies, limits, pipelining); responses are written on the socket
// directly, so a handler can stream or take the connection over (hijack) at any point.
#include "api/server.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <thread>

#include "api/routes.h"
#include "util/error.h"
#include "util/fd.h"
#include "util/file.h"
#include "util/log.h"

namespace vessel::api {

namespace http = boost::beast::http;
using stream_protocol = boost::asio::local::stream_protocol;

namespace {

std::atomic<int> g_active{0};
std::atomic<int64_t> g_last_activity{0};

int64_t now_secs() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string percent_decode(const std::string& s, bool plus_is_space) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else if (plus_is_space && s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

void parse_target(const std::string& target, Request& req) {
  auto qpos = target.find('?');
  std::string path = percent_decode(target.substr(0, qpos), false);
  if (qpos != std::string::npos) {
    std::string q = target.substr(qpos + 1);
    size_t start = 0;
    while (start <= q.size()) {
      size_t amp = q.find('&', start);
      std::string kv = q.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
      if (!kv.empty()) {
        auto eq = kv.find('=');
        req.query[percent_decode(kv.substr(0, eq), true)] =
            eq == std::string::npos ? "" : percent_decode(kv.substr(eq + 1), true);
      }
      if (amp == std::string::npos) break;
      start = amp + 1;
    }
  }
  // /v1.41/containers/json -> /containers/json
  req.api_version = "1.41";
  if (path.size() > 3 && path[0] == '/' && path[1] == 'v' && std::isdigit(path[2])) {
    auto slash = path.find('/', 1);
    std::string ver = path.substr(2, slash == std::string::npos ? std::string::npos : slash - 2);
    if (ver.find_first_not_of("0123456789.") == std::string::npos && ver.find('.') != ver.npos) {
      req.api_version = ver;
      path = slash == std::string::npos ? "/" : path.substr(slash);
    }
  }
  req.path = path;
}

void serve_connection(const manager::StorePaths& paths, int raw_fd) {
  boost::asio::io_context ioc;
  stream_protocol::socket sock(ioc);
  boost::system::error_code ec;
  sock.assign(stream_protocol(), raw_fd, ec);
  if (ec) {
    ::close(raw_fd);
    return;
  }
  std::unique_ptr<manager::Store> store;
  boost::beast::flat_buffer buffer;
  while (true) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(uint64_t{8} << 30);
    parser.header_limit(64 * 1024);
    http::read(sock, buffer, parser, ec);
    if (ec) {
      if (ec != http::error::end_of_stream && ec != boost::asio::error::eof &&
          ec != boost::asio::error::connection_reset) {
        Conn conn(raw_fd);
        conn.keep_alive = false;
        conn.json(400, {{"message", "bad request: " + ec.message()}});
      }
      break;
    }
    g_last_activity = now_secs();
    auto& msg = parser.get();
    Request req;
    req.method = std::string(msg.method_string());
    parse_target(std::string(msg.target()), req);
    for (const auto& h : msg) {
      std::string name(h.name_string());
      for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      req.headers[name] = std::string(h.value());
    }
    req.body = std::move(msg.body());
    if (buffer.size() > 0) {
      auto data = buffer.data();
      req.pending_input.assign(static_cast<const char*>(data.data()), data.size());
      buffer.consume(buffer.size());
    }
    Conn conn(raw_fd);
    conn.keep_alive = msg.keep_alive();
    conn.head_only = req.method == "HEAD";
    if (!store) {
      try {
        store = std::make_unique<manager::Store>(paths);
      } catch (const std::exception& e) {
        conn.json(500, {{"message", std::string("opening the store: ") + e.what()}});
        break;
      }
    }
    handle(*store, req, conn);
    store->end_of_command();  // its images are recorded: its blob claims go
    g_last_activity = now_secs();
    if (!conn.keep_alive) break;
  }
  sock.close(ec);
}

// unix:///run/vessel/vessel.sock or a plain path.
std::string socket_path(const std::string& spec) {
  std::string p = spec;
  if (p.rfind("unix://", 0) == 0) p = p.substr(7);
  if (p.empty() || p[0] != '/')
    fail("invalid --socket \"{}\": expected unix:///ABSOLUTE/PATH", spec);
  if (p.size() >= sizeof(sockaddr_un::sun_path))
    fail("invalid --socket \"{}\": the path is too long for a unix socket", spec);
  return p;
}

UniqueFd listen_on(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash > 0) mkdir_p(path.substr(0, slash), 0755);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) fail_errno("socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) fail("{} exists and is not a socket", path);
    // A socket nobody answers on is a leftover of a service that ended: replace it.
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (::connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
      fail("another service is listening on {}", path);
    ::unlink(path.c_str());
  }
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    fail_errno("binding {}", path);
  if (::chmod(path.c_str(), 0660) != 0 || ::chown(path.c_str(), 0, 0) != 0) {
    int err = errno;
    ::unlink(path.c_str());
    throw_errno("setting the owner and mode of " + path, err);
  }
  if (::listen(fd.get(), 128) != 0) fail_errno("listening on {}", path);
  return fd;
}

}  // namespace

int serve(const manager::StorePaths& paths, const ServiceOptions& opts) {
  if (opts.timeout < 0) fail("invalid --timeout {}: must be 0 or more", opts.timeout);
  std::string path = socket_path(opts.socket);
  // The store opens (and migrates) once here, so that a bad --root fails at once.
  { manager::Store check(paths); }
  UniqueFd lfd = listen_on(path);
  log::info(fmt::format("API listening on unix://{}", path));
  g_last_activity = now_secs();
  while (true) {
    pollfd p{lfd.get(), POLLIN, 0};
    int r = ::poll(&p, 1, 1000);
    if (r < 0 && errno != EINTR) fail_errno("poll on {}", path);
    if (r > 0) {
      int cfd = ::accept4(lfd.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (cfd < 0) continue;
      ++g_active;
      g_last_activity = now_secs();
      std::thread([paths, cfd] {
        try {
          serve_connection(paths, cfd);
        } catch (const std::exception& e) {
          log::warn(std::string("API connection: ") + e.what());
        }
        g_last_activity = now_secs();
        --g_active;
      }).detach();
      continue;
    }
    if (opts.timeout > 0 && g_active == 0 && now_secs() - g_last_activity >= opts.timeout) break;
  }
  ::unlink(path.c_str());
  return 0;
}

}  // namespace vessel::api
