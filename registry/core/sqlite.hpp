#pragma once
// A thin RAII layer over the SQLite C API. Every failure becomes an Error
// with the exit code that fits (busy -> 75, corrupt -> 65, read-only -> 77).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace lm::sql {

struct DbClose {
  void operator()(sqlite3* db) const noexcept;
};
// Prepared statements of a connection kept for reuse: preparing costs more
// than running the small statements that replaying a log runs thousands
// of times.
class StatementCache;

// Gives a statement back to its cache (reset, so that it holds no read
// snapshot), or finalizes it.
struct StmtFinalize {
  std::shared_ptr<StatementCache> cache;
  void operator()(sqlite3_stmt* stmt) const noexcept;
};

class Stmt {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* stmt, std::chrono::milliseconds busy_timeout,
       std::shared_ptr<StatementCache> cache = nullptr)
      : m_db(db), m_stmt(stmt, StmtFinalize{std::move(cache)}), m_busy_timeout(busy_timeout) {}

  Stmt& bind(int index, std::int64_t value);
  Stmt& bind(int index, int value) { return bind(index, std::int64_t{value}); }
  Stmt& bind(int index, double value);
  Stmt& bind(int index, std::string_view value);
  Stmt& bind(int index, const char* value) { return bind(index, std::string_view(value)); }
  Stmt& bind(int index, const std::string& value) { return bind(index, std::string_view(value)); }
  Stmt& bind(int index, std::nullptr_t);
  Stmt& bind(int index, bool value) { return bind(index, std::int64_t{value ? 1 : 0}); }

  // Binds each argument to parameters 1, 2, ... in order.
  template <class... Args>
  Stmt& bind_all(const Args&... args) {
    int index = 0;
    (bind(++index, args), ...);
    return *this;
  }

  // Steps once. Returns true when a row is available, false when done.
  bool step();
  // Steps to completion, for statements that return no rows.
  void run();
  void reset();

  bool is_null(int column) const;
  std::int64_t int64(int column) const;
  double real(int column) const;
  std::string text(int column) const;

 private:
  sqlite3* m_db;
  std::unique_ptr<sqlite3_stmt, StmtFinalize> m_stmt;
  std::chrono::milliseconds m_busy_timeout;
};

enum class OpenMode {
  read_write,
  read_write_create,
  read_only,
  // Read-only without locks, for a WAL database whose -shm file is absent
  // and cannot be created (a directory this process may not write).
  read_only_immutable,
};

class Db {
 public:
  // Opens the database file. A missing file with read_write is not_found.
  static Db open(const std::filesystem::path& path, OpenMode mode,
                 std::chrono::milliseconds busy_timeout);
  ~Db();
  Db(Db&&) noexcept = default;
  Db& operator=(Db&&) noexcept = default;

  // Runs SQL without parameters (schema, pragmas).
  void exec(std::string_view sql);
  Stmt prepare(std::string_view sql);
  std::int64_t last_insert_rowid() const;
  // Rows the last INSERT, UPDATE or DELETE changed.
  std::int64_t changes() const;
  // Returns the single integer a query yields, or nullopt when no row.
  std::optional<std::int64_t> query_int(std::string_view sql);
  const std::filesystem::path& path() const { return m_path; }
  std::chrono::milliseconds busy_timeout() const { return m_busy_timeout; }
  void set_busy_timeout(std::chrono::milliseconds timeout);
  bool read_only() const { return m_read_only; }

 private:
  Db(sqlite3* db, std::filesystem::path path, std::chrono::milliseconds busy,
     bool read_only);
  std::unique_ptr<sqlite3, DbClose> m_db;
  std::shared_ptr<StatementCache> m_cache;
  std::filesystem::path m_path;
  std::chrono::milliseconds m_busy_timeout;
  bool m_read_only;
};

// A write transaction: BEGIN IMMEDIATE takes the write lock at once, so the
// version numbers and stage moves decided inside it cannot race. Rolls back
// in the destructor unless commit() ran.
class Transaction {
 public:
  explicit Transaction(Db& db);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();
  void commit();

 private:
  Db& m_db;
  bool m_done = false;
};

// Throws the Error that fits an SQLite result code; `what` says what failed.
[[noreturn]] void throw_sqlite(sqlite3* db, int rc, std::string_view what,
                               std::chrono::milliseconds busy_timeout = {});

}  // namespace lm::sql
