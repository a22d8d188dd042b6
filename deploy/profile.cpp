#include "deploy/profile.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <unordered_map>

#include "registry/core/error.hpp"

namespace lm::deploy {
namespace {

// What the first pass learns of a column.
struct FirstPass {
  std::uint64_t count = 0;
  std::uint64_t missing = 0;
  bool numeric = true;
  // Welford's running mean and sum of squared deviations: one pass, and
  // no cancellation when values are large next to their spread.
  double mean = 0;
  double m2 = 0;
  double min = 0;
  double max = 0;

  void add(std::string_view value) {
    if (is_missing_value(value)) {
      ++missing;
      return;
    }
    ++count;
    if (!numeric) return;
    const std::optional<double> x = parse_number(value);
    if (!x) {
      numeric = false;
      return;
    }
    if (count == 1) min = max = *x;
    min = std::min(min, *x);
    max = std::max(max, *x);
    const double delta = *x - mean;
    mean += delta / static_cast<double>(count);
    m2 += delta * (*x - mean);
  }
};

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

// What the second pass collects of a column.
struct SecondPass {
  std::vector<double> values;  // numeric columns
  std::unordered_map<std::string, std::uint64_t, StringHash, std::equal_to<>> categories;
  std::uint64_t uncounted = 0;  // categories met after the limit
};

Error changed(const std::filesystem::path& path) {
  return Error(ExitCode::data, quote(path.string()) + " changed while it was profiled");
}

std::vector<FirstPass> first_pass(const std::filesystem::path& path, const ProfileOptions& options,
                                  std::vector<std::string>& columns, TableSummary& summary) {
  std::vector<FirstPass> passes;
  TableCallbacks callbacks;
  callbacks.on_header = [&](const std::vector<std::string>& names) {
    columns = names;
    passes.resize(names.size());
  };
  callbacks.on_row = [&](const TableRow& row) {
    for (std::size_t i = 0; i < passes.size(); ++i) passes[i].add(row.fields[i]);
  };
  summary = read_table(path, callbacks, options.table);
  if (summary.rows == 0) throw Error(ExitCode::data, quote(path.string()) + " has no data rows");
  return passes;
}

void collect(SecondPass& pass, const FirstPass& first, std::string_view value, std::size_t max_distinct,
             const std::filesystem::path& path) {
  if (is_missing_value(value)) return;
  if (first.numeric) {
    const std::optional<double> x = parse_number(value);
    if (!x) throw changed(path);
    pass.values.push_back(*x);
    return;
  }
  const auto found = pass.categories.find(value);
  if (found != pass.categories.end()) {
    ++found->second;
  } else if (pass.categories.size() < max_distinct) {
    pass.categories.emplace(std::string(value), 1);
  } else {
    ++pass.uncounted;
  }
}

std::vector<SecondPass> second_pass(const std::filesystem::path& path, const ProfileOptions& options,
                                    const std::vector<std::string>& columns, const std::vector<FirstPass>& first,
                                    std::uint64_t rows) {
  std::vector<SecondPass> passes(columns.size());
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (first[i].numeric) passes[i].values.reserve(first[i].count);
  }
  TableCallbacks callbacks;
  callbacks.on_header = [&](const std::vector<std::string>& names) {
    if (names != columns) throw changed(path);
  };
  callbacks.on_row = [&](const TableRow& row) {
    for (std::size_t i = 0; i < passes.size(); ++i) collect(passes[i], first[i], row.fields[i], options.max_distinct, path);
  };
  TableOptions again = options.table;
  again.hash = nullptr;  // the first pass hashed the file
  if (read_table(path, callbacks, again).rows != rows) throw changed(path);
  return passes;
}

NumericProfile numeric_profile(const FirstPass& first, std::vector<double>& values, const ProfileOptions& options) {
  NumericProfile p;
  p.min = first.min;
  p.max = first.max;
  p.mean = first.mean;
  p.std = first.count > 1 ? std::sqrt(first.m2 / static_cast<double>(first.count - 1)) : 0.0;
  std::sort(values.begin(), values.end());
  p.edges = quantile_edges(values, options.bins);
  p.counts.assign(p.edges.size() + 1, 0);
  for (const double x : values) ++p.counts[bin_index(p.edges, x)];
  p.quantiles = quantiles_at(values, options.quantiles);
  return p;
}

CategoricalProfile categorical_profile(const SecondPass& pass, std::size_t top_k) {
  std::vector<CategoryCount> all;
  all.reserve(pass.categories.size());
  for (const auto& [value, count] : pass.categories) all.push_back({value, count});
  // Count first, then value: the same data gives the same order whatever
  // the hash table's.
  std::sort(all.begin(), all.end(), [](const CategoryCount& a, const CategoryCount& b) {
    return a.count != b.count ? a.count > b.count : a.value < b.value;
  });
  CategoricalProfile p;
  p.distinct = all.size();
  p.distinct_capped = pass.uncounted > 0;
  p.other = pass.uncounted;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (i < top_k) {
      p.top.push_back(std::move(all[i]));
    } else {
      p.other += all[i].count;
    }
  }
  return p;
}

Json numeric_json(const NumericProfile& p) {
  return Json{{"min", p.min}, {"max", p.max}, {"mean", p.mean}, {"std", p.std},
              {"edges", p.edges}, {"counts", p.counts}, {"quantiles", p.quantiles}};
}

Json categorical_json(const CategoricalProfile& p) {
  Json top = Json::array();
  for (const CategoryCount& c : p.top) top.push_back(Json{{"value", c.value}, {"count", c.count}});
  return Json{{"top", std::move(top)}, {"other", p.other}, {"distinct", p.distinct},
              {"distinct_capped", p.distinct_capped}};
}

Json column_json(const ColumnProfile& c, std::uint64_t rows) {
  Json json{{"name", c.name}, {"type", column_kind_name(c.kind)}, {"count", c.count}, {"missing", c.missing},
            {"missing_share", rows ? static_cast<double>(c.missing) / static_cast<double>(rows) : 0.0}};
  json.update(c.kind == ColumnKind::numeric ? numeric_json(c.numeric) : categorical_json(c.categorical));
  return json;
}

// Reading: every field is checked, so that a hand-edited or foreign file
// fails here with its name rather than later with nonsense.
class ProfileReader {
 public:
  explicit ProfileReader(std::string_view source) : m_source(source) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(ExitCode::data, "malformed profile " + quote(m_source) + ": " + what);
  }

  const Json& field(const Json& object, const char* key) const {
    if (!object.is_object() || !object.contains(key)) fail(std::string("no ") + quote(key));
    return object.at(key);
  }

  std::uint64_t count(const Json& object, const char* key) const {
    const Json& v = field(object, key);
    if (!v.is_number_unsigned()) fail(quote(key) + " is not a count");
    return v.get<std::uint64_t>();
  }

  double number(const Json& object, const char* key) const {
    const Json& v = field(object, key);
    if (!v.is_number()) fail(quote(key) + " is not a number");
    return v.get<double>();
  }

  std::string text(const Json& object, const char* key) const {
    const Json& v = field(object, key);
    if (!v.is_string()) fail(quote(key) + " is not a string");
    return v.get<std::string>();
  }

  const Json& array(const Json& object, const char* key) const {
    const Json& v = field(object, key);
    if (!v.is_array()) fail(quote(key) + " is not an array");
    return v;
  }

  NumericProfile numeric(const Json& json, const std::string& name, std::uint64_t count_) const {
    NumericProfile p{number(json, "min"), number(json, "max"), number(json, "mean"), number(json, "std"), {}, {}};
    for (const Json& e : array(json, "edges")) {
      if (!e.is_number()) fail("column " + quote(name) + ": an edge is not a number");
      p.edges.push_back(e.get<double>());
    }
    for (const Json& c : array(json, "counts")) {
      if (!c.is_number_unsigned()) fail("column " + quote(name) + ": a bin count is not a count");
      p.counts.push_back(c.get<std::uint64_t>());
    }
    for (const Json& q : array(json, "quantiles")) {
      if (!q.is_number()) fail("column " + quote(name) + ": a quantile is not a number");
      p.quantiles.push_back(q.get<double>());
    }
    const bool ascending = std::adjacent_find(p.edges.begin(), p.edges.end(), std::greater_equal<>()) == p.edges.end();
    std::uint64_t total = 0;
    for (const std::uint64_t c : p.counts) total += c;
    if (count_ == 0 || p.edges.empty() || !ascending || p.counts.size() != p.edges.size() + 1 || total != count_) {
      fail("column " + quote(name) + ": the bins do not add up");
    }
    const bool ordered = std::is_sorted(p.quantiles.begin(), p.quantiles.end());
    if (p.quantiles.size() < 2 || !ordered || p.quantiles.front() != p.min || p.quantiles.back() != p.max) {
      fail("column " + quote(name) + ": the quantiles do not run from min to max");
    }
    return p;
  }

  CategoricalProfile categorical(const Json& json) const {
    CategoricalProfile p;
    for (const Json& item : array(json, "top")) p.top.push_back({text(item, "value"), count(item, "count")});
    p.other = count(json, "other");
    p.distinct = count(json, "distinct");
    const Json& capped = field(json, "distinct_capped");
    if (!capped.is_boolean()) fail("\"distinct_capped\" is not true or false");
    p.distinct_capped = capped.get<bool>();
    return p;
  }

  ColumnProfile column(const Json& json) const {
    ColumnProfile c;
    c.name = text(json, "name");
    c.count = count(json, "count");
    c.missing = count(json, "missing");
    const std::string type = text(json, "type");
    if (type == "numeric") {
      c.kind = ColumnKind::numeric;
      c.numeric = numeric(json, c.name, c.count);
    } else if (type == "categorical") {
      c.kind = ColumnKind::categorical;
      c.categorical = categorical(json);
    } else {
      fail("column " + quote(c.name) + " has the unknown type " + quote(type));
    }
    return c;
  }

 private:
  std::string m_source;
};

}  // namespace

Json profile_to_json(const Profile& profile) {
  Json columns = Json::array();
  for (const ColumnProfile& c : profile.columns) columns.push_back(column_json(c, profile.rows));
  return Json{{"profile_version", profile.version}, {"input_format", table_format_name(profile.format)},
              {"rows", profile.rows}, {"bins", profile.bins}, {"top_k", profile.top_k},
              {"columns", std::move(columns)}};
}

Profile profile_from_json(const Json& json, std::string_view source) {
  const ProfileReader reader(source);
  if (!json.is_object()) reader.fail("not a JSON object");
  const Json& version = reader.field(json, "profile_version");
  if (!version.is_number_integer() || version.get<std::int64_t>() != profile_format_version) {
    throw Error(ExitCode::data, "profile " + quote(source) + " has format version " + version.dump() +
                                    "; this lastmile reads version " + std::to_string(profile_format_version));
  }
  Profile profile;
  const std::string format = reader.text(json, "input_format");
  if (format != "csv" && format != "jsonl") reader.fail("unknown input format " + quote(format));
  profile.format = format == "jsonl" ? TableFormat::jsonl : TableFormat::csv;
  profile.rows = reader.count(json, "rows");
  profile.bins = reader.count(json, "bins");
  profile.top_k = reader.count(json, "top_k");
  for (const Json& column : reader.array(json, "columns")) {
    ColumnProfile c = reader.column(column);
    if (c.count + c.missing != profile.rows) reader.fail("column " + quote(c.name) + " does not add up to the rows");
    const bool duplicate = std::any_of(profile.columns.begin(), profile.columns.end(),
                                       [&](const ColumnProfile& other) { return other.name == c.name; });
    if (duplicate) reader.fail("column " + quote(c.name) + " appears twice");
    profile.columns.push_back(std::move(c));
  }
  return profile;
}

std::string_view column_kind_name(ColumnKind kind) {
  return kind == ColumnKind::numeric ? "numeric" : "categorical";
}

std::vector<double> quantiles_at(const std::vector<double>& sorted, std::size_t parts) {
  std::vector<double> q;
  if (sorted.empty() || parts == 0) return q;
  const std::size_t n = sorted.size();
  q.push_back(sorted.front());
  for (std::size_t k = 1; k <= parts; ++k) {
    // The ceil(n k / parts)-th smallest value, in integers: no rounding.
    const std::size_t rank = (n * k + parts - 1) / parts;
    q.push_back(sorted[std::clamp<std::size_t>(rank, 1, n) - 1]);
  }
  return q;
}

std::vector<double> quantile_edges(const std::vector<double>& sorted, std::size_t bins) {
  std::vector<double> edges;
  if (sorted.empty()) return edges;
  const std::vector<double> q = quantiles_at(sorted, bins);
  for (std::size_t i = 1; i < bins; ++i) {
    if (edges.empty() || q[i] > edges.back()) edges.push_back(q[i]);
  }
  // One bin asked for, or a single value: one cut keeps the bins' shape
  // (a value above the training range still falls in a bin of its own).
  if (edges.empty()) edges.push_back(sorted.back());
  return edges;
}

std::size_t bin_index(const std::vector<double>& edges, double value) {
  // Bins are closed on the right: the first edge not below the value.
  return static_cast<std::size_t>(std::lower_bound(edges.begin(), edges.end(), value) - edges.begin());
}

Profile profile_table(const std::filesystem::path& path, const ProfileOptions& options) {
  if (options.bins < 1) throw Error(ExitCode::usage, "the number of bins must be at least 1");
  if (options.quantiles < 1) throw Error(ExitCode::usage, "the number of quantiles must be at least 1");
  if (options.top_k < 1) throw Error(ExitCode::usage, "the number of top categories must be at least 1");
  std::vector<std::string> columns;
  TableSummary summary;
  const std::vector<FirstPass> first = first_pass(path, options, columns, summary);
  std::vector<SecondPass> second = second_pass(path, options, columns, first, summary.rows);

  Profile profile;
  profile.format = summary.format;
  profile.rows = summary.rows;
  profile.bins = options.bins;
  profile.top_k = options.top_k;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    ColumnProfile& c = profile.columns.emplace_back();
    c.name = columns[i];
    c.count = first[i].count;
    c.missing = first[i].missing;
    // A column with no value at all has no numbers to bin: a category.
    c.kind = first[i].numeric && first[i].count > 0 ? ColumnKind::numeric : ColumnKind::categorical;
    if (c.kind == ColumnKind::numeric) {
      c.numeric = numeric_profile(first[i], second[i].values, options);
    } else {
      c.categorical = categorical_profile(second[i], options.top_k);
    }
    second[i] = SecondPass{};  // free the values now
  }
  return profile;
}

}  // namespace lm::deploy
