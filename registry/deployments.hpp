#pragma once
// Where versions run: read-side queries over the deployments table, which
// 'deploy record' fills through the event log (deployment.recorded).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "registry/core/json.hpp"
#include "registry/core/sqlite.hpp"
#include "registry/query.hpp"

namespace lm {

struct Deployment {
  std::int64_t event_seq = 0;
  std::string model;
  std::string environment;
  std::optional<std::string> stage;  // the stage the environment serves
  std::int64_t version_id = 0;
  std::string version;
  std::string digest;
  Json manifests = Json::array();  // [{path, sha256, size}]
  std::string time;
  std::string actor;
};

// What each environment ran of `name` at `at`: its latest record, ordered
// by environment.
std::vector<Deployment> current_deployments(sql::Db& db, const std::string& name, const AsOf& at = {});

// Environment names: a lowercase letter, then lowercase letters, digits and
// '-', at most 63 (they often name a namespace or a cluster). Throws
// Error(usage).
void validate_environment(std::string_view name);

}  // namespace lm
