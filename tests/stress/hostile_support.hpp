#pragma once
// What the hostile-input suite (stress_hostile.cpp) checks each case with:
// a registry to attack, a refusal that must write nothing, and values that
// must come back byte for byte.

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/e2e/sandbox.hpp"

namespace lm::hostile {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using lm::test::RunOptions;
using lm::test::RunResult;
using lm::test::Sandbox;

// Counts what the suite established; every failure is also a Catch failure.
struct Tally {
  long refused = 0;   // inputs refused with the expected code, nothing written
  long verbatim = 0;  // values stored, passed on and read back byte for byte
  long failures = 0;
  std::vector<std::string> failed;

  bool expect(bool ok, const std::string& what) {
    if (ok) return true;
    ++failures;
    if (failed.size() < 50) failed.push_back(what);
    FAIL_CHECK(what);
    return false;
  }
};

// Everything a command could have written: the log, the store, the files
// in the repository and its git refs.
struct Footprint {
  long events = 0;
  std::vector<std::string> stored;
  std::vector<std::string> files;

  static Footprint of(const Sandbox& sb) {
    Footprint f{sb.event_count(), sb.stored_files(), {}};
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(sb.root(), ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      const fs::path rel = it->path().lexically_relative(sb.root());
      const std::string text = rel.generic_string();
      // The registry's own files change on reads (its WAL); what it holds
      // is counted above. Git's objects only matter through its refs.
      if (text.rfind("repo/.lastmile", 0) == 0 || text.rfind("repo/.git/objects", 0) == 0 ||
          text.rfind("repo/.git/logs", 0) == 0 || text == "repo/.git/index") {
        if (it->is_directory() && !it->is_symlink()) it.disable_recursion_pending();
        continue;
      }
      f.files.push_back(text);
    }
    std::sort(f.files.begin(), f.files.end());
    return f;
  }
  bool operator==(const Footprint&) const = default;
};

inline std::string args_text(const std::vector<std::string>& args) {
  std::string text = "lastmile";
  for (const auto& a : args) text += " " + a;
  return text;
}

// A command that must be refused: exit `rc`, stdout empty, stderr one
// error starting "lastmile: error: " with each of `messages`, and nothing
// written anywhere.
// With `timeout_seconds`, a command that hangs (reading /dev/zero, say) is
// killed then and fails the case.
inline void refused(const Sandbox& sb, Tally& tally, const std::vector<std::string>& args, int rc,
                    const std::vector<std::string>& messages, int timeout_seconds = 0) {
  const Footprint before = Footprint::of(sb);
  std::vector<std::string> argv{"timeout", std::to_string(timeout_seconds), LASTMILE_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  const RunResult r = timeout_seconds > 0 ? sb.exec(argv) : sb.run(args);
  const std::string what = args_text(args) + " (exit " + std::to_string(r.rc) + ", stderr: " + r.err + ")";
  bool ok = tally.expect(r.rc == rc, "expected exit " + std::to_string(rc) + ": " + what);
  ok = tally.expect(r.out.empty(), "stdout not empty: " + what + " stdout: " + r.out) && ok;
  ok = tally.expect(r.err.rfind("lastmile: error: ", 0) == 0, "no error line: " + what) && ok;
  for (const auto& m : messages) ok = tally.expect(r.err.find(m) != std::string::npos, "no '" + m + "': " + what) && ok;
  ok = tally.expect(Footprint::of(sb) == before, "something was written: " + what) && ok;
  if (ok) ++tally.refused;
}

// A value that must read back byte for byte.
inline void verbatim(Tally& tally, const Json& got, const std::string& want, const std::string& what) {
  const bool same = got.is_string() && got.get<std::string>() == want;
  if (tally.expect(same, what + ": got " + got.dump() + ", want " + Json(want).dump())) {
    ++tally.verbatim;
  }
}

inline RunResult ok(const Sandbox& sb, Tally& tally, const std::vector<std::string>& args, const RunOptions& opts = {}) {
  const RunResult r = sb.run(args, opts);
  tally.expect(r.rc == 0, args_text(args) + ": exit " + std::to_string(r.rc) + ", stderr: " + r.err);
  return r;
}

inline Json json_of(const RunResult& r) { return Json::parse(r.out, nullptr, false); }

inline void put_file(const fs::path& path, const std::string& content, bool executable = false) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  if (executable) fs::permissions(path, fs::perms::owner_exec, fs::perm_options::add);
}

// Every path under `dir` whose name contains `word` (a command that ran).
inline std::vector<std::string> paths_containing(const fs::path& dir, const std::string& word) {
  std::vector<std::string> found;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->path().filename().string().find(word) != std::string::npos) found.push_back(it->path().string());
  }
  return found;
}

}  // namespace lm::hostile
