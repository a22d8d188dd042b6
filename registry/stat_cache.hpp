#pragma once
// The stat cache: the stat(2) of a file recorded when its hash was last
// confirmed. A file whose stat still matches has not been written since, so
// verify can answer without reading it (as git's index does).

#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "registry/core/sqlite.hpp"

namespace lm {

struct StatEntry {
  std::string sha256;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  std::uint64_t ino = 0;
  std::uint64_t dev = 0;
  bool racy = false;
};

// A stat taken within this window of the file's last change cannot prove
// that nothing changed since: file times tick in steps of a few ms.
inline constexpr std::int64_t k_racy_window_ns = 20'000'000;
inline constexpr std::int64_t k_coarse_racy_window_ns = 3'000'000'000;

StatEntry make_stat_entry(const struct stat& st, std::string sha256, std::int64_t now_ns);

// True when two stats of one path show no change in between.
bool same_stat(const struct stat& a, const struct stat& b);

// True when `st` still describes the file `entry` was recorded for, and
// the entry was not racy.
bool stat_matches(const StatEntry& entry, const struct stat& st);

std::optional<StatEntry> lookup_stat(sql::Db& db, const std::filesystem::path& path);
void record_stat(sql::Db& db, const std::filesystem::path& path, const StatEntry& entry);

}  // namespace lm
