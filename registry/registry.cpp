#include "registry/registry.hpp"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "registry/core/error.hpp"
#include "registry/core/files.hpp"
#include "registry/core/git.hpp"
#include "registry/schema.hpp"

namespace lm {

namespace {

constexpr const char* k_db_name = "registry.db";

void refuse_network_filesystem(const fs::path& dir) {
  if (auto name = network_filesystem(dir)) {
    throw Error(ExitCode::config,
                "registry on network file system not supported: " + quote(dir.string()) +
                    " is on " + *name,
                "SQLite's locking is not reliable there; keep the registry on a local disk "
                "(--registry DIR) and share it through a remote");
  }
}

sql::Db open_database(const fs::path& dir, sql::OpenMode mode, std::chrono::milliseconds timeout) {
  sql::Db db = sql::Db::open(dir / k_db_name, mode, timeout);
  configure_connection(db);
  return db;
}

void check_writable(const fs::path& dir) {
  if (::access(dir.c_str(), W_OK) != 0) {
    throw Error(ExitCode::permission,
                "cannot write to registry " + quote(dir.string()) + ": " + errno_text(errno),
                "check the directory's permissions, or use --registry DIR");
  }
}

}  // namespace

RegistryLocation locate_registry(const fs::path& cwd, const std::optional<fs::path>& override_dir) {
  if (override_dir) {
    return {override_dir->is_absolute() ? *override_dir : cwd / *override_dir, true, false};
  }
  if (auto top = git::work_tree_top(cwd)) return {*top / ".lastmile", false, true};
  return {cwd / ".lastmile", false, false};
}

std::chrono::milliseconds lock_timeout_from_env() {
  const char* text = std::getenv("LASTMILE_LOCK_TIMEOUT");
  if (text == nullptr || *text == '\0') return std::chrono::seconds(30);
  double seconds = -1;
  const std::string_view view(text);
  const auto [ptr, ec] = std::from_chars(view.data(), view.data() + view.size(), seconds);
  if (ec != std::errc() || ptr != view.data() + view.size() || !std::isfinite(seconds) ||
      seconds < 0 || seconds > 86400) {
    throw Error(ExitCode::config, "LASTMILE_LOCK_TIMEOUT must be a number of seconds, got " +
                                      quote(view));
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
}

Registry Registry::open(const RegistryLocation& location, std::chrono::milliseconds lock_timeout) {
  const fs::path& dir = location.dir;
  if (!lstat_path(dir / k_db_name)) {
    throw Error(ExitCode::not_found, "no registry at " + quote(dir.string()),
                location.explicit_dir ? "create it with 'lastmile --registry " + dir.string() +
                                            " init'"
                                      : "create one with 'lastmile init'");
  }
  refuse_network_filesystem(dir);
  // A registry this process may not write can still be read; commands that
  // write call require_writable() and fail with a clear message.
  const bool writable = ::access(dir.c_str(), W_OK) == 0 &&
                        ::access((dir / k_db_name).c_str(), W_OK) == 0;
  // SQLite cannot open a WAL database read-only when its -shm file is
  // absent and cannot be created; then the file is read as immutable. With
  // no -shm there is no open writer, and the reader sees a snapshot.
  const sql::OpenMode mode = writable ? sql::OpenMode::read_write
                             : lstat_path(dir / (std::string(k_db_name) + "-shm"))
                                 ? sql::OpenMode::read_only
                                 : sql::OpenMode::read_only_immutable;
  sql::Db db = open_database(dir, mode, lock_timeout);
  if (writable || schema_version(db) != k_schema_version) migrate(db);
  return Registry(std::move(db), dir);
}

void Registry::require_writable() const {
  check_writable(m_dir);
  check_writable(m_dir / k_db_name);
  check_writable(m_store.temp_dir());
  check_writable(m_store.objects_dir());
}

Registry::InitResult Registry::init(const RegistryLocation& location,
                                    std::chrono::milliseconds lock_timeout) {
  const fs::path& dir = location.dir;
  InitResult result{dir, !lstat_path(dir / k_db_name).has_value()};
  make_directories(dir);
  refuse_network_filesystem(dir);
  check_writable(dir);
  for (const char* part : {"objects/sha256", "tmp"}) {
    if (lstat_path(dir / part)) continue;
    make_directories(dir / part);
    if (!result.created) result.repaired.push_back(std::string(part) + "/");
  }
  if (!lstat_path(dir / ".gitignore")) {
    write_file_atomic(dir / ".gitignore", "*\n");
    if (!result.created) result.repaired.push_back(".gitignore");
  }
  sql::Db db = open_database(dir, sql::OpenMode::read_write_create, lock_timeout);
  // WAL lets readers run while a writer holds the lock; the mode persists.
  db.exec("PRAGMA journal_mode = WAL");
  migrate(db);
  fsync_dir(dir);
  return result;
}

}  // namespace lm
