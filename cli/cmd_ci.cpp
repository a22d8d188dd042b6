// lastmile ci init github|gitlab: a CI configuration that registers, gates
// and promotes the project's models, written into the repository.

#include <map>

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "cli/views.hpp"
#include "deploy/ci.hpp"
#include "registry/core/error.hpp"
#include "registry/core/files.hpp"
#include "registry/core/git.hpp"

namespace lm::cli {

namespace {

namespace fs = std::filesystem;

struct CiOptions {
  std::string provider;
  std::vector<std::string> models;
  std::vector<std::string> paths;
  std::vector<std::string> metrics;
  std::string stage;
  std::string branch;
  std::string source = LASTMILE_HOMEPAGE;
  std::string out;
  bool force = false;
};

// The latest registration of each model in the registry, or nullopt when
// there is no registry.
std::optional<std::map<std::string, VersionRecord>> registered_models(Context& ctx) {
  std::error_code ec;
  if (!fs::exists(ctx.location().dir / "registry.db", ec)) return std::nullopt;
  std::map<std::string, VersionRecord> latest;
  for (auto& v : all_versions(ctx.registry().db())) {
    if (v.kind == "model") latest[v.name] = std::move(v);  // registration order: the last one stays
  }
  return latest;
}

// --path and --metrics go with the --model in the same position; without
// --model, with the one model the registry has.
void check_counts(const CiOptions& o, std::size_t models) {
  const auto paired = [&](const std::vector<std::string>& values, const char* flag) {
    if (values.empty() || values.size() == models) return;
    if (o.models.empty()) {
      throw Error(ExitCode::usage,
                  std::string(flag) + " without --model needs a registry with one model; it has " +
                      std::to_string(models),
                  std::string("give --model NAME ") + flag + " VALUE for each model");
    }
    throw Error(ExitCode::usage, std::to_string(values.size()) + " " + flag + " for " + std::to_string(models) + " --model",
                std::string("give ") + flag + " once after each --model, in the same order");
  };
  paired(o.paths, "--path");
  paired(o.metrics, "--metrics");
}

std::vector<deploy::CiModel> choose_models(Context& ctx, const CiOptions& o, const fs::path& top) {
  const bool need_registry = o.models.empty() || o.paths.size() != o.models.size();
  const auto registered = need_registry ? registered_models(ctx) : std::nullopt;
  std::vector<std::string> names = o.models;
  if (names.empty()) {
    if (!registered || registered->empty()) {
      throw Error(ExitCode::usage,
                  std::string("no model given, and ") +
                      (registered ? "the registry has no model" : "there is no registry here to take them from"),
                  "name each model with --model NAME --path PATH");
    }
    for (const auto& [name, v] : *registered) names.push_back(name);
  }
  check_counts(o, names.size());
  std::vector<deploy::CiModel> models;
  for (std::size_t i = 0; i < names.size(); ++i) {
    deploy::CiModel m;
    m.name = names[i];
    validate_name(m.name, "model");
    if (!o.paths.empty()) {
      m.path = deploy::path_in_work_tree(top, ctx.cwd(), o.paths[i], "--path");
    } else if (registered && registered->count(m.name)) {
      m.path = deploy::registered_path(registered->at(m.name), top);
    } else {
      throw Error(ExitCode::usage, "no --path for model " + quote(m.name) + ", and no registration of it to take one from",
                  "give its path in the repository with --path after --model");
    }
    if (!o.metrics.empty() && !o.metrics[i].empty()) {
      m.metrics = deploy::path_in_work_tree(top, ctx.cwd(), o.metrics[i], "--metrics");
    }
    models.push_back(std::move(m));
  }
  return models;
}

std::string default_branch(const fs::path& top) {
  const auto provenance = git::read_provenance(top);
  return provenance && !provenance->branch.empty() ? provenance->branch : "main";
}

Json request_json(const deploy::CiRequest& r) {
  Json models = Json::array();
  for (const auto& m : r.models) {
    models.push_back({{"name", m.name}, {"path", m.path}, {"metrics", m.metrics.empty() ? Json() : Json(m.metrics)}});
  }
  return {{"models", models}, {"stage", r.stage}, {"branch", r.branch}, {"version", r.version}, {"source", r.source}};
}

// Writes `text` to `path` unless a different file is there and --force is
// not given. Returns what happened: "written", "replaced" or "unchanged".
std::string write_config(const fs::path& path, const std::string& shown, const std::string& text, bool force) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw Error(ExitCode::usage, quote(shown) + " is a directory");
  if (!lstat_path(path)) {
    make_directories(path.parent_path());
    write_file_atomic(path, text);
    return "written";
  }
  if (read_file(path) == text) return "unchanged";
  if (!force) {
    throw Error(ExitCode::check_failed, quote(shown) + " exists",
                "use --force to replace it, or --out - to print the configuration instead");
  }
  write_file_atomic(path, text);
  return "replaced";
}

int run_init(Context& ctx, const CiOptions& o) {
  const deploy::CiProvider provider = deploy::parse_ci_provider(o.provider);
  const auto top = git::work_tree_top(ctx.cwd());
  if (!top) {
    throw Error(ExitCode::usage, "not in a git work tree",
                "run 'lastmile ci init' in the repository the CI configuration is for");
  }
  deploy::CiRequest request;
  request.provider = provider;
  request.models = choose_models(ctx, o, *top);
  const PolicyLoad& policy = ctx.policy();
  request.stage = deploy::ci_stage(policy, o.stage);
  request.branch = o.branch.empty() ? default_branch(*top) : o.branch;
  request.version = LASTMILE_VERSION;
  request.source = o.source;
  const std::string text = deploy::render_ci(request);

  std::vector<std::string> warnings = deploy::ci_warnings(request, policy.policy, *top);
  if (!policy.ok()) warnings.push_back("lastmile.yaml has problems ('lastmile policy check'); the CI job stops there");
  const auto depth = git::read_clone_depth(*top);
  if (depth && depth->shallow) warnings.push_back(shallow_clone_warning(*depth));

  const bool to_stdout = o.out == "-";
  const fs::path relative = deploy::ci_config_path(provider);
  const std::string shown = o.out.empty() ? relative.generic_string() : o.out;
  const fs::path path = o.out.empty() ? *top / relative : ctx.cwd() / o.out;
  const std::string action = to_stdout ? "printed" : write_config(path, shown, text, o.force);

  const Output& out = ctx.out();
  for (const auto& w : warnings) out.warn(w);
  if (out.json()) {
    Json doc = request_json(request);
    doc["provider"] = o.provider;
    doc["file"] = to_stdout ? Json("-") : Json(path.lexically_normal().string());
    doc["action"] = action;
    doc["shallow"] = depth && depth->shallow;
    doc["warnings"] = warnings;
    if (to_stdout) doc["content"] = text;
    out.json_document(doc);
    return 0;
  }
  if (to_stdout) {
    out.line(std::string_view(text).substr(0, text.size() - 1));  // line() ends it
    return 0;
  }
  out.line(action + " " + shown);
  if (action != "unchanged") {
    out.note("pull requests to " + quote(request.branch) + " evaluate the gates of " + quote(request.stage) +
             "; pushes to it promote; commit " + shown + " to turn it on");
  }
  return 0;
}

}  // namespace

Command ci_command() {
  auto o = std::make_shared<CiOptions>();
  return {"ci", "write a CI configuration that registers, gates and promotes the models on every push",
          [o](CLI::App& sub) {
            sub.require_subcommand(1);
            CLI::App* init = sub.add_subcommand(
                "init", "write .github/workflows/lastmile.yml (github) or .gitlab-ci.yml (gitlab)");
            init->add_option("PROVIDER", o->provider, "github or gitlab")
                ->required()
                ->check(CLI::IsMember({"github", "gitlab"}));
            init->add_option("--model", o->models,
                             "a model the job registers, gates and promotes; repeatable (default: every "
                             "model in the registry)")
                ->type_name("NAME")
                ->allow_extra_args(false);
            init->add_option("--path", o->paths,
                             "the model's file or directory in the repository, once per --model (default: "
                             "where its latest version was registered from)")
                ->type_name("PATH")
                ->allow_extra_args(false);
            init->add_option("--metrics", o->metrics,
                             "the metrics file registered with the model, once per --model (\"\" for none)")
                ->type_name("FILE")
                ->allow_extra_args(false);
            init->add_option("--stage", o->stage,
                             "the stage whose gates run and that pushes promote to (default: the stage after "
                             "the first in lastmile.yaml, else staging)")
                ->type_name("S");
            init->add_option("--branch", o->branch,
                             "the branch whose pushes promote (default: the current branch, else main)")
                ->type_name("B");
            init->add_option("--source", o->source, "the git URL the job builds lastmile from")
                ->type_name("URL")
                ->capture_default_str();
            init->add_option("--out", o->out, "write to FILE instead, or - for stdout")->type_name("FILE|-");
            init->add_flag("--force", o->force, "replace a file that is there");
          },
          [o](Context& ctx) { return run_init(ctx, *o); }};
}

}  // namespace lm::cli
