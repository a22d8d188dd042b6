#include "registry/monitoring.hpp"

#include "registry/core/error.hpp"

namespace lm {

namespace {

std::optional<std::string> optional_text(sql::Stmt& stmt, int column) {
  if (stmt.is_null(column)) return std::nullopt;
  return stmt.text(column);
}

Json stored_json(const std::string& text, const char* table) {
  return parse_json(text, std::string("the registry's ") + table + " table");
}

constexpr const char* k_drift_columns =
    "SELECT event_seq, environment, data_sha256, rows, drifted, drifted_share, max_psi, columns, time, actor "
    "FROM drift_measurements ";

DriftRecord drift_row(sql::Stmt& stmt) {
  DriftRecord d;
  d.event_seq = stmt.int64(0);
  d.environment = optional_text(stmt, 1);
  d.data_sha256 = stmt.text(2);
  d.rows = stmt.int64(3);
  d.drifted = stmt.int64(4) != 0;
  d.drifted_share = stmt.real(5);
  d.max_psi = stmt.real(6);
  d.columns = stored_json(stmt.text(7), "drift_measurements");
  d.time = stmt.text(8);
  d.actor = stmt.text(9);
  return d;
}

}  // namespace

std::optional<StoredProfile> latest_profile(sql::Db& db, std::int64_t version_id) {
  auto stmt = db.prepare(
      "SELECT event_seq, data_sha256, source, profile, time, actor FROM profiles "
      "WHERE version_id = ? ORDER BY event_seq DESC LIMIT 1");
  stmt.bind(1, version_id);
  if (!stmt.step()) return std::nullopt;
  StoredProfile p;
  p.event_seq = stmt.int64(0);
  p.data_sha256 = stmt.text(1);
  p.source = stmt.text(2);
  p.profile = stored_json(stmt.text(3), "profiles");
  p.time = stmt.text(4);
  p.actor = stmt.text(5);
  return p;
}

std::vector<DriftRecord> drift_history(sql::Db& db, std::int64_t version_id) {
  auto stmt = db.prepare(std::string(k_drift_columns) + "WHERE version_id = ? ORDER BY event_seq");
  stmt.bind(1, version_id);
  std::vector<DriftRecord> out;
  while (stmt.step()) out.push_back(drift_row(stmt));
  return out;
}

std::optional<DriftRecord> latest_drift(sql::Db& db, std::int64_t version_id, const std::string& environment) {
  // Data from the stage's own environment first; any data otherwise.
  auto stmt = db.prepare(std::string(k_drift_columns) +
                         "WHERE version_id = ? ORDER BY (environment IS ?) DESC, event_seq DESC LIMIT 1");
  stmt.bind_all(version_id, environment);
  if (!stmt.step()) return std::nullopt;
  return drift_row(stmt);
}

std::vector<FeedbackRecord> feedback_history(sql::Db& db, std::int64_t version_id) {
  auto stmt = db.prepare(
      "SELECT event_seq, metric, value, observed_at, environment, time, actor FROM feedback "
      "WHERE version_id = ? ORDER BY metric, observed_at, event_seq");
  stmt.bind(1, version_id);
  std::vector<FeedbackRecord> out;
  while (stmt.step()) {
    FeedbackRecord f;
    f.event_seq = stmt.int64(0);
    f.metric = stmt.text(1);
    f.value = stmt.real(2);
    f.observed_at = stmt.text(3);
    f.environment = optional_text(stmt, 4);
    f.time = stmt.text(5);
    f.actor = stmt.text(6);
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace lm
