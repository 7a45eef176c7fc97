// Helpers shared by the streaming endpoints (logs, attach, exec).
#pragma once

#include <string>

namespace vessel::api {

// Docker's multiplexed stream frame: [stream 1|2][0 0 0][length, big endian][data].
std::string mux_frame(int stream, const std::string& data);
// Content types of a hijacked or streamed output.
inline constexpr const char* kRawStream = "application/vnd.docker.raw-stream";
inline constexpr const char* kMuxStream = "application/vnd.docker.multiplexed-stream";

}  // namespace vessel::api
