// lastmile register NAME PATH and lastmile dataset register NAME PATH:
// record a new version of a model or a dataset.

#include <chrono>

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "cli/progress.hpp"
#include "cli/tagging.hpp"
#include "cli/views.hpp"
#include "registry/actor.hpp"
#include "registry/core/error.hpp"
#include "registry/core/files.hpp"
#include "registry/core/git.hpp"
#include "registry/format.hpp"
#include "registry/register.hpp"

namespace lm::cli {

namespace {

struct RegisterOptions {
  std::string kind;  // "model" or "dataset"
  std::string name;
  std::string path;
  std::string version;
  std::string bump;
  std::vector<std::string> metrics_files;
  std::vector<std::string> metrics;
  std::vector<std::string> params;
  std::vector<std::string> labels;
  std::string owner;
  std::string description;
  std::string store = "copy";
  std::string format;
  std::vector<std::string> inputs;   // DATASET_REF or NAME=PATH
  std::vector<std::string> parents;
  TagFlags tags;
};

// An --input given as NAME=PATH: a dataset registered on the way.
struct InputPath {
  std::string name;
  std::string path;
};

// Metrics from the files and --metric; what the files hold that is not a
// number goes to the labels (an explicit --label wins).
Metrics read_metrics(const RegisterOptions& o, StringMap& labels, const Context& ctx) {
  Metrics metrics;
  StringMap file_labels;
  // A later file wins over an earlier one, for metrics and labels alike.
  for (const auto& file : o.metrics_files) {
    std::string text;
    try {
      text = read_file(file);
    } catch (const Error& e) {
      throw Error(e.code(), std::string("cannot read metrics file: ") + e.what());
    }
    const MetricsFile parsed = parse_metrics_file(text, file);
    for (const auto& [k, v] : parsed.metrics) {
      metrics[k] = v;
      file_labels.erase(k);
    }
    for (const auto& [k, v] : parsed.labels) {
      try {
        validate_text(v, "value of " + quote(k) + " in " + quote(file), 4096);
      } catch (const Error& e) {
        throw Error(ExitCode::data, e.what());
      }
      file_labels[k] = v;
      metrics.erase(k);
    }
  }
  for (const auto& [k, v] : file_labels) {
    if (labels.count(k)) continue;  // an explicit --label wins
    labels[k] = v;
    ctx.out().note("note: " + quote(k) + " in the metrics is not a number; kept as a label");
  }
  for (const auto& arg : o.metrics) {
    auto [key, value] = parse_key_value(arg, "--metric");
    metrics[key] = parse_metric_value(key, value);
  }
  return metrics;
}

// Everything about the request that can be checked before the registry is
// touched, so that bad input never writes anything.
RegisterRequest build_request(const RegisterOptions& o, const Context& ctx) {
  RegisterRequest r;
  validate_name(o.name, o.kind);
  r.kind = o.kind;
  r.name = o.name;
  r.path = o.path;
  if (!o.version.empty()) r.version = parse_semver(o.version);
  if (!o.bump.empty()) r.bump = parse_bump(o.bump);
  r.store = parse_store_mode(o.store);
  if (!o.format.empty()) {
    validate_format(o.format);
    r.format = o.format;
  }
  r.params = parse_key_values(o.params, "--param");
  r.labels = parse_key_values(o.labels, "--label");
  validate_text(o.owner, "--owner", 256);
  validate_text(o.description, "--description", 16384);
  r.owner = o.owner;
  r.description = o.description;
  r.metrics = read_metrics(o, r.labels, ctx);
  for (const auto& input : o.inputs) {
    if (input.find('=') == std::string::npos) r.inputs.push_back(parse_ref(input));
  }
  for (const auto& parent : o.parents) r.parents.push_back(parse_ref(parent));
  r.cwd = ctx.cwd();
  r.actor = resolve_actor(ctx.cwd());
  return r;
}

void print_result(const Context& ctx, const RegisterResult& result,
                  const std::optional<TagOutcome>& tag) {
  const Output& out = ctx.out();
  const VersionRecord& v = result.version;
  if (out.json()) {
    Json doc = version_json(v);
    doc["created"] = result.created;
    doc["new_objects"] = result.new_objects;
    doc["new_bytes"] = result.new_bytes;
    doc["metadata_differs"] = result.metadata_differs;
    if (tag) doc["tag"] = tag_json(*tag);
    out.json_document(doc);
  } else if (result.created) {
    out.line("registered " + out.bold(v.ref()) + "  " + v.digest + "  (" +
             size_summary(v.size, v.file_count) + ")");
  } else {
    out.line(v.ref() + " is already registered with these bytes; nothing changed");
  }
  if (tag) print_tag(ctx, *tag);
  if (result.metadata_differs) {
    out.warn("the metadata given now differs from what " + v.ref() +
             " was registered with; versions never change");
  }
  if (!result.created) return;
  if (!v.git) {
    out.note("note: not in a git repository; no code provenance recorded");
  } else if (v.git->dirty) {
    out.note("note: the work tree has uncommitted changes; recorded as dirty");
  }
  if (v.git && result.clone.shallow) out.warn(shallow_clone_warning(result.clone));
}

std::vector<InputPath> input_paths(const RegisterOptions& o) {
  std::vector<InputPath> out;
  for (const auto& input : o.inputs) {
    const auto eq = input.find('=');
    if (eq == std::string::npos) continue;
    out.push_back({input.substr(0, eq), input.substr(eq + 1)});
    validate_name(out.back().name, "dataset");
    if (out.back().path.empty()) {
      throw Error(ExitCode::usage, "--input " + quote(input) + " names no path",
                  "use --input DATASET_REF or --input NAME=PATH");
    }
  }
  return out;
}

// Registers each NAME=PATH input as a dataset (or finds the version that
// already holds its bytes) and adds it to the request's inputs.
void register_input_paths(Context& ctx, const std::vector<InputPath>& paths,
                          RegisterRequest& request, Progress& progress) {
  for (const auto& input : paths) {
    RegisterRequest dataset;
    dataset.kind = "dataset";
    dataset.name = input.name;
    dataset.path = input.path;
    dataset.reuse_same_digest = true;
    dataset.store = request.store;
    dataset.actor = request.actor;
    dataset.cwd = request.cwd;
    const RegisterResult r = register_version(ctx.registry(), dataset, &progress);
    ctx.out().note((r.created ? "registered input " : "input ") + r.version.ref() +
                   (r.created ? "" : " already holds " + input.path));
    request.inputs.push_back(parse_ref(r.version.ref()));
  }
}

// With tags on: a commit to tag, a name git takes, and no tag of that name
// on another commit.
void check_taggable(const Context& ctx, const std::string& name, const std::string& version,
                    const std::string& commit) {
  const std::string tag = registration_tag_name(name, version);
  require_taggable(ctx.cwd(), commit, quote(name + "@" + version), tag);
  require_registration_tag_free(ctx.cwd(), name, version, commit);
}

// What can be checked before the bytes are hashed; the registry checks
// again, with the version it decides on, before it writes.
void precheck_taggable(Context& ctx, RegisterRequest& request) {
  // HEAD alone: the status scan of a large work tree waits for registration.
  std::string commit = git::read_head_commit(ctx.cwd()).value_or("");
  if (request.version) {
    const auto existing = find_version(ctx.registry().db(), request.name, request.version->key());
    if (existing) commit = existing->git ? existing->git->commit : std::string();
    check_taggable(ctx, request.name, request.version->str(), commit);
  } else {
    require_taggable(ctx.cwd(), commit, quote(request.name), registration_tag_name(request.name, "0.0.0"));
  }
  request.before_write = [&ctx, name = request.name](const std::string& version, const std::string& at) {
    check_taggable(ctx, name, version, at);
  };
}

int run_register(Context& ctx, const RegisterOptions& o) {
  RegisterRequest request = build_request(o, ctx);
  if (request.kind == "model") request.stage = ctx.landing_stage();
  const bool tagging = request.kind == "model" && tags_wanted(ctx, o.tags);
  if (tagging) precheck_taggable(ctx, request);
  const std::vector<InputPath> paths = input_paths(o);
  Registry& registry = ctx.registry();
  Progress progress;
  RegisterResult result;
  const auto start = std::chrono::steady_clock::now();
  {
    ProgressBar bar(progress, "hashing", ctx.out());
    register_input_paths(ctx, paths, request, progress);
    result = register_version(registry, request, &progress);
  }
  std::optional<TagOutcome> tag;
  std::optional<Error> tag_error;
  if (tagging) {
    try {
      tag = tag_registration(ctx.cwd(), result.version, request.actor);
    } catch (const Error& e) {
      tag_error = tag_failed_after(e, (result.created ? "registered " : "found ") + result.version.ref());
    }
  }
  print_result(ctx, result, tag);
  if (tag_error) throw *tag_error;
  if (ctx.out().verbose()) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ctx.out().note("read " + size_summary(progress.done_bytes, progress.done_files) + " in " +
                   format_seconds(seconds) + " (" +
                   human_size(static_cast<std::uint64_t>(progress.done_bytes / std::max(seconds, 1e-9))) +
                   "/s); wrote " + std::to_string(result.new_objects) + " new objects (" +
                   human_size(result.new_bytes) + ")");
  }
  return 0;
}

void add_register_options(CLI::App& sub, RegisterOptions& o) {
  const std::string what = o.kind;
  sub.add_option("NAME", o.name, what + " name, e.g. churn or team/churn")->required();
  sub.add_option("PATH", o.path, "the " + what + " file or directory")->required();
  auto* version = sub.add_option("--version", o.version,
                                 "the version to register (SemVer, e.g. 1.4.0)")
                      ->type_name("V");
  sub.add_option("--bump", o.bump, "next version after the highest: major, minor (default) or patch")
      ->type_name("KIND")
      ->check(takes_one_of({"major", "minor", "patch"}))
      ->excludes(version);
  sub.add_option("--metrics", o.metrics_files,
                 "metrics file, JSON or YAML; nested keys become dotted names, other values labels")
      ->type_name("FILE");
  sub.add_option("--metric", o.metrics, "one metric, a number (repeatable)")->type_name("K=V");
  sub.add_option("--param", o.params, "a training parameter (repeatable)")->type_name("K=V");
  sub.add_option("--label", o.labels, "a label (repeatable)")->type_name("K=V");
  sub.add_option("--input", o.inputs,
                 "a dataset it was made from: DATASET_REF, or NAME=PATH to register the dataset "
                 "first (repeatable)")
      ->type_name("REF");
  sub.add_option("--parent", o.parents,
                 "a " + what + " version it derives from, e.g. fine-tuned from (repeatable)")
      ->type_name("REF");
  sub.add_option("--format", o.format,
                 "what kind of " + what + " it is (default: recognised from the files, e.g. onnx, "
                 "pytorch, mlflow, huggingface)")
      ->type_name("FORMAT");
  sub.add_option("--owner", o.owner, "who owns it")->type_name("WHO");
  sub.add_option("--description", o.description, "what this version is")->type_name("TEXT");
  sub.add_option("--store", o.store,
                 "copy (default): keep the bytes in the registry; reference: record hashes and "
                 "the path only")
      ->type_name("MODE")
      ->check(takes_one_of({"copy", "reference"}));
  if (o.kind == "model") add_tag_flags(sub, o.tags, "registration");
}

}  // namespace

Command register_command() {
  auto o = std::make_shared<RegisterOptions>();
  o->kind = "model";
  return {"register", "record a new version of a model: hash and store its bytes, with metadata",
          [o](CLI::App& sub) { add_register_options(sub, *o); },
          [o](Context& ctx) { return run_register(ctx, *o); }};
}

Command dataset_command() {
  auto o = std::make_shared<RegisterOptions>();
  o->kind = "dataset";
  return {"dataset", "work with datasets: 'dataset register NAME PATH' records a dataset version",
          [o](CLI::App& sub) {
            sub.require_subcommand(1);
            CLI::App* reg = sub.add_subcommand(
                "register", "record a new version of a dataset: hash and store its bytes, with metadata");
            reg->fallthrough();
            add_register_options(*reg, *o);
          },
          [o](Context& ctx) { return run_register(ctx, *o); }};
}

}  // namespace lm::cli
