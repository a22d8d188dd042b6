// Unit tests of deploy/ drift: the table reader, profiles, PSI and KS.
// Expected values are worked out by hand in the comments.

#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "deploy/drift.hpp"
#include "deploy/drift_ks.hpp"
#include "deploy/profile.hpp"
#include "deploy/table_reader.hpp"
#include "registry/core/error.hpp"
#include "tests/unit/helpers.hpp"

using namespace lm;
using namespace lm::deploy;
using lm::test::code_of;
using lm::test::TempDir;
using Catch::Matchers::Contains;

namespace {

struct Table {
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::uint64_t> lines;
};

Table read_all(const std::filesystem::path& path, TableOptions options = {}) {
  Table t;
  TableCallbacks callbacks;
  callbacks.on_header = [&](const std::vector<std::string>& columns) { t.columns = columns; };
  callbacks.on_row = [&](const TableRow& row) {
    t.rows.emplace_back(row.fields.begin(), row.fields.end());
    t.lines.push_back(row.line);
  };
  read_table(path, callbacks, options);
  return t;
}

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// x is 1..10; c is a a a a a b b b c c.
const char* reference_csv =
    "x,c\n1,a\n2,a\n3,a\n4,a\n5,a\n6,b\n7,b\n8,b\n9,c\n10,c\n";

ProfileOptions small_bins() {
  ProfileOptions o;
  o.bins = 2;
  o.quantiles = 2;
  o.top_k = 2;
  return o;
}

// Rows of `n` normal values (mean, sd 1) in column v, from `seed`.
std::string normal_csv(std::uint64_t seed, double mean, int n) {
  std::mt19937_64 random(seed);
  std::normal_distribution<double> normal(mean, 1.0);
  std::ostringstream out;
  out.precision(10);
  out << "v\n";
  for (int i = 0; i < n; ++i) out << normal(random) << '\n';
  return out.str();
}

}  // namespace

TEST_CASE("CSV: quoted commas, quotes and newlines, with lines counted", "[drift]") {
  TempDir dir;
  const auto path = dir.write("t.csv",
                              "name,text\n"
                              "\"Smith, J\",\"he said \"\"hi\"\"\nbye\"\n"
                              "\n"
                              "plain , x\r\n");
  for (const std::size_t chunk : {std::size_t{4}, std::size_t{1} << 20}) {
    TableOptions options;
    options.chunk_size = chunk;  // 4 bytes: every field crosses a chunk
    const Table t = read_all(path, options);
    CHECK(t.columns == std::vector<std::string>{"name", "text"});
    REQUIRE(t.rows.size() == 2);
    CHECK(t.rows[0] == std::vector<std::string>{"Smith, J", "he said \"hi\"\nbye"});
    CHECK(t.rows[1] == std::vector<std::string>{"plain", "x"});  // unquoted spaces trimmed
    // The quoted newline makes the first row lines 2-3; line 4 is blank.
    CHECK(t.lines == std::vector<std::uint64_t>{2, 5});
  }
}

TEST_CASE("CSV: a ragged row names the file and its line", "[drift]") {
  TempDir dir;
  // Header line 1, a row over lines 2-3, a blank line 4, the ragged row on 5.
  const auto path = dir.write("ragged.csv", "a,b\r\n1,\"x\r\ny\"\r\n\r\n3,4,5\r\n6,7\r\n");
  CHECK(code_of([&] { read_all(path); }) == ExitCode::data);
  const std::string message = message_of([&] { read_all(path); });
  CHECK_THAT(message, Contains("ragged.csv' line 5"));
  CHECK_THAT(message, Contains("3 fields where the header has 2"));
}

TEST_CASE("CSV: malformed quoting and an unclosed quote are data errors", "[drift]") {
  TempDir dir;
  const auto stray = dir.write("stray.csv", "a,b\n1,2\n3,\"4\"x\n");
  CHECK(code_of([&] { read_all(stray); }) == ExitCode::data);
  CHECK_THAT(message_of([&] { read_all(stray); }), Contains("line 3: malformed CSV quoting"));
  const auto unclosed = dir.write("unclosed.csv", "a,b\n1,\"2\n3,4\n");
  CHECK_THAT(message_of([&] { read_all(unclosed); }), Contains("line 2: a quoted field is not closed"));
}

TEST_CASE("table input: empty, missing, header only, byte order mark, duplicate columns", "[drift]") {
  TempDir dir;
  const auto empty = dir.write("empty.csv", "");
  CHECK(code_of([&] { read_all(empty); }) == ExitCode::data);
  CHECK_THAT(message_of([&] { read_all(empty); }), Contains("empty.csv' is empty"));
  CHECK(code_of([&] { read_all(dir.write("blank.jsonl", "\n\n")); }) == ExitCode::data);
  CHECK(code_of([&] { read_all(dir / "absent.csv"); }) == ExitCode::not_found);
  CHECK(read_all(dir.write("header.csv", "a,b\n")).rows.empty());
  CHECK(read_all(dir.write("bom.csv", "\xEF\xBB\xBF" "a\n1\n")).columns == std::vector<std::string>{"a"});
  CHECK_THAT(message_of([&] { read_all(dir.write("dup.csv", "a,b,a\n1,2,3\n")); }),
             Contains("line 1: duplicate column 'a'"));
  // A profile or a drift needs data rows.
  CHECK(code_of([&] { profile_table(dir / "header.csv"); }) == ExitCode::data);
}

TEST_CASE("JSON Lines: the first object's keys are the columns", "[drift]") {
  TempDir dir;
  const auto path = dir.write("t.jsonl",
                              "{\"x\": 1.5, \"c\": \"a\", \"ok\": true}\n"
                              "\n"
                              "{\"c\": \"b\", \"x\": null, \"new\": 1}\r\n"
                              "{\"x\": 3}");  // no final newline
  for (const std::size_t chunk : {std::size_t{4}, std::size_t{1} << 20}) {
    TableOptions options;
    options.chunk_size = chunk;  // 4 bytes: lines carried across chunks
    const Table t = read_all(path, options);
    CHECK(t.columns == std::vector<std::string>{"x", "c", "ok"});
    REQUIRE(t.rows.size() == 3);
    CHECK(t.rows[0] == std::vector<std::string>{"1.5", "a", "true"});
    CHECK(t.rows[1] == std::vector<std::string>{"", "b", ""});  // null and absent read as missing
    CHECK(t.rows[2] == std::vector<std::string>{"3", "", ""});
    CHECK(t.lines == std::vector<std::uint64_t>{1, 3, 4});
  }
  const auto bad = dir.write("bad.jsonl", "{\"x\": 1}\n[1, 2]\n");
  CHECK(code_of([&] { read_all(bad); }) == ExitCode::data);
  CHECK_THAT(message_of([&] { read_all(bad); }), Contains("bad.jsonl' line 2: not a JSON object"));
}

TEST_CASE("cell values: missing tokens and numbers", "[drift]") {
  for (const char* v : {"", "  ", "NA", "n/a", "NaN", "null", "NULL", "None"}) CHECK(is_missing_value(v));
  for (const char* v : {"0", "-", "nil", "N", "NAN1", "nothing"}) CHECK_FALSE(is_missing_value(v));
  CHECK(parse_number(" 1.5 ") == 1.5);
  CHECK(parse_number("+2e3") == 2000.0);
  CHECK(parse_number("-.5") == -0.5);
  for (const char* v : {"inf", "nan", "1,5", "1.5x", "+-1", "0x10", "", "abc"}) CHECK_FALSE(parse_number(v));
}

TEST_CASE("profile: types, quantile bins, top values", "[drift]") {
  TempDir dir;
  const Profile p = profile_table(dir.write("ref.csv", reference_csv), small_bins());
  CHECK(p.rows == 10);
  REQUIRE(p.columns.size() == 2);
  const ColumnProfile& x = p.columns[0];
  CHECK(x.kind == ColumnKind::numeric);
  CHECK(x.count == 10);
  // The median of 1..10 as the inverse of the empirical CDF: the
  // ceil(10 * 0.5) = 5th value, 5; bins (-inf, 5] and (5, +inf) hold 5 each.
  CHECK(x.numeric.edges == std::vector<double>{5});
  CHECK(x.numeric.counts == std::vector<std::uint64_t>{5, 5});
  CHECK(x.numeric.quantiles == std::vector<double>{1, 5, 10});
  CHECK(x.numeric.min == 1);
  CHECK(x.numeric.max == 10);
  CHECK(x.numeric.mean == Approx(5.5));
  // Sum of squared deviations 2 * (4.5² + 3.5² + 2.5² + 1.5² + 0.5²) = 82.5;
  // sqrt(82.5 / 9) = 3.0276504.
  CHECK(x.numeric.std == Approx(3.0276504));
  const ColumnProfile& c = p.columns[1];
  CHECK(c.kind == ColumnKind::categorical);
  REQUIRE(c.categorical.top.size() == 2);
  CHECK(c.categorical.top[0].value == "a");
  CHECK(c.categorical.top[0].count == 5);
  CHECK(c.categorical.top[1].value == "b");
  CHECK(c.categorical.other == 2);
  CHECK(c.categorical.distinct == 3);
  // Ten bins of 0..3, five of each: the 2nd, 4th .. 18th values are
  // 0 0 1 1 1 2 2 3 3; equal quantiles merge, one bin per value.
  std::vector<double> sorted;
  for (int v = 0; v < 4; ++v) sorted.insert(sorted.end(), 5, v);
  CHECK(quantile_edges(sorted, 10) == std::vector<double>{0, 1, 2, 3});
  // Quartiles of 0..3: 1st, 5th, 10th, 15th and 20th values.
  CHECK(quantiles_at(sorted, 4) == std::vector<double>{0, 0, 1, 2, 3});
  CHECK(bin_index({1, 2}, 1.0) == 0);  // closed on the right
  CHECK(bin_index({1, 2}, 1.5) == 1);
  CHECK(bin_index({1, 2}, 9.0) == 2);
}

TEST_CASE("profile: a numeric column with a word in it is categorical, and missing values", "[drift]") {
  TempDir dir;
  const Profile p = profile_table(dir.write("t.csv", "n,m\n1,NA\n2,\nthree,\n"));
  CHECK(p.columns[0].kind == ColumnKind::categorical);
  CHECK(p.columns[0].categorical.top.size() == 3);
  CHECK(p.columns[1].kind == ColumnKind::categorical);  // nothing but missing values
  CHECK(p.columns[1].missing == 3);
  CHECK(p.columns[1].count == 0);
}

TEST_CASE("profile: JSON round trip gives the same bytes", "[drift]") {
  TempDir dir;
  const auto path = dir.write("ref.csv", reference_csv);
  const std::string once = profile_to_json(profile_table(path)).dump();
  CHECK(once == profile_to_json(profile_table(path)).dump());  // deterministic
  const Profile back = profile_from_json(Json::parse(once), "p.json");
  CHECK(profile_to_json(back).dump() == once);
  CHECK(back.columns[0].name == "x");  // the file's column order kept
  CHECK(once.size() < 2048);

  Json wrong = Json::parse(once);
  wrong["profile_version"] = 2;
  CHECK_THAT(message_of([&] { profile_from_json(wrong, "p.json"); }), Contains("format version 2"));
  Json broken = Json::parse(once);
  broken["columns"][0]["counts"][0] = 4;  // no longer adds up to count
  CHECK(code_of([&] { profile_from_json(broken, "p.json"); }) == ExitCode::data);
  CHECK(code_of([&] { profile_from_json(Json::array(), "p.json"); }) == ExitCode::data);
}

TEST_CASE("drift: PSI and binned KS by hand, with invalid and missing values", "[drift]") {
  TempDir dir;
  const Profile p = profile_table(dir.write("ref.csv", reference_csv), small_bins());
  const auto current = dir.write("cur.csv",
                                 "x,c\n4,a\n6,a\n7,b\n8,b\n9,b\n10,b\n11,d\n12,d\nabc,NA\n,a\n");
  DriftOptions options;
  options.ks_subbins = 1;
  const DriftResult r = measure_drift(p, current, options);
  CHECK(r.rows == 10);
  REQUIRE(r.columns.size() == 2);
  const ColumnDrift& x = r.columns[0];
  CHECK(x.count == 8);
  CHECK(x.invalid == 1);
  CHECK(x.missing == 1);
  // Shares of 10 rows over (-inf, 5], (5, +inf), (missing):
  //   reference 0.5, 0.5, 0 -> 1e-4;  current 0.1 (4), 0.7, 0.2 (abc and "").
  // PSI = (0.1 - 0.5) ln(0.1 / 0.5) + (0.7 - 0.5) ln(0.7 / 0.5)
  //     + (0.2 - 0.0001) ln(0.2 / 0.0001)
  //     = 0.6437752 + 0.0672944 + 1.5194204 = 2.2304900
  CHECK(x.psi == Approx(2.2304900));
  // The rebuilt reference CDF G has knots at the quantiles (1, 0), (5, 0.5),
  // (10, 1). The 8 current numbers: 1 in (1, 5], 5 in (5, 10], 2 above 10.
  // At 1: |0 - 0| = 0; at 5: |0.5 - 1/8| = 0.375; at 10: |1 - 6/8| = 0.25.
  CHECK(x.ks == Approx(0.375));
  CHECK_FALSE(x.ks_pvalue);
  const ColumnDrift& c = r.columns[1];
  // Bins a, b, (other), (missing): reference 0.5, 0.3, 0.2, 0 -> 1e-4;
  // current 0.3, 0.4, 0.2 (d, d), 0.1 (NA).
  // PSI = (0.3 - 0.5) ln(0.3 / 0.5) + (0.4 - 0.3) ln(0.4 / 0.3) + 0
  //     + (0.1 - 0.0001) ln(0.1 / 0.0001)
  //     = 0.1021651 + 0.0287682 + 0.6900848 = 0.8210181
  CHECK(c.psi == Approx(0.8210181));
  CHECK_FALSE(c.ks);
  CHECK(x.drifted);
  CHECK(c.drifted);
  CHECK(r.drifted_share == 1.0);
  CHECK(r.drifted);
  const Json json = drift_to_json(r);
  CHECK(json["columns"][0]["bins"][0]["label"] == "(-inf, 5]");
  CHECK(json["columns"][0]["ks_method"] == "binned");
  CHECK(json["columns"][1]["bins"][2]["label"] == "(other)");
}

TEST_CASE("binned KS: the parts within a bin", "[drift]") {
  // Quantiles 1, 5.5, 10: G(1) = 0, G(5.5) = 0.5, G(10) = 1.
  // Current values 2 and 3. One part per segment: at 5.5, |0.5 - 1| = 0.5.
  // Two parts: boundaries 3.25 and 7.75; at 3.25 G = 0.5 * 2.25 / 4.5 = 0.25
  // while F = 1, so D = 0.75.
  for (const auto& [parts, expected] : {std::pair{1, 0.5}, std::pair{2, 0.75}}) {
    BinnedKs ks({1, 5.5, 10}, parts);
    ks.add(2);
    ks.add(3);
    CHECK(ks.statistic() == Approx(expected));
  }
}

TEST_CASE("exact KS: statistic and p-value by hand", "[drift]") {
  // Reference 1..5, current 3..8. F_ref - F_cur just after each value:
  // 2: 0.4 - 0; 3: 0.6 - 1/6; 4: 0.8 - 2/6; 5: 1 - 3/6 = 0.5 (largest); 6: 1 - 4/6.
  ExactKs ks({5, 4, 3, 2, 1});
  for (const double x : {3, 4, 5, 6, 7, 8}) ks.add(x);
  CHECK(ks.statistic() == Approx(0.5));
  // t = sqrt(5 * 6 / 11) * 0.5 = 0.8257228;
  // Q = 2 (e^(-2t²) - e^(-8t²) + e^(-18t²) ...) = 0.5029140.
  CHECK(ks_pvalue(0.5, 5, 6) == Approx(0.5029140).epsilon(1e-6));
  // The Kolmogorov distribution's tables: Q(1.3581) = 0.05, Q(0.5) = 0.96394524.
  CHECK(kolmogorov_survival(1.3581) == Approx(0.05).epsilon(1e-4));
  CHECK(kolmogorov_survival(0.5) == Approx(0.9639452).epsilon(1e-6));
  CHECK(kolmogorov_survival(1.0) == Approx(0.2699997).epsilon(1e-6));
  CHECK(kolmogorov_survival(0.0) == 1.0);
  // Ties: reference 1 1 2, current 1 2 2: at 1, |2/3 - 1/3| = 1/3.
  ExactKs tied({1, 1, 2});
  for (const double x : {1, 2, 2}) tied.add(x);
  CHECK(tied.statistic() == Approx(1.0 / 3));
}

TEST_CASE("drift: a shift of one standard deviation is detected, a resample is not", "[drift]") {
  TempDir dir;
  const auto reference = dir.write("ref.csv", normal_csv(1, 0.0, 20000));
  const Profile p = profile_table(reference);
  const DriftResult same = measure_drift(p, dir.write("same.csv", normal_csv(2, 0.0, 20000)));
  const DriftResult moved = measure_drift(p, dir.write("moved.csv", normal_csv(3, 1.0, 20000)));
  INFO("resample PSI " << same.columns[0].psi << " KS " << *same.columns[0].ks);
  INFO("shifted PSI " << moved.columns[0].psi << " KS " << *moved.columns[0].ks);
  CHECK(same.columns[0].psi < 0.02);
  CHECK(*same.columns[0].ks < 0.03);
  CHECK_FALSE(same.drifted);
  // A shift by one sd moves about 0.38 of the mass across the median.
  CHECK(moved.columns[0].psi > 0.5);
  CHECK(*moved.columns[0].ks > 0.3);
  CHECK(moved.drifted);

  DriftOptions exact;
  exact.reference = reference;
  const DriftResult same_exact = measure_drift(p, dir / "same.csv", exact);
  const DriftResult moved_exact = measure_drift(p, dir / "moved.csv", exact);
  CHECK(same_exact.columns[0].ks_exact);
  CHECK(*same_exact.columns[0].ks_pvalue > 0.01);
  CHECK(*moved_exact.columns[0].ks_pvalue < 1e-6);
  // The binned estimate is close to the exact statistic.
  CHECK(*moved.columns[0].ks == Approx(*moved_exact.columns[0].ks).margin(0.01));
}

TEST_CASE("drift: missing columns are reported, and another dataset is refused", "[drift]") {
  TempDir dir;
  const Profile p = profile_table(dir.write("ref.csv", reference_csv), small_bins());
  const DriftResult r = measure_drift(p, dir.write("only_x.jsonl", "{\"x\": 2}\n{\"x\": 9, \"extra\": 1}\n"));
  CHECK(r.missing_columns == std::vector<std::string>{"c"});
  REQUIRE(r.columns.size() == 1);
  CHECK(r.columns[0].name == "x");
  CHECK(r.columns[0].psi == Approx(0.0));  // one value in each half, like the reference
  CHECK(drift_to_json(r)["missing_columns"] == Json::array({"c"}));

  const auto other = dir.write("other.csv", "y,z\n1,2\n");
  CHECK(code_of([&] { measure_drift(p, other); }) == ExitCode::data);
  CHECK_THAT(message_of([&] { measure_drift(p, other); }), Contains("has none of the profile's columns"));
  DriftOptions unknown;
  unknown.columns = {"nope"};
  CHECK(code_of([&] { measure_drift(p, other, unknown); }) == ExitCode::usage);
  CHECK(code_of([&] { measure_drift(p, dir.write("none.csv", "x,c\n")); }) == ExitCode::data);
  CHECK(code_of([&] { measure_drift(p, dir / "absent.csv"); }) == ExitCode::not_found);
}
