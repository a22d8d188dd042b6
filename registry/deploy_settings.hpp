#pragma once
// Deployment settings: the `deploy:` mapping of lastmile.yaml, a --values
// file and --set assignments all have this one shape, checked here, so a
// typo such as `replica: 3` is an error instead of a silent default.
//
//   name, namespace          Kubernetes names (checked when a template uses them)
//   image                    the server image, ideally pinned by digest
//   storage_uri              where the server reads the model, e.g. "s3://m/{{name}}/{{version}}"
//   model_format             the format to serve it as, when the registry's is missing or wrong
//   replicas, port           whole numbers
//   protocol, runtime        inference protocol ("v2") and KServe runtime
//   resources                {cpu, memory, gpu}
//   probes                   {live, ready}: HTTP paths
//   command                  the server's argv (systemd, compose)
//   values                   anything else a team's own templates use
//
// Every text setting is itself a Mustache pattern over the model's fields.

#include <string>
#include <string_view>
#include <vector>

#include "registry/core/json.hpp"

namespace lm {

struct SettingProblem {
  std::vector<std::string> path;  // keys below `deploy`, e.g. {"resources", "cpu"}
  std::string message;            // names the setting, e.g. "deploy.replicas must be ..."
};

// The settings every deployment starts from: one replica on port 8080,
// Open Inference Protocol v2 health probes, 1 CPU and 2Gi of memory.
Json default_deploy_settings();

// Checks settings and puts them in canonical form in place (a number given
// for a text setting becomes text; null removes a setting). Returns every
// problem; the settings are unusable unless the list is empty.
std::vector<SettingProblem> normalise_deploy_settings(Json& settings);

// `overlay` laid over `base`: mappings merge key by key, anything else
// replaces; a null in `overlay` removes the key.
Json merge_settings(Json base, const Json& overlay);

// Applies one --set KEY=VALUE: KEY is a dotted path below deploy
// ("resources.memory"), VALUE reads as a YAML scalar, or as a flow list or
// mapping when it starts with [ or {. Throws Error(usage).
void apply_set(Json& settings, std::string_view assignment);

// "deploy.resources.cpu", for messages: control characters in a key escaped.
std::string setting_name(const std::vector<std::string>& path);

}  // namespace lm
