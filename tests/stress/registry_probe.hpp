#pragma once
// Looks at a registry from outside lastmile: the events table read with
// SQLite directly, and the object store hashed with coreutils' sha256sum,
// so that a check does not trust the code it checks.

#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "tests/e2e/sandbox.hpp"

namespace lm::stress {

namespace fs = std::filesystem;

// One row of the events table.
struct LoggedEvent {
  long seq = 0;
  std::string id, prev, time, actor, kind, subject, name;
  nlohmann::json payload;
};

// A read-only connection of its own, as any other reader of the file.
class DbReader {
 public:
  explicit DbReader(const fs::path& registry) {
    const fs::path path = registry / "registry.db";
    if (sqlite3_open_v2(path.c_str(), &m_db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      sqlite3_close(m_db);
      throw std::runtime_error("cannot open " + path.string());
    }
    sqlite3_busy_timeout(m_db, 10000);
  }
  ~DbReader() { sqlite3_close(m_db); }
  DbReader(const DbReader&) = delete;
  DbReader& operator=(const DbReader&) = delete;

  // Every row of `query`, each column as text ("" for NULL).
  std::vector<std::vector<std::string>> rows(const std::string& query) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(m_db, query.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      const std::string message = sqlite3_errmsg(m_db);
      sqlite3_finalize(stmt);
      throw std::runtime_error(query + ": " + message);
    }
    std::vector<std::vector<std::string>> out;
    int rc = SQLITE_OK;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
        const auto* text = sqlite3_column_text(stmt, i);
        row.emplace_back(text ? reinterpret_cast<const char*>(text) : "");
      }
      out.push_back(std::move(row));
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) throw std::runtime_error(query + ": " + sqlite3_errstr(rc));
    return out;
  }

  long number(const std::string& query) {
    const auto r = rows(query);
    return r.empty() || r[0].empty() || r[0][0].empty() ? 0 : std::stol(r[0][0]);
  }

  std::vector<LoggedEvent> events(long after_seq = 0) {
    std::vector<LoggedEvent> out;
    for (auto& r : rows("SELECT seq, id, prev, time, actor, kind, subject, name, payload FROM events "
                        "WHERE seq > " + std::to_string(after_seq) + " ORDER BY seq")) {
      out.push_back({std::stol(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7],
                     nlohmann::json::parse(r[8])});
    }
    return out;
  }

 private:
  sqlite3* m_db = nullptr;
};

inline long max_seq(const fs::path& registry) {
  return DbReader(registry).number("SELECT COALESCE(MAX(seq), 0) FROM events");
}

// SHA-256 of each file, computed by sha256sum (a program of its own).
inline std::map<std::string, std::string> sha256sum(const lm::test::Sandbox& sb,
                                                    const std::vector<std::string>& paths) {
  std::map<std::string, std::string> out;
  constexpr std::size_t k_batch = 256;
  for (std::size_t start = 0; start < paths.size(); start += k_batch) {
    std::vector<std::string> argv{"sha256sum", "--"};
    const auto end = std::min(paths.size(), start + k_batch);
    argv.insert(argv.end(), paths.begin() + static_cast<long>(start), paths.begin() + static_cast<long>(end));
    const auto r = sb.exec(argv);
    if (r.rc != 0) throw std::runtime_error("sha256sum failed: " + r.err);
    std::istringstream lines(r.out);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.size() > 66) out[line.substr(66)] = line.substr(0, 64);
    }
  }
  return out;
}

inline bool is_hex(const std::string& s, std::size_t size) {
  return s.size() == size && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// What a look at the object store found.
struct StoreScan {
  long objects = 0;                  // files under objects/sha256
  long hashed = 0;                   // of which hashed by this scan
  std::vector<std::string> wrong;    // "path: why" for each file not named by its hash
  std::vector<std::string> writable; // objects that are not read-only
};

// Checks that every file under objects/sha256/ab/cdef... hashes to ab+cdef...
// A file is hashed again only when its stat changed since it was last found
// right: objects are immutable, and rehashing a growing store each time
// would cost more than the operations under test.
class ObjectAuditor {
 public:
  StoreScan scan(const lm::test::Sandbox& sb) {
    StoreScan result;
    const fs::path root = sb.registry() / "objects" / "sha256";
    std::vector<std::string> to_hash;
    std::map<std::string, Stamp> stamps;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      const fs::path path = it->path();
      const std::string rel = path.lexically_relative(root).string();
      struct stat st {};
      if (::lstat(path.c_str(), &st) != 0) continue;
      if (S_ISDIR(st.st_mode)) {
        if (!is_hex(rel, 2)) result.wrong.push_back(rel + ": not a two-digit directory");
        continue;
      }
      ++result.objects;
      const fs::path parent = path.parent_path().filename();
      if (!S_ISREG(st.st_mode) || !is_hex(parent.string(), 2) ||
          !is_hex(path.filename().string(), 62) || path.parent_path().parent_path() != root) {
        result.wrong.push_back(rel + ": not an object name");
        continue;
      }
      if (st.st_mode & (S_IWUSR | S_IWGRP | S_IWOTH)) result.writable.push_back(rel);
      const Stamp stamp{st.st_ino, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec};
      const auto seen = m_good.find(path.string());
      if (seen != m_good.end() && seen->second == stamp) continue;
      stamps[path.string()] = stamp;
      to_hash.push_back(path.string());
    }
    const auto hashes = sha256sum(sb, to_hash);
    for (const auto& path : to_hash) {
      ++result.hashed;
      const fs::path p(path);
      const std::string name = p.parent_path().filename().string() + p.filename().string();
      const auto found = hashes.find(path);
      if (found == hashes.end()) {
        result.wrong.push_back(path + ": could not be hashed");
      } else if (found->second != name) {
        result.wrong.push_back(path + ": holds bytes with sha256 " + found->second);
      } else {
        m_good[path] = stamps[path];
      }
    }
    return result;
  }

 private:
  using Stamp = std::tuple<ino_t, off_t, long, long>;
  std::map<std::string, Stamp> m_good;
};

// The files in .lastmile/tmp (temporary objects and session locks).
inline std::vector<std::string> temp_files(const lm::test::Sandbox& sb) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::directory_iterator(sb.registry() / "tmp", ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    out.push_back(it->path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace lm::stress
