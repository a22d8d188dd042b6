// lastmile rollback NAME --stage S --reason TEXT [--to VERSION]: put back
// what the stage held before.

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "registry/actor.hpp"
#include "registry/core/error.hpp"
#include "registry/metadata.hpp"
#include "registry/promote.hpp"

namespace lm::cli {

namespace {

struct RollbackOptions {
  std::string name;
  std::string stage;
  std::string reason;
  std::string to;
};

int run_rollback(Context& ctx, const RollbackOptions& o) {
  RollbackRequest request;
  validate_name(o.name);
  request.name = o.name;
  request.stage = o.stage;
  validate_text(o.reason, "--reason", 4096);
  request.reason = o.reason;
  if (!o.to.empty()) request.to = parse_semver(o.to);
  const Policy& policy = ctx.valid_policy();
  Registry& registry = ctx.registry();
  request.actor = resolve_actor(ctx.cwd());
  const RollbackResult r = rollback(registry, policy, request);
  const Output& out = ctx.out();
  if (out.json()) {
    out.json_document({{"name", o.name},
                       {"stage", o.stage},
                       {"version", r.restored.version},
                       {"digest", r.restored.digest},
                       {"replaced", r.replaced.version},
                       {"reason", o.reason}});
    return 0;
  }
  out.line("rolled " + o.stage + " back to " + r.restored.ref() + " (was " + r.replaced.version + ")");
  return 0;
}

}  // namespace

Command rollback_command() {
  auto o = std::make_shared<RollbackOptions>();
  return {"rollback",
          "put back the version a stage held before (no gates: the way out of a bad release)",
          [o](CLI::App& sub) {
            sub.add_option("NAME", o->name, "the model, e.g. churn")->required();
            sub.add_option("--stage", o->stage, "the stage to roll back")
                ->type_name("S")
                ->required();
            sub.add_option("--reason", o->reason, "why; required, kept in the audit trail")
                ->type_name("TEXT")
                ->required();
            sub.add_option("--to", o->to,
                           "the version to restore (default: the one it held before); it must "
                           "have been in the stage")
                ->type_name("VERSION");
          },
          [o](Context& ctx) { return run_rollback(ctx, *o); }};
}

}  // namespace lm::cli
