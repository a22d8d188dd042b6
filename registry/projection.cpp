#include "registry/projection.hpp"

#include <optional>
#include <vector>

#include "registry/artifact.hpp"
#include "registry/core/error.hpp"
#include "registry/names.hpp"

namespace lm {

namespace {

std::int64_t ensure_model(sql::Db& db, const std::string& name, const std::string& kind,
                          const Event& event) {
  auto find = db.prepare("SELECT id FROM models WHERE name = ?");
  find.bind(1, name);
  if (find.step()) return find.int64(0);
  db.prepare("INSERT INTO models (name, kind, created_seq, updated_at) VALUES (?, ?, ?, ?)")
      .bind_all(name, kind, event.seq, event.time)
      .run();
  return db.last_insert_rowid();
}

void update_model_summary(sql::Db& db, std::int64_t model_id, const Semver& version,
                          const Event& event) {
  std::optional<Semver> latest;
  auto current = db.prepare("SELECT latest FROM models WHERE id = ?");
  current.bind(1, model_id);
  if (current.step() && !current.is_null(0)) latest = try_parse_semver(current.text(0));
  if (!version.is_prerelease() && (!latest || *latest < version)) latest = version;
  auto update = db.prepare(
      "UPDATE models SET version_count = version_count + 1, latest = ?, updated_at = ? "
      "WHERE id = ?");
  if (latest) {
    update.bind(1, latest->str());
  } else {
    update.bind(1, nullptr);
  }
  update.bind(2, event.time).bind(3, model_id).run();
}

void insert_files(sql::Db& db, std::int64_t version_id, const Manifest& manifest) {
  auto stmt = db.prepare(
      "INSERT INTO files (version_id, path, size, sha256, executable, link) "
      "VALUES (?, ?, ?, ?, ?, ?)");
  for (const auto& e : manifest) {
    stmt.bind_all(version_id, e.path, static_cast<std::int64_t>(e.size), e.sha256, e.executable,
                  e.link);
    stmt.run();
    stmt.reset();
  }
}

void insert_metadata(sql::Db& db, std::int64_t version_id, const Json& payload) {
  auto stmt = db.prepare(
      "INSERT INTO metadata (version_id, kind, key, number, text) VALUES (?, ?, ?, ?, ?)");
  for (const auto& [key, value] : payload.at("metrics").items()) {
    stmt.bind_all(version_id, "metric", key, value.get<double>(), nullptr).run();
    stmt.reset();
  }
  for (const char* kind : {"param", "label"}) {
    for (const auto& [key, value] : payload.at(std::string(kind) + "s").items()) {
      stmt.bind_all(version_id, kind, key, nullptr, value.get<std::string>()).run();
      stmt.reset();
    }
  }
}

// Resolves a version named in an event ({name, version, digest}) to its
// row; the version must exist and still have the recorded digest.
std::int64_t version_row(sql::Db& db, const Json& end, const Event& event) {
  const std::string name = end.at("name").get<std::string>();
  const Semver version = parse_semver(end.at("version").get<std::string>());
  auto stmt = db.prepare(
      "SELECT v.id, v.digest FROM versions v JOIN models m ON m.id = v.model_id "
      "WHERE m.name = ? AND v.version_key = ?");
  stmt.bind_all(name, version.key());
  if (!stmt.step() || stmt.text(1) != end.at("digest").get<std::string>()) {
    throw Error(ExitCode::data, "event " + std::to_string(event.seq) + " names " +
                                    quote(name + "@" + version.str()) +
                                    ", which is not in the registry with its digest");
  }
  return stmt.int64(0);
}

void insert_edges(sql::Db& db, std::int64_t version_id, const Json& payload, const Event& event) {
  auto stmt = db.prepare("INSERT OR IGNORE INTO edges (version_id, relation, target_id) VALUES (?, ?, ?)");
  for (const char* relation : {"input", "parent"}) {
    const std::string key = std::string(relation) + "s";
    if (!payload.contains(key)) continue;
    for (const auto& end : payload.at(key)) {
      stmt.bind_all(version_id, relation, version_row(db, end, event)).run();
      stmt.reset();
    }
  }
}

struct StageMoveRow {
  std::int64_t model_id = 0;
  std::string stage;
  std::string action;  // registered, promoted, rolled_back
  std::int64_t version_id = 0;
  std::optional<std::int64_t> replaced;
  std::optional<std::int64_t> previous;
};

std::optional<std::int64_t> holder(sql::Db& db, std::int64_t model_id, const std::string& stage) {
  auto stmt = db.prepare("SELECT version_id FROM stage_assignments WHERE model_id = ? AND stage = ?");
  stmt.bind_all(model_id, stage);
  if (!stmt.step()) return std::nullopt;
  return stmt.int64(0);
}

void bind_optional(sql::Stmt& stmt, int index, const std::optional<std::int64_t>& value) {
  if (value) {
    stmt.bind(index, *value);
  } else {
    stmt.bind(index, nullptr);
  }
}

// Appends the move to the stage's history and makes it the stage's holder.
void record_move(sql::Db& db, const StageMoveRow& move, const Event& event) {
  auto history = db.prepare(
      "INSERT INTO stage_history (event_seq, model_id, stage, action, version_id, replaced_id, "
      "previous_id, time, actor, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  history.bind_all(event.seq, move.model_id, move.stage, move.action, move.version_id);
  bind_optional(history, 6, move.replaced);
  bind_optional(history, 7, move.previous);
  history.bind(8, event.time).bind(9, event.actor);
  history.bind(10, event.payload.value("reason", "")).run();
  db.prepare(
        "INSERT INTO stage_assignments (model_id, stage, version_id, event_seq) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (model_id, stage) DO UPDATE SET version_id = excluded.version_id, "
        "event_seq = excluded.event_seq")
      .bind_all(move.model_id, move.stage, move.version_id, event.seq)
      .run();
}

std::int64_t model_of_version(sql::Db& db, std::int64_t version_id) {
  auto stmt = db.prepare("SELECT model_id FROM versions WHERE id = ?");
  stmt.bind(1, version_id);
  stmt.step();
  return stmt.int64(0);
}

// The event's `replaced` ({name, version, digest} or null) must be what the
// stage holds: a move records exactly the holder it displaced.
std::optional<std::int64_t> checked_replaced(sql::Db& db, const StageMoveRow& move,
                                             const Event& event) {
  const Json& replaced = event.payload.at("replaced");
  const auto recorded =
      replaced.is_null() ? std::nullopt : std::optional<std::int64_t>(version_row(db, replaced, event));
  if (recorded != holder(db, move.model_id, move.stage)) {
    throw Error(ExitCode::data, "event " + std::to_string(event.seq) + " replaces a version " +
                                    quote(move.stage) + " did not hold at that point of the log");
  }
  return recorded;
}

// One move in a stage's history and the move a rollback from it returns to.
struct HistoryLink {
  std::int64_t version_id = 0;
  std::optional<std::size_t> back;  // index of that earlier move
};

// Where a rollback to `version_id` lands in `links` when the stage's current
// move is the last one: the move the current one links back to when it put
// that version in place (a plain rollback), else the version's latest move
// (rollback --to). nullopt when the stage never held the version.
std::optional<std::size_t> rollback_target(const std::vector<HistoryLink>& links,
                                           std::int64_t version_id) {
  if (links.empty()) return std::nullopt;
  const auto back = links.back().back;
  if (back && links[*back].version_id == version_id) return back;
  for (std::size_t i = links.size(); i-- > 0;) {
    if (links[i].version_id == version_id) return i;
  }
  return std::nullopt;
}

// The stage's history, each move linked to the move a rollback from it
// restores: a registration or promotion links to the move it displaced; a
// rollback links to where the move it restored linked. Links only point
// back in time, by move rather than by version, so repeated rollbacks walk
// back and stop at the first move even when a version held the stage twice
// (by version alone they would bounce between two versions forever).
std::vector<HistoryLink> history_links(sql::Db& db, std::int64_t model_id, const std::string& stage) {
  auto stmt = db.prepare(
      "SELECT action, version_id FROM stage_history WHERE model_id = ? AND stage = ? ORDER BY event_seq");
  stmt.bind_all(model_id, stage);
  std::vector<HistoryLink> links;
  while (stmt.step()) {
    HistoryLink link{stmt.int64(1), std::nullopt};
    if (stmt.text(0) != "rolled_back") {
      if (!links.empty()) link.back = links.size() - 1;
    } else if (const auto target = rollback_target(links, link.version_id)) {
      link.back = links[*target].back;
    }
    links.push_back(link);
  }
  return links;
}

// The version a rollback from the restored version would put back next.
std::optional<std::int64_t> rolled_back_previous(sql::Db& db, const StageMoveRow& move,
                                                 const Event& event) {
  const auto links = history_links(db, move.model_id, move.stage);
  const auto target = rollback_target(links, move.version_id);
  if (!target) {
    throw Error(ExitCode::data, "event " + std::to_string(event.seq) + " rolls " + quote(move.stage) +
                                    " back to a version it never held");
  }
  const auto back = links[*target].back;
  if (!back) return std::nullopt;
  return links[*back].version_id;
}

void apply_stage_move(sql::Db& db, const Event& event, const std::string& action) {
  const Json& p = event.payload;
  StageMoveRow move;
  move.version_id = version_row(db, p, event);
  move.model_id = model_of_version(db, move.version_id);
  move.stage = p.at("stage").get<std::string>();
  move.action = action;
  move.replaced = checked_replaced(db, move, event);
  move.previous = action == "promoted" ? move.replaced : rolled_back_previous(db, move, event);
  record_move(db, move, event);
}

void apply_approval(sql::Db& db, const Event& event) {
  const Json& p = event.payload;
  db.prepare(
        "INSERT INTO approvals (version_id, stage, actor, comment, time, event_seq) "
        "VALUES (?, ?, ?, ?, ?, ?)")
      .bind_all(version_row(db, p, event), p.at("stage").get<std::string>(), event.actor,
                p.value("comment", ""), event.time, event.seq)
      .run();
}

// Labels set or removed, a new description or owner: what changed only.
void apply_annotated(sql::Db& db, const Event& event) {
  const Json& p = event.payload;
  const std::int64_t version_id = version_row(db, p, event);
  if (p.contains("labels")) {
    auto upsert = db.prepare(
        "INSERT INTO metadata (version_id, kind, key, number, text) VALUES (?, 'label', ?, NULL, ?) "
        "ON CONFLICT (version_id, kind, key) DO UPDATE SET text = excluded.text");
    for (const auto& [key, value] : p.at("labels").items()) {
      upsert.bind_all(version_id, key, value.get<std::string>()).run();
      upsert.reset();
    }
  }
  if (p.contains("remove_labels")) {
    auto remove = db.prepare("DELETE FROM metadata WHERE version_id = ? AND kind = 'label' AND key = ?");
    for (const auto& key : p.at("remove_labels")) {
      remove.bind_all(version_id, key.get<std::string>()).run();
      remove.reset();
      if (db.changes() != 1) {
        throw Error(ExitCode::data, "event " + std::to_string(event.seq) + " removes label " +
                                        quote(key.get<std::string>()) + ", which " + event.subject + " does not have");
      }
    }
  }
  if (p.contains("description")) {
    db.prepare("UPDATE versions SET description = ? WHERE id = ?")
        .bind_all(p.at("description").get<std::string>(), version_id)
        .run();
  }
  if (p.contains("owner")) {
    db.prepare("UPDATE versions SET owner = ? WHERE id = ?").bind_all(p.at("owner").get<std::string>(), version_id).run();
  }
}

void apply_gate_evaluation(sql::Db& db, const Event& event) {
  const Json& p = event.payload;
  db.prepare(
        "INSERT INTO gate_results (event_seq, version_id, stage, passed, time, actor, results) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)")
      .bind_all(event.seq, version_row(db, p, event), p.at("stage").get<std::string>(),
                p.at("passed").get<bool>(), event.time, event.actor, canonical_json(p.at("gates")))
      .run();
}

void apply_deployment(sql::Db& db, const Event& event) {
  const Json& p = event.payload;
  const std::int64_t version_id = version_row(db, p, event);
  auto model = db.prepare("SELECT model_id FROM versions WHERE id = ?");
  model.bind(1, version_id);
  model.step();
  auto insert = db.prepare(
      "INSERT INTO deployments (event_seq, model_id, version_id, environment, stage, manifests, "
      "time, actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  insert.bind_all(event.seq, model.int64(0), version_id, p.at("environment").get<std::string>());
  if (p.at("stage").is_string()) {
    insert.bind(5, p.at("stage").get<std::string>());
  } else {
    insert.bind(5, nullptr);
  }
  insert.bind(6, canonical_json(p.at("manifests"))).bind(7, event.time).bind(8, event.actor).run();
}

void apply_artifact_pushed(sql::Db& db, const Event& event) {
  const Json& p = event.payload;
  db.prepare(
        "INSERT INTO artifact_locations (event_seq, version_id, remote, location, time, actor) "
        "VALUES (?, ?, ?, ?, ?, ?)")
      .bind_all(event.seq, version_row(db, p, event), p.at("remote").get<std::string>(),
                p.at("location").get<std::string>(), event.time, event.actor)
      .run();
}

// A string member that may be absent or null: SQL NULL then.
void bind_optional_text(sql::Stmt& stmt, int index, const Json& payload, const char* key) {
  if (payload.contains(key) && payload.at(key).is_string()) {
    stmt.bind(index, payload.at(key).get<std::string>());
  } else {
    stmt.bind(index, nullptr);
  }
}

void apply_profile(sql::Db& db, const Event& event) {
  const Json& p = event.payload;
  db.prepare(
        "INSERT INTO profiles (event_seq, version_id, data_sha256, source, profile, time, actor) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)")
      .bind_all(event.seq, version_row(db, p, event), p.at("data_sha256").get<std::string>(),
                p.at("source").get<std::string>(), canonical_json(p.at("profile")), event.time, event.actor)
      .run();
}

void apply_drift(sql::Db& db, const Event& event) {
  const Json& p = event.payload;
  auto insert = db.prepare(
      "INSERT INTO drift_measurements (event_seq, version_id, environment, data_sha256, rows, drifted, "
      "drifted_share, max_psi, columns, time, actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  insert.bind_all(event.seq, version_row(db, p, event));
  bind_optional_text(insert, 3, p, "environment");
  insert.bind(4, p.at("data_sha256").get<std::string>())
      .bind(5, p.at("rows").get<std::int64_t>())
      .bind(6, p.at("drifted").get<bool>())
      .bind(7, p.at("drifted_share").get<double>())
      .bind(8, p.at("max_psi").get<double>())
      .bind(9, canonical_json(p.at("columns")))
      .bind(10, event.time)
      .bind(11, event.actor)
      .run();
}

void apply_feedback(sql::Db& db, const Event& event) {
  const Json& p = event.payload;
  const std::int64_t version_id = version_row(db, p, event);
  const Json metrics = p.at("metrics");  // items() must not outlive it
  auto insert = db.prepare(
      "INSERT INTO feedback (event_seq, version_id, metric, value, observed_at, environment, time, actor) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  for (const auto& [metric, value] : metrics.items()) {
    insert.bind_all(event.seq, version_id, metric, value.get<double>(), p.at("observed_at").get<std::string>());
    bind_optional_text(insert, 6, p, "environment");
    insert.bind(7, event.time).bind(8, event.actor).run();
    insert.reset();
  }
}

void apply_registered(sql::Db& db, const Event& event) {
  const Json& p = event.payload;
  const std::string name = p.at("name").get<std::string>();
  const Semver version = parse_semver(p.at("version").get<std::string>());
  const std::int64_t model_id = ensure_model(db, name, p.at("kind").get<std::string>(), event);
  const Manifest manifest = manifest_from_json(p.at("files"));
  auto insert = db.prepare(
      "INSERT INTO versions (model_id, version, version_key, major, minor, patch, prerelease, "
      "digest, size, file_count, store, source, owner, description, git_commit, git_branch, "
      "git_dirty, git_remote, registered_at, registered_by, event_seq, single_file, format) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  insert.bind_all(model_id, version.str(), version.key(), static_cast<std::int64_t>(version.major),
                  static_cast<std::int64_t>(version.minor),
                  static_cast<std::int64_t>(version.patch), version.prerelease_text(),
                  p.at("digest").get<std::string>(), p.at("size").get<std::int64_t>(),
                  p.at("file_count").get<std::int64_t>(), p.at("store").get<std::string>(),
                  p.at("source").get<std::string>(), p.at("owner").get<std::string>(),
                  p.at("description").get<std::string>());
  const Json& git = p.at("git");
  if (git.is_object()) {
    insert.bind(15, git.at("commit").get<std::string>())
        .bind(16, git.at("branch").get<std::string>())
        .bind(17, git.at("dirty").get<bool>())
        .bind(18, git.at("remote").get<std::string>());
  } else {
    for (int i = 15; i <= 18; ++i) insert.bind(i, nullptr);
  }
  insert.bind(19, event.time).bind(20, event.actor).bind(21, event.seq);
  insert.bind(22, p.at("single_file").get<bool>());
  insert.bind(23, p.at("format").get<std::string>()).run();
  const std::int64_t version_id = db.last_insert_rowid();
  insert_files(db, version_id, manifest);
  insert_metadata(db, version_id, p);
  insert_edges(db, version_id, p, event);
  update_model_summary(db, model_id, version, event);
  // A model lands in the policy's first stage when it is registered.
  if (p.contains("stage") && p.at("stage").is_string()) {
    StageMoveRow move{model_id, p.at("stage").get<std::string>(), "registered", version_id};
    move.replaced = holder(db, model_id, move.stage);
    move.previous = move.replaced;
    record_move(db, move, event);
  }
}

}  // namespace

void apply_event(sql::Db& db, const Event& event) {
  try {
    if (event.kind == "version.registered") return apply_registered(db, event);
    if (event.kind == "stage.assigned") return apply_stage_move(db, event, "promoted");
    if (event.kind == "stage.rolled_back") return apply_stage_move(db, event, "rolled_back");
    if (event.kind == "approval.granted") return apply_approval(db, event);
    if (event.kind == "version.annotated") return apply_annotated(db, event);
    if (event.kind == "gate.evaluated") return apply_gate_evaluation(db, event);
    if (event.kind == "deployment.recorded") return apply_deployment(db, event);
    if (event.kind == "artifact.pushed") return apply_artifact_pushed(db, event);
    if (event.kind == "profile.recorded") return apply_profile(db, event);
    if (event.kind == "drift.measured") return apply_drift(db, event);
    if (event.kind == "feedback.recorded") return apply_feedback(db, event);
  } catch (const Json::exception& e) {
    throw Error(ExitCode::data, "event " + std::to_string(event.seq) + " (" + event.kind +
                                    ") has a malformed payload: " + e.what());
  } catch (const Error& e) {
    // A name or version in a payload was checked when the event was written:
    // one that does not parse now is damaged data, not a usage error.
    if (e.code() != ExitCode::usage) throw;
    throw Error(ExitCode::data, "event " + std::to_string(event.seq) + " (" + event.kind +
                                    ") has a malformed payload: " + e.what());
  }
  throw Error(ExitCode::data, "event " + std::to_string(event.seq) + " has unknown kind " +
                                  quote(event.kind),
              "a newer lastmile may have written it; upgrade lastmile");
}

void clear_tables(sql::Db& db) {
  // Children before parents, for the foreign keys.
  for (const char* table : {"feedback", "drift_measurements", "profiles", "artifact_locations", "deployments", "gate_results", "approvals", "stage_assignments",
                            "stage_history", "metadata", "edges", "files", "versions", "models"}) {
    db.exec(std::string("DELETE FROM ") + table);
  }
}

std::int64_t rebuild_tables(sql::Db& db) {
  clear_tables(db);
  auto stmt = db.prepare("SELECT seq, id, prev, time, actor, kind, subject, payload FROM events ORDER BY seq");
  std::int64_t count = 0;
  while (stmt.step()) {
    Event e;
    e.seq = stmt.int64(0);
    e.id = stmt.text(1);
    e.prev = stmt.text(2);
    e.time = stmt.text(3);
    e.actor = stmt.text(4);
    e.kind = stmt.text(5);
    e.subject = stmt.text(6);
    e.payload = parse_json(stmt.text(7), "event " + std::to_string(e.seq));
    apply_event(db, e);
    ++count;
  }
  return count;
}

}  // namespace lm
