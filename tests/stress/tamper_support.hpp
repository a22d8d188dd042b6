#pragma once
// What the tamper suite (stress_tamper.cpp) shares between its parts: a
// tally of cases and their detection, the bytes of a file changed in place,
// sha256 as sha256sum computes it, the problems `verify --json` names, and
// the registry database opened directly, as someone editing it would.

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/e2e/sandbox.hpp"

namespace lm::tamper {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using lm::test::RunResult;
using lm::test::Sandbox;

// Every case the suite makes, by group, and the ones the registry missed.
// Parts of the suite run on two threads: recording takes a lock, and the
// misses become Catch failures on the main thread (report_misses).
struct Tally {
  struct Group {
    long cases = 0;
    long detected = 0;
  };
  std::mutex mutex;
  std::map<std::string, Group> groups;
  std::vector<std::string> missed;  // "group: case: why"
  long controls = 0;                // checks of a documented limit
  std::vector<std::string> control_failures;
  Json seconds = Json::object();    // per part

  void record(const std::string& group, const std::string& name, bool detected, const std::string& why) {
    const std::lock_guard lock(mutex);
    Group& g = groups[group];
    ++g.cases;
    if (detected) {
      ++g.detected;
    } else {
      missed.push_back(group + ": " + name + ": " + why);
    }
  }
  // A case that must pass unnoticed, as documented; when it is noticed the
  // suite's forgery is wrong, which is a failure too.
  void control(bool as_documented, const std::string& why) {
    const std::lock_guard lock(mutex);
    ++controls;
    if (!as_documented) control_failures.push_back(why);
  }
  long cases() const {
    long n = 0;
    for (const auto& [name, g] : groups) n += g.cases;
    return n;
  }
  long detected() const {
    long n = 0;
    for (const auto& [name, g] : groups) n += g.detected;
    return n;
  }
  // On the main thread, after the parts: the first misses as failures.
  void report_misses() const {
    for (std::size_t i = 0; i < missed.size() && i < 20; ++i) FAIL_CHECK(missed[i]);
    for (const auto& why : control_failures) FAIL_CHECK(why);
  }
};

// A command's output as JSON, or null when it is not JSON (a failure the
// caller reports as a miss rather than an abort).
inline Json json_of(const RunResult& r) { return Json::parse(r.out, nullptr, false); }

inline std::string describe(const RunResult& r) {
  std::string text = "exit " + std::to_string(r.rc) + ", stderr: " + r.err.substr(0, 300);
  return text;
}

// ---- bytes on disk ----

inline std::string random_bytes(std::mt19937_64& rng, std::size_t n) {
  std::string bytes(n, '\0');
  for (std::size_t i = 0; i < n; i += 8) {
    const std::uint64_t word = rng();
    for (std::size_t j = 0; j < 8 && i + j < n; ++j) bytes[i + j] = static_cast<char>(word >> (8 * j));
  }
  return bytes;
}

// Writes a file (parents created); throws on failure. Unlike Sandbox::write
// it makes no Catch assertion, so any thread may call it.
inline void put_file(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << content;
  f.close();
  if (!f) throw std::runtime_error("cannot write " + path.string());
}

inline std::string slurp(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// A file's mode and times, to put back after changing its bytes: what an
// attacker covering their tracks does. Only the ctime still moves.
struct Disguise {
  struct stat st {};
  explicit Disguise(const fs::path& path) {
    if (::lstat(path.c_str(), &st) != 0) throw std::runtime_error("cannot stat " + path.string());
  }
  void restore(const fs::path& path) const {
    ::chmod(path.c_str(), st.st_mode & 07777);
    const timespec times[2] = {st.st_atim, st.st_mtim};
    ::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW);
  }
};

// XORs `mask` into the bytes at `offset` (read-only files made writable for
// the moment), then restores mode and times.
inline void xor_at(const fs::path& path, std::uint64_t offset, const std::string& mask) {
  const Disguise before(path);
  ::chmod(path.c_str(), 0644);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    std::string bytes(mask.size(), '\0');
    f.seekg(static_cast<std::streamoff>(offset));
    f.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(bytes[i] ^ mask[i]);
    f.seekp(static_cast<std::streamoff>(offset));
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!f) throw std::runtime_error("cannot write " + path.string());
  }
  before.restore(path);
}

// Replaces a file's whole content, keeping mode and times.
inline void rewrite(const fs::path& path, const std::string& content) {
  const Disguise before(path);
  ::chmod(path.c_str(), 0644);
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << content;
    if (!f) throw std::runtime_error("cannot write " + path.string());
  }
  before.restore(path);
}

inline std::string sha256_of_text(const Sandbox& sb, const std::string& text) {
  const RunResult r = sb.exec({"sha256sum"}, {.stdin_text = text});
  if (r.rc != 0 || r.out.size() < 64) throw std::runtime_error("sha256sum failed: " + r.err);
  return r.out.substr(0, 64);
}

inline std::string sha256_of_file(const Sandbox& sb, const fs::path& path) {
  const RunResult r = sb.exec({"sha256sum", path.string()});
  if (r.rc != 0 || r.out.size() < 64) throw std::runtime_error("sha256sum failed: " + r.err);
  return r.out.substr(0, 64);
}

inline bool is_sha256(const std::string& s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

inline fs::path object_path(const Sandbox& sb, const std::string& sha) {
  return sb.registry() / "objects/sha256" / sha.substr(0, 2) / sha.substr(2);
}

// ---- what verify --json says ----

struct Problem {
  std::string subject, path, kind, expected, actual, message;
};

inline std::vector<Problem> problems_of(const Json& doc) {
  std::vector<Problem> out;
  if (!doc.is_object() || !doc.contains("problems")) return out;
  for (const auto& p : doc["problems"]) {
    out.push_back({p.value("subject", ""), p.value("path", ""), p.value("kind", ""), p.value("expected", ""),
                   p.value("actual", ""), p.value("message", "")});
  }
  return out;
}

inline const Problem* find_problem(const std::vector<Problem>& problems, const std::string& subject,
                                   const std::string& path, const std::string& kind) {
  for (const auto& p : problems) {
    if (p.subject == subject && p.path == path && p.kind == kind) return &p;
  }
  return nullptr;
}

inline std::string summary(const std::vector<Problem>& problems) {
  std::string text;
  for (const auto& p : problems) text += "[" + p.subject + " " + p.path + " " + p.kind + "] ";
  return text.empty() ? "no problems" : text;
}

// ---- the registry database, opened as an editor would ----

class Db {
 public:
  explicit Db(const fs::path& path) {
    if (sqlite3_open_v2(path.c_str(), &m_db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
      throw std::runtime_error("cannot open " + path.string());
    }
    sqlite3_busy_timeout(m_db, 10000);
  }
  ~Db() { sqlite3_close(m_db); }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  void exec(const std::string& sql) {
    char* error = nullptr;
    const int rc = sqlite3_exec(m_db, sql.c_str(), nullptr, nullptr, &error);
    const std::string message = error ? error : "";
    sqlite3_free(error);
    if (rc != SQLITE_OK) throw std::runtime_error("sql: " + sql.substr(0, 200) + ": " + message);
  }
  // Runs a statement with text parameters bound in order.
  void run(const std::string& sql, const std::vector<std::string>& params) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(m_db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      throw std::runtime_error("sql: " + sql + ": " + sqlite3_errmsg(m_db));
    }
    for (std::size_t i = 0; i < params.size(); ++i) {
      sqlite3_bind_text(stmt, static_cast<int>(i + 1), params[i].c_str(), -1, SQLITE_TRANSIENT);
    }
    const int rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) throw std::runtime_error("sql: " + sql + ": " + sqlite3_errmsg(m_db));
  }
  std::vector<std::vector<std::string>> rows(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(m_db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      throw std::runtime_error("sql: " + sql + ": " + sqlite3_errmsg(m_db));
    }
    std::vector<std::vector<std::string>> out;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
        const auto* text = sqlite3_column_text(stmt, i);
        row.emplace_back(text ? reinterpret_cast<const char*>(text) : "");
      }
      out.push_back(std::move(row));
    }
    sqlite3_finalize(stmt);
    return out;
  }

 private:
  sqlite3* m_db = nullptr;
};

// A consistent single-file copy of the registry database, put back before
// each case so that every case starts from the same bytes.
class DbSnapshot {
 public:
  DbSnapshot(const Sandbox& sb, const fs::path& file) : m_sb(sb), m_file(file) {
    fs::remove(file);
    Db(sb.registry() / "registry.db").exec("VACUUM INTO '" + file.string() + "'");
  }
  void restore() const {
    const fs::path db = m_sb.registry() / "registry.db";
    for (const char* suffix : {"-wal", "-shm"}) fs::remove(db.string() + suffix);
    fs::copy_file(m_file, db, fs::copy_options::overwrite_existing);
  }

 private:
  const Sandbox& m_sb;
  fs::path m_file;
};

}  // namespace lm::tamper
