// The store's SQLite database: commands that open a store nobody has made yet, at the same
// moment, all get it (the first `vessel events` racing the first `vessel volume create`).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "manager/db.h"

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

}  // namespace
}  // namespace vessel::manager
