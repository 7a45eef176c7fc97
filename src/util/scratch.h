// Scratch files and directories (a download, an unpacked archive, a layer being made) carry the
// PID of the process that made them in their name: PREFIX-p<PID>-REST. A command killed with
// SIGKILL cannot remove its scratch; the next command that makes scratch in the same directory
// removes what belongs to processes that no longer exist (remove_stale_scratch).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

namespace vessel {

// "PREFIX-p<this PID>-": a name for scratch made by this process starts with it.
std::string scratch_prefix(std::string_view prefix);

// The PID in a scratch name (PREFIX-p<PID>-...), if it has one.
std::optional<pid_t> scratch_owner(std::string_view name);

// True when `name` is scratch whose process is gone (a name without a PID is not).
bool scratch_is_stale(std::string_view name);

// Removes every stale scratch entry (file or tree) of `dir` whose name starts with
// `name_prefix`; returns how many went. Entries it cannot remove are left (and not counted).
size_t remove_stale_scratch(const std::string& dir, std::string_view name_prefix = "");

}  // namespace vessel
