#include "registry/stat_cache.hpp"

#include "registry/core/files.hpp"

namespace lm {

StatEntry make_stat_entry(const struct stat& st, std::string sha256, std::int64_t now) {
  StatEntry e;
  e.sha256 = std::move(sha256);
  e.size = static_cast<std::uint64_t>(st.st_size);
  e.mtime_ns = mtime_ns(st);
  e.ctime_ns = ctime_ns(st);
  e.ino = static_cast<std::uint64_t>(st.st_ino);
  e.dev = static_cast<std::uint64_t>(st.st_dev);
  // Whole-second times come from a file system with coarse timestamps
  // (FAT keeps two seconds), where a change can hide for that long.
  const bool coarse = e.mtime_ns % 1'000'000'000 == 0 && e.ctime_ns % 1'000'000'000 == 0;
  const std::int64_t window = coarse ? k_coarse_racy_window_ns : k_racy_window_ns;
  e.racy = now - std::max(e.mtime_ns, e.ctime_ns) < window;
  return e;
}

bool same_stat(const struct stat& a, const struct stat& b) {
  return a.st_size == b.st_size && mtime_ns(a) == mtime_ns(b) && ctime_ns(a) == ctime_ns(b) &&
         a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

bool stat_matches(const StatEntry& e, const struct stat& st) {
  return !e.racy && e.size == static_cast<std::uint64_t>(st.st_size) &&
         e.mtime_ns == mtime_ns(st) && e.ctime_ns == ctime_ns(st) &&
         e.ino == static_cast<std::uint64_t>(st.st_ino) &&
         e.dev == static_cast<std::uint64_t>(st.st_dev);
}

std::optional<StatEntry> lookup_stat(sql::Db& db, const std::filesystem::path& path) {
  auto stmt = db.prepare(
      "SELECT sha256, size, mtime_ns, ctime_ns, ino, dev, racy FROM stat_cache WHERE path = ?");
  stmt.bind(1, path.string());
  if (!stmt.step()) return std::nullopt;
  StatEntry e;
  e.sha256 = stmt.text(0);
  e.size = static_cast<std::uint64_t>(stmt.int64(1));
  e.mtime_ns = stmt.int64(2);
  e.ctime_ns = stmt.int64(3);
  e.ino = static_cast<std::uint64_t>(stmt.int64(4));
  e.dev = static_cast<std::uint64_t>(stmt.int64(5));
  e.racy = stmt.int64(6) != 0;
  return e;
}

void record_stat(sql::Db& db, const std::filesystem::path& path, const StatEntry& e) {
  db.prepare(
        "INSERT OR REPLACE INTO stat_cache (path, sha256, size, mtime_ns, ctime_ns, ino, dev, "
        "racy) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
      .bind_all(path.string(), e.sha256, static_cast<std::int64_t>(e.size), e.mtime_ns,
                e.ctime_ns, static_cast<std::int64_t>(e.ino), static_cast<std::int64_t>(e.dev),
                e.racy)
      .run();
}

}  // namespace lm
