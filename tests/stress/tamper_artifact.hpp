#pragma once
// The artifact part of the tamper suite (stress_tamper.cpp): bytes flipped,
// files truncated and grown, in the object store and in files registered
// by reference; `verify` must fail naming the version, the file and what
// it expected against what it found.

#include <chrono>
#include <functional>
#include <set>
#include <thread>

#include "tests/stress/tamper_support.hpp"

namespace lm::tamper {

// "" when `verify` (with `extra` flags) exits 1 naming exactly this one
// problem; `expected`/`actual` are checked when not empty. The actual sha256
// is handed back through `actual_out`.
inline std::string verify_names(const Sandbox& sb, const std::vector<std::string>& extra, const std::string& ref,
                                const std::string& path, const std::string& kind, const std::string& expected,
                                const std::string& actual, std::string* actual_out = nullptr) {
  std::vector<std::string> args{"verify", "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  const RunResult r = sb.run(args);
  if (r.rc != 1) return "verify: " + describe(r);
  if (r.err.find("verification failed: 1 problem found") == std::string::npos) return "stderr: " + r.err;
  const auto problems = problems_of(json_of(r));
  const Problem* p = find_problem(problems, ref, path, kind);
  if (!p || problems.size() != 1) return "expected only [" + ref + " " + path + " " + kind + "], got " + summary(problems);
  if (!expected.empty() && p->expected != expected) return "expected '" + expected + "', verify says '" + p->expected + "'";
  if (!actual.empty() && p->actual != actual) return "actual '" + actual + "', verify says '" + p->actual + "'";
  if (kind == "changed" && (!is_sha256(p->actual) || p->actual == p->expected)) return "actual is '" + p->actual + "'";
  if (actual_out) *actual_out = p->actual;
  return "";
}

// Lets a plain verify confirm every file, so that the next ones answer from
// the stat cache: the cases then test that a change is still seen.
inline std::string warm_stat_cache(const Sandbox& sb) {
  std::this_thread::sleep_for(std::chrono::milliseconds(60));  // past the racy window
  if (sb.run({"verify", "-q"}).rc != 0) return "verify of the intact registry failed";
  const Json j = json_of(sb.run({"verify", "--json"}));
  if (!j.is_object() || j.value("files_hashed", -1) != 0 || j.value("files_from_cache", 0) == 0) {
    return "the stat cache is not used: " + j.dump();
  }
  return "";
}

// Every byte of `file` (a store object or a referenced file), one at a
// time: XOR with a random non-zero mask, mode and times put back, then
// verify. Every `deep_every`-th case is also checked with --deep, every
// `sum_every`-th against sha256sum's hash of the damaged file.
inline void every_byte(const Sandbox& sb, Tally& tally, std::mt19937_64& rng, const std::string& group,
                       const std::string& ref, const std::string& path, const fs::path& file, long deep_every,
                       long sum_every) {
  const std::string registered = sha256_of_file(sb, file);
  const std::uint64_t size = fs::file_size(file);
  if (const std::string why = warm_stat_cache(sb); !why.empty()) return tally.record(group, "setup", false, why);
  std::set<std::string> actuals;
  for (std::uint64_t offset = 0; offset < size; ++offset) {
    const std::string mask(1, static_cast<char>(1 + rng() % 255));
    xor_at(file, offset, mask);
    std::string actual;
    std::string why = verify_names(sb, {}, ref, path, "changed", registered, "", &actual);
    if (why.empty() && offset % static_cast<std::uint64_t>(deep_every) == 0) {
      why = verify_names(sb, {"--deep"}, ref, path, "changed", registered, actual);
    }
    if (why.empty() && offset % static_cast<std::uint64_t>(sum_every) == 0 && sha256_of_file(sb, file) != actual) {
      why = "verify's actual sha256 " + actual + " is not the file's";
    }
    if (why.empty() && !actuals.insert(actual).second) why = "the same actual sha256 for two different files";
    xor_at(file, offset, mask);
    tally.record(group, ref + " byte " + std::to_string(offset), why.empty(), why);
  }
  const RunResult after = sb.run({"verify", "--deep"});
  if (after.rc != 0) tally.record(group, "restored", false, "verify --deep after restoring: " + describe(after));
}

// Random damage to a large stored object: flips, truncations, appends and
// overwritten ranges, each undone before the next.
inline void large_random(const Sandbox& sb, Tally& tally, std::mt19937_64& rng, const std::string& group,
                         const std::string& ref, const std::string& path, const fs::path& object,
                         const std::string& content, long operations, long deep_every) {
  const std::string registered = sha256_of_file(sb, object);
  const std::uint64_t size = content.size();
  const std::string size_text = std::to_string(size);
  if (const std::string why = warm_stat_cache(sb); !why.empty()) return tally.record(group, "setup", false, why);
  for (long op = 0; op < operations; ++op) {
    const int kind = static_cast<int>(rng() % 4);
    const std::uint64_t offset = rng() % size;
    std::vector<std::string> deep;
    if (op % deep_every == 0) deep.push_back("--deep");
    std::string name, why;
    const Disguise disguise(object);
    if (kind == 0) {  // flip 1-8 bytes
      const std::size_t n = std::min<std::uint64_t>(1 + rng() % 8, size - offset);
      std::string mask(n, '\0');
      for (auto& c : mask) c = static_cast<char>(1 + rng() % 255);
      name = "flip " + std::to_string(n) + " at " + std::to_string(offset);
      xor_at(object, offset, mask);
      why = verify_names(sb, deep, ref, path, "changed", registered, "");
      xor_at(object, offset, mask);
    } else if (kind == 1) {  // truncate to `offset` bytes
      name = "truncate to " + std::to_string(offset);
      ::chmod(object.c_str(), 0644);
      fs::resize_file(object, offset);
      disguise.restore(object);
      why = verify_names(sb, deep, ref, path, "size", size_text, std::to_string(offset));
      rewrite(object, content);
    } else if (kind == 2) {  // append 1 B to 64 KiB
      const std::size_t n = 1 + rng() % 65536;
      name = "append " + std::to_string(n);
      rewrite(object, content + random_bytes(rng, n));
      why = verify_names(sb, deep, ref, path, "size", size_text, std::to_string(size + n));
      rewrite(object, content);
    } else {  // overwrite a range with other bytes of the same length
      const std::size_t n = std::min<std::uint64_t>(1 + rng() % 4096, size - offset);
      std::string mask = random_bytes(rng, n);
      for (auto& c : mask) c = c ? c : '\x01';
      name = "overwrite " + std::to_string(n) + " at " + std::to_string(offset);
      xor_at(object, offset, mask);
      why = verify_names(sb, deep, ref, path, "changed", registered, "");
      xor_at(object, offset, mask);
    }
    tally.record(group, name, why.empty(), why);
  }
  const RunResult after = sb.run({"verify", "--deep"});
  if (after.rc != 0) tally.record(group, "restored", false, "verify --deep after restoring: " + describe(after));
}

// ---- directory artifacts ----

// One change to a directory artifact, how to undo it, and the problems
// verify must report: (path, kind), or for a manifest edited in the
// tables ("", "manifest") plus ("<path>", "log"): a difference from the
// log that mentions the file.
struct DirCase {
  std::string name;
  std::function<void()> apply, undo;
  std::vector<std::pair<std::string, std::string>> expect;
};

inline std::string dir_case_named(const Sandbox& sb, const std::string& ref, const DirCase& c) {
  const RunResult r = sb.run({"verify", "--json"});
  if (r.rc != 1) return "verify: " + describe(r);
  const auto problems = problems_of(json_of(r));
  for (const auto& p : problems) {
    if (p.subject != ref) return "a problem for another subject: " + summary(problems);
  }
  for (const auto& [path, kind] : c.expect) {
    bool found = false;
    for (const auto& p : problems) {
      found = found || (kind == "log" ? p.kind == "log" && p.message.find("'" + ref + " " + path + "'") != std::string::npos
                                      : p.path == path && p.kind == kind);
    }
    if (!found) return "no [" + path + " " + kind + "] among " + summary(problems);
  }
  return "";
}

inline void run_dir_cases(const Sandbox& sb, Tally& tally, const std::string& group, const std::string& ref,
                          const std::vector<DirCase>& cases) {
  if (const std::string why = warm_stat_cache(sb); !why.empty()) return tally.record(group, "setup", false, why);
  for (const DirCase& c : cases) {
    c.apply();
    const std::string why = dir_case_named(sb, ref, c);
    c.undo();
    tally.record(group, c.name, why.empty(), why);
    const RunResult after = sb.run({"verify", "-q"});
    if (after.rc != 0) return tally.record(group, c.name + " undone", false, describe(after));
  }
}

// The tree both store modes register: files of two equal sizes (to swap),
// nested directories, an executable and a relative symlink.
struct Tree {
  std::map<std::string, std::string> files;  // path -> content
  std::vector<std::string> regular() const {
    std::vector<std::string> paths;
    for (const auto& [path, content] : files) paths.push_back(path);
    return paths;
  }
};

inline Tree make_tree(const Sandbox& sb, const fs::path& dir, std::mt19937_64& rng) {
  Tree t;
  t.files = {{"a.bin", random_bytes(rng, 1000)},         {"b.bin", random_bytes(rng, 1000)},
             {"sub/c.bin", random_bytes(rng, 500)},      {"sub/deeper/d.bin", random_bytes(rng, 300)},
             {"run.sh", "#!/bin/sh\necho serving\n"}};
  for (const auto& [path, content] : t.files) {
    fs::create_directories((dir / path).parent_path());
    std::ofstream(dir / path, std::ios::binary) << content;
  }
  fs::permissions(dir / "run.sh", fs::perms::owner_exec, fs::perm_options::add);
  fs::create_symlink("a.bin", dir / "link");
  (void)sb;
  return t;
}

// Puts a file back as registered: content and executable bit.
inline void put_back(const fs::path& file, const std::string& content, bool executable) {
  fs::remove(file);
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary) << content;
  if (executable) fs::permissions(file, fs::perms::owner_exec, fs::perm_options::add);
}

// The user's directory behind a --store reference version: every file
// added, removed, renamed, swapped, retyped or re-moded.
inline std::vector<DirCase> reference_cases(const fs::path& dir, const fs::path& copies, const Tree& tree) {
  constexpr auto add_bit = fs::perm_options::add, remove_bit = fs::perm_options::remove;
  std::vector<DirCase> cases;
  for (const std::string extra : {"new.bin", "sub/deeper/new.bin"}) {
    cases.push_back({"add " + extra, [=] { std::ofstream(dir / extra) << "planted"; }, [=] { fs::remove(dir / extra); },
                     {{extra, "extra"}}});
  }
  cases.push_back({"add a symlink", [=] { fs::create_symlink("../a.bin", dir / "sub/alias"); },
                   [=] { fs::remove(dir / "sub/alias"); }, {{"sub/alias", "extra"}}});
  for (const auto& file : tree.files) {
    // Named copies: clang 14 cannot capture structured bindings.
    const std::string path = file.first;
    const std::string content = file.second;
    const bool exe = path == "run.sh";
    const fs::path f = dir / path;
    cases.push_back({"remove " + path, [=] { fs::remove(f); }, [=] { put_back(f, content, exe); }, {{path, "missing"}}});
    cases.push_back({"rename " + path, [=] { fs::rename(f, f.string() + ".moved"); },
                     [=] { fs::rename(f.string() + ".moved", f); }, {{path, "missing"}, {path + ".moved", "extra"}}});
    cases.push_back({"replace " + path + " with a symlink to the same bytes",
                     [=] {
                       fs::create_directories(copies);
                       fs::copy_file(f, copies / fs::path(path).filename(), fs::copy_options::overwrite_existing);
                       fs::remove(f);
                       fs::create_symlink(copies / fs::path(path).filename(), f);
                     },
                     [=] { put_back(f, content, exe); }, {{path, "type"}}});
    cases.push_back({"toggle the executable bit of " + path,
                     [=] { fs::permissions(f, fs::perms::owner_exec, exe ? remove_bit : add_bit); },
                     [=] { fs::permissions(f, fs::perms::owner_exec, exe ? add_bit : remove_bit); },
                     {{path, "mode"}}});
  }
  cases.push_back({"remove the symlink", [=] { fs::remove(dir / "link"); },
                   [=] { fs::create_symlink("a.bin", dir / "link"); }, {{"link", "missing"}}});
  cases.push_back({"retarget the symlink",
                   [=] { fs::remove(dir / "link"); fs::create_symlink("b.bin", dir / "link"); },
                   [=] { fs::remove(dir / "link"); fs::create_symlink("a.bin", dir / "link"); }, {{"link", "link"}}});
  cases.push_back({"replace the symlink with a copy of its target",
                   [=] { fs::remove(dir / "link"); fs::copy_file(dir / "a.bin", dir / "link"); },
                   [=] { fs::remove(dir / "link"); fs::create_symlink("a.bin", dir / "link"); }, {{"link", "type"}}});
  cases.push_back({"rename directory sub", [=] { fs::rename(dir / "sub", dir / "sub.moved"); },
                   [=] { fs::rename(dir / "sub.moved", dir / "sub"); },
                   {{"sub/c.bin", "missing"}, {"sub/deeper/d.bin", "missing"}, {"sub.moved/c.bin", "extra"},
                    {"sub.moved/deeper/d.bin", "extra"}}});
  cases.push_back({"replace directory sub with a symlink to the same files",
                   [=] {
                     fs::remove_all(copies / "sub");
                     fs::create_directories(copies);
                     fs::rename(dir / "sub", copies / "sub");
                     fs::create_directory_symlink(copies / "sub", dir / "sub");
                   },
                   [=] { fs::remove(dir / "sub"); fs::rename(copies / "sub", dir / "sub"); }, {{"sub", "extra"}}});
  const std::string a = tree.files.at("a.bin"), b = tree.files.at("b.bin");
  cases.push_back({"swap a.bin and b.bin by rename",
                   [=] {
                     fs::rename(dir / "a.bin", dir / "swap");
                     fs::rename(dir / "b.bin", dir / "a.bin");
                     fs::rename(dir / "swap", dir / "b.bin");
                   },
                   [=] {
                     fs::rename(dir / "a.bin", dir / "swap");
                     fs::rename(dir / "b.bin", dir / "a.bin");
                     fs::rename(dir / "swap", dir / "b.bin");
                   },
                   {{"a.bin", "changed"}, {"b.bin", "changed"}}});
  cases.push_back({"swap the contents of a.bin and b.bin in place, times kept",
                   [=] { rewrite(dir / "a.bin", b); rewrite(dir / "b.bin", a); },
                   [=] { rewrite(dir / "a.bin", a); rewrite(dir / "b.bin", b); },
                   {{"a.bin", "changed"}, {"b.bin", "changed"}}});
  return cases;
}

// A --store copy version: its objects in the store, and its manifest in
// the files table (edited on a copy of the database, put back after).
inline std::vector<DirCase> copy_cases(const Sandbox& sb, const Tree& tree, const DbSnapshot& pristine,
                                       const std::string& version_id, const fs::path& copies) {
  std::vector<DirCase> cases;
  std::map<std::string, std::string> sha;
  for (const auto& [path, content] : tree.files) sha[path] = sha256_of_text(sb, content);
  const auto object = [&sb, sha](const std::string& path) { return object_path(sb, sha.at(path)); };
  const auto put_object = [](const fs::path& o, const std::string& content) {
    if (fs::exists(fs::symlink_status(o))) ::chmod(o.c_str(), 0644);
    fs::remove(o);
    std::ofstream(o, std::ios::binary) << content;
    ::chmod(o.c_str(), 0444);
  };
  for (const auto& file : tree.files) {
    const std::string path = file.first;
    const std::string content = file.second;
    const fs::path o = object(path);
    cases.push_back({"remove the object of " + path, [=] { fs::remove(o); }, [=] { put_object(o, content); },
                     {{path, "missing"}}});
    cases.push_back({"replace the object of " + path + " with a symlink to the same bytes",
                     [=] {
                       fs::create_directories(copies);
                       put_object(copies / sha.at(path), content);
                       fs::remove(o);
                       fs::create_symlink(copies / sha.at(path), o);
                     },
                     [=] { put_object(o, content); }, {{path, "type"}}});
  }
  const std::string a = tree.files.at("a.bin"), b = tree.files.at("b.bin");
  cases.push_back({"swap the objects of a.bin and b.bin",
                   [=] { rewrite(object("a.bin"), b); rewrite(object("b.bin"), a); },
                   [=] { rewrite(object("a.bin"), a); rewrite(object("b.bin"), b); },
                   {{"a.bin", "changed"}, {"b.bin", "changed"}}});
  const fs::path db_path = sb.registry() / "registry.db";
  const std::string where = " WHERE version_id = " + version_id + " AND path = ";
  const auto table_case = [&](const std::string& name, const std::string& sql, std::vector<std::string> paths) {
    DirCase c{name, [=] { Db(db_path).exec(sql); }, [&pristine] { pristine.restore(); }, {{"", "manifest"}}};
    for (const auto& p : paths) c.expect.emplace_back(p, "log");
    cases.push_back(c);
  };
  table_case("files table: add new.bin",
             "INSERT INTO files SELECT version_id, 'new.bin', size, sha256, executable, link FROM files" + where + "'a.bin'",
             {"new.bin"});
  table_case("files table: remove sub/c.bin", "DELETE FROM files" + where + "'sub/c.bin'", {"sub/c.bin"});
  table_case("files table: rename a.bin", "UPDATE files SET path = 'z.bin'" + where + "'a.bin'", {"a.bin", "z.bin"});
  table_case("files table: swap the hashes of a.bin and b.bin",
             "UPDATE files SET sha256 = CASE path WHEN 'a.bin' THEN '" + sha.at("b.bin") + "' ELSE '" + sha.at("a.bin") +
                 "' END WHERE version_id = " + version_id + " AND path IN ('a.bin', 'b.bin')",
             {"a.bin", "b.bin"});
  table_case("files table: retarget the symlink", "UPDATE files SET link = 'b.bin'" + where + "'link'", {"link"});
  table_case("files table: make run.sh not executable", "UPDATE files SET executable = 0" + where + "'run.sh'",
             {"run.sh"});
  return cases;
}

}  // namespace lm::tamper
