// lastmile approve REF --stage S: record an approval for a promotion.

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "registry/actor.hpp"
#include "registry/core/error.hpp"
#include "registry/metadata.hpp"
#include "registry/promote.hpp"

namespace lm::cli {

namespace {

struct ApproveOptions {
  std::string ref;
  std::string stage;
  std::string comment;
};

int run_approve(Context& ctx, const ApproveOptions& o) {
  ApproveRequest request;
  request.ref = parse_ref(o.ref);
  request.stage = o.stage;
  validate_text(o.comment, "--comment", 4096);
  request.comment = o.comment;
  const Policy& policy = ctx.valid_policy();
  Registry& registry = ctx.registry();
  request.actor = resolve_actor(ctx.cwd());
  const ApproveResult r = approve(registry, policy, request);
  const Output& out = ctx.out();
  if (out.json()) {
    out.json_document({{"name", r.version.name},
                       {"version", r.version.version},
                       {"stage", request.stage},
                       {"actor", request.actor},
                       {"recorded", r.recorded},
                       {"approvals", r.counted},
                       {"required", r.required}});
    return 0;
  }
  const std::string what = r.version.ref() + " for " + request.stage;
  const std::string count =
      r.required == 0 ? " (the stage asks for no approvals)"
                      : " (" + std::to_string(r.counted) + " of " + std::to_string(r.required) +
                            " approvals)";
  out.line((r.recorded ? "approved " + what + " as " + request.actor
                       : request.actor + " had approved " + what + " already") +
           count);
  return 0;
}

}  // namespace

Command approve_command() {
  auto o = std::make_shared<ApproveOptions>();
  return {"approve", "approve a version for a stage whose policy asks for approvals",
          [o](CLI::App& sub) {
            sub.add_option("REF", o->ref, "the version, e.g. churn@1.4.0")->required();
            sub.add_option("--stage", o->stage, "the stage it is approved for")
                ->type_name("S")
                ->required();
            sub.add_option("--comment", o->comment, "a note kept with the approval")
                ->type_name("TEXT");
          },
          [o](Context& ctx) { return run_approve(ctx, *o); }};
}

}  // namespace lm::cli
