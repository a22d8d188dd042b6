// lastmile policy check: validate lastmile.yaml and report every problem.

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "registry/core/error.hpp"
#include "registry/policy.hpp"

namespace lm::cli {

namespace {

struct PolicyOptions {
  std::string file;
};

std::string stage_path(const Policy& p) {
  std::string text;
  for (const auto& s : p.stages) text += (text.empty() ? "" : " → ") + s.name;
  return text;
}

Json policy_json(const PolicyLoad& load, const std::filesystem::path& path) {
  Json stages = Json::array();
  for (const auto& s : load.policy.stages) {
    Json gates = Json::array();
    for (const auto& g : s.gates) gates.push_back(g.name());
    stages.push_back({{"name", s.name},
                      {"from", s.from},
                      {"gates", gates},
                      {"approvals", {{"count", s.approvals},
                                     {"distinct_from_registrant", s.distinct_from_registrant}}}});
  }
  Json problems = Json::array();
  for (const auto& p : load.problems) {
    problems.push_back({{"line", p.line}, {"column", p.column}, {"message", p.message}});
  }
  return {{"path", path.string()}, {"exists", load.policy.from_file}, {"ok", load.ok()},
          {"stages", stages},      {"problems", problems}};
}

int run_check(Context& ctx, const PolicyOptions& o) {
  const std::filesystem::path path = o.file.empty() ? ctx.policy_path() : ctx.cwd() / o.file;
  if (!o.file.empty() && !std::filesystem::exists(path)) {
    throw Error(ExitCode::not_found, "no policy file " + quote(o.file));
  }
  const PolicyLoad load = load_policy(path);
  const Output& out = ctx.out();
  const std::string shown = o.file.empty() ? "lastmile.yaml" : o.file;
  if (out.json()) {
    out.json_document(policy_json(load, path));
  } else if (!load.policy.from_file) {
    out.line("no lastmile.yaml: the default policy applies (" + stage_path(load.policy) + ", no gates)");
  } else if (load.ok()) {
    const auto count = [](std::size_t n, const char* noun) {
      return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
    };
    out.line(shown + ": ok: " + count(load.policy.stages.size(), "stage") + " (" +
             stage_path(load.policy) + "), " + count(load.policy.gate_count(), "gate"));
  } else {
    for (const auto& p : load.problems) {
      out.line(shown + ":" + std::to_string(p.line) + ":" + std::to_string(p.column) + ": " +
               printable(p.message));
    }
  }
  if (load.ok()) return 0;
  const std::size_t n = load.problems.size();
  throw Error(ExitCode::config,
              quote(shown) + " is not a valid policy: " + std::to_string(n) +
                  (n == 1 ? " problem" : " problems"),
              "until it is fixed, every promotion is refused");
}

}  // namespace

Command policy_command() {
  auto o = std::make_shared<PolicyOptions>();
  return {"policy", "work with the policy: 'policy check' validates lastmile.yaml",
          [o](CLI::App& sub) {
            sub.require_subcommand(1);
            CLI::App* check = sub.add_subcommand(
                "check", "validate lastmile.yaml and report every problem with its line and column");
            check->fallthrough();
            check->add_option("--file", o->file,
                              "the policy file (default: lastmile.yaml at the top of the work tree)")
                ->type_name("FILE");
          },
          [o](Context& ctx) { return run_check(ctx, *o); }};
}

}  // namespace lm::cli
