// The OCI distribution API (registries: docker.io, quay.io, docker-registry, …) over libcurl:
// pulling an image into a BlobStore (layers in parallel, each verified by digest, interrupted
// downloads resumed with Range requests) and pushing one from it. Anonymous access, bearer
// tokens and basic auth, credentials from --creds or an auth.json / docker config.json.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "image/archive.h"
#include "image/blob_store.h"
#include "image/reference.h"

namespace vessel::image {

struct RegistryOptions {
  bool tls_verify = true;  // false: certificates are not checked and plain http is allowed
  std::string creds;       // "user:password" (wins over the auth file)
  std::string authfile;    // default: $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
                           // ~/.docker/config.json (the first that exists)
  int parallel = 3;        // layers downloaded at once
  bool quiet = false;      // no progress on stderr
};

// One challenge of a WWW-Authenticate header: `Bearer realm="…",service="…",scope="…"`.
struct AuthChallenge {
  std::string scheme;                         // lowercase: "bearer", "basic"
  std::map<std::string, std::string> params;  // lowercase keys, unquoted values
};
// The first challenge of a header value; nullopt when it cannot be parsed.
std::optional<AuthChallenge> parse_www_authenticate(std::string_view header);

// "user:password" for `host` from an auth file ({"auths": {"host": {"auth": base64}}}), or
// nullopt. `authfile` empty: the default locations.
std::optional<std::string> find_credentials(const std::string& host, const std::string& authfile);

// `vessel login`: GET /v2/ on `host` with `opts.creds` (USER:PASSWORD) answering its
// challenge (basic, or a bearer token); throws "HOST: authentication failed: …" when the
// registry refuses them.
void check_credentials(const std::string& host, const RegistryOptions& opts);

// Pulls `ref` into `blobs` and returns the image (always an OCI manifest, converted from a
// docker one if need be; names empty). Progress goes to stderr. Nothing but verified blobs is
// left behind on failure.
StoredImage pull_image(const Reference& ref, BlobStore& blobs, const RegistryOptions& opts);

// Pushes a stored image to `ref` (its tag, or its digest); returns the manifest digest.
std::string push_image(const StoredImage& image, const Reference& ref, const BlobStore& blobs,
                       const RegistryOptions& opts);

}  // namespace vessel::image
