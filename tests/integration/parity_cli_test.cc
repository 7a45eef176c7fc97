// Parity with runc 1.1 on the command line's contract: which states each command accepts
// (ParityCliState), the byte-level shape of the JSON that state, list and events print
// (ParityCliJson), the log lines on stderr and in --log (ParityCliLog), and the text of a
// failing startContainer hook (ParityCliHooks). Every test here also passes against runc
// (VESSEL_TEST_RUNTIME=$(which runc)); where runc has no behaviour to compare, the check is
// vessel-only and says so.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <regex>
#include <thread>

#include "harness.h"

namespace itest {
namespace {

using ordered_json = nlohmann::ordered_json;

// The keys of a JSON object in the order the text has them.
std::vector<std::string> keys_in_order(const ordered_json& j) {
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  return keys;
}

// Go's encoding/json escapes <, > and & inside strings; everything else is as nlohmann writes.
std::string go_style(std::string s) {
  std::string out;
  for (char c : s) {
    if (c == '<')
      out += "\\u003c";
    else if (c == '>')
      out += "\\u003e";
    else if (c == '&')
      out += "\\u0026";
    else
      out += c;
  }
  return out;
}

// A time.Time as Go's encoding/json writes it (RFC 3339 with nanoseconds, trailing zeros of the
// fraction dropped), in UTC as runc records it.
bool is_go_rfc3339nano_utc(const std::string& s) {
  static const std::regex re(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,8}[1-9])?Z$)");
  return std::regex_match(s, re);
}

// ---------------------------------------------------------------------------------------------
// Which states each command accepts.

class ParityCliState : public ContainerTest {
 protected:
  // create + start `sleep`, then SIGKILL it and wait until it is stopped.
  void make_stopped(const std::string& id) {
    ASSERT_TRUE(create(id, write_bundle(config({"sleep", "1000"}))).ok());
    Result s = rt({"start", id});
    ASSERT_TRUE(s.ok()) << s.describe();
    Result k = rt({"kill", id, "KILL"});
    ASSERT_TRUE(k.ok()) << k.describe();
    ASSERT_TRUE(wait_status(id, "stopped")) << status(id);
  }
};

// runc joins a created container: its namespaces and cgroup exist while its process waits.
TEST_F(ParityCliState, ExecWorksOnACreatedContainer) {
  std::string id = new_id();
  ASSERT_TRUE(create(id, write_bundle(config({"sleep", "1000"}))).ok());
  Result e = rt({"exec", id, "echo", "exec-in-created"});
  EXPECT_TRUE(e.ok()) << e.describe();
  EXPECT_EQ(trim(e.out), "exec-in-created") << e.describe();
  EXPECT_EQ(status(id), "created") << "exec must not start the container";
  Result s = rt({"start", id});
  EXPECT_TRUE(s.ok()) << s.describe();
  EXPECT_EQ(status(id), "running");
}

// ps on a stopped container lists what its cgroup still holds (nothing here) and succeeds.
TEST_F(ParityCliState, PsOfAStoppedContainerSucceedsWithWhatItsCgroupHolds) {
  std::string id = new_id();
  ASSERT_NO_FATAL_FAILURE(make_stopped(id));
  Result t = rt({"ps", id});
  EXPECT_TRUE(t.ok()) << t.describe();
  EXPECT_LE(split_lines(t.out).size(), 1u) << "no process lines expected" << t.describe();
  Result j = rt({"ps", "--format", "json", id});
  EXPECT_TRUE(j.ok()) << j.describe();
  json pids = json::parse(j.out, nullptr, false);
  EXPECT_TRUE(pids.is_null() || (pids.is_array() && pids.empty())) << j.describe();
}

// Signal 0 checks that the container's process can be signalled: 0 while it lives, an error
// once it is stopped.
TEST_F(ParityCliState, KillTakesSignalZero) {
  std::string id = new_id();
  ASSERT_TRUE(create(id, write_bundle(config({"sleep", "1000"}))).ok());
  Result created = rt({"kill", id, "0"});
  EXPECT_TRUE(created.ok()) << created.describe();
  ASSERT_TRUE(rt({"start", id}).ok());
  Result running = rt({"kill", id, "0"});
  EXPECT_TRUE(running.ok()) << running.describe();
  EXPECT_EQ(status(id), "running") << "signal 0 must not affect the process";
  ASSERT_TRUE(rt({"kill", id, "KILL"}).ok());
  ASSERT_TRUE(wait_status(id, "stopped"));
  Result stopped = rt({"kill", id, "0"});
  EXPECT_FALSE(stopped.ok()) << stopped.describe();
}

// kill --all on a stopped container: 0 with its (empty) cgroup still there, and 0 once the
// cgroup is gone (systemd removes a unit's cgroup when its last process exits).
TEST_F(ParityCliState, KillAllOfAStoppedContainerSucceedsWithOrWithoutItsCgroup) {
  std::string id = new_id();
  json cfg = config({"sleep", "1000"});
  const std::string cgroups_path = cfg["linux"]["cgroupsPath"];
  ASSERT_TRUE(create(id, write_bundle(cfg)).ok());
  ASSERT_TRUE(rt({"start", id}).ok());
  ASSERT_TRUE(rt({"kill", id, "KILL"}).ok());
  ASSERT_TRUE(wait_status(id, "stopped"));
  Result with_cgroup = rt({"kill", "--all", id, "KILL"});
  EXPECT_TRUE(with_cgroup.ok()) << with_cgroup.describe();

  std::vector<std::string> dirs = cgroup_dirs(cgroups_path);
  ASSERT_FALSE(dirs.empty()) << "the stopped container's cgroup should still exist";
  std::sort(dirs.begin(), dirs.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const auto& d : dirs) {
    bool gone = wait_until([&] { return ::rmdir(d.c_str()) == 0 || errno == ENOENT; }, 5s);
    ASSERT_TRUE(gone) << "rmdir " << d << ": " << strerror(errno);
  }
  ASSERT_TRUE(cgroup_dirs(cgroups_path).empty());
  Result without = rt({"kill", "--all", id, "KILL"});
  EXPECT_TRUE(without.ok()) << without.describe();
  Result sig0 = rt({"kill", "--all", id, "0"});
  EXPECT_TRUE(sig0.ok()) << sig0.describe();
}

// ---------------------------------------------------------------------------------------------
// JSON shapes.

class ParityCliJson : public ContainerTest {
 protected:
  // The runtime-spec version the runtime implements (its features' ociVersionMax).
  static std::string runtime_spec_version() {
    const std::optional<json>& f = runtime_features();
    return f ? f->value("ociVersionMax", "") : "";
  }
};

const std::vector<std::string> kStateKeys = {
    "ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "annotations", "owner"};

TEST_F(ParityCliJson, StateHasRuncsFieldsInRuncsOrder) {
  json cfg = config({"sleep", "1000"});
  // runc 1.1 reports the runtime-spec version it implements, whatever the config says.
  cfg["ociVersion"] = "1.0.1";
  cfg["annotations"] = {{"org.example.note", "a<b&c>d"}};
  std::string bundle = write_bundle(cfg);
  std::string id = new_id();
  ASSERT_TRUE(create(id, bundle).ok());

  Result s = rt({"state", id});
  ASSERT_TRUE(s.ok()) << s.describe();
  ordered_json j = ordered_json::parse(s.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << s.describe();
  EXPECT_EQ(keys_in_order(j), kStateKeys) << s.out;
  EXPECT_EQ(j["ociVersion"], runtime_spec_version());
  EXPECT_EQ(j["id"], id);
  EXPECT_GT(j["pid"].get<int>(), 0);
  EXPECT_EQ(j["status"], "created");
  EXPECT_EQ(j["bundle"], bundle);
  EXPECT_EQ(j["rootfs"], shared_rootfs());
  EXPECT_TRUE(is_go_rfc3339nano_utc(j["created"].get<std::string>())) << j["created"];
  EXPECT_EQ(j["annotations"], ordered_json({{"org.example.note", "a<b&c>d"}}));
  EXPECT_TRUE(j["owner"].is_string());
  // Byte for byte as Go's json.MarshalIndent: two-space indent, <>& escaped, no newline after.
  EXPECT_EQ(s.out, go_style(j.dump(2)));

  // Stopped: pid 0, still present.
  ASSERT_TRUE(rt({"start", id}).ok());
  ASSERT_TRUE(rt({"kill", id, "KILL"}).ok());
  ASSERT_TRUE(wait_status(id, "stopped"));
  Result st = rt({"state", id});
  ASSERT_TRUE(st.ok()) << st.describe();
  ordered_json sj = ordered_json::parse(st.out, nullptr, false);
  EXPECT_EQ(keys_in_order(sj), kStateKeys) << st.out;
  EXPECT_EQ(sj["pid"], 0) << st.out;
  EXPECT_EQ(sj["status"], "stopped");
  EXPECT_EQ(sj["created"], j["created"]);

  // No annotations: the key is left out.
  std::string plain = new_id();
  ASSERT_TRUE(create(plain, write_bundle(config({"sleep", "1000"}))).ok());
  Result p = rt({"state", plain});
  ASSERT_TRUE(p.ok()) << p.describe();
  std::vector<std::string> want = kStateKeys;
  want.erase(std::find(want.begin(), want.end(), "annotations"));
  EXPECT_EQ(keys_in_order(ordered_json::parse(p.out, nullptr, false)), want) << p.out;
}

TEST_F(ParityCliJson, ListJsonHasTheStateFieldsInOrderAndTheOwner) {
  Result empty = rt({"list", "--format", "json"});
  ASSERT_TRUE(empty.ok()) << empty.describe();
  EXPECT_EQ(empty.out, "null\n") << "runc encodes an empty list as null";

  json cfg = config({"sleep", "1000"});
  cfg["ociVersion"] = "1.0.1";
  cfg["annotations"] = {{"k", "v"}};
  std::string bundle = write_bundle(cfg);
  std::string id = new_id();
  ASSERT_TRUE(create(id, bundle).ok());
  Result l = rt({"list", "--format", "json"});
  ASSERT_TRUE(l.ok()) << l.describe();
  ordered_json arr = ordered_json::parse(l.out, nullptr, false);
  ASSERT_TRUE(arr.is_array() && arr.size() == 1) << l.describe();
  const ordered_json& e = arr[0];
  EXPECT_EQ(keys_in_order(e), kStateKeys) << l.out;
  EXPECT_EQ(e["ociVersion"], runtime_spec_version());
  EXPECT_EQ(e["status"], "created");
  EXPECT_EQ(e["rootfs"], shared_rootfs());
  EXPECT_EQ(e["owner"], "root");
  EXPECT_TRUE(is_go_rfc3339nano_utc(e["created"].get<std::string>())) << e["created"];
  std::optional<json> st = state(id);
  ASSERT_TRUE(st);
  EXPECT_EQ(e["created"], (*st)["created"]);
  // One compact line, as Go's json.Encoder writes it.
  EXPECT_EQ(l.out, go_style(arr.dump()) + "\n");
}

TEST_F(ParityCliJson, EventLinesAreTypeIdData) {
  std::string id = new_id();
  ASSERT_TRUE(create(id, write_bundle(config({"sleep", "1000"}))).ok());
  ASSERT_TRUE(rt({"start", id}).ok());
  Result ev = rt({"events", "--stats", id});
  ASSERT_TRUE(ev.ok()) << ev.describe();
  ordered_json j = ordered_json::parse(ev.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << ev.describe();
  EXPECT_EQ(keys_in_order(j), (std::vector<std::string>{"type", "id", "data"})) << ev.out;
  EXPECT_EQ(j["type"], "stats");
  EXPECT_EQ(j["id"], id);
}

// The OOM event has no data: exactly {"type":"oom","id":ID}.
TEST_F(ParityCliJson, OomEventIsTypeThenIdWithoutData) {
  std::string id = new_id();
  json cfg = config({"sh", "-c",
                     "(while [ ! -e /shared/go ]; do usleep 20000; done; tail /dev/zero) & "
                     "sleep 1000"});
  cfg["linux"]["resources"]["memory"]["limit"] = 32 * 1024 * 1024;
  ASSERT_TRUE(create(id, write_bundle(cfg)).ok());
  ASSERT_TRUE(rt({"start", id}).ok());
  SpawnOptions so;
  so.stdout_path = dir() + "/events.out";
  Child ev = rt_spawn({"events", "--interval", "200ms", id}, so);
  std::this_thread::sleep_for(800ms);  // runc sets up its OOM eventfd after the first stats
  write_text(shared_dir() + "/go", "");
  bool oom = wait_until([&] { return contains(read_text(so.stdout_path), "\"oom\""); }, 10s);
  ev.kill_group(SIGKILL);
  ev.wait();
  ASSERT_TRUE(oom) << read_text(so.stdout_path);
  const std::string want = "{\"type\":\"oom\",\"id\":\"" + id + "\"}";
  bool found = false;
  for (const auto& line : split_lines(read_text(so.stdout_path))) {
    if (!contains(line, "\"oom\"")) continue;
    EXPECT_EQ(line, want);
    found = true;
  }
  EXPECT_TRUE(found);
}

// ---------------------------------------------------------------------------------------------
// Logging, in logrus's forms.

class ParityCliLog : public ContainerTest {
 protected:
  // A bundle whose create fails early (relative process.cwd), for every runtime.
  std::string failing_bundle() {
    json cfg = config({"true"});
    cfg["process"]["cwd"] = "relative";
    return write_bundle(cfg);
  }
};

std::vector<std::string> nonempty_lines(const std::string& s) {
  std::vector<std::string> out;
  for (const auto& l : split_lines(s))
    if (!trim(l).empty()) out.push_back(l);
  return out;
}

// logrus's TextFormatter without a terminal: time="RFC3339" level=L msg=M, where M is a bare
// word or a Go-quoted string; --debug adds fields (runc: func=, file=) after msg.
const std::regex kTextLine(
    R"re(^time="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)" level=(debug|info|warning|error) msg=("(\\.|[^"\\])*"|[^ "]+)( [a-z]+=("(\\.|[^"\\])*"|[^ "]+))*$)re");
const std::regex kRfc3339(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$)");

bool is_text_line(const std::string& l) { return std::regex_match(l, kTextLine); }

std::string text_field(const std::string& line, const std::string& key) {
  std::smatch m;
  std::regex re(" " + key + R"re(=("(\\.|[^"\\])*"|[^ "]+))re");
  if (!std::regex_search(line, m, re)) return "";
  return m[1].str();
}

// Undoes Go's %q for the escapes a message can hold.
std::string go_unquote(const std::string& q) {
  if (q.size() < 2 || q.front() != '"') return q;
  std::string out;
  for (size_t i = 1; i + 1 < q.size(); ++i) {
    char c = q[i];
    if (c != '\\') {
      out += c;
      continue;
    }
    char n = q[++i];
    out += n == 'n' ? '\n' : n == 't' ? '\t' : n;
  }
  return out;
}

// Checks that `line` is a JSON entry as logrus's JSONFormatter writes it: keys sorted, level,
// msg and time among them, time in RFC 3339. Returns the entry.
ordered_json expect_json_line(const std::string& line) {
  ordered_json j = ordered_json::parse(line, nullptr, false);
  EXPECT_TRUE(j.is_object()) << line;
  if (!j.is_object()) return j;
  std::vector<std::string> keys = keys_in_order(j);
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end())) << line;
  for (const char* k : {"level", "msg", "time"}) EXPECT_TRUE(j.contains(k)) << line;
  if (j.contains("time")) {
    EXPECT_TRUE(std::regex_match(j["time"].get<std::string>(), kRfc3339)) << line;
  }
  return j;
}

TEST_F(ParityCliLog, ErrorOnStderrIsALogrusTextLine) {
  Result r = rt({"create", "-b", failing_bundle(), new_id()});
  EXPECT_FALSE(r.ok());
  std::vector<std::string> lines = nonempty_lines(r.err);
  ASSERT_FALSE(lines.empty()) << r.describe();
  for (const auto& l : lines) EXPECT_TRUE(is_text_line(l)) << l;
  EXPECT_TRUE(contains(lines.back(), " level=error ")) << r.describe();
}

TEST_F(ParityCliLog, ErrorOnStderrIsAJsonLineWithLogFormatJson) {
  Result r = rt({"--log-format", "json", "create", "-b", failing_bundle(), new_id()});
  EXPECT_FALSE(r.ok());
  std::vector<std::string> lines = nonempty_lines(r.err);
  ASSERT_FALSE(lines.empty()) << r.describe();
  ordered_json last;
  for (const auto& l : lines) last = expect_json_line(l);
  EXPECT_EQ(last["level"], "error") << r.describe();
  EXPECT_EQ(keys_in_order(last), (std::vector<std::string>{"level", "msg", "time"}));
}

// With --log, the entry goes to the file and stderr gets the bare message.
TEST_F(ParityCliLog, LogFileGetsTheEntryAndStderrTheBareMessage) {
  for (const std::string format : {"text", "json"}) {
    SCOPED_TRACE(format);
    std::string log = dir() + "/bare-" + format + ".log";
    Result r =
        rt({"--log", log, "--log-format", format, "create", "-b", failing_bundle(), new_id()});
    EXPECT_FALSE(r.ok());
    std::vector<std::string> entries = nonempty_lines(read_text(log));
    ASSERT_FALSE(entries.empty()) << "nothing logged" << r.describe();
    std::string msg;
    if (format == "text") {
      EXPECT_TRUE(is_text_line(entries.back())) << entries.back();
      EXPECT_EQ(text_field(entries.back(), "level"), "error") << entries.back();
      msg = go_unquote(text_field(entries.back(), "msg"));
    } else {
      ordered_json j = expect_json_line(entries.back());
      EXPECT_EQ(j["level"], "error");
      msg = j.value("msg", "");
    }
    std::vector<std::string> err = nonempty_lines(r.err);
    ASSERT_EQ(err.size(), 1u) << r.describe();
    EXPECT_EQ(err[0], msg) << r.describe();
  }
}

// --debug traces the steps of each command at debug level, in the same form; without it no
// debug line is written.
TEST_F(ParityCliLog, DebugTracesEachCommand) {
  std::string log = dir() + "/debug.log";
  std::string bundle = write_bundle(config({"sleep", "1000"}));
  std::string id = new_id();
  size_t seen = 0;
  // Runs one command with --debug; returns the number of debug lines it logged.
  auto traced = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--debug", "--log", log});
    Result r = rt(args);
    EXPECT_TRUE(r.ok()) << r.describe();
    std::vector<std::string> lines = nonempty_lines(read_text(log));
    int debug = 0;
    for (size_t i = seen; i < lines.size(); ++i) {
      EXPECT_TRUE(is_text_line(lines[i])) << lines[i];
      if (text_field(lines[i], "level") == "debug") ++debug;
    }
    seen = lines.size();
    return debug;
  };
  EXPECT_GT(traced({"create", "-b", bundle, id}), 0) << read_text(log);
  EXPECT_GT(traced({"exec", id, "true"}), 0) << read_text(log);
  int start = traced({"start", id});
  ASSERT_TRUE(rt({"kill", id, "KILL"}).ok());
  ASSERT_TRUE(wait_status(id, "stopped"));
  int del = traced({"delete", id});
  EXPECT_GT(traced({"run", "-b", write_bundle(config({"true"})), new_id()}), 0) << read_text(log);
  if (!runtime_is_runc()) {  // runc 1.1 logs nothing at debug level for these two
    EXPECT_GT(start, 0) << read_text(log);
    EXPECT_GT(del, 0) << read_text(log);
  }

  std::string quiet_log = dir() + "/quiet.log";
  std::string quiet = new_id();
  Result c = rt({"--log", quiet_log, "create", "-b", bundle, quiet});
  ASSERT_TRUE(c.ok()) << c.describe();
  EXPECT_FALSE(contains(read_text(quiet_log), "level=debug")) << read_text(quiet_log);
}

// ---------------------------------------------------------------------------------------------
// A failing startContainer hook.

class ParityCliHooks : public ContainerTest {
 protected:
  // A config whose second startContainer hook writes to stderr and exits 3. startContainer
  // hooks run in the container's mount namespace, so the script lives in a private rootfs.
  json failing_hook_config(const std::vector<std::string>& args) {
    std::string rootfs = make_private_rootfs();
    write_text(rootfs + "/fail-hook.sh", "#!/bin/sh\necho hook-said-this >&2\nexit 3\n", 0755);
    json cfg = config(args);
    cfg["root"]["path"] = rootfs;
    cfg["hooks"]["startContainer"] = {{{"path", "/bin/true"}},
                                      {{"path", "/fail-hook.sh"}, {"args", {"fail-hook.sh"}}}};
    return cfg;
  }
};

void expect_runc_hook_phrases(const std::string& text) {
  EXPECT_TRUE(contains(text, "error running hook #1")) << text;
  EXPECT_TRUE(contains(text, "exit status 3")) << text;
  EXPECT_TRUE(contains(text, "hook-said-this")) << text;
}

TEST_F(ParityCliHooks, FailingStartContainerHookNamesItsIndexAndExitStatus) {
  std::string id = new_id();
  RtOptions co;
  co.stderr_path = dir() + "/create.err";  // runc's init reports there, after create returned
  ASSERT_TRUE(create(id, write_bundle(failing_hook_config({"sleep", "1000"})), {}, co).ok());
  Result s = rt({"start", id});
  // runc 1.1's start returns 0 before the hooks run; the container stops either way.
  EXPECT_TRUE(wait_status(id, "stopped")) << status(id) << s.describe();
  std::string text;
  wait_until(
      [&] {
        text = s.err + read_text(co.stderr_path);
        return contains(text, "hook-said-this");
      },
      5s);
  expect_runc_hook_phrases(text);

  Result r = run_container(failing_hook_config({"true"}));
  EXPECT_NE(r.exit_code(), 0) << r.describe();
  expect_runc_hook_phrases(r.err);
}

}  // namespace
}  // namespace itest
