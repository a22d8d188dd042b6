#pragma once
// After deployment, read side: the reference profiles, drift measurements
// and production feedback recorded for versions (profile.recorded,
// drift.measured, feedback.recorded), as the tables hold them. deploy/
// computes and records them.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "registry/core/json.hpp"
#include "registry/core/sqlite.hpp"

namespace lm {

struct StoredProfile {
  std::int64_t event_seq = 0;
  std::string data_sha256;
  std::string source;  // the path profiled, or "stored" for the version's own file
  Json profile;        // deploy/profile.hpp's JSON form
  std::string time;
  std::string actor;
};

// The latest profile recorded for the version, if any.
std::optional<StoredProfile> latest_profile(sql::Db& db, std::int64_t version_id);

struct DriftRecord {
  std::int64_t event_seq = 0;
  std::optional<std::string> environment;
  std::string data_sha256;
  std::int64_t rows = 0;
  bool drifted = false;
  double drifted_share = 0;
  double max_psi = 0;    // the largest PSI of any column
  Json columns;          // [{name, psi, ks?, drifted}]
  std::string time;
  std::string actor;
};

// Every drift measurement of the version, oldest first.
std::vector<DriftRecord> drift_history(sql::Db& db, std::int64_t version_id);

// The latest measurement of the version: of data from `environment` when
// one was measured there, else of any data.
std::optional<DriftRecord> latest_drift(sql::Db& db, std::int64_t version_id, const std::string& environment);

struct FeedbackRecord {
  std::int64_t event_seq = 0;
  std::string metric;
  double value = 0;
  std::string observed_at;
  std::optional<std::string> environment;
  std::string time;
  std::string actor;
};

// Every feedback value of the version, by metric, then as observed.
std::vector<FeedbackRecord> feedback_history(sql::Db& db, std::int64_t version_id);

}  // namespace lm
