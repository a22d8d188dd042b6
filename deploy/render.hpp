#pragma once
// From a registry reference to manifests: the template context (what the
// registry knows about the version, plus the deployment settings) and the
// rendering of each target.

#include <filesystem>
#include <string>
#include <vector>

#include "deploy/catalog.hpp"
#include "registry/core/sqlite.hpp"
#include "registry/names.hpp"
#include "registry/query.hpp"

namespace lm::deploy {

struct SettingsSources {
  Json policy = Json::object();                  // deploy: in lastmile.yaml (checked already)
  std::vector<std::filesystem::path> values_files;  // --values, in order
  std::vector<std::string> sets;                 // --set KEY=VALUE, in order
};

// The defaults, overlaid by lastmile.yaml, each --values file and each
// --set, in that order. Throws Error(data) for a malformed values file,
// Error(not_found) for a missing one, Error(usage) for a bad --set.
Json merge_deploy_settings(const SettingsSources& sources);

struct ContextRequest {
  Ref ref;
  SettingsSources settings;
  std::vector<std::string> stage_order;  // the policy's stages, first to last
};

struct ManifestContext {
  VersionRecord version;
  Json context;
};

// Resolves the reference (a model, not a dataset) and builds everything a
// template can use. Text settings are rendered as patterns over the model's
// fields, so storage_uri "s3://m/{{name}}/{{version}}" becomes concrete.
ManifestContext build_context(sql::Db& db, const ContextRequest& request);

struct RenderedFile {
  std::string target;
  std::string file_name;
  std::string text;
  std::string sha256;  // of text
};

// Renders each target (in the order given) with the checks that keep a
// manifest acceptable to Kubernetes: deploy.name is a DNS-1035 label,
// deploy.namespace an RFC 1123 label, version_label a label value.
std::vector<RenderedFile> render_targets(const Catalog& catalog, const std::vector<std::string>& targets,
                                         const Json& context);

// KServe's and Seldon's name for a model format lastmile recognises
// ("keras" is served as "tensorflow"); other formats pass through.
std::string serving_format(const std::string& format);

// "500m" -> 0.5, "2" -> 2; nullopt when it is not a CPU quantity.
std::optional<double> cpu_cores(const std::string& quantity);
// "2Gi" -> 2147483648, "512M" -> 512000000; nullopt when it is not a byte quantity.
std::optional<std::uint64_t> memory_bytes(const std::string& quantity);

}  // namespace lm::deploy
