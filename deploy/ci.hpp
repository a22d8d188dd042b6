#pragma once
// CI configuration that registers, gates and promotes models on every push:
// a GitHub Actions workflow or a GitLab CI pipeline, rendered from the
// templates under templates/ci/. Every value goes in as a quoted YAML
// scalar and reaches a script only as an environment variable.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "registry/policy.hpp"
#include "registry/query.hpp"

namespace lm::deploy {

enum class CiProvider { github, gitlab };

// Throws Error(usage) naming the providers there are.
CiProvider parse_ci_provider(std::string_view name);

// Where the provider reads its configuration, relative to the top of the
// work tree: .github/workflows/lastmile.yml, .gitlab-ci.yml.
std::filesystem::path ci_config_path(CiProvider provider);

struct CiModel {
  std::string name;
  std::string path;     // the artifact, relative to the top of the work tree
  std::string metrics;  // a metrics file, relative likewise; "" for none
};

struct CiRequest {
  CiProvider provider = CiProvider::github;
  std::vector<CiModel> models;
  std::string stage;    // evaluated, and promoted to from the branch
  std::string branch;   // the branch whose pushes promote
  std::string version;  // lastmile's own, whose source the job builds
  std::string source;   // the git URL of lastmile's source
};

// The configuration file's text. Throws Error(usage) for a bad model
// name, a name given twice, a bad stage or branch name, an empty path,
// text that is not UTF-8, and in a GitHub workflow any "${{" (GitHub
// would evaluate it as an expression).
std::string render_ci(const CiRequest& request);

// The stage a CI job gates and promotes to: `given`, else the stage after
// the one registration lands in, else "staging". Throws Error(usage) when
// a policy without problems has no such stage.
std::string ci_stage(const PolicyLoad& policy, const std::string& given);

// `given` (a path as the user typed it, relative to `cwd`) relative to the
// top of the work tree `top`, with '/' separators. Throws Error(usage)
// naming `what` when it is empty or outside the work tree: a CI job has
// only the checkout.
std::string path_in_work_tree(const std::filesystem::path& top, const std::filesystem::path& cwd,
                              const std::string& given, const std::string& what);

// The artifact path of `latest` (a model's latest registration) relative
// to `top`. Throws Error(usage) when it was registered from outside the
// work tree, asking for --path.
std::string registered_path(const VersionRecord& latest, const std::filesystem::path& top);

// What may keep the CI job from working as the user expects, one sentence
// each: a path missing from the work tree, a model without a metrics file
// when the stage's gates read metrics.
std::vector<std::string> ci_warnings(const CiRequest& request, const Policy& policy,
                                     const std::filesystem::path& top);

}  // namespace lm::deploy
