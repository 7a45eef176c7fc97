#include "manager/slirp.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "util/error.h"

namespace vessel::manager {

namespace {

// One request on the API socket; throws with slirp4netns's own error text.
nlohmann::json api_call(const std::string& sock, const nlohmann::json& request,
                        const std::string& what) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) fail_errno("socket for slirp4netns");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (sock.size() >= sizeof addr.sun_path) fail("slirp4netns socket path too long: {}", sock);
  std::strcpy(addr.sun_path, sock.c_str());
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    fail_errno("connecting to slirp4netns at {}", sock);
  std::string body = request.dump();
  if (::write(fd.get(), body.data(), body.size()) != static_cast<ssize_t>(body.size()))
    fail_errno("writing to slirp4netns");
  ::shutdown(fd.get(), SHUT_WR);
  std::string reply;
  char buf[1024];
  ssize_t n;
  while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) reply.append(buf, static_cast<size_t>(n));
  auto j = nlohmann::json::parse(reply, nullptr, false);
  if (j.is_discarded() || j.contains("error"))
    fail("{}: slirp4netns: {}", what,
         j.is_discarded() ? reply : j["error"].value("desc", j["error"].dump()));
  return j;
}

nlohmann::json forward_request(const network::PortMapping& p) {
  return {{"execute", "add_hostfwd"},
          {"arguments",
           {{"proto", p.protocol},
            {"host_addr", p.host_ip.empty() ? "0.0.0.0" : p.host_ip},
            {"host_port", p.host_port},
            {"guest_port", p.container_port}}}};
}

}  // namespace

UniqueFd start_slirp4netns(pid_t pid, const std::vector<network::PortMapping>& ports,
                           const std::string& sock_dir, const std::string& id, bool keep_socket) {
  for (const auto& p : ports)
    if (p.host_port == 0)
      fail("-p {}: rootless forwarding needs a host port (HOST:CONTAINER)", p.container_port);
  std::string sock = slirp_socket(sock_dir, id);
  ::unlink(sock.c_str());
  int exit_pipe[2], ready_pipe[2];
  if (::pipe2(exit_pipe, O_CLOEXEC) != 0 || ::pipe2(ready_pipe, O_CLOEXEC) != 0)
    fail_errno("pipe for slirp4netns");
  UniqueFd exit_r(exit_pipe[0]), exit_w(exit_pipe[1]);
  UniqueFd ready_r(ready_pipe[0]), ready_w(ready_pipe[1]);
  pid_t child = ::fork();
  if (child < 0) fail_errno("fork for slirp4netns");
  if (child == 0) {
    ::setsid();
    int null = ::open("/dev/null", O_RDWR);
    for (int i = 0; i < 3; ++i) ::dup2(null, i);
    ::fcntl(exit_r.get(), F_SETFD, 0);
    ::fcntl(ready_w.get(), F_SETFD, 0);
    std::string exit_arg = "--exit-fd=" + std::to_string(exit_r.get());
    std::string ready_arg = "--ready-fd=" + std::to_string(ready_w.get());
    std::string pid_arg = std::to_string(pid);
    ::execlp("slirp4netns", "slirp4netns", "--configure", "--mtu=65520", "--disable-host-loopback",
             exit_arg.c_str(), ready_arg.c_str(), "--api-socket", sock.c_str(), pid_arg.c_str(),
             "tap0", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  exit_r.reset();
  ready_w.reset();
  char c = 0;
  ssize_t n;
  do {
    n = ::read(ready_r.get(), &c, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1) {
    ::unlink(sock.c_str());
    fail(
        "--network slirp4netns: slirp4netns did not start (is it installed (Debian's "
        "slirp4netns), and may this user open /dev/net/tun?)");
  }
  try {
    for (const auto& p : ports)
      api_call(sock, forward_request(p),
               "-p " + std::to_string(p.host_port) + ":" + std::to_string(p.container_port));
  } catch (...) {
    ::unlink(sock.c_str());
    throw;
  }
  if (!keep_socket) ::unlink(sock.c_str());
  return exit_w;
}

std::string slirp_socket(const std::string& sock_dir, const std::string& id) {
  return sock_dir + "/slirp-" + id.substr(0, 16) + ".sock";
}

int add_slirp_forward(const std::string& sock, const network::PortMapping& p) {
  // The guest's port is the host's: the user network's portmap rules take it on from there.
  network::PortMapping to_guest = p;
  to_guest.container_port = p.host_port;
  auto j = api_call(sock, forward_request(to_guest),
                    "-p " + std::to_string(p.host_port) + ":" + std::to_string(p.container_port));
  if (!j.contains("return") || !j["return"].contains("id"))
    fail("-p {}: slirp4netns gave no forward id: {}", p.host_port, j.dump());
  return j["return"]["id"].get<int>();
}

void remove_slirp_forward(const std::string& sock, int forward_id) {
  api_call(sock, {{"execute", "remove_hostfwd"}, {"arguments", {{"id", forward_id}}}},
           "removing slirp4netns forward " + std::to_string(forward_id));
}

}  // namespace vessel::manager
