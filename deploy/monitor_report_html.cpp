// The monitoring report as one self-contained HTML file: inline CSS and
// inline SVG charts drawn here, no scripts and no external resources, so
// that it can be attached to a CI run or mailed and opened anywhere.

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "deploy/monitor_report.hpp"
#include "deploy/monitor_report_format.hpp"
#include "registry/core/clock.hpp"

namespace lm::deploy {

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

using namespace report_format;

// Text from the registry, for HTML: control characters made visible, then
// escaped.
std::string h(std::string_view text) { return html_escape(printable(text)); }

constexpr const char* k_style = R"css(
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328; margin: 2rem auto; max-width: 1120px; padding: 0 1rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #d0d7de; padding-bottom: .3rem; }
code { font-family: ui-monospace, "SFMono-Regular", monospace; }
table { border-collapse: collapse; margin: .75rem 0; font-size: .9rem; }
th, td { border: 1px solid #d0d7de; padding: .3rem .6rem; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.degraded td { background: #ffebe9; }
.stage { background: #ddf4ff; border-radius: 1em; padding: .1em .6em; font-size: .8rem; margin-left: .4rem; }
.flag { background: #cf222e; color: #fff; border-radius: 1em; padding: .1em .6em; font-size: .8rem; margin-left: .4rem; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: 0; width: 520px; } figcaption { font-size: .85rem; color: #57606a; }
.note { color: #57606a; }
)css";

constexpr double k_width = 520, k_height = 220;
constexpr double k_left = 64, k_right = k_width - 16, k_top = 20, k_bottom = k_height - 36;

struct ChartPoint {
  double x = 0;  // seconds since the epoch
  double y = 0;
  std::string label;
};

struct Chart {
  std::string title;
  std::vector<ChartPoint> points;  // in time order
  std::optional<double> reference;
  std::string reference_label;
  bool from_zero = false;
  bool degraded = false;
};

std::string coord(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string tick(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

double seconds(const std::string& rfc3339, double fallback) {
  const auto ns = parse_rfc3339(rfc3339);
  return ns ? static_cast<double>(*ns) / 1e9 : fallback;
}

// The value range drawn: every point and the reference, padded a tenth.
std::pair<double, double> y_range(const Chart& c) {
  double lo = c.points.front().y, hi = lo;
  for (const auto& p : c.points) lo = std::min(lo, p.y), hi = std::max(hi, p.y);
  if (c.reference) lo = std::min(lo, *c.reference), hi = std::max(hi, *c.reference);
  const double pad = hi > lo ? (hi - lo) / 10 : std::max(std::fabs(hi) / 10, 0.05);
  lo -= pad;
  hi += pad;
  // PSI is never negative: its axis starts at 0.
  if (c.from_zero) lo = 0;
  return {lo, hi};
}

std::string text_at(double x, double y, const char* anchor, const std::string& text) {
  return "<text x=\"" + coord(x) + "\" y=\"" + coord(y) + "\" text-anchor=\"" + anchor +
         "\" font-size=\"11\" fill=\"#57606a\">" + text + "</text>\n";
}

// A line chart of `c.points` over time with the reference as a dashed
// horizontal line. `first`/`last` label the time axis.
std::string svg_chart(const Chart& c, const std::string& first, const std::string& last) {
  // Named copies: clang 14 cannot capture structured bindings.
  const auto range = y_range(c);
  const double lo = range.first, hi = range.second;
  double x0 = c.points.front().x, x1 = x0;
  for (const auto& p : c.points) x0 = std::min(x0, p.x), x1 = std::max(x1, p.x);
  const auto px = [&](double x) { return x1 > x0 ? k_left + (x - x0) / (x1 - x0) * (k_right - k_left) : (k_left + k_right) / 2; };
  const auto py = [&](double y) { return k_bottom - (y - lo) / (hi - lo) * (k_bottom - k_top); };
  const std::string colour = c.degraded ? "#cf222e" : "#0969da";
  std::string svg = "<svg class=\"chart\" viewBox=\"0 0 " + coord(k_width) + " " + coord(k_height) + "\" width=\"" +
                    coord(k_width) + "\" height=\"" + coord(k_height) + "\" role=\"img\" aria-label=\"" + c.title + "\">\n";
  svg += "<title>" + c.title + "</title>\n";
  svg += "<rect x=\"0\" y=\"0\" width=\"" + coord(k_width) + "\" height=\"" + coord(k_height) + "\" fill=\"#ffffff\"/>\n";
  svg += "<path class=\"axes\" d=\"M" + coord(k_left) + " " + coord(k_top) + " V" + coord(k_bottom) + " H" +
         coord(k_right) + "\" fill=\"none\" stroke=\"#8c959f\"/>\n";
  svg += text_at(k_left - 6, k_top + 4, "end", tick(hi)) + text_at(k_left - 6, k_bottom, "end", tick(lo));
  svg += first == last ? text_at((k_left + k_right) / 2, k_bottom + 16, "middle", first)
                       : text_at(k_left, k_bottom + 16, "start", first) + text_at(k_right, k_bottom + 16, "end", last);
  if (c.reference) {
    const std::string y = coord(py(*c.reference));
    svg += "<line class=\"reference\" x1=\"" + coord(k_left) + "\" y1=\"" + y + "\" x2=\"" + coord(k_right) + "\" y2=\"" +
           y + "\" stroke=\"#6e7781\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\n";
    svg += text_at(k_right, py(*c.reference) - 4, "end", c.reference_label);
  }
  std::string points;
  for (const auto& p : c.points) points += (points.empty() ? "" : " ") + coord(px(p.x)) + "," + coord(py(p.y));
  svg += "<polyline class=\"series\" points=\"" + points + "\" fill=\"none\" stroke=\"" + colour +
         "\" stroke-width=\"2\"/>\n";
  for (const auto& p : c.points) {
    svg += "<circle cx=\"" + coord(px(p.x)) + "\" cy=\"" + coord(py(p.y)) + "\" r=\"3.5\" fill=\"" + colour +
           "\"><title>" + p.label + "</title></circle>\n";
  }
  return svg + "</svg>\n";
}

std::string metric_chart(const VersionReport& v, const MetricSeries& m) {
  Chart c;
  c.title = h(v.version.ref()) + ": " + h(m.key) + " observed in production";
  c.degraded = m.degraded;
  for (std::size_t i = 0; i < m.feedback.size(); ++i) {
    const auto& f = m.feedback[i];
    c.points.push_back({seconds(f.observed_at, static_cast<double>(i)), f.value,
                        h(short_time(f.observed_at)) + ": " + h(format_metric(f.value)) +
                            (f.environment ? " (" + h(*f.environment) + ")" : "")});
  }
  if (m.offline) {
    c.reference = *m.offline;
    c.reference_label = "offline " + h(format_metric(*m.offline));
  }
  const std::string caption = "<code>" + h(m.key) + "</code>: live feedback (line), " +
                              (m.offline ? "offline value at registration (dashed)" : "no offline value") +
                              "; " + better_name(m.better) + " is better";
  return "<figure>\n" + svg_chart(c, h(short_time(m.feedback.front().observed_at)), h(short_time(m.feedback.back().observed_at))) +
         "<figcaption>" + caption + "</figcaption>\n</figure>\n";
}

std::string drift_chart(const VersionReport& v, double threshold) {
  Chart c;
  c.title = h(v.version.ref()) + ": largest PSI of any column per drift measurement";
  c.from_zero = true;
  c.degraded = v.drift.back().drifted;
  for (std::size_t i = 0; i < v.drift.size(); ++i) {
    const auto& d = v.drift[i];
    c.points.push_back({seconds(d.time, static_cast<double>(i)), d.max_psi,
                        h(short_time(d.time)) + ": max PSI " + fixed4(d.max_psi) + ", " + percent(d.drifted_share) +
                            " of columns drifted" + (d.environment ? " (" + h(*d.environment) + ")" : "")});
  }
  c.reference = threshold;
  c.reference_label = "threshold " + h(format_metric(threshold));
  return "<figure>\n" + svg_chart(c, h(short_time(v.drift.front().time)), h(short_time(v.drift.back().time))) +
         "<figcaption>drift: largest PSI of any column (line), the PSI threshold (dashed)</figcaption>\n</figure>\n";
}

std::string td_num(const std::string& text) { return "<td class=\"num\">" + text + "</td>"; }

std::string metric_table(const VersionReport& v) {
  std::string out =
      "<table class=\"metrics\">\n<tr><th>metric</th><th>better</th><th>offline</th><th>live</th><th>change</th>"
      "<th>feedback</th><th>last observed</th><th></th></tr>\n";
  for (const auto& m : v.metrics) {
    out += std::string(m.degraded ? "<tr class=\"degraded\">" : "<tr>") + "<td><code>" + h(m.key) + "</code></td><td>" +
           better_name(m.better) + "</td>" + td_num(h(optional_number(m.offline))) + td_num(h(optional_number(m.live))) +
           td_num(m.change ? h(signed_number(*m.change)) : "-") + td_num(std::to_string(m.feedback.size())) + "<td>" +
           (m.feedback.empty() ? "-" : h(short_time(m.feedback.back().observed_at))) + "</td><td>" +
           (m.degraded ? "degraded" : "") + "</td></tr>\n";
  }
  return out + "</table>\n";
}

std::string drift_table(const VersionReport& v) {
  std::string out =
      "<table class=\"drift\">\n<tr><th>drift measured</th><th>environment</th><th>rows</th><th>max PSI</th>"
      "<th>drifted share</th><th>drifted</th></tr>\n";
  for (const auto& d : v.drift) {
    out += std::string(d.drifted ? "<tr class=\"degraded\">" : "<tr>") + "<td>" + h(short_time(d.time)) + "</td><td>" +
           (d.environment ? h(*d.environment) : "-") + "</td>" + td_num(std::to_string(d.rows)) + td_num(fixed4(d.max_psi)) +
           td_num(percent(d.drifted_share)) + "<td>" + (d.drifted ? "yes" : "no") + "</td></tr>\n";
  }
  return out + "</table>\n";
}

std::string version_section(const VersionReport& v, double threshold) {
  std::string out = std::string("<section class=\"version") + (v.degraded() ? " degraded" : "") + "\">\n<h2><code>" +
                    h(v.version.ref()) + "</code>";
  for (const auto& s : v.stages) out += "<span class=\"stage\">" + h(s) + "</span>";
  if (v.degraded()) out += "<span class=\"flag\">degraded</span>";
  out += "</h2>\n";
  out += v.metrics.empty() ? "<p class=\"note\">No metrics and no feedback.</p>\n" : metric_table(v);
  out += v.drift.empty() ? "<p class=\"note\">Drift not measured.</p>\n" : drift_table(v);
  std::string charts;
  for (const auto& m : v.metrics) {
    if (!m.feedback.empty()) charts += metric_chart(v, m);
  }
  if (!v.drift.empty()) charts += drift_chart(v, threshold);
  if (!charts.empty()) out += "<div class=\"charts\">\n" + charts + "</div>\n";
  return out + "</section>\n";
}

}  // namespace

std::string monitor_report_html(const MonitorReport& r) {
  const auto degraded = r.degraded_refs();
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  out += "<title>lastmile report: " + h(r.name) + "</title>\n<style>" + std::string(k_style) + "</style>\n</head>\n<body>\n";
  out += "<h1>Monitoring report: <code>" + h(r.name) + "</code> (" + h(r.kind) + ")</h1>\n";
  out += "<p class=\"summary\">" + count_of(r.versions.size(), "version") + ", " +
         (degraded.empty() ? std::string("none degraded")
                           : "<strong>" + std::to_string(degraded.size()) + " degraded</strong>") +
         (r.options.environment ? ", environment <code>" + h(*r.options.environment) + "</code>" : std::string()) +
         ". A version is degraded when a live metric (its latest feedback) is worse than its offline value "
         "by more than " + h(format_metric(r.options.margin)) + ".</p>\n";
  for (const auto& v : r.versions) out += version_section(v, r.options.psi_threshold);
  return out + "</body>\n</html>\n";
}

}  // namespace lm::deploy
