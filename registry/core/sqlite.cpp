#include "registry/core/sqlite.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <string>
#include <unordered_map>

#include "registry/core/error.hpp"

namespace lm::sql {

void DbClose::operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }

class StatementCache {
 public:
  // A kept statement for `sql`, ready to bind, or null.
  sqlite3_stmt* take(std::string_view sql) {
    const std::lock_guard<std::mutex> lock(m_mutex);
    const auto it = m_free.find(std::string(sql));
    if (it == m_free.end()) return nullptr;
    sqlite3_stmt* stmt = it->second;
    m_free.erase(it);
    return stmt;
  }

  void give(sqlite3_stmt* stmt) noexcept {
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    const std::lock_guard<std::mutex> lock(m_mutex);
    const char* sql = sqlite3_sql(stmt);
    if (m_closed || sql == nullptr || m_free.size() >= k_limit) {
      sqlite3_finalize(stmt);
      return;
    }
    try {
      m_free.emplace(sql, stmt);
    } catch (...) {
      sqlite3_finalize(stmt);
    }
  }

  void close() noexcept {
    const std::lock_guard<std::mutex> lock(m_mutex);
    m_closed = true;
    for (auto& [sql, stmt] : m_free) sqlite3_finalize(stmt);
    m_free.clear();
  }

 private:
  static constexpr std::size_t k_limit = 128;
  std::mutex m_mutex;
  bool m_closed = false;
  std::unordered_multimap<std::string, sqlite3_stmt*> m_free;
};

void StmtFinalize::operator()(sqlite3_stmt* stmt) const noexcept {
  if (cache) {
    cache->give(stmt);
  } else {
    sqlite3_finalize(stmt);
  }
}

Db::Db(sqlite3* db, std::filesystem::path path, std::chrono::milliseconds busy, bool read_only)
    : m_db(db),
      m_cache(std::make_shared<StatementCache>()),
      m_path(std::move(path)),
      m_busy_timeout(busy),
      m_read_only(read_only) {}

Db::~Db() {
  if (m_cache) m_cache->close();
}

namespace {

std::string format_seconds(std::chrono::milliseconds ms) {
  if (ms.count() % 1000 == 0) return std::to_string(ms.count() / 1000) + "s";
  return std::to_string(ms.count()) + "ms";
}

// Escapes a path for an SQLite URI filename.
std::string uri_escape(const std::string& path) {
  std::string out;
  for (unsigned char c : path) {
    if (c == '%' || c == '?' || c == '#' || c < 0x20 || c >= 0x7f) {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

}  // namespace

namespace {

// What SQLite was doing when the system failed it, for the message.
const char* io_verb(int rc) {
  switch (rc) {
    case SQLITE_CANTOPEN:
      return "cannot open";
    case SQLITE_IOERR_READ:
    case SQLITE_IOERR_SHORT_READ:
    case SQLITE_IOERR_FSTAT:
    case SQLITE_IOERR_ACCESS:
    case SQLITE_IOERR_CHECKRESERVEDLOCK:
      return "cannot read";
    default:
      return (rc & 0xff) == SQLITE_CANTOPEN ? "cannot open" : "cannot write";
  }
}

// The first system call of SQLite's that failed on this thread since the
// statement began: SQLite reports a failed open as "unable to open database
// file" (or opens the file read-only and fails a later write as "readonly
// database"), and a failed write as "disk I/O error", and the errno it keeps
// may be a later call's. A failed open of a missing file is often a probe,
// so any other failure takes its place. Trivially destructible: a
// thread_local with a destructor allocates when first used, and glibc
// aborts when that allocation fails.
struct FailedCall {
  int err = 0;
  const char* verb = "";
  char path[4096] = "";
};
thread_local FailedCall t_failed;

// `fd` >= 0: the path is the descriptor's.
void record_failure(const char* verb, const char* path, int fd) {
  const int err = errno;
  if (err != EINTR && (t_failed.err == 0 || (t_failed.err == ENOENT && err != ENOENT))) {
    t_failed.err = err;
    t_failed.verb = verb;
    char link[64];
    std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    const ssize_t n = fd >= 0 ? ::readlink(link, t_failed.path, sizeof t_failed.path - 1) : -1;
    if (n > 0) {
      t_failed.path[n] = '\0';
    } else if (fd >= 0) {
      std::snprintf(t_failed.path, sizeof t_failed.path, "descriptor %d", fd);
    } else {
      std::snprintf(t_failed.path, sizeof t_failed.path, "%s", path);
    }
  }
  errno = err;
}

int recording_open(const char* path, int flags, int mode) {
  const int fd = ::open(path, flags, mode);
  if (fd < 0) record_failure("open", path, -1);
  return fd;
}

ssize_t recording_write(int fd, const void* data, std::size_t size) {
  const ssize_t n = ::write(fd, data, size);
  if (n < 0) record_failure("write", nullptr, fd);
  return n;
}

ssize_t recording_pwrite(int fd, const void* data, std::size_t size, off_t offset) {
  const ssize_t n = ::pwrite(fd, data, size, offset);
  if (n < 0) record_failure("write", nullptr, fd);
  return n;
}

ssize_t recording_pwrite64(int fd, const void* data, std::size_t size, off64_t offset) {
  const ssize_t n = ::pwrite64(fd, data, size, offset);
  if (n < 0) record_failure("write", nullptr, fd);
  return n;
}

// Routes the unix VFS's open and writes through the recording versions
// (once), and starts a statement with nothing recorded.
void record_failed_calls() {
  static const bool installed = [] {
    sqlite3_vfs* vfs = sqlite3_vfs_find(nullptr);
    if (!vfs || vfs->iVersion < 3 || !vfs->xSetSystemCall) return false;
    vfs->xSetSystemCall(vfs, "open", reinterpret_cast<sqlite3_syscall_ptr>(&recording_open));
    vfs->xSetSystemCall(vfs, "write", reinterpret_cast<sqlite3_syscall_ptr>(&recording_write));
    vfs->xSetSystemCall(vfs, "pwrite", reinterpret_cast<sqlite3_syscall_ptr>(&recording_pwrite));
    vfs->xSetSystemCall(vfs, "pwrite64", reinterpret_cast<sqlite3_syscall_ptr>(&recording_pwrite64));
    return true;
  }();
  (void)installed;
  t_failed.err = 0;
}

// The failed call as the system gave it: "cannot write '.../registry.db-wal':
// no space left on device".
[[noreturn]] void throw_failed_call() {
  const int err = t_failed.err;
  throw system_error(err, std::string("cannot ") + t_failed.verb + " " + quote(t_failed.path));
}

// The file system refused SQLite: name the database and the reason, with
// "no space left on device" for SQLITE_FULL.
[[noreturn]] void throw_sqlite_io(sqlite3* db, int rc, const std::string& detail) {
  if (t_failed.err != 0) throw_failed_call();
  const bool full = (rc & 0xff) == SQLITE_FULL;
  const char* file = db ? sqlite3_db_filename(db, "main") : nullptr;
  throw Error(ExitCode::io, std::string(io_verb(rc)) + " registry database " +
                                quote(file && *file ? file : "registry.db") + ": " +
                                (full ? errno_text(ENOSPC) : detail));
}

}  // namespace

void throw_sqlite(sqlite3* db, int rc, std::string_view what,
                  std::chrono::milliseconds busy_timeout) {
  const int primary = rc & 0xff;
  // SQLite's message can quote the database's own text (a damaged schema).
  std::string detail = printable(db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  std::string message = std::string(what) + ": " + detail;
  switch (primary) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      throw Error(ExitCode::temp_fail,
                  "registry busy: write lock held by another process for more than " +
                      format_seconds(busy_timeout),
                  "it is safe to retry; LASTMILE_LOCK_TIMEOUT=SECONDS waits longer");
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      throw Error(ExitCode::data, "registry corrupt: " + message,
                  "restore the registry database from a backup; 'lastmile verify' lists what "
                  "is damaged when the database still opens");
    case SQLITE_READONLY:
      if (t_failed.err != 0) throw_failed_call();  // opened read-only when writing failed
      throw Error(ExitCode::permission, message);
    case SQLITE_PERM:
    case SQLITE_AUTH:
      throw Error(ExitCode::permission, message);
    case SQLITE_FULL:
    case SQLITE_IOERR:
      throw_sqlite_io(db, rc, detail);
    case SQLITE_CANTOPEN:
      if (t_failed.err != 0) throw_failed_call();
      throw Error(ExitCode::permission, message);
    case SQLITE_INTERRUPT:
      throw Error(ExitCode::interrupted, message);
    default:
      throw Error(ExitCode::error, message);
  }
}

Db Db::open(const std::filesystem::path& path, OpenMode mode,
            std::chrono::milliseconds busy_timeout) {
  int flags = SQLITE_OPEN_NOMUTEX;
  switch (mode) {
    case OpenMode::read_write:
      flags |= SQLITE_OPEN_READWRITE;
      break;
    case OpenMode::read_write_create:
      flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
      break;
    case OpenMode::read_only:
      flags |= SQLITE_OPEN_READONLY;
      break;
    case OpenMode::read_only_immutable:
      flags |= SQLITE_OPEN_READONLY | SQLITE_OPEN_URI;
      break;
  }
  const std::string name =
      mode == OpenMode::read_only_immutable ? "file:" + uri_escape(path.string()) + "?immutable=1"
                                            : path.string();
  const bool writing = mode == OpenMode::read_write || mode == OpenMode::read_write_create;
  std::unique_ptr<sqlite3, DbClose> guard;
  for (int attempt = 0;; ++attempt) {
    record_failed_calls();
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(name.c_str(), &raw, flags, nullptr);
    // SQLite asks that the handle be closed even when open failed.
    guard.reset(raw);
    if (rc != SQLITE_OK) {
      throw_sqlite(raw, rc, "cannot open registry database '" + path.string() + "'",
                   busy_timeout);
    }
    if (!writing || sqlite3_db_readonly(raw, "main") != 1) break;
    // When opening for writing fails, SQLite opens the file read-only; a
    // write would then fail as "readonly database". Say why it failed, or
    // open once more if the failure went unrecorded.
    guard.reset();
    if (t_failed.err != 0) throw_failed_call();
    if (attempt > 0) throw Error(ExitCode::io, "cannot open registry database " + quote(path.string()) + " for writing");
  }
  sqlite3* raw = guard.get();
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, static_cast<int>(busy_timeout.count()));
  return Db(guard.release(), path, busy_timeout, mode != OpenMode::read_write &&
                                                     mode != OpenMode::read_write_create);
}

void Db::exec(std::string_view sql) {
  t_failed.err = 0;
  const std::string text(sql);
  const int rc = sqlite3_exec(m_db.get(), text.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) throw_sqlite(m_db.get(), rc, "registry query failed", m_busy_timeout);
}

Stmt Db::prepare(std::string_view sql) {
  t_failed.err = 0;
  if (sqlite3_stmt* kept = m_cache->take(sql)) return Stmt(m_db.get(), kept, m_busy_timeout, m_cache);
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v2(m_db.get(), sql.data(), static_cast<int>(sql.size()),
                                    &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    throw_sqlite(m_db.get(), rc, "registry query failed", m_busy_timeout);
  }
  return Stmt(m_db.get(), stmt, m_busy_timeout, m_cache);
}

void Db::set_busy_timeout(std::chrono::milliseconds timeout) {
  m_busy_timeout = timeout;
  sqlite3_busy_timeout(m_db.get(), static_cast<int>(timeout.count()));
}

std::int64_t Db::last_insert_rowid() const { return sqlite3_last_insert_rowid(m_db.get()); }

std::int64_t Db::changes() const { return sqlite3_changes64(m_db.get()); }

std::optional<std::int64_t> Db::query_int(std::string_view sql) {
  Stmt stmt = prepare(sql);
  if (!stmt.step() || stmt.is_null(0)) return std::nullopt;
  return stmt.int64(0);
}

namespace {

void check_bind(sqlite3* db, int rc) {
  if (rc != SQLITE_OK) throw_sqlite(db, rc, "registry query failed");
}

}  // namespace

Stmt& Stmt::bind(int index, std::int64_t value) {
  check_bind(m_db, sqlite3_bind_int64(m_stmt.get(), index, value));
  return *this;
}

Stmt& Stmt::bind(int index, double value) {
  check_bind(m_db, sqlite3_bind_double(m_stmt.get(), index, value));
  return *this;
}

Stmt& Stmt::bind(int index, std::string_view value) {
  check_bind(m_db, sqlite3_bind_text64(m_stmt.get(), index, value.data(), value.size(),
                                       SQLITE_TRANSIENT, SQLITE_UTF8));
  return *this;
}

Stmt& Stmt::bind(int index, std::nullptr_t) {
  check_bind(m_db, sqlite3_bind_null(m_stmt.get(), index));
  return *this;
}

bool Stmt::step() {
  t_failed.err = 0;
  const int rc = sqlite3_step(m_stmt.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  throw_sqlite(m_db, rc, "registry query failed", m_busy_timeout);
}

void Stmt::run() {
  while (step()) {
  }
}

void Stmt::reset() {
  sqlite3_reset(m_stmt.get());
  sqlite3_clear_bindings(m_stmt.get());
}

bool Stmt::is_null(int column) const {
  return sqlite3_column_type(m_stmt.get(), column) == SQLITE_NULL;
}

std::int64_t Stmt::int64(int column) const { return sqlite3_column_int64(m_stmt.get(), column); }

double Stmt::real(int column) const { return sqlite3_column_double(m_stmt.get(), column); }

std::string Stmt::text(int column) const {
  const auto* data = sqlite3_column_text(m_stmt.get(), column);
  const int size = sqlite3_column_bytes(m_stmt.get(), column);
  if (data == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(data), static_cast<std::size_t>(size));
}

Transaction::Transaction(Db& db) : m_db(db) { m_db.exec("BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
  if (!m_done) {
    try {
      m_db.exec("ROLLBACK");
    } catch (...) {
      // The transaction may already be gone (SQLite rolls back on some errors).
    }
  }
}

void Transaction::commit() {
  m_db.exec("COMMIT");
  m_done = true;
}

}  // namespace lm::sql
