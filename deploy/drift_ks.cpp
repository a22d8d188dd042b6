#include "deploy/drift_ks.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <utility>

namespace lm::deploy {
namespace {

double share(std::uint64_t part, std::uint64_t total) {
  return total ? static_cast<double>(part) / static_cast<double>(total) : 0.0;
}

}  // namespace

SortedLookup::SortedLookup(std::vector<double> sorted, std::size_t cells) : m_values(std::move(sorted)) {
  if (m_values.size() < 2 || m_values.size() > UINT32_MAX || cells == 0) return;
  const double range = m_values.back() - m_values.front();
  m_scale = static_cast<double>(cells) / range;
  // A range too small or too large for the arithmetic: binary search only.
  if (!std::isfinite(range) || !std::isfinite(m_scale) || !(m_scale > 0)) return;
  m_start.resize(cells + 1);
  for (std::size_t c = 0; c <= cells; ++c) {
    const double left = m_values.front() + static_cast<double>(c) / m_scale;
    m_start[c] = static_cast<std::uint32_t>(lower_bound_index(m_values, left));
  }
}

std::size_t SortedLookup::lower_bound(double x) const {
  const std::size_t n = m_values.size();
  if (n == 0 || x <= m_values.front()) return 0;
  if (x > m_values.back()) return n;
  if (m_start.empty()) return lower_bound_index(m_values, x);
  const double cell = (x - m_values.front()) * m_scale;
  const std::size_t c = std::min(static_cast<std::size_t>(cell), m_start.size() - 2);
  const auto begin = m_values.begin() + m_start[c];
  const auto end = m_values.begin() + std::min<std::size_t>(m_start[c + 1] + 1, n);
  const auto r = static_cast<std::size_t>(std::lower_bound(begin, end, x) - m_values.begin());
  // Rounding at a cell's edge can put x in the cell next door: check.
  const bool right = (r == 0 || m_values[r - 1] < x) && (r == n || m_values[r] >= x);
  return right ? r : lower_bound_index(m_values, x);
}

BinnedKs::BinnedKs(const std::vector<double>& quantiles, std::size_t subbins)
    : m_knot_x(quantiles), m_subbins(std::max<std::size_t>(subbins, 1)) {
  // profile_from_json makes sure of at least two, ascending.
  if (m_knot_x.size() < 2) m_knot_x.resize(2, m_knot_x.empty() ? 0.0 : m_knot_x.front());
  const double last = static_cast<double>(m_knot_x.size() - 1);
  for (std::size_t k = 0; k < m_knot_x.size(); ++k) m_knot_cdf.push_back(static_cast<double>(k) / last);
  std::vector<double> grid = m_knot_x;
  grid.erase(std::unique(grid.begin(), grid.end()), grid.end());
  for (std::size_t i = 0; i + 1 < grid.size(); ++i) {
    m_scale.push_back(static_cast<double>(m_subbins) / (grid[i + 1] - grid[i]));
  }
  m_counts.assign(2 + (grid.size() - 1) * m_subbins + 1, 0);
  // Quantiles crowd where the data does: enough cells that one rarely
  // holds more than one of them.
  m_grid = SortedLookup(std::move(grid), 16 * m_knot_x.size());
}

void BinnedKs::add(double x) {
  const std::vector<double>& grid = m_grid.values();
  if (x < grid.front()) {
    ++m_counts[0];
  } else if (x == grid.front()) {
    ++m_counts[1];
  } else if (x > grid.back()) {
    ++m_counts.back();
  } else {
    // The segment (grid[i], grid[i + 1]] holding x, then its part, closed
    // on the right like the bins.
    const std::size_t i = m_grid.lower_bound(x) - 1;
    const double position = (x - grid[i]) * m_scale[i];
    const auto part = static_cast<std::size_t>(std::clamp(std::ceil(position) - 1.0, 0.0, static_cast<double>(m_subbins - 1)));
    ++m_counts[2 + i * m_subbins + part];
  }
}

double BinnedKs::reference_cdf(double x) const {
  if (x < m_knot_x.front()) return 0.0;
  // The last knot at or before x: a tie of knots is a step, and the CDF
  // takes the value after it.
  const auto k = static_cast<std::size_t>(std::upper_bound(m_knot_x.begin(), m_knot_x.end(), x) - m_knot_x.begin()) - 1;
  if (k + 1 == m_knot_x.size()) return m_knot_cdf.back();
  const double t = (x - m_knot_x[k]) / (m_knot_x[k + 1] - m_knot_x[k]);
  return m_knot_cdf[k] + t * (m_knot_cdf[k + 1] - m_knot_cdf[k]);
}

// The upper end of bucket b (b >= 1; bucket 0's is just below grid[0]).
double BinnedKs::boundary(std::size_t b) const {
  const std::vector<double>& grid = m_grid.values();
  if (b == 1) return grid.front();
  const std::size_t i = (b - 2) / m_subbins;
  const std::size_t part = (b - 2) % m_subbins;
  if (part + 1 == m_subbins) return grid[i + 1];  // exactly, not by arithmetic
  const double width = (grid[i + 1] - grid[i]) / static_cast<double>(m_subbins);
  return grid[i] + static_cast<double>(part + 1) * width;
}

double BinnedKs::statistic() const {
  std::uint64_t total = 0;
  for (const std::uint64_t c : m_counts) total += c;
  if (total == 0) return 0.0;
  std::uint64_t cumulative = 0;
  double d = 0.0;
  // Past the last bucket both CDFs are 1.
  for (std::size_t b = 0; b + 1 < m_counts.size(); ++b) {
    cumulative += m_counts[b];
    const double g = b == 0 ? 0.0 : reference_cdf(boundary(b));
    d = std::max(d, std::abs(g - share(cumulative, total)));
  }
  return d;
}

ExactKs::ExactKs(std::vector<double> reference) : m_reference_n(reference.size()) {
  std::sort(reference.begin(), reference.end());
  std::vector<double> distinct;
  std::uint64_t seen = 0;
  for (const double x : reference) {
    ++seen;
    if (!distinct.empty() && distinct.back() == x) {
      m_cumulative.back() = seen;
    } else {
      distinct.push_back(x);
      m_cumulative.push_back(seen);
    }
  }
  m_counts.assign(2 * distinct.size() + 1, 0);
  const std::size_t cells = distinct.size();
  m_values = SortedLookup(std::move(distinct), cells);
}

void ExactKs::add(double x) {
  const std::size_t j = m_values.lower_bound(x);
  const bool equal = j < m_values.values().size() && m_values.values()[j] == x;
  ++m_counts[2 * j + (equal ? 1 : 0)];
  ++m_current_n;
}

double ExactKs::statistic() const {
  if (m_current_n == 0 || m_reference_n == 0) return 0.0;
  std::uint64_t cumulative = 0;
  double d = 0.0;
  // Both CDFs are step functions: between two reference values the
  // reference's is flat and the current one's rises, so the largest gap
  // is just below a reference value or at one.
  for (std::size_t b = 0; b + 1 < m_counts.size(); ++b) {
    cumulative += m_counts[b];
    const std::size_t j = b / 2;
    const std::uint64_t reference_below = b % 2 == 1 ? m_cumulative[j] : (j == 0 ? 0 : m_cumulative[j - 1]);
    d = std::max(d, std::abs(share(reference_below, m_reference_n) - share(cumulative, m_current_n)));
  }
  return d;
}

double kolmogorov_survival(double t) {
  if (t <= 0.0) return 1.0;
  constexpr double pi = std::numbers::pi;
  double sum = 0.0;
  if (t < 1.18) {
    // The series for the CDF converges fast for small t, the other slowly.
    for (int k = 1; k <= 50; ++k) {
      const double term = std::exp(-std::pow(2 * k - 1, 2) * pi * pi / (8 * t * t));
      sum += term;
      if (term < 1e-17) break;
    }
    return std::clamp(1.0 - std::sqrt(2 * pi) / t * sum, 0.0, 1.0);
  }
  for (int k = 1; k <= 100; ++k) {
    const double term = std::exp(-2.0 * k * k * t * t);
    sum += k % 2 == 1 ? term : -term;
    if (term < 1e-17) break;
  }
  return std::clamp(2.0 * sum, 0.0, 1.0);
}

double ks_pvalue(double d, std::uint64_t n, std::uint64_t m) {
  if (n == 0 || m == 0) return 1.0;
  const double en = static_cast<double>(n) * static_cast<double>(m) / (static_cast<double>(n) + static_cast<double>(m));
  return kolmogorov_survival(std::sqrt(en) * d);
}

}  // namespace lm::deploy
