#include "registry/query.hpp"

#include <algorithm>

#include "registry/core/clock.hpp"
#include "registry/core/error.hpp"

namespace lm {

namespace {

constexpr const char* k_version_columns =
    "v.id, m.name, m.kind, v.version, v.digest, v.size, v.file_count, v.store, v.source, "
    "v.owner, v.description, v.git_commit, v.git_branch, v.git_dirty, v.git_remote, "
    "v.registered_at, v.registered_by, v.event_seq, v.single_file, v.format";

std::string select_versions(const std::string& where_order) {
  return std::string("SELECT ") + k_version_columns +
         " FROM versions v JOIN models m ON m.id = v.model_id " + where_order;
}

VersionRecord read_version(const sql::Stmt& row) {
  VersionRecord v;
  v.id = row.int64(0);
  v.name = row.text(1);
  v.kind = row.text(2);
  v.version = row.text(3);
  v.digest = row.text(4);
  v.size = static_cast<std::uint64_t>(row.int64(5));
  v.file_count = static_cast<std::uint64_t>(row.int64(6));
  v.store = row.text(7);
  v.source = row.text(8);
  v.owner = row.text(9);
  v.description = row.text(10);
  if (!row.is_null(11)) {
    v.git = GitInfo{row.text(11), row.text(12), row.int64(13) != 0, row.text(14)};
  }
  v.registered_at = row.text(15);
  v.registered_by = row.text(16);
  v.event_seq = row.int64(17);
  v.single_file = row.int64(18) != 0;
  v.format = row.text(19);
  return v;
}

[[noreturn]] void no_model(const std::string& name) {
  throw Error(ExitCode::not_found, "no model or dataset named " + quote(name),
              "'lastmile list' shows what is registered");
}

std::vector<VersionRecord> collect(sql::Stmt& stmt) {
  std::vector<VersionRecord> out;
  while (stmt.step()) out.push_back(read_version(stmt));
  return out;
}

Semver semver_of(const VersionRecord& v) {
  return try_parse_semver(v.version).value_or(Semver{});
}

}  // namespace

std::optional<std::string> model_kind(sql::Db& db, const std::string& name) {
  auto stmt = db.prepare("SELECT kind FROM models WHERE name = ?");
  stmt.bind(1, name);
  if (!stmt.step()) return std::nullopt;
  return stmt.text(0);
}

std::optional<VersionRecord> find_version(sql::Db& db, const std::string& name,
                                          const std::string& version_key) {
  auto stmt = db.prepare(select_versions("WHERE m.name = ? AND v.version_key = ?"));
  stmt.bind_all(name, version_key);
  if (!stmt.step()) return std::nullopt;
  return read_version(stmt);
}

std::optional<Semver> highest_version(sql::Db& db, const std::string& name) {
  auto stmt = db.prepare(
      "SELECT v.version FROM versions v JOIN models m ON m.id = v.model_id WHERE m.name = ?");
  stmt.bind(1, name);
  std::optional<Semver> best;
  while (stmt.step()) {
    if (auto v = try_parse_semver(stmt.text(0)); v && (!best || *best < *v)) best = *v;
  }
  return best;
}

AsOf as_of(sql::Db& db, std::string_view when) {
  const auto ns = parse_rfc3339(when);
  if (!ns) {
    throw Error(ExitCode::usage, "invalid time " + quote(when),
                "use RFC 3339, e.g. 2026-11-24T18:38:00Z or 2026-11-24T19:38:00+01:00, or a "
                "date such as 2026-11-24");
  }
  AsOf at;
  at.time = format_rfc3339(*ns);
  // Event times are RFC 3339 UTC with microseconds: they sort as text, and
  // never decrease along the log, so the last event by time (through the
  // index) is the end of the log as it stood then.
  auto stmt = db.prepare(
      "SELECT COALESCE((SELECT seq FROM events WHERE time <= ? ORDER BY time DESC, seq DESC "
      "LIMIT 1), 0)");
  stmt.bind(1, at.time);
  at.seq = stmt.step() ? stmt.int64(0) : 0;
  return at;
}

VersionRecord resolve(sql::Db& db, const Ref& ref, const AsOf& at) {
  require_model(db, ref.name);
  const std::string when = at.past() ? " at " + at.time : "";
  switch (ref.kind) {
    case Ref::Kind::version: {
      if (auto v = find_version(db, ref.name, ref.version.key()); v && v->event_seq <= at.seq) {
        return *v;
      }
      throw Error(ExitCode::not_found,
                  "no version " + quote(ref.version.key()) + " of " + quote(ref.name) + when,
                  "'lastmile list " + ref.name + "' shows its versions");
    }
    case Ref::Kind::latest: {
      auto stmt = db.prepare(select_versions(
          "WHERE m.name = ? AND v.prerelease = '' AND v.event_seq <= ? "
          "ORDER BY v.major DESC, v.minor DESC, v.patch DESC LIMIT 1"));
      stmt.bind_all(ref.name, at.seq);
      if (stmt.step()) return read_version(stmt);
      if (at.past()) {
        throw Error(ExitCode::not_found, quote(ref.name) + " had no release version" + when);
      }
      throw Error(ExitCode::not_found,
                  quote(ref.name) + " has no release version yet, only pre-releases",
                  "name a version explicitly, e.g. " + ref.name + "@1.0.0-rc.1");
    }
    case Ref::Kind::digest: {
      const std::string low = "sha256:" + ref.digest_hex;
      auto stmt = db.prepare(select_versions(
          "WHERE m.name = ? AND v.digest >= ? AND v.digest < ? AND v.event_seq <= ? "
          "ORDER BY v.id"));
      stmt.bind_all(ref.name, low, low + "g", at.seq);
      auto found = collect(stmt);
      if (found.empty()) {
        throw Error(ExitCode::not_found,
                    "no version of " + quote(ref.name) + " has digest " + quote(low) + when);
      }
      // The same bytes may be registered under several versions; they are
      // one artifact, and the highest version speaks for it.
      const bool one_digest = std::all_of(found.begin(), found.end(), [&](const auto& v) {
        return v.digest == found.front().digest;
      });
      if (one_digest) {
        return *std::max_element(found.begin(), found.end(), [](const auto& a, const auto& b) {
          return semver_of(a) < semver_of(b);
        });
      }
      std::string matches;
      for (const auto& v : found) {
        matches += (matches.empty() ? "" : ", ") + v.ref() + " (" + v.digest.substr(0, 23) + "...)";
      }
      throw Error(ExitCode::usage,
                  "digest " + quote(low) + " is ambiguous: it matches " + matches,
                  "give more hex digits, or name the version");
    }
    case Ref::Kind::stage: {
      // The latest move of the stage up to `at` names its holder.
      auto stmt = db.prepare(select_versions(
          "WHERE v.id = (SELECT h.version_id FROM stage_history h JOIN models hm "
          "ON hm.id = h.model_id WHERE hm.name = ? AND h.stage = ? AND h.event_seq <= ? "
          "ORDER BY h.event_seq DESC LIMIT 1)"));
      stmt.bind_all(ref.name, ref.stage, at.seq);
      if (stmt.step()) return read_version(stmt);
      break;
    }
  }
  throw Error(ExitCode::not_found,
              "no version of " + quote(ref.name) + " is in stage " + quote(ref.stage) + when);
}

void require_model(sql::Db& db, const std::string& name) {
  if (!model_kind(db, name)) no_model(name);
}

std::filesystem::path bytes_location(const ObjectStore& store, const VersionRecord& v,
                                     const ManifestEntry& e) {
  if (v.store == "copy") return store.object_path(e.sha256);
  // A single-file artifact was registered by the path of the file itself.
  const std::filesystem::path source(v.source);
  return v.single_file ? source : source / e.path;
}

Manifest load_manifest(sql::Db& db, std::int64_t version_id) {
  auto stmt = db.prepare(
      "SELECT path, size, sha256, executable, link FROM files WHERE version_id = ? "
      "ORDER BY path");
  stmt.bind(1, version_id);
  Manifest manifest;
  while (stmt.step()) {
    ManifestEntry e;
    e.path = stmt.text(0);
    e.size = static_cast<std::uint64_t>(stmt.int64(1));
    e.sha256 = stmt.text(2);
    e.executable = stmt.int64(3) != 0;
    e.link = stmt.text(4);
    manifest.push_back(std::move(e));
  }
  // SQLite orders TEXT with memcmp, the same bytewise order manifests use.
  return manifest;
}

VersionMetadata load_metadata(sql::Db& db, std::int64_t version_id) {
  auto stmt = db.prepare("SELECT kind, key, number, text FROM metadata WHERE version_id = ?");
  stmt.bind(1, version_id);
  VersionMetadata meta;
  while (stmt.step()) {
    const std::string kind = stmt.text(0);
    if (kind == "metric") {
      meta.metrics[stmt.text(1)] = stmt.real(2);
    } else if (kind == "param") {
      meta.params[stmt.text(1)] = stmt.text(3);
    } else {
      meta.labels[stmt.text(1)] = stmt.text(3);
    }
  }
  return meta;
}

std::vector<ModelSummary> list_models(sql::Db& db) {
  auto stmt = db.prepare(
      "SELECT name, kind, latest, version_count, updated_at FROM models ORDER BY name");
  std::vector<ModelSummary> out;
  while (stmt.step()) {
    out.push_back({stmt.text(0), stmt.text(1), stmt.is_null(2) ? "" : stmt.text(2),
                   stmt.int64(3), stmt.text(4)});
  }
  return out;
}

std::vector<std::string> list_refs(sql::Db& db, const std::string& name) {
  // With a name, only its references: completing "churn@" reads one model,
  // not the whole registry.
  auto stmt = db.prepare(
      "SELECT m.name || '@' || v.version FROM versions v JOIN models m ON m.id = v.model_id "
      "WHERE ?1 = '' OR m.name = ?1 "
      "UNION SELECT m.name || '@' || a.stage FROM stage_assignments a JOIN models m ON m.id = a.model_id "
      "WHERE ?1 = '' OR m.name = ?1 "
      "ORDER BY 1");
  stmt.bind(1, name);
  std::vector<std::string> out;
  while (stmt.step()) out.push_back(stmt.text(0));
  return out;
}

std::vector<VersionRecord> list_versions(sql::Db& db, const std::string& name) {
  require_model(db, name);
  auto stmt = db.prepare(select_versions("WHERE m.name = ?"));
  stmt.bind(1, name);
  auto versions = collect(stmt);
  std::stable_sort(versions.begin(), versions.end(), [](const auto& a, const auto& b) {
    return semver_of(b) < semver_of(a);
  });
  return versions;
}

std::vector<VersionRecord> versions_by_ids(sql::Db& db, const std::vector<std::int64_t>& ids) {
  auto stmt = db.prepare(select_versions("WHERE v.id = ?"));
  std::vector<VersionRecord> out;
  for (std::int64_t id : ids) {
    stmt.bind(1, id);
    if (stmt.step()) out.push_back(read_version(stmt));
    stmt.reset();
  }
  return out;
}

std::vector<VersionRecord> all_versions(sql::Db& db) {
  auto stmt = db.prepare(select_versions("ORDER BY v.id"));
  return collect(stmt);
}

}  // namespace lm
