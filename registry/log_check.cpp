#include "registry/log_check.hpp"

#include <map>
#include <optional>
#include <set>

#include "registry/core/error.hpp"
#include "registry/events.hpp"
#include "registry/names.hpp"
#include "registry/projection.hpp"
#include "registry/schema.hpp"

namespace lm {

namespace {

// One table as rows of values, keyed by what identifies them for a user.
struct TableQuery {
  const char* table;
  std::vector<std::string> columns;
  const char* sql;  // selects: subject, key, then the columns
};

const std::vector<TableQuery>& table_queries() {
  static const std::vector<TableQuery> queries = {
      {"models",
       {"kind", "version_count", "latest", "updated_at", "created_seq"},
       "SELECT name, name, json_array(kind, version_count, latest, updated_at, created_seq) "
       "FROM models"},
      {"versions",
       {"version", "major", "minor", "patch", "prerelease", "digest", "size", "file_count",
        "single_file", "store", "source", "owner", "description", "git_commit", "git_branch",
        "git_dirty", "git_remote", "registered_at", "registered_by", "event_seq", "format"},
       "SELECT m.name || '@' || v.version_key, m.name || '@' || v.version_key, "
       "json_array(v.version, v.major, v.minor, v.patch, v.prerelease, v.digest, v.size, "
       "v.file_count, v.single_file, v.store, v.source, v.owner, v.description, v.git_commit, "
       "v.git_branch, v.git_dirty, v.git_remote, v.registered_at, v.registered_by, v.event_seq, "
       "v.format) "
       "FROM versions v JOIN models m ON m.id = v.model_id"},
      {"files",
       {"size", "sha256", "executable", "link"},
       "SELECT m.name || '@' || v.version_key, m.name || '@' || v.version_key || ' ' || f.path, "
       "json_array(f.size, f.sha256, f.executable, f.link) "
       "FROM files f JOIN versions v ON v.id = f.version_id JOIN models m ON m.id = v.model_id"},
      {"edges",
       {"relation"},
       "SELECT m.name || '@' || v.version_key, "
       "m.name || '@' || v.version_key || ' ' || e.relation || ' ' || tm.name || '@' || "
       "t.version_key, json_array(e.relation) "
       "FROM edges e JOIN versions v ON v.id = e.version_id JOIN models m ON m.id = v.model_id "
       "JOIN versions t ON t.id = e.target_id JOIN models tm ON tm.id = t.model_id"},
      {"metadata",
       {"number", "text"},
       "SELECT m.name || '@' || v.version_key, "
       "m.name || '@' || v.version_key || ' ' || d.kind || ' ' || d.key, "
       "json_array(d.number, d.text) "
       "FROM metadata d JOIN versions v ON v.id = d.version_id JOIN models m ON m.id = v.model_id"},
      {"stage_history",
       {"stage", "action", "version", "replaced", "previous", "time", "actor", "reason"},
       "SELECT m.name || '@' || v.version_key, 'event ' || h.event_seq, "
       "json_array(h.stage, h.action, v.version_key, r.version_key, p.version_key, h.time, "
       "h.actor, h.reason) "
       "FROM stage_history h JOIN models m ON m.id = h.model_id "
       "JOIN versions v ON v.id = h.version_id LEFT JOIN versions r ON r.id = h.replaced_id "
       "LEFT JOIN versions p ON p.id = h.previous_id"},
      {"stage_assignments",
       {"version", "event_seq"},
       "SELECT m.name || '@' || v.version_key, m.name || ' ' || a.stage, "
       "json_array(v.version_key, a.event_seq) "
       "FROM stage_assignments a JOIN models m ON m.id = a.model_id "
       "JOIN versions v ON v.id = a.version_id"},
      {"approvals",
       {"comment", "time", "event_seq"},
       "SELECT m.name || '@' || v.version_key, "
       "m.name || '@' || v.version_key || ' ' || a.stage || ' ' || a.actor, "
       "json_array(a.comment, a.time, a.event_seq) "
       "FROM approvals a JOIN versions v ON v.id = a.version_id JOIN models m ON m.id = v.model_id"},
      {"gate_results",
       {"version", "stage", "passed", "time", "actor", "results"},
       "SELECT m.name || '@' || v.version_key, 'event ' || g.event_seq, "
       "json_array(v.version_key, g.stage, g.passed, g.time, g.actor, g.results) "
       "FROM gate_results g JOIN versions v ON v.id = g.version_id "
       "JOIN models m ON m.id = v.model_id"},
      {"deployments",
       {"version", "environment", "stage", "manifests", "time", "actor"},
       "SELECT m.name || '@' || v.version_key, 'event ' || d.event_seq, "
       "json_array(v.version_key, d.environment, d.stage, d.manifests, d.time, d.actor) "
       "FROM deployments d JOIN versions v ON v.id = d.version_id "
       "JOIN models m ON m.id = d.model_id"},
      {"artifact_locations",
       {"version", "remote", "location", "time", "actor"},
       "SELECT m.name || '@' || v.version_key, 'event ' || a.event_seq, "
       "json_array(v.version_key, a.remote, a.location, a.time, a.actor) "
       "FROM artifact_locations a JOIN versions v ON v.id = a.version_id "
       "JOIN models m ON m.id = v.model_id"},
      {"profiles",
       {"version", "data_sha256", "source", "profile", "time", "actor"},
       "SELECT m.name || '@' || v.version_key, 'event ' || p.event_seq, "
       "json_array(v.version_key, p.data_sha256, p.source, p.profile, p.time, p.actor) "
       "FROM profiles p JOIN versions v ON v.id = p.version_id JOIN models m ON m.id = v.model_id"},
      {"drift_measurements",
       {"version", "environment", "data_sha256", "rows", "drifted", "drifted_share", "max_psi", "columns",
        "time", "actor"},
       "SELECT m.name || '@' || v.version_key, 'event ' || d.event_seq, "
       "json_array(v.version_key, d.environment, d.data_sha256, d.rows, d.drifted, d.drifted_share, "
       "d.max_psi, d.columns, d.time, d.actor) "
       "FROM drift_measurements d JOIN versions v ON v.id = d.version_id JOIN models m ON m.id = v.model_id"},
      {"feedback",
       {"version", "value", "observed_at", "environment", "time", "actor"},
       "SELECT m.name || '@' || v.version_key, 'event ' || f.event_seq || ' ' || f.metric, "
       "json_array(v.version_key, f.value, f.observed_at, f.environment, f.time, f.actor) "
       "FROM feedback f JOIN versions v ON v.id = f.version_id JOIN models m ON m.id = v.model_id"},
  };
  return queries;
}

struct Row {
  std::string subject;
  Json values;
};
using Rows = std::map<std::string, Row>;

Rows read_rows(sql::Db& db, const TableQuery& q, const std::set<std::string>* subjects) {
  Rows rows;
  auto stmt = db.prepare(q.sql);
  while (stmt.step()) {
    // SQLite's json_array() passes a damaged column's bytes through; with
    // U+FFFD in their place the row still parses, and differs from the log.
    Row row{stmt.text(0), Json::parse(to_valid_utf8(stmt.text(2)))};
    if (subjects && !subjects->count(row.subject)) continue;
    rows.emplace(stmt.text(1), std::move(row));
  }
  return rows;
}

std::string differing_columns(const TableQuery& q, const Json& want, const Json& have) {
  std::string names;
  for (std::size_t i = 0; i < q.columns.size() && i < want.size() && i < have.size(); ++i) {
    if (want[i] != have[i]) names += (names.empty() ? "" : ", ") + q.columns[i];
  }
  return names;
}

// " (event N)": the event a row comes from, when its key does not say.
std::string event_of(const TableQuery& q, const Json& values) {
  for (std::size_t i = 0; i < q.columns.size() && i < values.size(); ++i) {
    if ((q.columns[i] == "event_seq" || q.columns[i] == "created_seq") && values[i].is_number_integer()) {
      return " (event " + std::to_string(values[i].get<std::int64_t>()) + ")";
    }
  }
  return "";
}

void compare_table(sql::Db& replayed, sql::Db& actual, const TableQuery& q,
                   const std::set<std::string>* subjects, std::vector<TableDifference>& out) {
  const Rows want = read_rows(replayed, q, subjects);
  const Rows have = read_rows(actual, q, subjects);
  const std::string table = q.table;
  for (const auto& [key, row] : want) {
    const auto it = have.find(key);
    if (it == have.end()) {
      out.push_back({row.subject, "the log has a row in " + table + " for " + quote(key) +
                                      " that the tables lack" + event_of(q, row.values)});
    } else if (it->second.values != row.values) {
      out.push_back({row.subject, "the " + table + " row for " + quote(key) +
                                      " differs from the log in " +
                                      differing_columns(q, row.values, it->second.values) +
                                      event_of(q, row.values)});
    }
  }
  for (const auto& [key, row] : have) {
    if (!want.count(key)) {
      out.push_back({row.subject, "the " + table + " row for " + quote(key) +
                                      " is not in the log" + event_of(q, row.values)});
    }
  }
}

// The sequence number of the event that registered `subject` (name@version).
std::optional<std::int64_t> registration_seq(sql::Db& db, const std::string& subject) {
  auto stmt = db.prepare(
      "SELECT seq FROM events WHERE name = ? AND kind = 'version.registered' AND subject = ? "
      "ORDER BY seq LIMIT 1");
  stmt.bind_all(subject.substr(0, subject.find('@')), subject);
  if (!stmt.step()) return std::nullopt;
  return stmt.int64(0);
}

sql::Db replay_database() {
  sql::Db db = sql::Db::open(":memory:", sql::OpenMode::read_write_create, std::chrono::seconds(0));
  migrate(db);
  return db;
}

// Applies one event to the replay; an event the tables cannot take (a
// second registration of a version, say) is itself a difference.
void replay(sql::Db& replayed, const Event& event, std::vector<TableDifference>& out) {
  try {
    apply_event(replayed, event);
  } catch (const Error& e) {
    std::string what = e.what();
    if (what.find("UNIQUE constraint") != std::string::npos) {
      what = "it registers " + quote(event.subject) + " a second time";
    }
    out.push_back({event.subject, "event " + std::to_string(event.seq) + " cannot be applied: " + what});
  }
}

}  // namespace

std::vector<TableDifference> compare_tables_with_log(sql::Db& db) {
  std::vector<TableDifference> out;
  sql::Db replayed = replay_database();
  auto events = load_events(db, "", 0);
  {
    sql::Transaction txn(replayed);
    for (auto it = events.rbegin(); it != events.rend(); ++it) replay(replayed, *it, out);
    txn.commit();
  }
  for (const auto& q : table_queries()) compare_table(replayed, db, q, nullptr, out);
  return out;
}

std::vector<TableDifference> compare_versions_with_log(sql::Db& db,
                                                       const std::vector<std::int64_t>& event_seqs) {
  std::vector<TableDifference> out;
  sql::Db replayed = replay_database();
  std::set<std::string> subjects;
  // The named versions' events, and those of every version they link to
  // (their rows must exist in the replay), applied in log order.
  std::map<std::int64_t, Event> needed;
  std::vector<std::int64_t> pending = event_seqs;
  while (!pending.empty()) {
    const std::int64_t seq = pending.back();
    pending.pop_back();
    if (needed.count(seq)) continue;
    const auto event = load_event(db, seq);
    if (!event || event->kind != "version.registered") {
      out.push_back({"event " + std::to_string(seq),
                     "registration event " + std::to_string(seq) + " is missing"});
      continue;
    }
    for (const char* relation : {"inputs", "parents"}) {
      for (const auto& end : event->payload.value(relation, Json::array())) {
        const std::string subject = end.value("name", "") + "@" + end.value("version", "");
        if (auto target = registration_seq(db, subject)) pending.push_back(*target);
      }
    }
    needed.emplace(seq, *event);
  }
  for (std::int64_t seq : event_seqs) {
    if (!needed.count(seq)) continue;
    const Json& p = needed.at(seq).payload;
    if (auto v = try_parse_semver(p.value("version", ""))) {
      subjects.insert(p.value("name", "") + "@" + v->key());
    }
  }
  {
    sql::Transaction txn(replayed);
    for (const auto& [seq, event] : needed) replay(replayed, event, out);
    txn.commit();
  }
  // Only what registration alone decides: model summaries and stages
  // depend on the rest of the log, which this replay leaves out.
  const std::set<std::string> version_tables = {"versions", "files", "edges", "metadata"};
  for (const auto& q : table_queries()) {
    if (version_tables.count(q.table)) compare_table(replayed, db, q, &subjects, out);
  }
  return out;
}

}  // namespace lm
