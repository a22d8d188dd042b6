#include "deploy/records.hpp"

#include "registry/core/error.hpp"
#include "registry/core/files.hpp"
#include "registry/core/sha256.hpp"
#include "registry/events.hpp"
#include "registry/projection.hpp"
#include "registry/promote.hpp"
#include "registry/stages.hpp"

namespace lm::deploy {

namespace {

// Each manifest's path, hash and size, read once; a manifest that does not
// name the version's digest adds a warning.
Json manifest_entries(const std::vector<ManifestFile>& files, const VersionRecord& v,
                      std::vector<std::string>& warnings) {
  const std::string hex = v.digest.substr(v.digest.find(':') + 1);
  Json entries = Json::array();
  for (const auto& file : files) {
    std::error_code ec;
    if (std::filesystem::is_directory(file.path, ec)) {
      throw Error(ExitCode::usage, "--manifest " + quote(file.recorded_as) + " is a directory",
                  "name each manifest file: --manifest DIR/kubernetes.yaml");
    }
    const std::string bytes = read_file(file.path);
    if (bytes.find(hex) == std::string::npos) {
      warnings.push_back(quote(file.recorded_as) + " does not name " + v.ref() + "'s digest " +
                         v.digest.substr(0, 19) + "...; was it rendered for another version?");
    }
    entries.push_back({{"path", file.recorded_as},
                       {"sha256", Sha256::hex_of(bytes)},
                       {"size", bytes.size()}});
  }
  return entries;
}

std::optional<std::string> stage_for(sql::Db& db, const Policy& policy, const RecordRequest& request,
                                     const VersionRecord& v) {
  if (!request.stage.empty()) return require_stage(policy, request.stage).name;
  if (request.ref.kind == Ref::Kind::stage) return request.ref.stage;
  if (policy.stage(request.environment)) return request.environment;
  return furthest_stage_holding(db, v.name, v.id, policy.stage_names());
}

std::optional<Deployment> current_in(sql::Db& db, const std::string& name, const std::string& environment) {
  for (auto& d : current_deployments(db, name)) {
    if (d.environment == environment) return std::move(d);
  }
  return std::nullopt;
}

}  // namespace

RecordResult record_deployment(Registry& registry, const Policy& policy, const RecordRequest& request) {
  validate_environment(request.environment);
  registry.require_writable();
  sql::Db& db = registry.db();
  const VersionRecord v = resolve_model_version(db, request.ref);
  const std::optional<std::string> stage = stage_for(db, policy, request, v);
  RecordResult result;
  const Json manifests = manifest_entries(request.manifests, v, result.warnings);
  sql::Transaction txn(db);
  result.before = current_in(db, v.name, request.environment);
  const Json payload = {{"name", v.name},
                        {"version", v.version},
                        {"digest", v.digest},
                        {"environment", request.environment},
                        {"stage", stage ? Json(*stage) : Json()},
                        {"manifests", manifests}};
  const Event event = append_event(db, "deployment.recorded", v.ref(), v.name, payload, request.actor);
  apply_event(db, event);
  result.deployment = *current_in(db, v.name, request.environment);
  txn.commit();
  return result;
}

Json deployment_json(const Deployment& d) {
  return {{"environment", d.environment},
          {"version", d.version},
          {"digest", d.digest},
          {"stage", d.stage ? Json(*d.stage) : Json()},
          {"since", d.time},
          {"by", d.actor},
          {"manifests", d.manifests},
          {"event", d.event_seq}};
}

}  // namespace lm::deploy
