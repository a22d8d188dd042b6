#pragma once
// Number, time and cell formatting shared by the monitoring report's
// renderers (deploy/monitor_report*.cpp) and by lastmile drift, so that the
// two show numbers alike; not part of the library's API.

#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "registry/core/error.hpp"
#include "registry/metadata.hpp"
#include "registry/policy.hpp"

namespace lm::deploy::report_format {

using Rows = std::vector<std::vector<std::string>>;

inline std::string better_name(Better b) { return b == Better::higher ? "higher" : "lower"; }

inline std::string optional_number(const std::optional<double>& v) { return v ? format_metric(*v) : "-"; }

// A difference of two doubles carries their representation error
// (0.84 - 0.91 = -0.07000000000000006); ten significant digits drop it.
inline std::string signed_number(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.10g", value);
  return buf;
}

inline std::string fixed4(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", value);
  return buf;
}

inline std::string percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", fraction * 100);
  return buf;
}

inline std::string count_of(std::size_t n, const std::string& noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

// "2026-11-24 18:38" from the registry's RFC 3339 times; anything else as
// it is.
inline std::string short_time(std::string_view rfc3339) {
  if (rfc3339.size() < 16 || rfc3339[10] != 'T') return printable(rfc3339);
  std::string out(rfc3339.substr(0, 16));
  out[10] = ' ';
  return out;
}

// Rows laid out in columns two spaces apart, each line indented; trailing
// blanks dropped.
inline std::string align(const Rows& rows, const std::string& indent) {
  std::vector<std::size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line = indent;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

}  // namespace lm::deploy::report_format
