// lastmile deploy: manifests pinned to a version's digest, and records of
// where versions run.
//   deploy targets                         the templates there are
//   deploy templates export DIR            the built-in templates, to customise
//   deploy render REF --target T ...       manifests on stdout or in --out DIR
//   deploy context REF                     what a template can use, as JSON
//   deploy record REF --env ENV            note that ENV now runs REF

#include <unistd.h>

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "deploy/catalog.hpp"
#include "deploy/records.hpp"
#include "deploy/render.hpp"
#include "registry/actor.hpp"
#include "registry/core/error.hpp"
#include "registry/core/files.hpp"

namespace lm::cli {

namespace {

namespace fs = std::filesystem;

struct DeployOptions {
  CLI::App* targets = nullptr;
  CLI::App* export_cmd = nullptr;
  CLI::App* render = nullptr;
  CLI::App* context = nullptr;
  CLI::App* record = nullptr;

  std::string ref;
  std::vector<std::string> target_names;
  std::vector<std::string> sets;
  std::vector<std::string> values_files;
  std::string out;
  std::string template_dir;
  std::string export_dir;
  bool force = false;
  std::string environment;
  std::string stage;
  std::vector<std::string> manifests;
};

fs::path from_cwd(const Context& ctx, const std::string& path) { return ctx.cwd() / path; }

// A directory to write into must not be something else already (a
// symlink to a directory is a directory).
void require_directory_or_absent(const fs::path& dir, const std::string& what, const std::string& hint) {
  refuse_git_directory(dir, what);
  std::error_code ec;
  const auto status = fs::status(dir, ec);
  if (fs::exists(status) && !fs::is_directory(status)) {
    throw Error(ExitCode::usage, what + " exists and is not a directory", hint);
  }
}

deploy::Catalog catalog(Context& ctx, const DeployOptions& o) {
  std::vector<fs::path> dirs{deploy::project_templates_dir(ctx.project_root())};
  if (!o.template_dir.empty()) {
    const fs::path dir = from_cwd(ctx, o.template_dir);
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
      throw Error(ExitCode::not_found, "--template-dir " + quote(o.template_dir) + " is not a directory");
    }
    dirs.push_back(dir);
  }
  return deploy::load_catalog(dirs);
}

// The settings in lastmile.yaml; a policy with problems is refused, since
// its deploy: section may be among them.
Json policy_settings(Context& ctx) {
  if (!ctx.policy().policy.from_file) return Json::object();
  return ctx.valid_policy().deploy;
}

deploy::ManifestContext context_for(Context& ctx, const DeployOptions& o) {
  deploy::ContextRequest request;
  request.ref = parse_ref(o.ref);
  request.settings.policy = policy_settings(ctx);
  for (const auto& f : o.values_files) request.settings.values_files.push_back(from_cwd(ctx, f));
  request.settings.sets = o.sets;
  request.stage_order = ctx.policy().policy.stage_names();
  return deploy::build_context(ctx.registry().db(), request);
}

int run_targets(Context& ctx, const DeployOptions& o) {
  const deploy::Catalog c = catalog(ctx, o);
  const Output& out = ctx.out();
  if (out.json()) {
    Json list = Json::array();
    for (const auto& [name, t] : c.targets) {
      list.push_back({{"target", name},
                      {"file", t.file_name},
                      {"format", deploy::format_name(t.format)},
                      {"description", t.description},
                      {"source", t.origin}});
    }
    out.json_document({{"targets", list}});
    return 0;
  }
  std::vector<std::vector<std::string>> rows{{"TARGET", "FILE", "DESCRIPTION"}};
  for (const auto& [name, t] : c.targets) {
    const bool builtin = t.origin.rfind("built-in", 0) == 0;
    rows.push_back({name, t.file_name, t.description + (builtin ? "" : "  (" + t.origin + ")")});
  }
  out.line(format_table(rows, out));
  return 0;
}

int run_export(Context& ctx, const DeployOptions& o) {
  const fs::path dir = from_cwd(ctx, o.export_dir);
  require_directory_or_absent(dir, quote(o.export_dir), "name a directory to write the templates into");
  const auto files = deploy::export_templates(dir, o.force);
  const Output& out = ctx.out();
  if (out.json()) {
    Json list = Json::array();
    for (const auto& f : files) list.push_back({{"path", f.path.string()}, {"written", f.written}});
    out.json_document({{"files", list}});
    return 0;
  }
  for (const auto& f : files) {
    if (!out.quiet()) out.line((f.written ? "wrote " : "unchanged ") + f.path.string());
  }
  out.note("edit them, then put them in .lastmile/templates/ (or pass --template-dir) to use them");
  return 0;
}

// --out DIR: a directory (created when missing) this process can write,
// where no file to be written is a directory. Checked on the nearest part
// that exists before anything is created, so a refusal leaves nothing.
fs::path prepare_out_dir(const Context& ctx, const std::string& out, const std::vector<deploy::RenderedFile>& files) {
  const fs::path dir = from_cwd(ctx, out).lexically_normal();
  require_directory_or_absent(dir, "--out " + quote(out),
                              "--out names a directory to write the manifests into, or - for stdout");
  fs::path existing = dir;
  std::error_code ec;
  while (!fs::exists(existing, ec) && existing.has_parent_path() && existing != existing.parent_path()) {
    existing = existing.parent_path();
  }
  if (::access(existing.c_str(), W_OK) != 0) throw system_error(errno, "cannot write manifests into " + quote(out));
  for (const auto& f : files) {
    if (fs::is_directory(dir / f.file_name, ec)) {
      throw Error(ExitCode::usage, quote((fs::path(out) / f.file_name).string()) + " is a directory",
                  "remove it, or choose another --out");
    }
  }
  make_directories(dir);
  return dir;
}

bool is_yaml(const std::string& file_name) {
  return file_name.ends_with(".yaml") || file_name.ends_with(".yml");
}

int run_render(Context& ctx, const DeployOptions& o) {
  const bool to_stdout = o.out.empty() || o.out == "-";
  const deploy::Catalog c = catalog(ctx, o);
  for (const auto& t : o.target_names) c.find(t);  // an unknown target before the registry is read
  const deploy::ManifestContext mc = context_for(ctx, o);
  const auto files = deploy::render_targets(c, o.target_names, mc.context);
  // Everything rendered before anything is written: an error leaves no file.
  const fs::path dir = to_stdout ? fs::path() : prepare_out_dir(ctx, o.out, files);
  const Output& out = ctx.out();
  Json list = Json::array();
  std::string stream;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const auto& f = files[i];
    Json entry = {{"target", f.target}, {"file", f.file_name}, {"sha256", f.sha256}, {"bytes", f.text.size()}};
    if (to_stdout) {
      if (i > 0 && is_yaml(f.file_name) && is_yaml(files[i - 1].file_name)) stream += "---\n";
      stream += f.text;
      entry["content"] = f.text;
    } else {
      const fs::path path = dir / f.file_name;
      write_file_atomic(path, f.text);
      entry["path"] = path.string();
      if (!out.json() && !out.quiet()) out.line("wrote " + (fs::path(o.out) / f.file_name).string() + "  " + f.sha256.substr(0, 12));
    }
    list.push_back(std::move(entry));
  }
  if (out.json()) {
    out.json_document({{"name", mc.version.name},
                       {"version", mc.version.version},
                       {"digest", mc.version.digest},
                       {"stage", mc.context["stage"]},
                       {"files", list}});
  } else if (to_stdout && !stream.empty()) {
    stream.pop_back();  // line() ends it
    out.line(stream);
  }
  return 0;
}

int run_context(Context& ctx, const DeployOptions& o) {
  ctx.out().json_document(context_for(ctx, o).context);
  return 0;
}

int run_record(Context& ctx, const DeployOptions& o) {
  deploy::RecordRequest request;
  request.ref = parse_ref(o.ref);
  request.environment = o.environment;
  validate_environment(request.environment);  // before the registry is opened
  request.stage = o.stage;
  for (const auto& m : o.manifests) {
    const NamedFile file = named_file(ctx, m);
    request.manifests.push_back({file.path, file.recorded_as});
  }
  request.actor = resolve_actor(ctx.cwd());
  const Policy& policy = o.stage.empty() ? ctx.policy().policy : ctx.valid_policy();
  const deploy::RecordResult r = deploy::record_deployment(ctx.registry(), policy, request);
  const Output& out = ctx.out();
  for (const auto& w : r.warnings) out.warn(w);
  const Deployment& d = r.deployment;
  if (out.json()) {
    Json doc = deploy::deployment_json(d);
    doc["name"] = d.model;
    doc["before"] = r.before ? Json(r.before->version) : Json();
    out.json_document(doc);
    return 0;
  }
  std::string text = "recorded " + d.model + "@" + d.version + " running in " + d.environment;
  if (d.stage) text += " (serving " + *d.stage + ")";
  if (r.before && r.before->version != d.version) text += "; it ran " + r.before->version + " before";
  out.line(text);
  return 0;
}

void add_settings_options(CLI::App* sub, DeployOptions& o) {
  sub->add_option("--set", o.sets, "override one deploy setting, e.g. replicas=3 or resources.memory=4Gi")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
  sub->add_option("--values", o.values_files, "a YAML file of deploy settings laid over lastmile.yaml's")
      ->type_name("FILE")
      ->allow_extra_args(false);
}

}  // namespace

Command deploy_command() {
  auto o = std::make_shared<DeployOptions>();
  return {"deploy", "render deployment manifests pinned to a version's digest; record where it runs",
          [o](CLI::App& sub) {
            sub.require_subcommand(1);
            sub.footer(
                "\nExamples:\n"
                "  lastmile deploy targets\n"
                "  lastmile deploy render churn@production -t kubernetes --out deploy/prod\n"
                "  lastmile deploy render churn@production -t kserve --set 'storage_uri=s3://m/{{name}}/{{version}}'\n"
                "  lastmile deploy record churn@production --env prod-eu --manifest deploy/prod/kubernetes.yaml\n"
                "\nSettings live under deploy: in lastmile.yaml; see lastmile-deploy(1).");
            o->targets = sub.add_subcommand("targets", "list the deployment targets and their templates");
            o->targets->add_option("--template-dir", o->template_dir, "also read templates from DIR")
                ->type_name("DIR");

            CLI::App* templates = sub.add_subcommand("templates", "work with the templates");
            templates->require_subcommand(1);
            o->export_cmd = templates->add_subcommand("export", "write the built-in templates into DIR to customise");
            o->export_cmd->add_option("DIR", o->export_dir, "where to write them")->required();
            o->export_cmd->add_flag("--force", o->force, "replace files that differ from the built-in ones");

            o->render = sub.add_subcommand("render", "render manifests for a version");
            o->render->add_option("REF", o->ref, "the version, e.g. churn@production or churn@1.4.0")->required();
            o->render->add_option("--target,-t", o->target_names, "a target from 'deploy targets'; repeatable")
                ->type_name("T")
                ->required()
                ->allow_extra_args(false);
            add_settings_options(o->render, *o);
            o->render->add_option("--out,-o", o->out, "write one file per target into DIR (default: stdout)")
                ->type_name("DIR|-");
            o->render->add_option("--template-dir", o->template_dir, "also read templates from DIR")
                ->type_name("DIR");

            o->context = sub.add_subcommand("context", "print, as JSON, every value a template can use");
            o->context->add_option("REF", o->ref, "the version")->required();
            add_settings_options(o->context, *o);

            o->record = sub.add_subcommand("record", "record that an environment now runs a version");
            o->record->add_option("REF", o->ref, "the version deployed")->required();
            o->record->add_option("--env", o->environment, "the environment, e.g. prod-eu")
                ->type_name("ENV")
                ->required();
            o->record->add_option("--manifest", o->manifests, "a manifest applied; its hash is kept; repeatable")
                ->type_name("FILE")
                ->allow_extra_args(false);
            o->record->add_option("--stage", o->stage,
                                  "the stage ENV serves (default: the stage in REF, ENV itself when it "
                                  "is a stage, else the furthest stage holding the version)")
                ->type_name("S");
          },
          [o](Context& ctx) {
            if (o->targets->parsed()) return run_targets(ctx, *o);
            if (o->export_cmd->parsed()) return run_export(ctx, *o);
            if (o->render->parsed()) return run_render(ctx, *o);
            if (o->context->parsed()) return run_context(ctx, *o);
            return run_record(ctx, *o);
          }};
}

}  // namespace lm::cli
