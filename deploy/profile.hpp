#pragma once
// The reference profile of a dataset: what drift compares production data
// with, small enough (kilobytes) to keep with a model version, so that a
// comparison needs neither the training data nor its location.
//
// Per column: its type (numeric when every value that is not missing
// reads as a finite number, else categorical), the number of values and of
// missing ones; for numbers min, max, mean and sample standard deviation
// and bins cut at the quantiles with the count in each; for categories
// the most frequent values with their counts and the count of the rest.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "deploy/table_reader.hpp"
#include "registry/core/json.hpp"

namespace lm::deploy {

inline constexpr int profile_format_version = 1;

enum class ColumnKind { numeric, categorical };

std::string_view column_kind_name(ColumnKind kind);

// Numeric bins are cut at `edges` (ascending, distinct): bin 0 is
// (-inf, edges[0]], bin i is (edges[i-1], edges[i]], the last is
// (edges.back(), +inf), so counts.size() == edges.size() + 1 and a value
// outside the training range still has a bin. `quantiles` are finer, for
// the KS statistic: the value at each level k / (size - 1), from min (k = 0)
// to max, so that the reference CDF can be rebuilt between them.
struct NumericProfile {
  double min = 0;
  double max = 0;
  double mean = 0;
  double std = 0;  // sample standard deviation (n - 1); 0 below two values
  std::vector<double> edges;
  std::vector<std::uint64_t> counts;
  std::vector<double> quantiles;
};

struct CategoryCount {
  std::string value;
  std::uint64_t count = 0;
};

struct CategoricalProfile {
  std::vector<CategoryCount> top;  // by count, most frequent first; ties by value
  std::uint64_t other = 0;         // values outside `top`
  std::uint64_t distinct = 0;      // distinct values counted
  // More distinct values than a profile keeps counts for: the values first
  // met after the limit went to `other` uncounted, and `top` may miss some.
  bool distinct_capped = false;
};

struct ColumnProfile {
  std::string name;
  ColumnKind kind = ColumnKind::numeric;
  std::uint64_t count = 0;    // values that are not missing
  std::uint64_t missing = 0;  // see is_missing_value
  NumericProfile numeric;          // when kind == numeric
  CategoricalProfile categorical;  // when kind == categorical
};

struct Profile {
  int version = profile_format_version;
  TableFormat format = TableFormat::csv;  // of the file profiled
  std::uint64_t rows = 0;
  std::size_t bins = 10;   // asked for; a column may have fewer (ties)
  std::size_t top_k = 20;
  std::vector<ColumnProfile> columns;  // in the file's order
};

struct ProfileOptions {
  std::size_t bins = 10;                 // quantile bins per numeric column
  std::size_t quantiles = 100;           // KS quantile levels: 1/100 .. 100/100
  std::size_t top_k = 20;                // categories kept per column
  std::size_t max_distinct = 1u << 16;   // distinct categories counted per column
  TableOptions table;
};

// Profiles the table at `path` in two passes: the first decides each
// column's type and computes count, missing, min, max, mean and std
// (Welford); the second keeps the numeric columns' values in memory to cut
// exact quantile bins (so memory grows with rows × numeric columns, 8 bytes
// each: training data, profiled once) and counts categories. The quantile
// at level p is the smallest value with at least a share p of the values
// at or below it (the inverse of the empirical CDF, Hyndman-Fan type 1):
// always a value of the data, so a value that many rows share gets a bin
// of its own. Bin edges are the quantiles at 1/bins ... (bins-1)/bins,
// equal ones merged.
// Throws what read_table throws, Error(data) for a table without data
// rows or a file that changed between the passes, Error(usage) for bins,
// quantiles or top_k below 1.
Profile profile_table(const std::filesystem::path& path, const ProfileOptions& options = {});

// Helpers, exposed for tests and for drift.

// The quantiles of sorted, non-empty `values` at levels k / parts for
// k = 0 .. parts: parts + 1 values from min to max.
std::vector<double> quantiles_at(const std::vector<double>& sorted, std::size_t parts);

// Quantile edges of sorted `values` for `bins` bins, merged where equal.
std::vector<double> quantile_edges(const std::vector<double>& sorted, std::size_t bins);

// The index of the first of ascending `values` that is not below `x`
// (std::lower_bound), written so that the compiler uses conditional moves:
// drift runs it for every value, and a mispredicted branch per step of a
// binary search costs more than the rest of the work on the value.
inline std::size_t lower_bound_index(const std::vector<double>& values, double x) {
  if (values.empty()) return 0;
  const double* v = values.data();
  std::size_t low = 0;
  std::size_t n = values.size();
  while (n > 1) {
    const std::size_t half = n / 2;
    low += static_cast<std::size_t>(v[low + half - 1] < x) * half;
    n -= half;
  }
  return low + static_cast<std::size_t>(v[low] < x);
}

// The bin of `value` among bins cut at `edges` (see NumericProfile).
std::size_t bin_index(const std::vector<double>& edges, double value);

// The profile as JSON, keys sorted, columns in file order: the same
// profile gives the same bytes. Numbers keep full precision.
Json profile_to_json(const Profile& profile);

// Reads a profile back. Throws Error(data) naming `source` when the JSON
// is not a profile this version reads (format version, missing or
// inconsistent fields).
Profile profile_from_json(const Json& json, std::string_view source);

}  // namespace lm::deploy
