#pragma once
// The policy: lastmile.yaml at the top of the repository. Stages form a
// directed graph (each lists the stages a version may come `from`; the
// first is where registration lands), and each stage has gates a version
// must pass and approvals it must have. Without the file the policy is
// sandbox -> staging -> production with no gates.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "registry/core/json.hpp"

namespace lm {

// Which way a metric improves.
enum class Better { higher, lower };

struct GateSpec {
  enum class Kind { metric_min, metric_max, no_worse_than, require, max_size, command, file, drift };
  Kind kind = Kind::metric_min;
  int line = 0;  // 1-based position in lastmile.yaml (0 for built-in)
  int column = 0;
  std::string metric;                 // metric gates
  double threshold = 0;               // metric_min / metric_max / file min and max
  double tolerance = 0;               // no_worse_than
  Better better = Better::higher;     // no_worse_than
  std::vector<std::string> required;  // require: owner, description, label:<key>, metric:<key>
  std::uint64_t max_bytes = 0;        // max_size
  std::vector<std::string> argv;      // command
  int timeout_seconds = 300;          // command
  std::string file;                   // file: a JSON report, relative to the repository
  std::string pointer;                // file: JSON pointer
  std::optional<Json> equals;         // file: the value it must equal
  std::optional<double> min, max;     // file: numeric bounds
  // drift: a column drifts when its PSI in the latest measurement is above
  // max_psi; the gate passes when at most max_share of the columns drift.
  // Unset in the gate, they come from the policy's drift: section.
  double max_psi = 0.2;
  double max_share = 0.3;

  // A short name for reports: "auc >= 0.8", "command ./smoke.sh", ...
  std::string name() const;
};

struct StageSpec {
  std::string name;
  std::vector<std::string> from;
  std::vector<GateSpec> gates;
  int approvals = 0;
  bool distinct_from_registrant = false;
  int line = 0;
};

struct Policy {
  std::vector<StageSpec> stages;
  std::filesystem::path path;  // empty for the built-in default
  bool from_file = false;
  // The `deploy:` settings as written (checked, not normalised: a null
  // removes a default when merged): see registry/deploy_settings.hpp.
  Json deploy = Json::object();
  // `git: {tags: true}`: registrations and promotions are mirrored as git
  // tags (registry/tags.hpp).
  bool git_tags = false;
  // `drift: {psi_threshold: 0.2, max_share: 0.3}`: what 'lastmile drift'
  // calls drift (a column past the PSI, the data past the share of drifting
  // columns) unless told otherwise, and the defaults of drift gates.
  double drift_psi_threshold = 0.2;
  double drift_max_share = 0.3;
  // `metrics: {eval.loss: {better: lower}}`: which way metrics improve
  // where no gate says so, for diff, report and no_worse_than gates that
  // leave `better` out.
  std::map<std::string, Better> declared_directions;

  const StageSpec* stage(const std::string& name) const;
  // The stages' names, first to last.
  std::vector<std::string> stage_names() const;
  // The direction each metric improves in: as the metrics: section
  // declares it, or as the gates imply it (a min gate or no_worse_than with
  // better: higher means higher; max, lower). The loader refuses the two
  // disagreeing.
  std::map<std::string, Better> metric_directions() const;
  std::size_t gate_count() const;
};

struct PolicyProblem {
  int line = 0;
  int column = 0;
  std::string message;
};

struct PolicyLoad {
  Policy policy;
  std::vector<PolicyProblem> problems;  // empty when the policy is valid

  bool ok() const { return problems.empty(); }
};

// The built-in policy used when there is no lastmile.yaml.
Policy default_policy();

// Reads `path` (the default policy when the file does not exist) and
// checks all of it, collecting every problem with its line and column.
// Throws only when the file exists but cannot be read.
PolicyLoad load_policy(const std::filesystem::path& path);

// Parses policy text; `source` names it in problems.
PolicyLoad parse_policy(std::string_view text, const std::filesystem::path& source);

// A commented lastmile.yaml equivalent to the default policy, with every
// gate kind shown as an example.
std::string example_policy();

// "500MiB", "2GB", "1024": bytes; nullopt when it does not parse.
std::optional<std::uint64_t> parse_size(std::string_view text);

}  // namespace lm
