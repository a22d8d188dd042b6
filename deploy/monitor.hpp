#pragma once
// After deployment, recorded: a version's reference profile, each drift
// measurement of current data against it, and the outcomes observed in
// production. Each is an event in the log (profile.recorded,
// drift.measured, feedback.recorded); registry/monitoring.hpp reads them.

#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "deploy/drift.hpp"
#include "deploy/profile.hpp"
#include "registry/monitoring.hpp"
#include "registry/names.hpp"
#include "registry/query.hpp"
#include "registry/registry.hpp"

namespace lm::deploy {

// A data file named on the command line: where to read it, and the name
// the log keeps (relative to the project when inside it).
struct DataFile {
  std::filesystem::path path;
  std::string recorded_as;
};

struct ProfileRequest {
  Ref ref;
  std::optional<DataFile> data;  // none: the version's own file (a dataset of one CSV or JSON Lines file)
  ProfileOptions options;
  std::string actor;
};

struct ProfileRecord {
  VersionRecord version;
  Profile profile;
  std::string data_sha256;
  std::string source;  // recorded_as, or "stored"
};

// Profiles the data and records it with the version, in one transaction
// after the data was read. Throws Error(usage) when the version has
// several files and no --data names one, Error(data) when its stored file
// no longer has its registered bytes, and what profile_table throws.
ProfileRecord record_profile(Registry& registry, const ProfileRequest& request);

struct DriftRequest {
  Ref ref;
  DataFile current;
  std::optional<DataFile> reference;  // raw reference data: exact KS with p-values
  std::optional<std::string> environment;
  DriftOptions options;  // thresholds from lastmile.yaml or the command line
  std::string actor;
};

struct DriftRecordResult {
  VersionRecord version;
  std::string profile_of;  // the version whose profile was used
  DriftResult result;
  std::string data_sha256;
  std::int64_t event_seq = 0;
};

// The profile drift compares with: the version's own, else that of the
// first dataset it was made from (--input) that has one. Throws
// Error(not_found) naming what to run when there is none.
std::pair<VersionRecord, StoredProfile> profile_for(sql::Db& db, const VersionRecord& v);

// Measures drift of the current data against the version's profile and
// records it (drift.measured).
DriftRecordResult record_drift(Registry& registry, const DriftRequest& request);

// The measurement as JSON, for --json and reports.
Json drift_record_json(const DriftRecordResult& r);

struct FeedbackRequest {
  Ref ref;
  std::map<std::string, double> metrics;  // finite values, valid metric keys
  std::string observed_at;                // RFC 3339; "" for now
  std::optional<std::string> environment;
  std::string actor;
};

struct FeedbackResult {
  VersionRecord version;
  std::string observed_at;
  std::int64_t event_seq = 0;
};

// Records outcomes observed in production (feedback.recorded). Throws
// Error(usage) for no metric, a bad time or environment name.
FeedbackResult record_feedback(Registry& registry, const FeedbackRequest& request);

}  // namespace lm::deploy
