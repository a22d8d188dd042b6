#pragma once
// Where the registry lives and how it is opened.
//   <dir>/registry.db               SQLite, WAL
//   <dir>/objects/sha256/ab/cdef... content-addressed file bytes, read-only
//   <dir>/tmp/                      files being staged into the store

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "registry/core/sqlite.hpp"
#include "registry/store.hpp"

namespace lm {

namespace fs = std::filesystem;

struct RegistryLocation {
  fs::path dir;       // the registry directory (".lastmile")
  bool explicit_dir;  // chosen by --registry or LASTMILE_REGISTRY
  bool in_git;        // found at the top of a git work tree
};

// Finds the registry for a command run in `cwd`: `override_dir` when given,
// else .lastmile at the top of the git work tree around cwd, else
// cwd/.lastmile.
RegistryLocation locate_registry(const fs::path& cwd, const std::optional<fs::path>& override_dir);

// The default write-lock timeout: LASTMILE_LOCK_TIMEOUT seconds, else 30 s.
// Throws Error(config) for a value that is not a non-negative number.
std::chrono::milliseconds lock_timeout_from_env();

class Registry {
 public:
  // Opens an existing registry and migrates its schema when older.
  // Throws Error(not_found) with a hint to run 'lastmile init'.
  static Registry open(const RegistryLocation& location, std::chrono::milliseconds lock_timeout);

  struct InitResult {
    fs::path dir;
    bool created = false;
    std::vector<std::string> repaired;  // parts of an existing registry recreated
  };
  // Creates the registry (or checks an existing one). Idempotent.
  static InitResult init(const RegistryLocation& location, std::chrono::milliseconds lock_timeout);

  // Throws Error(permission) unless this process may write the registry.
  void require_writable() const;

  sql::Db& db() { return m_db; }
  const fs::path& dir() const { return m_dir; }
  const ObjectStore& store() const { return m_store; }
  ObjectStore& store() { return m_store; }

 private:
  Registry(sql::Db db, fs::path dir) : m_db(std::move(db)), m_dir(dir), m_store(std::move(dir)) {}
  sql::Db m_db;
  fs::path m_dir;
  ObjectStore m_store;
};

}  // namespace lm
