#include "deploy/drift.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <utility>

#include "deploy/drift_ks.hpp"
#include "registry/core/error.hpp"

namespace lm::deploy {
namespace {

double share(std::uint64_t part, std::uint64_t total) {
  return total ? static_cast<double>(part) / static_cast<double>(total) : 0.0;
}

// The shortest text that reads back as the same double, for bin labels.
std::string number_text(double x) {
  char buffer[32];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, x);
  return ec == std::errc() ? std::string(buffer, end) : std::to_string(x);
}

// A compared column's counters: their size is fixed by the profile, so
// memory does not grow with the rows read.
struct ColumnState {
  const ColumnProfile* profile = nullptr;
  std::size_t field = 0;  // its index in the current rows
  std::uint64_t count = 0;
  std::uint64_t missing = 0;
  std::uint64_t invalid = 0;
  std::vector<std::uint64_t> bins;  // the profile's value bins
  // Numeric columns.
  std::optional<BinnedKs> binned;
  std::optional<ExactKs> exact;
  double mean = 0, m2 = 0, min = 0, max = 0;
  // Categorical columns: the profile's top values, sorted, with their bin.
  std::vector<std::pair<std::string_view, std::size_t>> lookup;

  ColumnState(const ColumnProfile& p, std::size_t index, std::size_t subbins) : profile(&p), field(index) {
    if (p.kind == ColumnKind::numeric) {
      bins.assign(p.numeric.edges.size() + 1, 0);
      binned.emplace(p.numeric.quantiles, subbins);
      return;
    }
    bins.assign(p.categorical.top.size() + 1, 0);  // the last is "other"
    for (std::size_t i = 0; i < p.categorical.top.size(); ++i) lookup.emplace_back(p.categorical.top[i].value, i);
    std::sort(lookup.begin(), lookup.end());
  }

  void add(std::string_view value) {
    if (is_missing_value(value)) {
      ++missing;
    } else if (profile->kind == ColumnKind::numeric) {
      add_number(value);
    } else {
      ++count;
      const auto found = std::lower_bound(lookup.begin(), lookup.end(), value,
                                          [](const auto& entry, std::string_view v) { return entry.first < v; });
      ++bins[found != lookup.end() && found->first == value ? found->second : bins.size() - 1];
    }
  }

  void add_number(std::string_view value) {
    const std::optional<double> parsed = parse_number(value);
    if (!parsed) {
      ++invalid;
      return;
    }
    const double x = *parsed;
    ++count;
    ++bins[bin_index(profile->numeric.edges, x)];
    if (exact) {
      exact->add(x);
    } else {
      binned->add(x);
    }
    if (count == 1) min = max = x;
    min = std::min(min, x);
    max = std::max(max, x);
    const double delta = x - mean;
    mean += delta / static_cast<double>(count);
    m2 += delta * (x - mean);
  }
};

void check_options(const DriftOptions& o) {
  if (!(o.psi_threshold >= 0)) throw Error(ExitCode::usage, "the PSI threshold must be 0 or more");
  if (!(o.max_share >= 0 && o.max_share <= 1)) throw Error(ExitCode::usage, "the drifting share must be between 0 and 1");
  if (!(o.epsilon > 0 && o.epsilon < 1)) throw Error(ExitCode::usage, "the PSI epsilon must be between 0 and 1");
  if (o.ks_subbins < 1) throw Error(ExitCode::usage, "the KS parts per bin must be at least 1");
}

// The profile's columns to compare, in its order.
std::vector<const ColumnProfile*> select_columns(const Profile& profile, const std::vector<std::string>& names) {
  std::vector<const ColumnProfile*> selected;
  for (const std::string& name : names) {
    const auto found = std::find_if(profile.columns.begin(), profile.columns.end(),
                                    [&](const ColumnProfile& c) { return c.name == name; });
    if (found == profile.columns.end()) throw Error(ExitCode::usage, "column " + quote(name) + " is not in the profile");
  }
  for (const ColumnProfile& c : profile.columns) {
    if (names.empty() || std::find(names.begin(), names.end(), c.name) != names.end()) selected.push_back(&c);
  }
  return selected;
}

// The raw reference values of each selected numeric column found in the
// reference file (nullopt for the others: they fall back to binned KS).
// Held in memory: the exact statistic needs them.
std::vector<std::optional<ExactKs>> read_reference(const std::filesystem::path& path,
                                                   const std::vector<const ColumnProfile*>& selected,
                                                   const TableOptions& table, std::uint64_t& rows) {
  std::vector<std::vector<double>> values(selected.size());
  std::vector<std::pair<std::size_t, std::size_t>> wanted;  // (selected index, field index)
  TableCallbacks callbacks;
  callbacks.on_header = [&](const std::vector<std::string>& columns) {
    for (std::size_t i = 0; i < selected.size(); ++i) {
      const auto found = std::find(columns.begin(), columns.end(), selected[i]->name);
      if (selected[i]->kind == ColumnKind::numeric && found != columns.end()) {
        wanted.emplace_back(i, static_cast<std::size_t>(found - columns.begin()));
      }
    }
    if (wanted.empty()) {
      throw Error(ExitCode::data, "reference data " + quote(path.string()) +
                                      " has none of the profile's numeric columns being compared");
    }
  };
  callbacks.on_row = [&](const TableRow& row) {
    for (const auto& [i, field] : wanted) {
      if (const std::optional<double> x = parse_number(row.fields[field])) values[i].push_back(*x);
    }
  };
  rows = read_table(path, callbacks, table).rows;
  std::vector<std::optional<ExactKs>> exact(selected.size());
  for (const auto& [i, field] : wanted) {
    if (!values[i].empty()) exact[i].emplace(std::move(values[i]));
  }
  return exact;
}

void map_columns(const std::vector<std::string>& columns, const std::vector<const ColumnProfile*>& selected,
                 std::vector<std::optional<ExactKs>>& exact, const DriftOptions& options, DriftResult& result,
                 std::vector<ColumnState>& states, const std::filesystem::path& path) {
  for (std::size_t i = 0; i < selected.size(); ++i) {
    const auto found = std::find(columns.begin(), columns.end(), selected[i]->name);
    if (found == columns.end()) {
      result.missing_columns.push_back(selected[i]->name);
      continue;
    }
    ColumnState& state = states.emplace_back(*selected[i], static_cast<std::size_t>(found - columns.begin()),
                                             options.ks_subbins);
    if (exact.size() > i && exact[i]) state.exact = std::move(exact[i]);
  }
  if (states.empty()) {
    throw Error(ExitCode::data, quote(path.string()) + " has none of the profile's columns",
                "a profile of another dataset? the profile has " + quote(selected.front()->name) +
                    (selected.size() > 1 ? " and " + std::to_string(selected.size() - 1) + " more" : ""));
  }
}

std::vector<DriftBin> numeric_bins(const ColumnState& s, std::uint64_t reference_rows, std::uint64_t rows) {
  const std::vector<double>& edges = s.profile->numeric.edges;
  std::vector<DriftBin> bins;
  for (std::size_t i = 0; i < s.bins.size(); ++i) {
    const std::string lower = i == 0 ? "-inf" : number_text(edges[i - 1]);
    const std::string label = i < edges.size() ? "(" + lower + ", " + number_text(edges[i]) + "]" : "(" + lower + ", +inf)";
    bins.push_back({label, share(s.profile->numeric.counts[i], reference_rows), share(s.bins[i], rows)});
  }
  return bins;
}

std::vector<DriftBin> categorical_bins(const ColumnState& s, std::uint64_t reference_rows, std::uint64_t rows) {
  const CategoricalProfile& p = s.profile->categorical;
  std::vector<DriftBin> bins;
  for (std::size_t i = 0; i < p.top.size(); ++i) {
    bins.push_back({p.top[i].value, share(p.top[i].count, reference_rows), share(s.bins[i], rows)});
  }
  bins.push_back({"(other)", share(p.other, reference_rows), share(s.bins.back(), rows)});
  return bins;
}

ColumnDrift column_drift(ColumnState& s, std::uint64_t reference_rows, std::uint64_t rows, const DriftOptions& o) {
  ColumnDrift d;
  d.name = s.profile->name;
  d.kind = s.profile->kind;
  d.count = s.count;
  d.missing = s.missing;
  d.invalid = s.invalid;
  d.bins = d.kind == ColumnKind::numeric ? numeric_bins(s, reference_rows, rows) : categorical_bins(s, reference_rows, rows);
  // Values the model cannot use: missing ones, and numbers that are not.
  d.bins.push_back({"(missing)", share(s.profile->missing, reference_rows), share(s.missing + s.invalid, rows)});
  std::vector<double> reference, current;
  for (const DriftBin& b : d.bins) reference.push_back(b.reference), current.push_back(b.current);
  d.psi = population_stability_index(reference, current, o.epsilon);
  d.drifted = d.psi > o.psi_threshold;
  if (d.kind != ColumnKind::numeric) return d;
  if (s.exact) {
    d.ks = s.exact->statistic();
    d.ks_exact = true;
    d.ks_pvalue = ks_pvalue(*d.ks, s.exact->reference_size(), s.exact->current_size());
  } else {
    d.ks = s.binned->statistic();
  }
  if (s.count > 0) {
    d.mean = s.mean;
    d.std = s.count > 1 ? std::sqrt(s.m2 / static_cast<double>(s.count - 1)) : 0.0;
    d.min = s.min;
    d.max = s.max;
  }
  return d;
}

Json optional_json(const std::optional<double>& value) {
  return value ? Json(*value) : Json(nullptr);
}

Json column_json(const ColumnDrift& d) {
  Json bins = Json::array();
  for (const DriftBin& b : d.bins) bins.push_back(Json{{"label", b.label}, {"reference", b.reference}, {"current", b.current}});
  return Json{{"name", d.name}, {"type", column_kind_name(d.kind)}, {"count", d.count}, {"missing", d.missing},
              {"invalid", d.invalid}, {"psi", d.psi}, {"ks", optional_json(d.ks)}, {"ks_pvalue", optional_json(d.ks_pvalue)},
              {"ks_method", d.ks ? Json(d.ks_exact ? "exact" : "binned") : Json(nullptr)},
              {"mean", optional_json(d.mean)}, {"std", optional_json(d.std)}, {"min", optional_json(d.min)},
              {"max", optional_json(d.max)}, {"bins", std::move(bins)}, {"drifted", d.drifted}};
}

}  // namespace

double population_stability_index(const std::vector<double>& reference_shares,
                                  const std::vector<double>& current_shares, double epsilon) {
  double psi = 0.0;
  for (std::size_t i = 0; i < reference_shares.size() && i < current_shares.size(); ++i) {
    const double r = std::max(reference_shares[i], epsilon);
    const double c = std::max(current_shares[i], epsilon);
    psi += (c - r) * std::log(c / r);
  }
  return psi;
}

DriftResult measure_drift(const Profile& profile, const std::filesystem::path& current, const DriftOptions& options) {
  check_options(options);
  const std::vector<const ColumnProfile*> selected = select_columns(profile, options.columns);
  if (selected.empty()) throw Error(ExitCode::data, "the profile has no columns");
  DriftResult result;
  result.options = options;
  result.reference_rows = profile.rows;
  std::vector<std::optional<ExactKs>> exact;
  if (options.reference) {
    std::uint64_t rows = 0;
    exact = read_reference(*options.reference, selected, options.reference_table, rows);
    result.raw_reference_rows = rows;
  }
  std::vector<ColumnState> states;
  states.reserve(selected.size());
  TableCallbacks callbacks;
  callbacks.on_header = [&](const std::vector<std::string>& columns) {
    map_columns(columns, selected, exact, options, result, states, current);
  };
  callbacks.on_row = [&](const TableRow& row) {
    for (ColumnState& s : states) s.add(row.fields[s.field]);
  };
  result.rows = read_table(current, callbacks, options.table).rows;
  if (result.rows == 0) throw Error(ExitCode::data, quote(current.string()) + " has no data rows");
  for (ColumnState& s : states) {
    result.columns.push_back(column_drift(s, profile.rows, result.rows, options));
    if (result.columns.back().drifted) ++result.drifted_columns;
  }
  result.drifted_share = share(result.drifted_columns, result.columns.size());
  result.drifted = result.drifted_share > options.max_share;
  return result;
}

Json drift_to_json(const DriftResult& r) {
  Json columns = Json::array();
  for (const ColumnDrift& d : r.columns) columns.push_back(column_json(d));
  return Json{{"rows", r.rows},
              {"reference_rows", r.reference_rows},
              {"raw_reference_rows", r.raw_reference_rows ? Json(*r.raw_reference_rows) : Json(nullptr)},
              {"columns", std::move(columns)},
              {"missing_columns", r.missing_columns},
              {"compared_columns", r.columns.size()},
              {"drifted_columns", r.drifted_columns},
              {"drifted_share", r.drifted_share},
              {"drifted", r.drifted},
              {"thresholds", Json{{"psi", r.options.psi_threshold}, {"max_share", r.options.max_share},
                                  {"epsilon", r.options.epsilon}}}};
}

}  // namespace lm::deploy
