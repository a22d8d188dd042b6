#include "deploy/monitor.hpp"

#include <cmath>

#include "registry/core/clock.hpp"
#include "registry/core/error.hpp"
#include "registry/core/sha256.hpp"
#include "registry/deployments.hpp"
#include "registry/events.hpp"
#include "registry/lineage.hpp"
#include "registry/metadata.hpp"
#include "registry/projection.hpp"
#include "registry/store.hpp"

namespace lm::deploy {

namespace {

// The file a version holds itself, when it is one table.
std::pair<std::filesystem::path, ManifestEntry> own_file(Registry& registry, const VersionRecord& v) {
  const Manifest manifest = load_manifest(registry.db(), v.id);
  if (!v.single_file || manifest.size() != 1) {
    throw Error(ExitCode::usage,
                quote(v.ref()) + " holds " + std::to_string(manifest.size()) + " files; say which data to profile",
                "lastmile profile " + v.ref() + " --data FILE");
  }
  const ManifestEntry& entry = manifest.front();
  const std::filesystem::path path =
      v.store == "copy" ? registry.store().object_path(entry.sha256) : std::filesystem::path(v.source);
  return {path, entry};
}

Json base_payload(const VersionRecord& v) {
  return {{"name", v.name}, {"version", v.version}, {"digest", v.digest}};
}

std::int64_t record(sql::Db& db, const char* kind, const VersionRecord& v, Json payload, const std::string& actor) {
  sql::Transaction txn(db);
  const Event event = append_event(db, kind, v.ref(), v.name, std::move(payload), actor);
  apply_event(db, event);
  txn.commit();
  return event.seq;
}

// A column's line in the log: enough for a gate and a report, not the bins.
Json column_summary(const ColumnDrift& c) {
  Json j = {{"name", c.name}, {"psi", c.psi}, {"drifted", c.drifted}, {"count", c.count},
            {"missing", c.missing}, {"invalid", c.invalid}};
  if (c.ks) j["ks"] = *c.ks;
  if (c.ks_pvalue) j["ks_pvalue"] = *c.ks_pvalue;
  return j;
}

double largest_psi(const DriftResult& r) {
  double most = 0;
  for (const auto& c : r.columns) most = std::max(most, c.psi);
  return most;
}

}  // namespace

ProfileRecord record_profile(Registry& registry, const ProfileRequest& request) {
  registry.require_writable();
  sql::Db& db = registry.db();
  ProfileRecord out;
  out.version = resolve(db, request.ref);
  ProfileOptions options = request.options;
  Sha256 hash;
  options.table.hash = &hash;
  std::filesystem::path path;
  std::optional<ManifestEntry> registered;  // the version's own file, when that is profiled
  if (request.data) {
    path = request.data->path;
    out.source = request.data->recorded_as;
  } else {
    auto [stored, entry] = own_file(registry, out.version);
    path = stored;
    out.source = "stored";
    if (!options.table.format) options.table.format = table_format_for(entry.path);
    registered = std::move(entry);
  }
  const auto changed = [&] {
    return Error(ExitCode::data, quote(out.version.ref()) + "'s file " + quote(registered->path) +
                                     " no longer has its registered bytes",
                 "'lastmile verify " + out.version.ref() + "' shows what changed");
  };
  try {
    out.profile = profile_table(path, options);
  } catch (const Error& e) {
    // Stored bytes that no longer parse: say that they changed, not how.
    if (registered && e.code() == ExitCode::data && hash_file(path, nullptr).sha256 != registered->sha256) {
      throw changed();
    }
    throw;
  }
  out.data_sha256 = hash.hex_final();
  if (registered && out.data_sha256 != registered->sha256) throw changed();
  Json payload = base_payload(out.version);
  payload["data_sha256"] = out.data_sha256;
  payload["source"] = out.source;
  payload["profile"] = profile_to_json(out.profile);
  record(db, "profile.recorded", out.version, std::move(payload), request.actor);
  return out;
}

std::pair<VersionRecord, StoredProfile> profile_for(sql::Db& db, const VersionRecord& v) {
  if (auto own = latest_profile(db, v.id)) return {v, std::move(*own)};
  for (const auto& edge : edges_from(db, v.id)) {
    if (edge.relation != "input") continue;
    if (auto theirs = latest_profile(db, edge.to)) return {versions_by_ids(db, {edge.to}).at(0), std::move(*theirs)};
  }
  throw Error(ExitCode::not_found, quote(v.ref()) + " has no reference profile, nor has any dataset it was made from",
              "record one: lastmile profile " + v.ref() + " --data TRAINING_DATA (or profile its input dataset)");
}

DriftRecordResult record_drift(Registry& registry, const DriftRequest& request) {
  if (request.environment) validate_environment(*request.environment);
  registry.require_writable();
  sql::Db& db = registry.db();
  DriftRecordResult out;
  out.version = resolve(db, request.ref);
  const auto [owner, stored] = profile_for(db, out.version);
  out.profile_of = owner.ref();
  const Profile profile = profile_from_json(stored.profile, "the profile of " + owner.ref());
  DriftOptions options = request.options;
  if (request.reference) options.reference = request.reference->path;
  Sha256 hash;
  options.table.hash = &hash;
  out.result = measure_drift(profile, request.current.path, options);
  out.data_sha256 = hash.hex_final();
  Json payload = base_payload(out.version);
  payload["profile_of"] = out.profile_of;
  payload["data"] = request.current.recorded_as;
  payload["data_sha256"] = out.data_sha256;
  payload["rows"] = out.result.rows;
  payload["environment"] = request.environment ? Json(*request.environment) : Json();
  payload["psi_threshold"] = options.psi_threshold;
  payload["max_share"] = options.max_share;
  payload["drifted"] = out.result.drifted;
  payload["drifted_share"] = out.result.drifted_share;
  payload["max_psi"] = largest_psi(out.result);
  Json columns = Json::array();
  for (const auto& c : out.result.columns) columns.push_back(column_summary(c));
  payload["columns"] = columns;
  payload["missing_columns"] = out.result.missing_columns;
  out.event_seq = record(db, "drift.measured", out.version, std::move(payload), request.actor);
  return out;
}

Json drift_record_json(const DriftRecordResult& r) {
  Json j = drift_to_json(r.result);
  j["name"] = r.version.name;
  j["version"] = r.version.version;
  j["profile_of"] = r.profile_of;
  j["data_sha256"] = r.data_sha256;
  j["event"] = r.event_seq;
  return j;
}

FeedbackResult record_feedback(Registry& registry, const FeedbackRequest& request) {
  if (request.metrics.empty()) {
    throw Error(ExitCode::usage, "no outcome to record", "give --metric NAME=VALUE (repeatable)");
  }
  for (const auto& [key, value] : request.metrics) {
    validate_key(key, "--metric");
    if (!std::isfinite(value)) throw Error(ExitCode::usage, "--metric " + quote(key) + " is not a finite number");
  }
  if (request.environment) validate_environment(*request.environment);
  FeedbackResult out;
  out.observed_at = now_rfc3339();
  if (!request.observed_at.empty()) {
    const auto ns = parse_rfc3339(request.observed_at);
    if (!ns) {
      throw Error(ExitCode::usage, "--time " + quote(request.observed_at) + " is not a time",
                  "give an RFC 3339 time or a date: 2026-11-24T18:00:00Z, 2026-11-24");
    }
    out.observed_at = format_rfc3339(*ns);
  }
  registry.require_writable();
  sql::Db& db = registry.db();
  out.version = resolve(db, request.ref);
  Json payload = base_payload(out.version);
  payload["metrics"] = request.metrics;
  payload["observed_at"] = out.observed_at;
  payload["environment"] = request.environment ? Json(*request.environment) : Json();
  out.event_seq = record(db, "feedback.recorded", out.version, std::move(payload), request.actor);
  return out;
}

}  // namespace lm::deploy
