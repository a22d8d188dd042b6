// lastmile report NAME: offline metrics next to production feedback and
// drift, per version, and which versions have degraded.

#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <optional>

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "deploy/monitor_report.hpp"
#include "registry/core/error.hpp"
#include "registry/core/files.hpp"
#include "registry/deployments.hpp"
#include "registry/metadata.hpp"
#include "registry/names.hpp"

namespace lm::cli {

namespace {

struct ReportOptions {
  std::string name;
  std::string format = "text";
  double margin = 0.05;
  std::string output;
  std::optional<std::string> environment;
  bool fail_on_degraded = false;
};

std::string render(const deploy::MonitorReport& r, const std::string& format) {
  if (format == "json") return deploy::monitor_report_json(r).dump(2);
  if (format == "md") return deploy::monitor_report_markdown(r);
  if (format == "html") return deploy::monitor_report_html(r);
  return deploy::monitor_report_text(r);
}

// Checks that --output can be written before the registry is read.
std::filesystem::path output_path(const Context& ctx, const std::string& output) {
  const std::filesystem::path path = ctx.cwd() / output;
  refuse_git_directory(path, "the report to " + quote(output));
  make_directories(path.parent_path());
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw Error(ExitCode::usage, "cannot write the report to " + quote(output) + ": it is a directory");
  }
  if (::access(path.parent_path().c_str(), W_OK) != 0) {
    throw system_error(errno, "cannot write the report to " + quote(output));
  }
  return path;
}

// Which way metrics improve and what drift is, from lastmile.yaml; a broken
// policy is only noted here, and the defaults apply.
void apply_policy(Context& ctx, deploy::MonitorOptions& options) {
  const PolicyLoad& policy = ctx.policy();
  if (!policy.ok()) {
    ctx.out().warn("lastmile.yaml has problems ('lastmile policy check'); every metric is taken as better higher");
    return;
  }
  options.directions = policy.policy.metric_directions();
  options.psi_threshold = policy.policy.drift_psi_threshold;
}

[[noreturn]] void fail_degraded(const deploy::MonitorReport& r) {
  const auto refs = r.degraded_refs();
  const deploy::VersionReport* first = nullptr;
  for (const auto& v : r.versions) {
    if (v.degraded()) {
      first = &v;
      break;
    }
  }
  const deploy::MetricSeries* m = nullptr;
  for (const auto& s : first->metrics) {
    if (s.degraded) {
      m = &s;
      break;
    }
  }
  std::string more = refs.size() > 1 ? " (and " + std::to_string(refs.size() - 1) + " more version" +
                                           (refs.size() > 2 ? "s" : "") + ")"
                                     : "";
  throw Error(ExitCode::check_failed,
              quote(first->version.ref()) + " has degraded: live " + quote(m->key) + " " + format_metric(*m->live) +
                  " against " + format_metric(*m->offline) + " offline, worse by more than " +
                  format_metric(r.options.margin) + more);
}

// Metrics judged without a direction from lastmile.yaml: say how to give
// them one, since a loss taken as higher is better hides its degradation.
void note_assumed_directions(Context& ctx, const deploy::MonitorReport& r) {
  const auto keys = r.assumed_directions();
  if (keys.empty() || !ctx.policy().ok() || ctx.out().json()) return;
  std::string names;
  for (const auto& k : keys) names += (names.empty() ? "" : ", ") + quote(k);
  const bool one = keys.size() == 1;
  ctx.out().note("note: " + names + (one ? " is" : " are") + " taken as higher is better, as lastmile.yaml gives " +
                 (one ? "it" : "them") + " no direction; declare one where lower is better: metrics: {KEY: {better: lower}}");
}

int run_report(Context& ctx, const ReportOptions& o) {
  validate_name(o.name);
  deploy::MonitorOptions options;
  options.margin = o.margin;
  if (o.environment) {
    validate_environment(*o.environment);
    options.environment = o.environment;
  }
  sql::Db& db = ctx.registry().db();
  std::optional<std::filesystem::path> output;
  if (!o.output.empty()) output = output_path(ctx, o.output);
  apply_policy(ctx, options);
  const deploy::MonitorReport r = deploy::build_monitor_report(db, o.name, options);
  const std::string format = ctx.out().json() && !output ? "json" : o.format;
  if (output) {
    write_file_atomic(*output, render(r, format) + "\n");
    if (ctx.out().json()) {
      ctx.out().json_document(deploy::monitor_report_json(r));
    } else {
      const std::size_t n = r.versions.size();
      ctx.out().line("wrote the " + format + " report of " + r.name + " (" + std::to_string(n) + " version" +
                     (n == 1 ? "" : "s") + ", " + std::to_string(r.degraded_refs().size()) + " degraded) to " +
                     printable(o.output));
    }
  } else if (format == "json") {
    ctx.out().json_document(deploy::monitor_report_json(r));
  } else {
    ctx.out().line(render(r, format));
  }
  note_assumed_directions(ctx, r);
  if (o.fail_on_degraded && !r.degraded_refs().empty()) fail_degraded(r);
  return 0;
}

}  // namespace

Command report_command() {
  auto o = std::make_shared<ReportOptions>();
  return {"report",
          "show offline metrics next to production feedback and drift, per version, and flag degraded ones",
          [o](CLI::App& sub) {
            sub.add_option("NAME", o->name, "the model (or dataset), e.g. churn")->required();
            sub.add_option("--format", o->format, "text (default), json, md (for a pull request) or html (one file with charts)")
                ->type_name("FORMAT")
                ->check(CLI::IsMember({"text", "json", "md", "html"}));
            sub.add_option("--margin", o->margin,
                           "a live metric worse than its offline value by more than this is degraded (default 0.05)")
                ->type_name("X");
            sub.add_option("--env", o->environment, "only feedback and drift measured in this environment")
                ->type_name("ENV");
            sub.add_option("--output", o->output, "write the report to FILE; stdout then gets one line")
                ->type_name("FILE");
            sub.add_flag("--fail-on-degraded", o->fail_on_degraded, "exit 1 when a version is degraded");
          },
          [o](Context& ctx) { return run_report(ctx, *o); }};
}

}  // namespace lm::cli
