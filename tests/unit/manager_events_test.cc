// The events log's writer: the line format docs/events.md gives, whole lines under concurrent
// writers, and rotation.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "manager/events.h"

namespace vessel::manager {
namespace {

struct TempDir {
  TempDir() {
    char t[] = "/tmp/vessel-events-unit-XXXXXX";
    path = ::mkdtemp(t);
  }
  ~TempDir() {
    for (const char* f : {"/events.log", "/events.log.1"}) ::unlink((path + f).c_str());
    ::rmdir(path.c_str());
  }
  std::string path;
};

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

TEST(ManagerEvents, LineIsTheDocumentedFormat) {
  EXPECT_EQ(event_line("container", "die", "abc", {{"name", "we\"b\\"}, {"exitCode", "3\n"}},
                       1733480000123456789LL),
            "{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"abc\",\"Attributes\":"
            "{\"name\":\"we\\\"b\\\\\",\"exitCode\":\"3\\u000a\"}},\"time\":1733480000,"
            "\"timeNano\":1733480000123456789}\n");
  // Attributes that would pass PIPE_BUF are left out; the line stays valid JSON.
  std::string big(5000, 'x');
  std::string l = event_line("image", "tag", "id", {{"a", "1"}, {"big", big}, {"c", "3"}}, 1);
  EXPECT_LE(l.size(), kEventLineMax);
  auto j = nlohmann::json::parse(l);
  EXPECT_EQ(j["Actor"]["Attributes"], (nlohmann::json{{"a", "1"}, {"c", "3"}}));
}

TEST(ManagerEvents, ConcurrentWritersNeverInterleave) {
  TempDir d;
  constexpr int kProcs = 8, kEach = 150;
  std::vector<pid_t> kids;
  for (int p = 0; p < kProcs; ++p) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      std::string pad(1500 + p * 100, static_cast<char>('a' + p));
      for (int i = 0; i < kEach; ++i)
        emit_event(d.path, "volume", "create", std::to_string(p) + "-" + std::to_string(i),
                   {{"pad", pad}});
      ::_exit(0);
    }
    kids.push_back(pid);
  }
  for (pid_t k : kids) {
    int st = 0;
    ASSERT_EQ(::waitpid(k, &st, 0), k);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  }
  auto lines = lines_of(events_path(d.path));
  ASSERT_EQ(lines.size(), static_cast<size_t>(kProcs * kEach));
  std::map<int, int> next;  // each writer's events, whole and in its order
  for (const auto& l : lines) {
    auto j = nlohmann::json::parse(l);  // throws on a torn line
    std::string id = j["Actor"]["ID"];
    int p = std::stoi(id.substr(0, id.find('-')));
    EXPECT_EQ(std::stoi(id.substr(id.find('-') + 1)), next[p]++);
    EXPECT_EQ(j["Actor"]["Attributes"]["pad"].get<std::string>().size(), 1500u + p * 100);
  }
}

TEST(ManagerEvents, FullLogIsRotatedOnce) {
  TempDir d;
  std::string path = events_path(d.path);
  ASSERT_EQ(::truncate(path.c_str(), 0), -1);  // not there yet
  { std::ofstream(path) << std::string(kEventLogRotate, '\n'); }
  emit_event(d.path, "network", "create", "n1");
  struct stat st;
  ASSERT_EQ(::stat((path + ".1").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, kEventLogRotate);
  auto lines = lines_of(path);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(lines[0])["Actor"]["ID"], "n1");
  emit_event(d.path, "network", "destroy", "n1");
  EXPECT_EQ(lines_of(path).size(), 2u);
}

}  // namespace
}  // namespace vessel::manager
