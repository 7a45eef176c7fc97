// COPY and ADD of vessel build: sources from the build context (or another stage's root
// filesystem) copied into a root filesystem, resolved so that nothing outside the context is
// read and nothing outside the root is written; .dockerignore.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace vessel::manager {

// .dockerignore patterns (Go filepath.Match syntax plus "**", "!" exceptions, last match wins).
class IgnoreRules {
 public:
  IgnoreRules() = default;
  static IgnoreRules load(const std::string& context);  // <context>/.dockerignore, if any
  bool ignored(const std::string& rel) const;           // rel: "dir/file", no leading "/"

 private:
  struct Rule {
    std::string pattern;
    bool exclude = true;
  };
  std::vector<Rule> rules_;
};

struct CopySpec {
  std::string source_root;           // the context, or a mounted stage/image root filesystem
  bool source_is_rootfs = false;     // --from: sources resolved inside source_root as a root
  std::vector<std::string> sources;  // as written, variables expanded
  std::string dest;                  // absolute path in the target
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  std::optional<mode_t> chmod;
  bool add = false;  // ADD: local tar archives are unpacked
  const IgnoreRules* ignore = nullptr;
  std::string what;  // "COPY" or "ADD", for messages
  // An ordinary user's build cannot give files to other ids on the host: with --chown to ids
  // other than root's, the paths copied (absolute in the root) are listed here, for the
  // caller to chown in the upper layer from a user namespace with the user's mapping.
  std::vector<std::string>* chown_later = nullptr;
};

// A digest of everything the copy would read (paths, types, modes, sizes, contents, link
// targets) and of the options: the layer cache key's part for COPY/ADD.
std::string copy_digest(const CopySpec& spec);

// Copies into the root filesystem `rootfd` (a directory fd). Errors name the source.
void copy_into(int rootfd, const CopySpec& spec);

// "0755" -> 0755; throws on anything else.
mode_t parse_chmod(const std::string& s);

}  // namespace vessel::manager
