// The platform this build runs on, as the OCI image spec names it.
#pragma once

namespace vessel::image {

// GOARCH-style architecture: "amd64", "arm64", ... ("unknown" elsewhere).
const char* host_architecture();

}  // namespace vessel::image
