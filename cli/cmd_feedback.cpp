// lastmile feedback REF --metric NAME=VALUE: record outcomes observed in
// production.

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "deploy/monitor.hpp"
#include "registry/actor.hpp"
#include "registry/metadata.hpp"

namespace lm::cli {

namespace {

struct FeedbackOptions {
  std::string ref;
  std::vector<std::string> metrics;
  std::string time;
  std::string env;
};

int run_feedback(Context& ctx, const FeedbackOptions& o) {
  deploy::FeedbackRequest request;
  request.ref = parse_ref(o.ref);
  for (const auto& [key, value] : parse_key_values(o.metrics, "--metric")) {
    request.metrics[key] = parse_metric_value(key, value);
  }
  request.observed_at = o.time;
  if (!o.env.empty()) request.environment = o.env;
  request.actor = resolve_actor(ctx.cwd());
  const deploy::FeedbackResult r = deploy::record_feedback(ctx.registry(), request);
  const Output& out = ctx.out();
  if (out.json()) {
    out.json_document({{"name", r.version.name},
                       {"version", r.version.version},
                       {"metrics", request.metrics},
                       {"observed_at", r.observed_at},
                       {"environment", request.environment ? Json(*request.environment) : Json()},
                       {"event", r.event_seq}});
    return 0;
  }
  std::string values;
  for (const auto& [key, value] : request.metrics) values += (values.empty() ? "" : ", ") + key + "=" + format_metric(value);
  out.line("recorded feedback for " + r.version.ref() + ": " + values + " (observed " + r.observed_at +
           (request.environment ? " in " + *request.environment : "") + ")");
  return 0;
}

}  // namespace

Command feedback_command() {
  auto o = std::make_shared<FeedbackOptions>();
  return {"feedback", "record outcomes observed in production (accuracy on labelled traffic, conversion...)",
          [o](CLI::App& sub) {
            sub.add_option("REF", o->ref, "the version that served, e.g. churn@1.4.0 or churn@production")
                ->required();
            sub.add_option("--metric", o->metrics, "an observed value (repeatable)")->type_name("NAME=VALUE")
                ->required();
            sub.add_option("--time", o->time, "when it was observed (RFC 3339 or a date; default now)")
                ->type_name("T");
            sub.add_option("--env", o->env, "the environment it was observed in, e.g. production")
                ->type_name("ENV");
            sub.footer(
                "\nExamples:\n"
                "  lastmile feedback churn@production --metric accuracy=0.87 --env production\n"
                "  lastmile feedback churn@1.4.0 --metric conversion=0.031 --time 2026-11-30\n"
                "\nEach call is an event in the log. 'lastmile report NAME' sets the values\n"
                "beside the metrics the version was registered with.");
          },
          [o](Context& ctx) { return run_feedback(ctx, *o); }};
}

}  // namespace lm::cli
