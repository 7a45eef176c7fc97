// Writing the auth file that pull and push read (registry.h: find_credentials): what
// `vessel login` stores and `vessel logout` removes. {"auths": {"HOST": {"auth": base64}}}.
#pragma once

#include <string>

namespace vessel::image {

// The file login writes: `authfile` if given, else $REGISTRY_AUTH_FILE, else
// $XDG_RUNTIME_DIR/containers/auth.json, else ~/.docker/config.json — the first place pull
// looks, so what login stores is what pull finds.
std::string auth_file_for_write(const std::string& authfile);

// "docker.io", "127.0.0.1:5000": a registry as typed (scheme and trailing slashes dropped).
std::string normalize_registry(const std::string& registry);

// Adds or replaces HOST's entry, keeping every other key of the file; the file is written
// atomically with mode 0600 (its directory made 0700 if missing).
void store_credentials(const std::string& file, const std::string& host, const std::string& user,
                       const std::string& password);
// Removes HOST's entry; false when there was none.
bool remove_credentials(const std::string& file, const std::string& host);

}  // namespace vessel::image
