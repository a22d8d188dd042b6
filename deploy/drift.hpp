#pragma once
// Drift: how far current data (production traffic, a new batch) has moved
// from the reference profile. The current file is streamed once; memory is
// fixed by the profile, whatever the number of rows.
//
// Per column, on the profile's bins plus one bin for values the model
// cannot use (missing, and in a numeric column values that are not
// numbers):
//
//   PSI = sum over bins i of (c_i - r_i) * ln(c_i / r_i)
//
// where r_i and c_i are the reference and current shares of rows in bin i,
// each raised to at least `epsilon` (default 1e-4) so that an empty bin
// counts as rare rather than impossible (no renormalisation afterwards).
// Categorical bins are the profile's top values plus "other".
//
// KS (numeric columns) is sup_x |G(x) - F(x)|, F the current empirical
// CDF. Against the profile alone, G is the reference CDF rebuilt from the
// profile's quantiles q_0 = min, q_1 .. q_K = max (K = 100 by default):
// 0 below min, k / K at q_k, straight lines between (a tie of quantiles is
// a step, G right-continuous), 1 from max on. Each segment between
// distinct quantiles is split into `ks_subbins` equal parts and current
// values are counted in those parts (and below min, at min, above max), so
// F is exact at every part's boundary; the statistic is the largest
// |G - F| over those boundaries and just below min. It is below the KS
// distance to G by at most the largest share of current values in one
// part; G itself is within 1/K of the reference's empirical CDF at the
// quantiles. No p-value: G is not a sample.
// With the raw reference data, KS is the exact two-sample statistic
// D = sup_x |F_ref(x) - F(x)| (the reference values are kept in memory,
// current values counted between them), and its asymptotic p-value
// Q_KS(sqrt(n m / (n + m)) D), Q_KS(t) = 2 sum_{k>=1} (-1)^(k-1) e^(-2 k^2 t^2).

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "deploy/profile.hpp"
#include "deploy/table_reader.hpp"
#include "registry/core/json.hpp"

namespace lm::deploy {

struct DriftOptions {
  double psi_threshold = 0.2;   // a column drifts when PSI > this
  double max_share = 0.3;       // the dataset drifts when drifting / compared > this
  double epsilon = 1e-4;        // floor of a bin's share in PSI
  std::size_t ks_subbins = 10;  // parts per segment of the rebuilt reference CDF
  std::vector<std::string> columns;               // empty: every column of the profile
  std::optional<std::filesystem::path> reference; // raw reference data, for exact KS
  TableOptions table;                             // of the current file
  TableOptions reference_table;                   // of the reference file
};

// One bin of a column's PSI, as shares of rows.
struct DriftBin {
  std::string label;   // "(-inf, 1.5]", "(1.5, 3]", "(9, +inf)"; a category; "(other)"; "(missing)"
  double reference = 0;
  double current = 0;
};

struct ColumnDrift {
  std::string name;
  ColumnKind kind = ColumnKind::numeric;
  std::uint64_t count = 0;    // current values used (not missing, not invalid)
  std::uint64_t missing = 0;
  std::uint64_t invalid = 0;  // not numbers, in a numeric column
  double psi = 0;
  std::optional<double> ks;          // numeric columns
  std::optional<double> ks_pvalue;   // with raw reference data only
  bool ks_exact = false;             // two-sample, from raw reference data
  // Current numbers (numeric columns with count > 0).
  std::optional<double> mean, std, min, max;
  std::vector<DriftBin> bins;
  bool drifted = false;
};

struct DriftResult {
  std::uint64_t rows = 0;             // current data rows
  std::uint64_t reference_rows = 0;   // profiled rows
  std::optional<std::uint64_t> raw_reference_rows;
  std::vector<ColumnDrift> columns;   // compared, in the profile's order
  std::vector<std::string> missing_columns;  // in the profile, not in the current data
  std::size_t drifted_columns = 0;
  double drifted_share = 0;           // drifted_columns / columns.size()
  bool drifted = false;               // drifted_share > max_share
  DriftOptions options;
};

// Compares `current` with `profile`. Throws what read_table throws;
// Error(usage) for a column in options.columns that the profile lacks or
// options out of range; Error(data) for a current file without data rows
// or one that shares no column with the profile (a profile of another
// dataset); for the raw reference, Error(data) when it has none of the
// numeric columns compared (a column it lacks gets the binned KS).
DriftResult measure_drift(const Profile& profile, const std::filesystem::path& current,
                          const DriftOptions& options = {});

// The result as JSON: rows, columns (name, type, count, missing, invalid,
// psi, ks, ks_pvalue, ks_method, mean/std/min/max, bins, drifted),
// missing_columns, drifted_columns, drifted_share, drifted, thresholds.
Json drift_to_json(const DriftResult& result);

// Building blocks, exposed for tests.

// PSI of two distributions given as shares over the same bins (see
// above: each share floored at epsilon).
double population_stability_index(const std::vector<double>& reference_shares,
                                   const std::vector<double>& current_shares, double epsilon);

}  // namespace lm::deploy
