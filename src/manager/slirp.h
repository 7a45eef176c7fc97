// Rootless networking through slirp4netns (Debian's): a user-mode TCP/IP stack that gives a
// container's own network namespace a tap device (10.0.2.100, gateway 10.0.2.2, DNS 10.0.2.3)
// and the user's outbound traffic, with -p forwarded from the host by its API (add_hostfwd).
// Chosen over pasta because it is what Debian 12 ships (pasta's package, passt, is not
// installed here) and podman 4.3 uses it rootless on this host, a fair reference.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "network/ports.h"
#include "util/fd.h"

namespace vessel::manager {

// Starts slirp4netns for the network namespace of `pid`, waits until it is ready, adds each
// port forward, and returns the write end of its --exit-fd pipe: closing it (or this process
// ending) stops slirp4netns. `sock_dir` holds the API socket while the ports are added.
// `keep_socket`: the API socket stays (for add_slirp_forward/remove_slirp_forward later).
UniqueFd start_slirp4netns(pid_t pid, const std::vector<network::PortMapping>& ports,
                           const std::string& sock_dir, const std::string& id,
                           bool keep_socket = false);
// The API socket start_slirp4netns kept for `id`.
std::string slirp_socket(const std::string& sock_dir, const std::string& id);
// Forwards p.host_ip:p.host_port on the host to the guest's (10.0.2.100) p.host_port; returns
// slirp4netns's id of the forward.
int add_slirp_forward(const std::string& sock, const network::PortMapping& p);
void remove_slirp_forward(const std::string& sock, int forward_id);

}  // namespace vessel::manager
