// lastmile diff REF REF: how two versions differ.

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "registry/diff.hpp"
#include "registry/names.hpp"
#include "registry/policy.hpp"

namespace lm::cli {

namespace {

struct DiffOptions {
  std::string before;
  std::string after;
  std::string format = "text";
};

int run_diff(Context& ctx, const DiffOptions& o) {
  const Ref before = parse_ref(o.before);
  const Ref after = parse_ref(o.after);
  sql::Db& db = ctx.registry().db();
  // The policy says which way metrics improve; a broken one is only noted here.
  PolicyLoad policy;
  try {
    policy = load_policy(ctx.policy_path());
  } catch (const Error& e) {
    policy.problems.push_back({0, 0, e.what()});
  }
  if (!policy.ok()) {
    ctx.out().warn("lastmile.yaml has problems ('lastmile policy check'); metric directions are not shown");
  }
  const VersionDiff d = diff_versions(db, resolve(db, before), resolve(db, after),
                                      policy.ok() ? policy.policy.metric_directions()
                                                  : std::map<std::string, Better>{});
  const std::string format = ctx.out().json() ? "json" : o.format;
  if (format == "json") {
    ctx.out().json_document(diff_json(d));
  } else if (format == "md") {
    ctx.out().line(diff_markdown(d));
  } else {
    ctx.out().line(diff_text(d));
  }
  return 0;
}

}  // namespace

Command diff_command() {
  auto o = std::make_shared<DiffOptions>();
  return {"diff",
          "compare two versions: metrics with deltas, params, labels, files, inputs and code",
          [o](CLI::App& sub) {
            sub.add_option("REF1", o->before, "the version to compare from, e.g. churn@1.4.0")
                ->required();
            sub.add_option("REF2", o->after, "the version to compare to, e.g. churn@1.5.0")
                ->required();
            sub.add_option("--format", o->format, "text (default), json or md (for a pull request)")
                ->type_name("FORMAT")
                ->check(CLI::IsMember({"text", "json", "md"}));
          },
          [o](Context& ctx) { return run_diff(ctx, *o); }};
}

}  // namespace lm::cli
