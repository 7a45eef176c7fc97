// The store's SQLite database: commands that open a store nobody has made yet, at the same
// moment, all get it (the first `vessel events` racing the first `vessel volume create`).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "manager/db.h"
#include "manager/store.h"

namespace vessel::manager {
namespace {

TEST(ManagerDb, ManyProcessesOpeningANewDatabaseAtOnceAllSucceed) {
  char t[] = "/tmp/vessel-db-unit-XXXXXX";
  ASSERT_NE(::mkdtemp(t), nullptr);
  std::string dir = t;
  int failed_rounds = 0;
  for (int round = 0; round < 10; ++round) {
    std::string path = dir + "/store-" + std::to_string(round) + ".db";
    int go[2];
    ASSERT_EQ(::pipe(go), 0);
    std::vector<pid_t> kids;
    for (int i = 0; i < 6; ++i) {
      pid_t pid = ::fork();
      ASSERT_GE(pid, 0);
      if (pid == 0) {
        ::close(go[1]);
        char c;
        (void)!::read(go[0], &c, 1);  // all start together, when the parent closes the pipe
        try {
          Database db(path);
          db.exec("CREATE TABLE IF NOT EXISTS t (x INTEGER)");
          db.exec("INSERT INTO t VALUES (1)");
          ::_exit(0);
        } catch (const std::exception&) {
          ::_exit(1);
        }
      }
      kids.push_back(pid);
    }
    ::close(go[0]);
    ::close(go[1]);
    for (pid_t pid : kids) {
      int status = 0;
      ASSERT_EQ(::waitpid(pid, &status, 0), pid);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failed_rounds;
    }
    Database db(path);
    auto count = db.prepare("SELECT count(*) FROM t");
    ASSERT_TRUE(count.step());
    EXPECT_EQ(count.integer(0), 6) << "round " << round;
    for (const char* suffix : {"", "-wal", "-shm"}) ::unlink((path + suffix).c_str());
  }
  ::rmdir(dir.c_str());
  EXPECT_EQ(failed_rounds, 0) << "openers that failed, over 10 rounds of 6";
}

// Store::migrate() runs once per schema version (PRAGMA user_version), not on every open: a store
// from before the version (no user_version, networks without its options column) is brought up
// to date, and a store at the version is left as it is (shown by a table dropped behind its
// back, which the next open does not make again).
TEST(ManagerDb, StoreSchemaIsMigratedOncePerVersion) {
  char t[] = "/tmp/vessel-db-unit-XXXXXX";
  ASSERT_NE(::mkdtemp(t), nullptr);
  StorePaths paths{std::string(t) + "/root", std::string(t) + "/run"};
  std::filesystem::create_directories(paths.root);
  auto columns = [](Database& db, const std::string& table) {
    std::vector<std::string> out;
    auto st = db.prepare("PRAGMA table_info(" + table + ")");
    while (st.step()) out.push_back(st.text(1));
    return out;
  };
  auto version = [](Database& db) {
    auto st = db.prepare("PRAGMA user_version");
    return st.step() ? st.integer(0) : -1;
  };
  {
    Database old(paths.db());
    old.exec(
        "CREATE TABLE networks (name TEXT PRIMARY KEY, id TEXT UNIQUE NOT NULL, driver TEXT NOT "
        "NULL, bridge TEXT UNIQUE NOT NULL, subnet TEXT UNIQUE NOT NULL, gateway TEXT NOT NULL, "
        "internal INTEGER NOT NULL DEFAULT 0, created TEXT NOT NULL, labels TEXT NOT NULL DEFAULT "
        "'{}')");
    EXPECT_EQ(version(old), 0);
  }
  {
    Store store(paths);
    auto cols = columns(store.db(), "networks");
    EXPECT_NE(std::find(cols.begin(), cols.end(), "options"), cols.end());
    EXPECT_FALSE(columns(store.db(), "containers").empty());
    EXPECT_GE(version(store.db()), 1);
    store.db().exec("DROP TABLE volumes");
  }
  {
    Store again(paths);
    EXPECT_TRUE(columns(again.db(), "volumes").empty()) << "migrated again at the same version";
    EXPECT_FALSE(columns(again.db(), "containers").empty());
  }
  std::filesystem::remove_all(t);
}

}  // namespace
}  // namespace vessel::manager
