// lastmile hooks install|uninstall|run: git hooks that check the policy and
// the registry on commit, and verify the stored bytes on push.

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "registry/core/error.hpp"
#include "registry/core/process.hpp"
#include "registry/events.hpp"
#include "registry/hooks.hpp"
#include "registry/policy.hpp"
#include "registry/verify.hpp"

namespace lm::cli {

namespace {

namespace fs = std::filesystem;

struct HooksOptions {
  CLI::App* install = nullptr;
  CLI::App* uninstall = nullptr;
  CLI::App* run = nullptr;
  bool pre_commit = false;
  bool pre_push = false;
  bool force = false;
  std::string hook;
  std::vector<std::string> hook_args;
};

// Runs git with argv in the current directory; its output, or Error.
std::string git(const Context& ctx, std::vector<std::string> args, const std::string& what) {
  args.insert(args.begin(), "git");
  ProcessRequest request;
  request.argv = std::move(args);
  request.cwd = ctx.cwd();
  request.timeout = std::chrono::seconds(30);
  request.output_limit = 16 * 1024 * 1024;
  const ProcessResult r = run_process(request);
  if (!r.started) throw Error(ExitCode::not_found, "cannot run git: " + r.start_error, "install git");
  if (!r.succeeded()) {
    throw Error(ExitCode::usage, what + ": " + r.output.substr(0, r.output.find('\n')),
                "run it inside a git work tree");
  }
  return r.output;
}

// Where git looks for hooks here: core.hooksPath when set, else
// $GIT_DIR/hooks (also right in a linked worktree).
fs::path hooks_dir(const Context& ctx) {
  std::string out = git(ctx, {"rev-parse", "--git-path", "hooks"}, "not in a git repository");
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return (ctx.cwd() / out).lexically_normal();
}

std::vector<std::string> chosen_hooks(const HooksOptions& o) {
  if (!o.pre_commit && !o.pre_push) return lastmile_hooks();
  std::vector<std::string> hooks;
  if (o.pre_commit) hooks.push_back("pre-commit");
  if (o.pre_push) hooks.push_back("pre-push");
  return hooks;
}

void print_changes(const Context& ctx, const std::vector<HookChange>& changes) {
  const Output& out = ctx.out();
  if (out.json()) {
    Json list = Json::array();
    for (const auto& c : changes) list.push_back({{"hook", c.hook}, {"path", c.path.string()}, {"action", c.action}});
    out.json_document({{"hooks", list}});
    return;
  }
  for (const auto& c : changes) {
    std::string line = c.action + " " + c.hook + "  " + c.path.string();
    if (c.action == "chained") line += " (the hook that was there runs first, as " + c.hook + ".lastmile-chained)";
    if (c.action == "replaced") line += " (the hook that was there is kept as " + c.hook + ".lastmile-replaced)";
    if (c.action == "restored") line += " (the hook that was there before is back)";
    if (!out.quiet()) out.line(line);
  }
}

int run_install(Context& ctx, const HooksOptions& o) {
  std::error_code ec;
  const fs::path binary = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw Error(ExitCode::internal, "cannot tell where the lastmile binary is: " + ec.message());
  print_changes(ctx, install_hooks(hooks_dir(ctx), chosen_hooks(o), binary, o.force));
  return 0;
}

int run_uninstall(Context& ctx, const HooksOptions& o) {
  print_changes(ctx, uninstall_hooks(hooks_dir(ctx), chosen_hooks(o)));
  return 0;
}

bool has_registry(Context& ctx) {
  std::error_code ec;
  return fs::exists(ctx.location().dir / "registry.db", ec);
}

// pre-commit: a staged lastmile.yaml must be a valid policy (what is
// committed, not what is in the work tree), and the audit chain intact.
int run_pre_commit(Context& ctx) {
  const std::string staged =
      git(ctx, {"diff", "--cached", "--name-only", "--diff-filter=ACMR", "--", "lastmile.yaml"}, "git diff failed");
  if (!staged.empty()) {
    const std::string text = git(ctx, {"show", ":lastmile.yaml"}, "cannot read the staged lastmile.yaml");
    const PolicyLoad load = parse_policy(text, "lastmile.yaml");
    if (!load.ok()) {
      std::string list;
      for (const auto& p : load.problems) {
        list += "\n  lastmile.yaml:" + std::to_string(p.line) + ":" + std::to_string(p.column) + ": " +
                printable(p.message);
      }
      throw Error(ExitCode::config, "the staged lastmile.yaml is not a valid policy:" + list,
                  "fix it and stage it again ('lastmile policy check' shows the same)");
    }
  }
  if (has_registry(ctx)) {
    // Every id and link is checked; whether each payload is canonical JSON
    // is left to 'audit verify', to keep a commit fast.
    const ChainCheck chain = verify_chain(ctx.registry().db(), ChainDepth::links);
    if (!chain.ok) {
      throw Error(ExitCode::check_failed,
                  "the registry's audit chain is broken at event " + std::to_string(chain.first_bad_seq) + ": " +
                      chain.problem,
                  "'lastmile audit verify' says more; the log was changed outside lastmile");
    }
  }
  return 0;
}

// pre-push: the stored bytes still match their hashes (as 'lastmile verify').
int run_pre_push(Context& ctx) {
  if (!has_registry(ctx)) return 0;
  const VerifyReport report = verify(ctx.registry(), {}, false, nullptr);
  if (report.ok()) return 0;
  std::string list;
  for (std::size_t i = 0; i < report.problems.size() && i < 10; ++i) {
    list += "\n  " + printable(report.problems[i].subject + ": " + report.problems[i].message);
  }
  throw Error(ExitCode::check_failed,
              "lastmile verify found " + std::to_string(report.problems.size()) + " problem" +
                  (report.problems.size() == 1 ? "" : "s") + "; not pushing:" + list,
              "'lastmile verify' lists them all; push with --no-verify to skip this check");
}

int run_hook(Context& ctx, const HooksOptions& o) {
  if (o.hook == "pre-commit") return run_pre_commit(ctx);
  if (o.hook == "pre-push") return run_pre_push(ctx);
  throw Error(ExitCode::usage, "no lastmile hook " + quote(o.hook), "the hooks are pre-commit and pre-push");
}

void add_hook_flags(CLI::App* sub, HooksOptions& o) {
  sub->add_flag("--pre-commit", o.pre_commit, "only the pre-commit hook");
  sub->add_flag("--pre-push", o.pre_push, "only the pre-push hook");
}

}  // namespace

Command hooks_command() {
  auto o = std::make_shared<HooksOptions>();
  return {"hooks", "install git hooks that check the policy on commit and verify on push",
          [o](CLI::App& sub) {
            sub.require_subcommand(1);
            o->install = sub.add_subcommand(
                "install", "install the pre-commit and pre-push hooks (both unless one is named)");
            add_hook_flags(o->install, *o);
            o->install->add_flag("--force", o->force,
                                 "replace a hook that is there instead of chaining to it (it is kept, not run)");
            o->uninstall = sub.add_subcommand("uninstall", "remove lastmile's hooks and put chained ones back");
            add_hook_flags(o->uninstall, *o);
            o->run = sub.add_subcommand("run", "run a hook's checks, as the installed hooks do");
            o->run->add_option("HOOK", o->hook, "pre-commit or pre-push")->required();
            o->run->add_option("ARGS", o->hook_args, "what git passed the hook (unused)");
          },
          [o](Context& ctx) {
            if (o->install->parsed()) return run_install(ctx, *o);
            if (o->uninstall->parsed()) return run_uninstall(ctx, *o);
            return run_hook(ctx, *o);
          }};
}

}  // namespace lm::cli
