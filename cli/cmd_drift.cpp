// lastmile drift REF --current FILE: how far current data has moved from
// the data the version was trained on. Exit 1 when it drifted, so that a
// scheduled job can start retraining.

#include <cstdio>

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "deploy/monitor.hpp"
#include "deploy/monitor_report_format.hpp"
#include "registry/actor.hpp"
#include "registry/metadata.hpp"

namespace lm::cli {

namespace {

struct DriftOptions {
  std::string ref;
  std::string current;
  std::string reference;
  std::vector<std::string> columns;
  std::string env;
  std::string format = "text";
  std::optional<double> psi_threshold;
  std::optional<double> max_share;
};

// Statistics to four places, as 'lastmile report' shows them; shares of
// columns in the summary as whole percents.
using deploy::report_format::fixed4;

std::string percent(double share) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f%%", share * 100);
  return buf;
}

std::string ks_text(const deploy::ColumnDrift& c) {
  if (!c.ks) return "-";
  return fixed4(*c.ks) + (c.ks_pvalue ? " (p " + fixed4(*c.ks_pvalue) + ")" : "");
}

// Values that were not numbers, or missing, said once per column.
std::string anomalies(const deploy::ColumnDrift& c) {
  std::string text;
  if (c.invalid) text += std::to_string(c.invalid) + " not numbers";
  if (c.missing) text += (text.empty() ? "" : ", ") + std::to_string(c.missing) + " missing";
  return text;
}

std::string verdict(const deploy::DriftRecordResult& r) {
  const deploy::DriftResult& d = r.result;
  return std::to_string(d.drifted_columns) + " of " + std::to_string(d.columns.size()) + " columns (" +
         percent(d.drifted_share) + ") past PSI " + format_metric(d.options.psi_threshold) + "; limit " +
         percent(d.options.max_share) + ": " + (d.drifted ? "drift detected" : "no drift");
}

std::string heading(const deploy::DriftRecordResult& r) {
  return r.version.ref() + " against the profile of " + r.profile_of + ": " + std::to_string(r.result.rows) +
         " current rows, " + std::to_string(r.result.reference_rows) + " profiled";
}

void print_text(const Output& out, const deploy::DriftRecordResult& r) {
  out.line(heading(r));
  std::vector<std::vector<std::string>> rows{{"COLUMN", "TYPE", "PSI", "KS", "", "NOTE"}};
  for (const auto& c : r.result.columns) {
    rows.push_back({printable(c.name), std::string(deploy::column_kind_name(c.kind)), fixed4(c.psi), ks_text(c),
                    c.drifted ? "DRIFT" : "", anomalies(c)});
  }
  out.line(format_table(rows, out));
  out.line(verdict(r));
}

void print_markdown(const Output& out, const deploy::DriftRecordResult& r) {
  std::string md = "### Drift of " + markdown_cell(r.version.ref()) + "\n\n" + markdown_cell(heading(r)) + "\n\n" +
                   "| column | type | PSI | KS | drifted | note |\n|---|---|---:|---:|:---:|---|\n";
  for (const auto& c : r.result.columns) {
    md += "| " + markdown_cell(c.name) + " | " + std::string(deploy::column_kind_name(c.kind)) + " | " + fixed4(c.psi) +
          " | " + ks_text(c) + " | " + (c.drifted ? "**yes**" : "no") + " | " + anomalies(c) + " |\n";
  }
  md += "\n**" + verdict(r) + "**";
  out.line(md);
}

int run_drift(Context& ctx, const DriftOptions& o) {
  deploy::DriftRequest request;
  request.ref = parse_ref(o.ref);
  const NamedFile current = named_file(ctx, o.current);
  request.current = {current.path, current.recorded_as};
  if (!o.reference.empty()) {
    const NamedFile reference = named_file(ctx, o.reference);
    request.reference = deploy::DataFile{reference.path, reference.recorded_as};
  }
  if (!o.env.empty()) request.environment = o.env;
  request.options.columns = o.columns;
  // Thresholds: the flags, else lastmile.yaml's drift: section, else 0.2 and 0.3.
  if (const PolicyLoad& policy = ctx.policy(); policy.ok()) {
    request.options.psi_threshold = policy.policy.drift_psi_threshold;
    request.options.max_share = policy.policy.drift_max_share;
  } else {
    ctx.out().warn("lastmile.yaml has problems ('lastmile policy check'); the default thresholds are used");
  }
  if (o.psi_threshold) request.options.psi_threshold = *o.psi_threshold;
  if (o.max_share) request.options.max_share = *o.max_share;
  request.actor = resolve_actor(ctx.cwd());
  const deploy::DriftRecordResult r = deploy::record_drift(ctx.registry(), request);
  const Output& out = ctx.out();
  for (const auto& name : r.result.missing_columns) {
    out.warn("column " + quote(name) + " of the profile is not in " + quote(current.recorded_as));
  }
  const std::string format = out.json() ? "json" : o.format;
  if (format == "json") {
    out.json_document(deploy::drift_record_json(r));
  } else if (format == "md") {
    print_markdown(out, r);
  } else {
    print_text(out, r);
  }
  return r.result.drifted ? 1 : 0;
}

}  // namespace

Command drift_command() {
  auto o = std::make_shared<DriftOptions>();
  return {"drift", "measure how far current data has drifted from a version's reference profile (exit 1: drift)",
          [o](CLI::App& sub) {
            sub.add_option("REF", o->ref, "the version, e.g. churn@production")->required();
            sub.add_option("--current", o->current, "the current data: CSV with a header row, or JSON Lines")
                ->type_name("FILE")
                ->required();
            sub.add_option("--reference", o->reference,
                           "the raw reference data too: exact two-sample KS with p-values")
                ->type_name("FILE");
            sub.add_option("--columns", o->columns, "compare only these columns")
                ->type_name("A,B,...")
                ->delimiter(',');
            sub.add_option("--env", o->env, "where the data comes from, e.g. production (drift gates look for it)")
                ->type_name("ENV");
            sub.add_option("--psi-threshold", o->psi_threshold, "a column drifts past this PSI (default: lastmile.yaml's drift.psi_threshold, else 0.2)")
                ->type_name("X")
                ->check(CLI::Range(0.0, 1e9));
            sub.add_option("--max-share", o->max_share,
                           "the data drifts when more than this share of columns do (default: drift.max_share, else 0.3)")
                ->type_name("X")
                ->check(CLI::Range(0.0, 1.0));
            sub.add_option("--format", o->format, "text (default), json or md")
                ->type_name("FORMAT")
                ->check(CLI::IsMember({"text", "json", "md"}));
            sub.footer(
                "\nExamples:\n"
                "  lastmile drift churn@production --current traffic/2026-12-01.csv --env production\n"
                "  lastmile drift churn@1.4.0 --current batch.jsonl --format md >> $GITHUB_STEP_SUMMARY\n"
                "\nPer column: the population stability index on the profile's bins and, for\n"
                "numbers, the Kolmogorov-Smirnov statistic. Each measurement is an event in\n"
                "the log. Exit status: 0 no drift, 1 drift detected, 65 unreadable data.");
          },
          [o](Context& ctx) { return run_drift(ctx, *o); }};
}

}  // namespace lm::cli
