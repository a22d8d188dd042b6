#pragma once
// The monitoring report of a model: per version, the metrics recorded at
// registration (offline) next to the outcomes observed in production
// (feedback, as a series over time) and the drift measurements, and which
// versions have degraded.
//
// A metric of a version is degraded when its live value -- the latest
// feedback value, by observed time -- is worse than its offline value by
// more than the margin (absolute, default 0.05). Worse follows the
// metric's direction: below the offline value for a metric where higher
// is better (the default), above it for one the policy says is better
// lower. A version is degraded when one of its metrics is. A metric with
// no offline value or no feedback is shown but never degraded.
//
// Rendered as text, JSON (stable keys), Markdown, or one self-contained
// HTML file with inline SVG charts (no scripts, no external resources).
// Every form is deterministic: the same registry gives the same bytes.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "registry/core/json.hpp"
#include "registry/core/sqlite.hpp"
#include "registry/policy.hpp"
#include "registry/query.hpp"

namespace lm::deploy {

struct MonitorOptions {
  double margin = 0.05;                       // absolute, >= 0
  std::map<std::string, Better> directions;   // Policy::metric_directions(); others: higher
  double psi_threshold = 0.2;                 // drawn on the drift chart
  std::optional<std::string> environment;     // only feedback and drift from there
};

struct FeedbackPoint {
  std::string observed_at;  // RFC 3339
  double value = 0;
  std::optional<std::string> environment;
};

struct MetricSeries {
  std::string key;
  Better better = Better::higher;
  bool direction_from_policy = false;
  std::optional<double> offline;       // at registration
  std::vector<FeedbackPoint> feedback; // oldest first
  std::optional<double> live;          // the latest feedback value
  std::optional<double> change;        // live - offline, when both exist
  bool degraded = false;
};

struct DriftPoint {
  std::string time;
  std::optional<std::string> environment;
  std::int64_t rows = 0;
  double max_psi = 0;
  double drifted_share = 0;
  bool drifted = false;
};

struct VersionReport {
  VersionRecord version;
  std::vector<std::string> stages;     // the stages holding it now, by name
  std::vector<MetricSeries> metrics;   // offline or observed, by key
  std::vector<DriftPoint> drift;       // oldest first

  bool degraded() const;
  std::size_t feedback_count() const;
};

struct MonitorReport {
  std::string name;
  std::string kind;  // model or dataset
  MonitorOptions options;
  std::vector<VersionReport> versions;  // highest version first

  std::vector<std::string> degraded_refs() const;
  // The keys of metrics compared live against offline with a direction the
  // policy does not give (taken as higher is better), sorted, once each.
  std::vector<std::string> assumed_directions() const;
};

// Whether `live` is worse than `offline` by more than `margin` in the
// direction `better`. A difference within 1e-9 (relative) of the margin is
// representation error (0.9 - 0.85 is 0.05000000000000004), not more.
bool is_degraded(double offline, double live, double margin, Better better);

// The report of every version of `name`. Throws Error(not_found) when
// there is no such model or dataset, Error(usage) for a negative or
// non-finite margin.
MonitorReport build_monitor_report(sql::Db& db, const std::string& name, const MonitorOptions& options);

std::string monitor_report_text(const MonitorReport& r);
Json monitor_report_json(const MonitorReport& r);
std::string monitor_report_markdown(const MonitorReport& r);
std::string monitor_report_html(const MonitorReport& r);

// `text` with & < > " ' as character references, for HTML text and
// attribute values.
std::string html_escape(std::string_view text);

}  // namespace lm::deploy
