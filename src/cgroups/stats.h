// Parsers for the cgroup statistics files, kept pure (text in, values out) so they can be
// unit-tested without a cgroup. The v1 and v2 managers assemble runc's `events --stats`
// "data" object from them.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace vessel::cgroups {

// "key value" lines (memory.stat, cpu.stat, memory.events, cpuacct.stat). Lines that do not
// have a numeric second field are skipped.
std::map<std::string, uint64_t> parse_flat_keyed(const std::string& text);
// Space-separated numbers (cpuacct.usage_percpu).
std::vector<uint64_t> parse_number_list(const std::string& text);
// A single number, or "max" (v2) as UINT64_MAX; nullopt for anything else.
std::optional<uint64_t> parse_limit(const std::string& text);

// v1 blkio.*_recursive: "8:0 Read 123" lines (and a "Total N" line, skipped) as runc's
// blkio entries {"major","minor","op","value"}.
nlohmann::json parse_blkio_v1(const std::string& text);
// v2 io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 ..." as runc's blkio object
// ({"ioServiceBytesRecursive": [...], "ioServicedRecursive": [...]}).
nlohmann::json parse_io_stat_v2(const std::string& text);

}  // namespace vessel::cgroups
