#include "deploy/monitor_report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "deploy/monitor_report_format.hpp"
#include "registry/core/error.hpp"
#include "registry/metadata.hpp"
#include "registry/monitoring.hpp"
#include "registry/names.hpp"
#include "registry/stages.hpp"

namespace lm::deploy {

using namespace report_format;

bool VersionReport::degraded() const {
  return std::any_of(metrics.begin(), metrics.end(), [](const MetricSeries& m) { return m.degraded; });
}

std::size_t VersionReport::feedback_count() const {
  std::size_t n = 0;
  for (const auto& m : metrics) n += m.feedback.size();
  return n;
}

std::vector<std::string> MonitorReport::degraded_refs() const {
  std::vector<std::string> out;
  for (const auto& v : versions) {
    if (v.degraded()) out.push_back(v.version.ref());
  }
  return out;
}

std::vector<std::string> MonitorReport::assumed_directions() const {
  std::set<std::string> keys;
  for (const auto& v : versions) {
    for (const auto& m : v.metrics) {
      if (!m.direction_from_policy && m.offline && m.live) keys.insert(m.key);
    }
  }
  return {keys.begin(), keys.end()};
}

bool is_degraded(double offline, double live, double margin, Better better) {
  const double worse_by = better == Better::higher ? offline - live : live - offline;
  const double scale = std::max({1.0, std::fabs(offline), std::fabs(live)});
  return worse_by - margin > 1e-9 * scale;
}

namespace {

bool wanted(const std::optional<std::string>& environment, const MonitorOptions& options) {
  return !options.environment || environment == options.environment;
}

// Offline values and observed series of one version, joined by key.
std::vector<MetricSeries> metric_series(sql::Db& db, const VersionRecord& v, const MonitorOptions& options) {
  std::map<std::string, MetricSeries> by_key;
  for (const auto& [key, value] : load_metadata(db, v.id).metrics) by_key[key].offline = value;
  // feedback_history is ordered by metric, then by observed time: each
  // series comes out oldest first.
  for (const auto& f : feedback_history(db, v.id)) {
    if (!wanted(f.environment, options)) continue;
    by_key[f.metric].feedback.push_back({f.observed_at, f.value, f.environment});
  }
  std::vector<MetricSeries> out;
  for (auto& [key, m] : by_key) {
    m.key = key;
    if (const auto it = options.directions.find(key); it != options.directions.end()) {
      m.better = it->second;
      m.direction_from_policy = true;
    }
    if (!m.feedback.empty()) m.live = m.feedback.back().value;
    if (m.offline && m.live) {
      m.change = *m.live - *m.offline;
      m.degraded = is_degraded(*m.offline, *m.live, options.margin, m.better);
    }
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<DriftPoint> drift_points(sql::Db& db, const VersionRecord& v, const MonitorOptions& options) {
  std::vector<DriftPoint> out;
  for (const auto& d : drift_history(db, v.id)) {
    if (!wanted(d.environment, options)) continue;
    out.push_back({d.time, d.environment, d.rows, d.max_psi, d.drifted_share, d.drifted});
  }
  return out;
}

Json optional_json(const auto& v) { return v ? Json(*v) : Json(nullptr); }

}  // namespace

MonitorReport build_monitor_report(sql::Db& db, const std::string& name, const MonitorOptions& options) {
  if (!std::isfinite(options.margin) || options.margin < 0) {
    throw Error(ExitCode::usage, "--margin " + quote(format_metric(options.margin)) + " is not a number of at least 0");
  }
  validate_name(name);
  MonitorReport r;
  r.name = name;
  r.options = options;
  const std::vector<VersionRecord> versions = list_versions(db, name);
  r.kind = versions.empty() ? model_kind(db, name).value_or("model") : versions.front().kind;
  std::map<std::int64_t, std::vector<std::string>> stages;
  for (const auto& move : stage_holders(db, name)) stages[move.version_id].push_back(move.stage);
  for (const auto& v : versions) {
    VersionReport vr;
    vr.version = v;
    vr.stages = stages[v.id];
    vr.metrics = metric_series(db, v, options);
    vr.drift = drift_points(db, v, options);
    r.versions.push_back(std::move(vr));
  }
  return r;
}

Json monitor_report_json(const MonitorReport& r) {
  Json versions = Json::array();
  for (const auto& v : r.versions) {
    Json metrics = Json::array();
    for (const auto& m : v.metrics) {
      Json feedback = Json::array();
      for (const auto& f : m.feedback) {
        feedback.push_back({{"observed_at", f.observed_at}, {"value", f.value}, {"environment", optional_json(f.environment)}});
      }
      metrics.push_back({{"key", m.key},
                         {"better", better_name(m.better)},
                         {"direction_from_policy", m.direction_from_policy},
                         {"offline", optional_json(m.offline)},
                         {"live", optional_json(m.live)},
                         {"change", optional_json(m.change)},
                         {"degraded", m.degraded},
                         {"feedback", feedback}});
    }
    Json drift = Json::array();
    for (const auto& d : v.drift) {
      drift.push_back({{"time", d.time},
                       {"environment", optional_json(d.environment)},
                       {"rows", d.rows},
                       {"max_psi", d.max_psi},
                       {"drifted_share", d.drifted_share},
                       {"drifted", d.drifted}});
    }
    versions.push_back({{"ref", v.version.ref()},
                        {"version", v.version.version},
                        {"digest", v.version.digest},
                        {"registered_at", v.version.registered_at},
                        {"stages", v.stages},
                        {"degraded", v.degraded()},
                        {"metrics", metrics},
                        {"drift", drift}});
  }
  return {{"name", r.name},
          {"kind", r.kind},
          {"margin", r.options.margin},
          {"psi_threshold", r.options.psi_threshold},
          {"environment", optional_json(r.options.environment)},
          {"degraded", r.degraded_refs()},
          {"versions", versions}};
}

std::string monitor_report_text(const MonitorReport& r) {
  const auto degraded = r.degraded_refs();
  std::string out = "report " + printable(r.name) + " (" + r.kind + "): " + count_of(r.versions.size(), "version") +
                    ", " + std::to_string(degraded.size()) + " degraded";
  if (r.options.environment) out += ", environment " + printable(*r.options.environment);
  out += "\ndegraded: a live metric worse than its offline value by more than " + format_metric(r.options.margin) + "\n";
  for (const auto& v : r.versions) {
    out += "\n" + v.version.ref();
    for (const auto& s : v.stages) out += "  " + printable(s);
    if (v.degraded()) out += "  DEGRADED";
    out += "\n";
    if (v.metrics.empty()) {
      out += "  no metrics, no feedback\n";
    } else {
      Rows rows = {{"metric", "better", "offline", "live", "change", "feedback", "last observed", ""}};
      for (const auto& m : v.metrics) {
        rows.push_back({printable(m.key), better_name(m.better), optional_number(m.offline), optional_number(m.live),
                        m.change ? signed_number(*m.change) : "-", std::to_string(m.feedback.size()),
                        m.feedback.empty() ? "-" : short_time(m.feedback.back().observed_at),
                        m.degraded ? "degraded" : ""});
      }
      out += align(rows, "  ");
    }
    if (v.drift.empty()) {
      out += "  drift not measured\n";
      continue;
    }
    Rows rows = {{"drift measured", "environment", "rows", "max PSI", "drifted share", "drifted"}};
    for (const auto& d : v.drift) {
      rows.push_back({short_time(d.time), d.environment ? printable(*d.environment) : "-", std::to_string(d.rows),
                      fixed4(d.max_psi), percent(d.drifted_share), d.drifted ? "yes" : "no"});
    }
    out += align(rows, "  ");
  }
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::string monitor_report_markdown(const MonitorReport& r) {
  const auto degraded = r.degraded_refs();
  std::string out = "### Monitoring report: `" + r.name + "`\n\n";
  out += count_of(r.versions.size(), "version") + ", " +
         (degraded.empty() ? std::string("none degraded") : "**" + std::to_string(degraded.size()) + " degraded**");
  if (r.options.environment) out += ", environment " + markdown_cell(*r.options.environment);
  out += " (a live metric worse than its offline value by more than " + format_metric(r.options.margin) + ").\n";
  for (const auto& v : r.versions) {
    out += "\n#### `" + v.version.ref() + "`";
    for (const auto& s : v.stages) out += " · " + markdown_cell(s);
    if (v.degraded()) out += " · ⚠️ **degraded**";
    out += "\n\n";
    if (v.metrics.empty()) {
      out += "No metrics and no feedback.\n";
    } else {
      out += "| metric | better | offline | live | change | feedback | last observed |\n";
      out += "|---|---|---:|---:|---:|---:|---|\n";
      for (const auto& m : v.metrics) {
        std::string change = m.change ? signed_number(*m.change) : "";
        if (m.degraded) change += " ❌";
        out += "| " + markdown_cell(m.key) + " | " + better_name(m.better) + " | " + optional_number(m.offline) + " | " +
               optional_number(m.live) + " | " + change + " | " + std::to_string(m.feedback.size()) + " | " +
               (m.feedback.empty() ? "-" : short_time(m.feedback.back().observed_at)) + " |\n";
      }
    }
    if (v.drift.empty()) {
      out += "\nDrift not measured.\n";
      continue;
    }
    out += "\n| drift measured | environment | rows | max PSI | drifted share | drifted |\n";
    out += "|---|---|---:|---:|---:|---|\n";
    for (const auto& d : v.drift) {
      out += "| " + short_time(d.time) + " | " + (d.environment ? markdown_cell(*d.environment) : "-") + " | " +
             std::to_string(d.rows) + " | " + fixed4(d.max_psi) + " | " + percent(d.drifted_share) + " | " +
             (d.drifted ? "yes" : "no") + " |\n";
    }
  }
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace lm::deploy
