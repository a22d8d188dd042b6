#include "registry/verify.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>

#include "registry/core/clock.hpp"
#include "registry/core/error.hpp"
#include "registry/core/files.hpp"
#include "registry/core/parallel.hpp"
#include "registry/log_check.hpp"
#include "registry/stat_cache.hpp"
#include "registry/store.hpp"

namespace lm {

namespace {

// One file to look at on disk, shared by every version that holds it.
struct FileCheck {
  fs::path path;
  std::string expected_sha256;
  std::uint64_t expected_size = 0;
  std::string link;                   // expected symlink target (reference store)
  std::optional<bool> executable;     // expected executable bit (reference store)
  std::optional<StatEntry> cached;    // read before the parallel phase
  // results
  std::string kind;      // "" when fine
  std::string expected;  // the property `kind` names, as registered
  std::string actual;    // and as found
  std::string message;
  bool hashed = false;
  bool from_cache = false;
  std::optional<StatEntry> confirmed;  // a fresh stat entry to record
};

std::string type_name(mode_t mode) {
  return S_ISREG(mode) ? "file" : S_ISLNK(mode) ? "symlink" : S_ISDIR(mode) ? "directory" : "special";
}

void check_link(FileCheck& c) {
  std::error_code ec;
  const auto target = fs::read_symlink(c.path, ec);
  if (ec) {
    const auto st = lstat_path(c.path);
    c.kind = st ? "type" : "missing";
    c.expected = st ? "symlink" : c.link;
    c.actual = st ? type_name(st->st_mode) : "";
    c.message = st ? "is no longer a symlink but a " + c.actual + " (" + c.path.string() + ")" : "symlink is missing";
  } else if (target.string() != c.link) {
    c.kind = "link";
    c.expected = c.link;
    c.actual = target.string();
    c.message = "symlink points to " + quote(target.string()) + ", expected " + quote(c.link);
  }
}

void check_file(FileCheck& c, bool deep, Progress* progress) {
  if (!c.link.empty()) return check_link(c);
  const auto st = lstat_path(c.path);
  const std::int64_t stat_time = now_ns();
  if (!st) {
    c.kind = "missing";
    c.expected = c.expected_sha256;
    c.message = "file is missing (" + c.path.string() + ")";
    return;
  }
  if (!S_ISREG(st->st_mode)) {
    c.kind = "type";
    c.expected = "file";
    c.actual = type_name(st->st_mode);
    c.message = "is no longer a regular file but a " + c.actual + " (" + c.path.string() + ")";
    return;
  }
  if (c.executable && ((st->st_mode & S_IXUSR) != 0) != *c.executable) {
    c.kind = "mode";
    c.expected = *c.executable ? "executable" : "not executable";
    c.actual = *c.executable ? "not executable" : "executable";
    c.message = "was registered " + c.expected + ", is now " + c.actual + " (" + c.path.string() + ")";
    return;
  }
  if (static_cast<std::uint64_t>(st->st_size) != c.expected_size) {
    c.kind = "size";
    c.expected = std::to_string(c.expected_size);
    c.actual = std::to_string(st->st_size);
    c.message = "size changed: " + std::to_string(c.expected_size) + " bytes expected, " +
                std::to_string(st->st_size) + " found";
    advance(progress, c.expected_size);
    return;
  }
  if (!deep && c.cached && c.cached->sha256 == c.expected_sha256 && stat_matches(*c.cached, *st)) {
    c.from_cache = true;
    advance(progress, c.expected_size);
    return;
  }
  const HashedFile hashed = hash_file(c.path, progress);
  c.hashed = true;
  if (hashed.sha256 != c.expected_sha256) {
    c.kind = "changed";
    c.expected = c.expected_sha256;
    c.actual = hashed.sha256;
    c.message = "content changed: expected sha256 " + c.expected_sha256 + ", found " +
                hashed.sha256;
    return;
  }
  // Trust this stat later only if the file did not change while it was
  // hashed, and its last change is old enough to show up in its times.
  const auto after = lstat_path(c.path);
  if (after && same_stat(*st, *after)) {
    c.confirmed = make_stat_entry(*st, c.expected_sha256, stat_time);
  }
}

// The file list must give the digest, which the registration event holds.
void check_manifest(const VersionRecord& v, const Manifest& manifest,
                    std::vector<VerifyProblem>& problems) {
  const std::string digest = manifest_digest(manifest);
  if (digest != v.digest) {
    problems.push_back({v.ref(), "", "manifest", v.digest, digest,
                        "file list does not match the digest " + v.digest + " (it gives " +
                            digest + ")"});
  }
}

// A referenced directory is compared as a whole, as a signed manifest is:
// a file or symlink its manifest does not list was added after
// registration. The walk never follows a symlink.
void add_unlisted_files(const VersionRecord& v, const Manifest& manifest, std::vector<VerifyProblem>& problems) {
  if (v.store != "reference" || v.single_file) return;
  std::set<std::string> listed;
  for (const auto& e : manifest) listed.insert(e.path);
  const fs::path root(v.source);
  std::vector<std::pair<std::string, std::string>> unlisted;  // path, type
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    const auto st = lstat_path(it->path());
    if (!st || S_ISDIR(st->st_mode)) continue;
    std::string rel = it->path().lexically_relative(root).generic_string();
    if (!listed.count(rel)) unlisted.emplace_back(std::move(rel), type_name(st->st_mode));
  }
  std::sort(unlisted.begin(), unlisted.end());
  for (const auto& [rel, type] : unlisted) {
    problems.push_back({v.ref(), rel, "extra", "", type,
                        rel + ": a " + type + " the manifest does not list (added after registration)"});
  }
}

// Differences between the tables and the log, reported against the
// version they concern (subjects are name@version without build metadata).
void add_log_differences(const std::vector<TableDifference>& differences,
                         const std::vector<VersionCheck>& versions,
                         std::vector<VerifyProblem>& problems) {
  for (const auto& d : differences) {
    std::string subject = d.subject;
    for (const auto& vc : versions) {
      const auto v = try_parse_semver(vc.version.version);
      if (v && vc.version.name + "@" + v->key() == d.subject) subject = vc.version.ref();
    }
    problems.push_back({subject, "", "log", "", "", d.message});
  }
}

std::vector<VersionRecord> select_versions(sql::Db& db, const std::vector<Ref>& refs) {
  if (refs.empty()) return all_versions(db);
  std::vector<VersionRecord> out;
  for (const auto& ref : refs) out.push_back(resolve(db, ref));
  return out;
}

std::string integrity_report(sql::Db& db) {
  auto stmt = db.prepare("PRAGMA integrity_check");
  std::string report;
  while (stmt.step()) {
    if (!report.empty()) report += "; ";
    report += stmt.text(0);
  }
  auto fk = db.prepare("PRAGMA foreign_key_check");
  if (fk.step()) {
    const std::string violation = "foreign key violation in table " + fk.text(0);
    report = report == "ok" ? violation : report + "; " + violation;
  }
  return report;
}

void save_confirmed_stats(sql::Db& db, const std::vector<FileCheck>& checks) {
  const bool any = std::any_of(checks.begin(), checks.end(),
                               [](const FileCheck& c) { return c.confirmed.has_value(); });
  if (!any || db.read_only()) return;
  // A cache: a reader never waits for a writer to save it, and when the
  // registry cannot be written now, verify still answers.
  db.set_busy_timeout(std::chrono::milliseconds(0));
  try {
    sql::Transaction txn(db);
    for (const auto& c : checks) {
      if (c.confirmed) record_stat(db, c.path, *c.confirmed);
    }
    txn.commit();
  } catch (const Error&) {
  }
}

}  // namespace

VerifyReport verify(Registry& registry, const std::vector<Ref>& refs, bool deep,
                    Progress* progress) {
  sql::Db& db = registry.db();
  VerifyReport report;
  report.whole_registry = refs.empty();
  report.deep = deep;
  if (report.whole_registry) {
    report.integrity = integrity_report(db);
    if (report.integrity != "ok") {
      report.problems.push_back({"registry", "", "integrity", "ok", report.integrity,
                                 "database integrity check failed: " + report.integrity});
    }
    report.chain = verify_chain(db);
    if (!report.chain.ok) {
      report.problems.push_back({"audit log", "", "chain", "", "",
                                 "event " + std::to_string(report.chain.first_bad_seq) +
                                     " breaks the hash chain: " + report.chain.problem});
    }
  }
  // Gather every file to look at; a file shared by versions is read once.
  std::vector<FileCheck> checks;
  std::map<std::string, std::size_t> index_of;
  std::vector<std::vector<std::pair<std::size_t, std::string>>> files_of;  // per version
  for (VersionRecord& v : select_versions(db, refs)) {
    const Manifest manifest = load_manifest(db, v.id);
    check_manifest(v, manifest, report.problems);
    auto& mine = files_of.emplace_back();
    for (const auto& e : manifest) {
      if (e.is_link() && v.store == "copy") continue;  // recorded in the manifest only
      const fs::path path = bytes_location(registry.store(), v, e);
      std::optional<bool> executable;
      if (v.store == "reference" && !e.is_link()) executable = e.executable;
      const std::string key = path.string() + '\n' + e.sha256 + '\n' + e.link + '\n' +
                              (executable ? (*executable ? "x" : "-") : "");
      auto [it, inserted] = index_of.try_emplace(key, checks.size());
      if (inserted) {
        FileCheck c;
        c.path = path;
        c.expected_sha256 = e.sha256;
        c.expected_size = e.size;
        c.link = e.link;
        c.executable = executable;
        if (!e.is_link()) c.cached = lookup_stat(db, path);
        checks.push_back(std::move(c));
        if (progress) progress->total_bytes += e.size;
      }
      mine.emplace_back(it->second, e.path);
    }
    add_unlisted_files(v, manifest, report.problems);
    report.versions.push_back({std::move(v), mine.size(), true});
  }
  std::vector<std::int64_t> event_seqs;
  for (const auto& vc : report.versions) event_seqs.push_back(vc.version.event_seq);
  try {
    add_log_differences(report.whole_registry ? compare_tables_with_log(db)
                                              : compare_versions_with_log(db, event_seqs),
                        report.versions, report.problems);
  } catch (const Error& e) {
    // An event that no longer reads (a payload edited into bad JSON): the
    // chain check names it; the comparison says why it stopped.
    report.problems.push_back({"audit log", "", "log", "", "",
                               std::string("the tables cannot be compared with the log: ") + e.what()});
  }
  if (progress) progress->total_files = checks.size();
  parallel_for(checks.size(), worker_count(), [&](std::size_t i) {
    try {
      check_file(checks[i], deep, progress);
    } catch (const Error& e) {
      checks[i].kind = "unreadable";
      checks[i].expected = checks[i].expected_sha256;
      checks[i].message = e.what();
    }
    file_done(progress);
  });
  for (std::size_t k = 0; k < report.versions.size(); ++k) {
    VersionCheck& vc = report.versions[k];
    for (const auto& [i, rel] : files_of[k]) {
      const FileCheck& c = checks[i];
      if (c.kind.empty()) continue;
      vc.ok = false;
      report.problems.push_back({vc.version.ref(), rel, c.kind, c.expected, c.actual,
                                 rel + ": " + c.message});
    }
    for (const auto& p : report.problems) {
      if (p.subject == vc.version.ref()) vc.ok = false;
    }
  }
  for (const auto& c : checks) {
    ++report.files_checked;
    if (c.hashed) {
      ++report.files_hashed;
      report.bytes_hashed += c.expected_size;
    }
    if (c.from_cache) ++report.files_from_cache;
  }
  save_confirmed_stats(db, checks);
  return report;
}

}  // namespace lm
