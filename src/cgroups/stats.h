// Parsers for the cgroup statistics files, kept pure (text in, values out) so they can be
// unit-tested without a cgroup, and the readers of the statistics that v1 and v2 share
// (hugetlb, rdma), which take a directory. The v1 and v2 managers assemble runc's
// `events --stats` "data" object from them.
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

// rdma.max / rdma.current ("mlx4_0 hca_handle=2 hca_object=2000" lines, the same in v1 and
// v2) as runc's RdmaEntry list [{"device","hca_handles","hca_objects"}]; "max" is reported
// as 4294967295, like runc.
nlohmann::json parse_rdma(const std::string& text);

// Which set of hugetlb files a directory has: v1's (hugetlb.2MB.usage_in_bytes, ...) or
// v2's (hugetlb.2MB.current, ...), the latter also on hybrid hosts where hugetlb is bound to
// the unified hierarchy.
enum class HugetlbFiles { v1, v2 };

// runc's "hugetlb" object, keyed by page size as runc names it ("2MB", "1GB"), for each of
// `page_sizes` (host_hugepage_sizes()) whose usage file exists in `dir`:
//   {"usage": bytes now, "max": peak bytes, "failcnt": allocations refused by the limit,
//    "limit": bytes}
// v1: hugetlb.<size>.usage_in_bytes, max_usage_in_bytes, failcnt, limit_in_bytes.
// v2: hugetlb.<size>.current, the "max" count of hugetlb.<size>.events as failcnt, and
// hugetlb.<size>.max; v2 keeps no peak, so "max" is 0 there, as in runc. "limit" is not in
// runc's shape (a "max" limit reads as 18446744073709551615, like memory's "limit").
nlohmann::json hugetlb_stats(const std::string& dir, const std::vector<std::string>& page_sizes,
                             HugetlbFiles files);

// runc's "rdma" object {"rdma_limit": [...], "rdma_current": [...]} from `dir`'s rdma.max and
// rdma.current; nullopt when `dir` has neither (no rdma controller there).
std::optional<nlohmann::json> rdma_stats(const std::string& dir);

}  // namespace vessel::cgroups
