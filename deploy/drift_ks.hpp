#pragma once
// The Kolmogorov-Smirnov statistic of streamed current values against a
// reference, in memory fixed by the reference (see drift.hpp for what is
// computed): BinnedKs against a profile, ExactKs against raw values.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "deploy/profile.hpp"

namespace lm::deploy {

// std::lower_bound over ascending values in about constant time: uniform
// cells over [front, back] record where each cell's values begin, so a
// search covers one cell. Drift looks up every current value; a binary
// search over thousands of reference values would cost a cache miss per
// step.
class SortedLookup {
 public:
  SortedLookup() = default;
  SortedLookup(std::vector<double> sorted, std::size_t cells);
  // The index of the first value not below x.
  std::size_t lower_bound(double x) const;
  const std::vector<double>& values() const { return m_values; }

 private:
  std::vector<double> m_values;
  double m_scale = 0;                 // cells per unit of x
  std::vector<std::uint32_t> m_start; // first value at or after each cell's left end
};

// KS against the reference CDF rebuilt from a profile's quantiles q_0 (min)
// .. q_K (max): piecewise linear through (q_k, k / K).
class BinnedKs {
 public:
  BinnedKs(const std::vector<double>& quantiles, std::size_t subbins);
  void add(double x);
  // sup |G - F| over the parts' boundaries; 0 without values.
  double statistic() const;

 private:
  double reference_cdf(double x) const;
  double boundary(std::size_t bucket) const;

  std::vector<double> m_knot_x;    // ascending, ties allowed (a step)
  std::vector<double> m_knot_cdf;
  SortedLookup m_grid;             // the knots' distinct x
  std::vector<double> m_scale;     // parts per unit of x in each segment
  std::size_t m_subbins;
  // [x < grid0] [x == grid0] then m_subbins parts per segment, [x > last]
  std::vector<std::uint64_t> m_counts;
};

// The exact two-sample KS statistic: the reference's distinct values are
// kept with their cumulative counts; current values are counted below,
// at and between them, which gives both CDFs exactly wherever they step.
class ExactKs {
 public:
  explicit ExactKs(std::vector<double> reference);  // any order
  void add(double x);
  double statistic() const;
  std::uint64_t reference_size() const { return m_reference_n; }
  std::uint64_t current_size() const { return m_current_n; }

 private:
  SortedLookup m_values;                   // distinct, ascending
  std::vector<std::uint64_t> m_cumulative; // reference values <= m_values[j]
  std::uint64_t m_reference_n = 0;
  std::uint64_t m_current_n = 0;
  // [x < v0] [x == v0] [v0 < x < v1] [x == v1] ... [x == v_last] [x > v_last]
  std::vector<std::uint64_t> m_counts;
};

// The Kolmogorov distribution's survival function Q_KS(t) = P(K > t).
double kolmogorov_survival(double t);

// The asymptotic p-value of a two-sample statistic D with sizes n and m:
// Q_KS(sqrt(n m / (n + m)) D).
double ks_pvalue(double d, std::uint64_t n, std::uint64_t m);

}  // namespace lm::deploy
