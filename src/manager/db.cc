#include "manager/db.h"

#include <sqlite3.h>

#include <chrono>
#include <thread>

#include "util/error.h"

namespace vessel::manager {

namespace {
[[noreturn]] void db_fail(sqlite3* db, const std::string& what) {
  fail("database: {}: {}", what, sqlite3_errmsg(db));
}
}  // namespace

Statement::Statement(sqlite3* db, const std::string& sql) : db_(db), sql_(sql) {
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK)
    db_fail(db_, "preparing \"" + sql + "\"");
}

Statement::~Statement() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Statement::Statement(Statement&& o) noexcept : db_(o.db_), stmt_(o.stmt_), sql_(std::move(o.sql_)) {
  o.stmt_ = nullptr;
}

void Statement::bind_one(int i, const std::string& v) {
  if (sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT) !=
      SQLITE_OK)
    db_fail(db_, "binding " + sql_);
}
void Statement::bind_one(int i, const char* v) { bind_one(i, std::string(v)); }
void Statement::bind_one(int i, int64_t v) {
  if (sqlite3_bind_int64(stmt_, i, v) != SQLITE_OK) db_fail(db_, "binding " + sql_);
}
void Statement::bind_one(int i, std::nullopt_t) {
  if (sqlite3_bind_null(stmt_, i) != SQLITE_OK) db_fail(db_, "binding " + sql_);
}

bool Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  if (rc == SQLITE_CONSTRAINT)
    throw Error(std::string("constraint: ") + sqlite3_errmsg(db_), EEXIST);
  db_fail(db_, "running \"" + sql_ + "\"");
}

void Statement::run() {
  while (step()) {
  }
}

std::string Statement::text(int col) const {
  auto* p = sqlite3_column_text(stmt_, col);
  if (!p) return {};
  return std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(stmt_, col));
}
int64_t Statement::integer(int col) const { return sqlite3_column_int64(stmt_, col); }
bool Statement::is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

Database::Database(const std::string& path) : path_(path) {
  if (sqlite3_open_v2(path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    if (db_) sqlite3_close(db_);
    db_ = nullptr;
    fail("opening database {}: {}", path, msg);
  }
  // Other vessel commands (and monitors) hold the lock briefly; wait for them.
  sqlite3_busy_timeout(db_, 30000);
  // Two commands opening a store that does not exist yet both turn the new database into WAL
  // mode; that needs an exclusive lock, and SQLite answers SQLITE_BUSY at once rather than
  // waiting on the busy handler (it could deadlock). Retry for as long as the busy timeout.
  for (int tries = 0;; ++tries) {
    int rc = sqlite3_exec(db_, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr);
    if (rc == SQLITE_OK) break;
    if ((rc & 0xff) != SQLITE_BUSY || tries >= 3000) db_fail(db_, "PRAGMA journal_mode=WAL");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  exec("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;");
  // Every vessel command and every monitor opens the store for a moment. By default the last
  // connection to close checkpoints the WAL into the database and deletes it, and the next
  // writer creates it again: four fsyncs (database, WAL header, WAL, directory) per command on a
  // store nobody else has open, 100+ ms of a `vessel run --rm` on a busy disk. Keep the WAL
  // file and leave checkpoints to SQLite's automatic ones (at 1000 pages of WAL); with
  // synchronous=NORMAL a commit was never synced anyway, and the database stays consistent.
  int on = 1;
  sqlite3_file_control(db_, "main", SQLITE_FCNTL_PERSIST_WAL, &on);
  sqlite3_db_config(db_, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
}

Database::~Database() {
  if (db_) sqlite3_close(db_);
}

void Database::exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    fail("database: {}: {}", sql.substr(0, 60), msg);
  }
}

int64_t Database::changes() const { return sqlite3_changes64(db_); }

Transaction::Transaction(Database& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }
Transaction::~Transaction() {
  if (!done_) {
    try {
      db_.exec("ROLLBACK");
    } catch (...) {
    }
  }
}
void Transaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

}  // namespace vessel::manager
