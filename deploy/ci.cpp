#include "deploy/ci.hpp"

#include <algorithm>
#include <set>

#include "deploy/embedded.hpp"
#include "deploy/template.hpp"
#include "registry/core/error.hpp"
#include "registry/core/git.hpp"
#include "registry/core/sha256.hpp"

namespace lm::deploy {

namespace {

namespace fs = std::filesystem;

const char* template_file(CiProvider provider) {
  return provider == CiProvider::github ? "github.yml.mustache" : "gitlab-ci.yml.mustache";
}

Template builtin_template(CiProvider provider) {
  const std::string path = std::string("ci/") + template_file(provider);
  for (const auto& f : embedded_files()) {
    if (f.path == path) return parse_template(template_file(provider), f.bytes, "built-in " + path);
  }
  throw Error(ExitCode::internal, "the built-in template " + quote(path) + " is missing");
}

// A value written into the file. GitHub evaluates "${{ ... }}" anywhere in
// a workflow, even inside a quoted string, and has no escape for it.
void check_value(const CiRequest& r, const std::string& value, const std::string& what) {
  if (!valid_utf8(value)) throw Error(ExitCode::usage, what + " " + quote(value) + " is not UTF-8 text");
  if (r.provider == CiProvider::github && value.find("${{") != std::string::npos) {
    throw Error(ExitCode::usage, what + " " + quote(value) + " contains '${{', which GitHub reads as an expression",
                "rename it; a GitHub workflow cannot hold that text as it is");
  }
}

void check_request(const CiRequest& r) {
  if (r.models.empty()) throw Error(ExitCode::usage, "no model to write a CI configuration for");
  std::set<std::string> seen;
  for (const auto& m : r.models) {
    validate_name(m.name, "model");
    if (!seen.insert(m.name).second) throw Error(ExitCode::usage, "model " + quote(m.name) + " is given twice");
    if (m.path.empty()) throw Error(ExitCode::usage, "the path of model " + quote(m.name) + " is empty");
    check_value(r, m.path, "the path of " + quote(m.name));
    check_value(r, m.metrics, "the metrics file of " + quote(m.name));
  }
  validate_stage(r.stage);
  if (!git::valid_branch_name(r.branch)) {
    throw Error(ExitCode::usage, "invalid branch name " + quote(r.branch), "git's rules apply: see git-check-ref-format(1)");
  }
  check_value(r, r.branch, "the branch");
  const bool control = std::any_of(r.source.begin(), r.source.end(),
                                   [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
  if (r.source.empty() || control) {
    throw Error(ExitCode::usage, "invalid --source " + quote(r.source), "give the git URL of lastmile's source");
  }
  check_value(r, r.source, "--source");
}

// A branch as a GitHub filter pattern that matches only that branch: the
// characters GitHub treats as wildcards are escaped.
std::string branch_pattern(const std::string& branch) {
  std::string out;
  for (const char c : branch) {
    if (std::string_view("*?+[]!").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

Json context(const CiRequest& r) {
  Json models = Json::array();
  for (const auto& m : r.models) {
    Json model = {{"name", m.name}, {"path", m.path}, {"gitlab", {{"job", "lastmile " + m.name}}}};
    if (!m.metrics.empty()) model["metrics"] = m.metrics;
    models.push_back(std::move(model));
  }
  // One cached build per version and source: a fork at the same version is
  // another build.
  const std::string cache_key =
      "lastmile-" + r.version + "-debian-12-" + Sha256::hex_of(r.source).substr(0, 12);
  // GitHub expressions, inserted as quoted values the runner evaluates.
  const Json github = {{"job_name", "lastmile ${{ matrix.model }}"},
                       {"model", "${{ matrix.model }}"},
                       {"path", "${{ matrix.path }}"},
                       {"metrics", "${{ matrix.metrics }}"},
                       {"junit_artifact", "lastmile-junit-${{ strategy.job-index }}"}};
  return {{"models", models},
          {"stage", r.stage},
          {"branch", r.branch},
          {"branch_pattern", branch_pattern(r.branch)},
          {"lastmile_version", r.version},
          {"source", r.source},
          {"cache_key", cache_key},
          {"github", github}};
}

fs::path without_trailing_separator(fs::path p) {
  if (!p.has_filename() && p.has_parent_path() && p != p.root_path()) p = p.parent_path();
  return p;
}

}  // namespace

CiProvider parse_ci_provider(std::string_view name) {
  if (name == "github") return CiProvider::github;
  if (name == "gitlab") return CiProvider::gitlab;
  throw Error(ExitCode::usage, "unknown CI provider " + quote(name), "use github or gitlab");
}

fs::path ci_config_path(CiProvider provider) {
  return provider == CiProvider::github ? fs::path(".github/workflows/lastmile.yml") : fs::path(".gitlab-ci.yml");
}

std::string render_ci(const CiRequest& request) {
  check_request(request);
  return render_template(builtin_template(request.provider), context(request));
}

std::string ci_stage(const PolicyLoad& load, const std::string& given) {
  const auto& stages = load.policy.stages;
  std::string stage = given;
  if (stage.empty()) stage = stages.size() >= 2 && !stages[1].name.empty() ? stages[1].name : "staging";
  validate_stage(stage);
  if (load.ok() && !load.policy.stage(stage)) {
    std::string names;
    for (const auto& s : stages) names += (names.empty() ? "" : ", ") + s.name;
    throw Error(ExitCode::usage,
                std::string(load.policy.from_file ? "lastmile.yaml" : "the default policy") + " has no stage " +
                    quote(stage),
                "the stages are " + names + "; choose one with --stage");
  }
  return stage;
}

std::string path_in_work_tree(const fs::path& top, const fs::path& cwd, const std::string& given,
                              const std::string& what) {
  if (given.empty()) throw Error(ExitCode::usage, what + " is empty");
  const fs::path full = without_trailing_separator((cwd / given).lexically_normal());
  const fs::path inside = full.lexically_relative(without_trailing_separator(top));
  if (inside.empty() || *inside.begin() == "..") {
    throw Error(ExitCode::usage, what + " " + quote(given) + " is outside the git work tree " + quote(top.string()),
                "a CI job has only the repository's checkout");
  }
  return inside.generic_string();
}

std::string registered_path(const VersionRecord& latest, const fs::path& top) {
  try {
    return path_in_work_tree(top, top, latest.source, "path");
  } catch (const Error&) {
    throw Error(ExitCode::usage,
                quote(latest.ref()) + " was registered from " + quote(latest.source) +
                    ", outside the git work tree " + quote(top.string()),
                "a CI job has only the repository's checkout: give the model's path in it with --path");
  }
}

std::vector<std::string> ci_warnings(const CiRequest& request, const Policy& policy, const fs::path& top) {
  std::vector<std::string> warnings;
  const auto check_path = [&](const std::string& path, const std::string& what) {
    if (path.empty()) return;
    std::error_code ec;
    if (!fs::exists(top / path, ec)) {
      warnings.push_back(quote(path) + " (" + what + ") does not exist in the work tree");
    } else if (git::in_head_commit(top, path) == false) {
      warnings.push_back(quote(path) + " (" + what + ") is not in the last commit; a CI job has only what is committed");
    }
  };
  std::vector<std::string> metrics;  // what the stage's gates read
  if (const StageSpec* stage = policy.stage(request.stage); stage && stage->approvals > 0) {
    // A job starts with an empty registry: nobody has approved anything in it.
    warnings.push_back(quote(request.stage) + " needs " + std::to_string(stage->approvals) +
                       " approval(s), which a CI job's new registry never holds: its gate and promote "
                       "steps will fail; choose a stage without approvals (--stage)");
  }
  if (const StageSpec* stage = policy.stage(request.stage)) {
    for (const auto& g : stage->gates) {
      const bool reads_metric = g.kind == GateSpec::Kind::metric_min || g.kind == GateSpec::Kind::metric_max ||
                                g.kind == GateSpec::Kind::no_worse_than;
      if (reads_metric) metrics.push_back(g.metric);
      for (const auto& field : g.required) {
        if (field.rfind("metric:", 0) == 0) metrics.push_back(field.substr(7));
      }
    }
  }
  std::string metric_list;
  for (const auto& m : metrics) metric_list += (metric_list.empty() ? "" : ", ") + m;
  for (const auto& m : request.models) {
    check_path(m.path, "the path of " + quote(m.name));
    check_path(m.metrics, "the metrics file of " + quote(m.name));
    if (m.metrics.empty() && !metrics.empty()) {
      warnings.push_back("the gates of " + quote(request.stage) + " read " + metric_list + ", and " + quote(m.name) +
                         " has no metrics file (--metrics): registered in CI without metrics, it fails them");
    }
  }
  return warnings;
}

}  // namespace lm::deploy
