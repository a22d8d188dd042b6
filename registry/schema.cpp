#include "registry/schema.hpp"

#include <string>
#include <vector>

#include "registry/core/error.hpp"

namespace lm {

namespace {

// migrations[i] takes the schema from version i to i + 1. Never edit one
// that has shipped; add a new one.
const std::vector<const char*> k_migrations = {
    R"sql(
CREATE TABLE events (
  seq     INTEGER PRIMARY KEY,
  id      TEXT NOT NULL UNIQUE,
  prev    TEXT NOT NULL,
  time    TEXT NOT NULL,
  actor   TEXT NOT NULL,
  kind    TEXT NOT NULL,
  subject TEXT NOT NULL,
  name    TEXT NOT NULL,     -- model the event is about; derived from subject
  payload TEXT NOT NULL      -- canonical JSON
);
CREATE INDEX events_by_name ON events(name, seq);

CREATE TABLE models (
  id            INTEGER PRIMARY KEY,
  name          TEXT NOT NULL UNIQUE,
  kind          TEXT NOT NULL CHECK (kind IN ('model', 'dataset')),
  created_seq   INTEGER NOT NULL REFERENCES events(seq),
  version_count INTEGER NOT NULL DEFAULT 0,
  latest        TEXT,      -- highest release version, NULL while only pre-releases
  updated_at    TEXT NOT NULL
);

CREATE TABLE versions (
  id            INTEGER PRIMARY KEY,
  model_id      INTEGER NOT NULL REFERENCES models(id),
  version       TEXT NOT NULL,   -- as registered, build metadata included
  version_key   TEXT NOT NULL,   -- without build metadata: equal keys, equal precedence
  major         INTEGER NOT NULL,
  minor         INTEGER NOT NULL,
  patch         INTEGER NOT NULL,
  prerelease    TEXT NOT NULL,   -- '' for a release
  digest        TEXT NOT NULL,
  size          INTEGER NOT NULL,
  file_count    INTEGER NOT NULL,
  single_file   INTEGER NOT NULL,  -- registered from a file, not a directory
  store         TEXT NOT NULL CHECK (store IN ('copy', 'reference')),
  format        TEXT NOT NULL,   -- detected or given: onnx, pytorch, mlflow, ... or 
  source        TEXT NOT NULL,
  owner         TEXT NOT NULL,
  description   TEXT NOT NULL,
  git_commit    TEXT,
  git_branch    TEXT,
  git_dirty     INTEGER,
  git_remote    TEXT,
  registered_at TEXT NOT NULL,
  registered_by TEXT NOT NULL,
  event_seq     INTEGER NOT NULL REFERENCES events(seq),
  UNIQUE (model_id, version_key)
);
CREATE INDEX versions_by_digest ON versions(digest);
CREATE INDEX versions_by_order ON versions(model_id, major, minor, patch);

CREATE TABLE files (
  version_id INTEGER NOT NULL REFERENCES versions(id),
  path       TEXT NOT NULL,
  size       INTEGER NOT NULL,
  sha256     TEXT NOT NULL,     -- '' for a symlink
  executable INTEGER NOT NULL,
  link       TEXT NOT NULL,     -- symlink target, '' for a file
  PRIMARY KEY (version_id, path)
) WITHOUT ROWID;
CREATE INDEX files_by_sha256 ON files(sha256);

-- Lineage: what a version was made from. Edges point at exact versions
-- (the event records their digests too).
CREATE TABLE edges (
  version_id INTEGER NOT NULL REFERENCES versions(id),
  relation   TEXT NOT NULL CHECK (relation IN ('input', 'parent')),
  target_id  INTEGER NOT NULL REFERENCES versions(id),
  PRIMARY KEY (version_id, relation, target_id)
) WITHOUT ROWID;
CREATE INDEX edges_by_target ON edges(target_id, version_id);

CREATE TABLE metadata (
  version_id INTEGER NOT NULL REFERENCES versions(id),
  kind       TEXT NOT NULL CHECK (kind IN ('metric', 'param', 'label')),
  key        TEXT NOT NULL,
  number     REAL,
  text       TEXT,
  PRIMARY KEY (version_id, kind, key)
) WITHOUT ROWID;

-- What a file looked like when its hash was last confirmed; lets verify
-- skip rehashing files whose stat has not changed. A cache, not history.
CREATE TABLE stat_cache (
  path     TEXT PRIMARY KEY,
  sha256   TEXT NOT NULL,
  size     INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL,
  ctime_ns INTEGER NOT NULL,
  ino      INTEGER NOT NULL,
  dev      INTEGER NOT NULL,
  racy     INTEGER NOT NULL   -- recorded too soon after a change to be trusted
) WITHOUT ROWID;
)sql",
    R"sql(
-- Every move of a stage, in log order: registration landing in the first
-- stage, promotions and rollbacks. Time travel and "has it been in
-- staging?" read it.
CREATE TABLE stage_history (
  event_seq   INTEGER PRIMARY KEY REFERENCES events(seq),
  model_id    INTEGER NOT NULL REFERENCES models(id),
  stage       TEXT NOT NULL,
  action      TEXT NOT NULL CHECK (action IN ('registered', 'promoted', 'rolled_back')),
  version_id  INTEGER NOT NULL REFERENCES versions(id),
  replaced_id INTEGER REFERENCES versions(id),  -- what the stage held before
  previous_id INTEGER REFERENCES versions(id),  -- what a rollback from here restores
  time        TEXT NOT NULL,
  actor       TEXT NOT NULL,
  reason      TEXT NOT NULL
);
CREATE INDEX stage_history_by_stage ON stage_history(model_id, stage, event_seq);
CREATE INDEX stage_history_by_version ON stage_history(version_id, stage);

-- What each stage holds now. The key makes "one version per model per
-- stage" a property of the table, not of the code.
CREATE TABLE stage_assignments (
  model_id   INTEGER NOT NULL REFERENCES models(id),
  stage      TEXT NOT NULL,
  version_id INTEGER NOT NULL REFERENCES versions(id),
  event_seq  INTEGER NOT NULL REFERENCES stage_history(event_seq),
  PRIMARY KEY (model_id, stage)
) WITHOUT ROWID;

CREATE TABLE approvals (
  version_id INTEGER NOT NULL REFERENCES versions(id),
  stage      TEXT NOT NULL,
  actor      TEXT NOT NULL,
  comment    TEXT NOT NULL,
  time       TEXT NOT NULL,
  event_seq  INTEGER NOT NULL REFERENCES events(seq),
  PRIMARY KEY (version_id, stage, actor)
) WITHOUT ROWID;

-- One row per evaluation of a stage's gates; `results` is the JSON array
-- the event carries (gate, verdict, measured value, threshold).
CREATE TABLE gate_results (
  event_seq  INTEGER PRIMARY KEY REFERENCES events(seq),
  version_id INTEGER NOT NULL REFERENCES versions(id),
  stage      TEXT NOT NULL,
  passed     INTEGER NOT NULL,
  time       TEXT NOT NULL,
  actor      TEXT NOT NULL,
  results    TEXT NOT NULL
);
CREATE INDEX gate_results_by_version ON gate_results(version_id, stage, event_seq);

-- Time travel (--at) finds the end of the log at a moment by time.
CREATE INDEX events_by_time ON events(time);
)sql",
    R"sql(
-- Where versions run: each row says that from this event on, an
-- environment runs a version. `stage` is the stage the environment serves,
-- when known; `manifests` the JSON array of files applied with their hashes.
CREATE TABLE deployments (
  event_seq   INTEGER PRIMARY KEY REFERENCES events(seq),
  model_id    INTEGER NOT NULL REFERENCES models(id),
  version_id  INTEGER NOT NULL REFERENCES versions(id),
  environment TEXT NOT NULL,
  stage       TEXT,
  manifests   TEXT NOT NULL,
  time        TEXT NOT NULL,
  actor       TEXT NOT NULL
);
CREATE INDEX deployments_by_environment ON deployments(model_id, environment, event_seq);
)sql",
    R"sql(
-- What each log remote held when this registry last synchronised with it:
-- its head event and commit. Events up to the highest seq here have been
-- published and are never rewritten. Not derived from the log.
CREATE TABLE sync_state (
  remote    TEXT PRIMARY KEY,
  url       TEXT NOT NULL,
  seq       INTEGER NOT NULL,   -- the remote's last event (0: an empty log)
  event_id  TEXT NOT NULL,      -- its id ('' for an empty log)
  commit_id TEXT NOT NULL,      -- the remote's refs/lastmile/log ('' when absent)
  time      TEXT NOT NULL       -- when this registry last saw it
);

-- Where versions' bytes were pushed (artifact.pushed): a blob remote and
-- the location there (an OCI reference pinned by digest, or a directory).
CREATE TABLE artifact_locations (
  event_seq  INTEGER PRIMARY KEY REFERENCES events(seq),
  version_id INTEGER NOT NULL REFERENCES versions(id),
  remote     TEXT NOT NULL,
  location   TEXT NOT NULL,
  time       TEXT NOT NULL,
  actor      TEXT NOT NULL
);
CREATE INDEX artifact_locations_by_version ON artifact_locations(version_id, remote);
)sql",
    R"sql(
-- After deployment. A reference profile of the data a version was trained
-- on or holds (profile.recorded): per column, bins and counts, so drift
-- needs only the profile. The latest event of a version is its profile.
CREATE TABLE profiles (
  event_seq   INTEGER PRIMARY KEY REFERENCES events(seq),
  version_id  INTEGER NOT NULL REFERENCES versions(id),
  data_sha256 TEXT NOT NULL,     -- the file profiled
  source      TEXT NOT NULL,     -- where it was read: a path, or 'stored'
  profile     TEXT NOT NULL,     -- canonical JSON (deploy/profile.hpp)
  time        TEXT NOT NULL,
  actor       TEXT NOT NULL
);
CREATE INDEX profiles_by_version ON profiles(version_id, event_seq);

-- Each drift measurement of a version's profile against current data
-- (drift.measured): the verdict, and per column PSI and KS in `columns`.
CREATE TABLE drift_measurements (
  event_seq     INTEGER PRIMARY KEY REFERENCES events(seq),
  version_id    INTEGER NOT NULL REFERENCES versions(id),
  environment   TEXT,              -- where the data came from, when said
  data_sha256   TEXT NOT NULL,
  rows          INTEGER NOT NULL,
  drifted       INTEGER NOT NULL,
  drifted_share REAL NOT NULL,
  max_psi       REAL NOT NULL,
  columns       TEXT NOT NULL,     -- JSON array
  time          TEXT NOT NULL,
  actor         TEXT NOT NULL
);
CREATE INDEX drift_by_version ON drift_measurements(version_id, event_seq);

-- Outcomes observed in production (feedback.recorded): one row per metric.
CREATE TABLE feedback (
  event_seq   INTEGER NOT NULL REFERENCES events(seq),
  version_id  INTEGER NOT NULL REFERENCES versions(id),
  metric      TEXT NOT NULL,
  value       REAL NOT NULL,
  observed_at TEXT NOT NULL,       -- when it was observed (--time), else the event's time
  environment TEXT,
  time        TEXT NOT NULL,
  actor       TEXT NOT NULL,
  PRIMARY KEY (event_seq, metric)
);
CREATE INDEX feedback_by_version ON feedback(version_id, metric, observed_at);
)sql",
};

}  // namespace

int schema_version(sql::Db& db) {
  return static_cast<int>(db.query_int("PRAGMA user_version").value_or(0));
}

void configure_connection(sql::Db& db) {
  db.exec("PRAGMA foreign_keys = ON");
  db.exec("PRAGMA synchronous = FULL");
}

void migrate(sql::Db& db) {
  const int current = schema_version(db);
  if (current > k_schema_version) {
    throw Error(ExitCode::data,
                "registry schema v" + std::to_string(current) + " is newer than supported v" +
                    std::to_string(k_schema_version),
                "upgrade lastmile to use this registry");
  }
  if (current == k_schema_version) return;
  sql::Transaction txn(db);
  // Read again under the write lock: another process may have migrated.
  const int locked = schema_version(db);
  for (int v = locked; v < k_schema_version; ++v) db.exec(k_migrations[static_cast<std::size_t>(v)]);
  db.exec("PRAGMA user_version = " + std::to_string(k_schema_version));
  txn.commit();
}

}  // namespace lm
