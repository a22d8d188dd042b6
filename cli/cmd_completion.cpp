// lastmile completion bash|zsh|fish: a shell completion script made from
// the command line's own definition. The scripts ask, hidden,
// 'completion --list KIND' for what lives in the registry and the policy.

#include <cctype>
#include <cstdio>

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "deploy/catalog.hpp"
#include "registry/completion.hpp"
#include "registry/core/error.hpp"
#include "registry/query.hpp"

namespace lm::cli {

namespace {

namespace comp = lm::completion;

struct CompletionOptions {
  const CLI::App* root = nullptr;
  std::string shell;
  std::string list;
  std::string prefix;
};

// What help shows for an option's value ("FORMAT:{text,json,md}") or a
// positional ("SHELL:{bash,zsh,fish}"), for completion::values_for.
std::string placeholder(const CLI::Option& opt) {
  const std::string type = opt.get_type_name();
  if (!opt.get_positional()) return type;
  const auto colon = type.find(':');
  return opt.get_name(true) + (colon == std::string::npos ? "" : type.substr(colon));
}

// The command tree as CLI11 holds it; hidden options and commands are left
// out, and a command that takes its parents' options (fallthrough) lists
// them, but for their --help and --version.
comp::CommandSpec describe(const CLI::App& app, const std::vector<comp::OptionSpec>& inherited) {
  comp::CommandSpec spec{app.get_name(), app.get_description(), {}, {}, {}};
  std::vector<comp::OptionSpec> passed;  // what its subcommands inherit
  if (app.get_fallthrough()) spec.options = passed = inherited;
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->get_group().empty()) continue;
    const comp::Values values = comp::values_for(placeholder(*opt));
    if (opt->get_positional()) {
      spec.args.push_back({values, opt->get_expected_max() > 1});
      continue;
    }
    comp::OptionSpec o{{}, opt->get_description(), opt->get_expected_max() > 0, values};
    for (const auto& s : opt->get_snames()) o.names.push_back("-" + s);
    for (const auto& l : opt->get_lnames()) o.names.push_back("--" + l);
    if (opt != app.get_help_ptr() && opt != app.get_version_ptr()) passed.push_back(o);
    spec.options.push_back(std::move(o));
  }
  for (const CLI::App* sub : app.get_subcommands({})) {
    if (!sub->get_name().empty() && !sub->get_group().empty()) {
      spec.subcommands.push_back(describe(*sub, passed));
    }
  }
  return spec;
}

// Only words a shell inserts as they are: a stage or template name in a
// file someone committed must not become shell syntax on the user's line.
bool plain_completion_word(const std::string& word) {
  if (word.empty()) return false;
  for (const unsigned char c : word) {
    if (!std::isalnum(c) && std::string_view("._-/@+#").find(static_cast<char>(c)) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

std::vector<std::string> list_values(Context& ctx, comp::List list, const std::string& prefix) {
  std::vector<std::string> values;
  switch (list) {
    case comp::List::names:
      for (const auto& m : list_models(ctx.registry().db())) values.push_back(m.name);
      break;
    case comp::List::refs: {
      const auto at = prefix.find('@');
      values = list_refs(ctx.registry().db(), at == std::string::npos ? std::string() : prefix.substr(0, at));
      break;
    }
    case comp::List::stages:
      // A policy with problems may hold names that are not stages at all.
      if (ctx.policy().ok()) values = ctx.policy().policy.stage_names();
      break;
    case comp::List::targets:
      for (const auto& [name, t] : deploy::load_catalog({deploy::project_templates_dir(ctx.project_root())}).targets) {
        values.push_back(name);
      }
      break;
  }
  return values;
}

int run_list(Context& ctx, const CompletionOptions& o) {
  const auto list = comp::parse_list(o.list);
  if (!list) throw Error(ExitCode::usage, "unknown list " + quote(o.list), "the lists are names, refs, stages and targets");
  std::vector<std::string> values;
  try {
    values = list_values(ctx, *list, o.prefix);
  } catch (const Error&) {
    return 0;  // no registry, an unreadable policy: nothing to offer, and nothing to say at a prompt
  }
  for (const auto& v : values) {
    if (plain_completion_word(v) && v.starts_with(o.prefix)) ctx.out().line(v);
  }
  return 0;
}

int run_completion(Context& ctx, const CompletionOptions& o) {
  if (!o.list.empty()) {
    if (!o.shell.empty()) throw Error(ExitCode::usage, "--list takes no SHELL");
    return run_list(ctx, o);
  }
  const auto shell = comp::parse_shell(o.shell);
  if (!shell) throw Error(ExitCode::usage, "unknown shell " + quote(o.shell) + ": use bash, zsh or fish");
  const std::string script = comp::completion_script(*shell, describe(*o.root, {}));
  std::fwrite(script.data(), 1, script.size(), stdout);
  return 0;
}

}  // namespace

Command completion_command() {
  auto o = std::make_shared<CompletionOptions>();
  return {"completion", "print a shell completion script for bash, zsh or fish",
          [o](CLI::App& sub) {
            o->root = sub.get_parent();
            CLI::Option* shell = sub.add_option("SHELL", o->shell, "the shell: bash, zsh or fish")
                                     ->required()
                                     ->check(takes_one_of({"bash", "zsh", "fish"}));
            // What the scripts run at completion time: names, refs, stages
            // or targets, one a line, those starting with --prefix. Hidden;
            // it takes the place of SHELL.
            sub.add_option_function<std::string>(
                   "--list",
                   [o, shell](const std::string& kind) {
                     o->list = kind;
                     shell->required(false);
                   })
                ->group("")
                ->trigger_on_parse();
            sub.add_option("--prefix", o->prefix)->group("");
          },
          [o](Context& ctx) { return run_completion(ctx, *o); }};
}

}  // namespace lm::cli
