#pragma once
// Deployment records: 'deploy record' notes in the event log that an
// environment now runs a version, with the hashes of the manifests applied,
// so 'status' can say what runs where and flag an environment left behind
// by a promotion or a rollback.

#include <filesystem>
#include <string>
#include <vector>

#include "registry/deployments.hpp"
#include "registry/names.hpp"
#include "registry/policy.hpp"
#include "registry/registry.hpp"

namespace lm::deploy {

struct ManifestFile {
  std::filesystem::path path;  // where to read it
  std::string recorded_as;     // the name kept in the log: relative to the project when inside it
};

struct RecordRequest {
  Ref ref;
  std::string environment;
  std::string stage;  // --stage; "" to infer it
  std::vector<ManifestFile> manifests;
  std::string actor;
};

struct RecordResult {
  Deployment deployment;
  std::optional<Deployment> before;  // what the environment ran until now
  // A manifest that does not name the version's digest: rendered for
  // another version, perhaps, if the stage moved between render and record.
  std::vector<std::string> warnings;
};

// The stage is --stage, else the one the reference names (fraud@production),
// else the environment's name when it is a stage, else the furthest stage
// holding the version now. Throws Error(not_found) for a missing manifest
// or version, Error(usage) for a bad environment name; nothing is written then.
RecordResult record_deployment(Registry& registry, const Policy& policy, const RecordRequest& request);

// The deployment as JSON: environment, version, digest, stage, since, by,
// manifests, event.
Json deployment_json(const Deployment& d);

}  // namespace lm::deploy
