// After deployment: lastmile profile, drift and feedback as a user runs
// them. The statistics themselves are checked by hand in the unit tests
// (tests/unit/test_drift.cpp); here, the commands: what they print, the
// exit status a scheduled job acts on, the events they record, and that
// bad data is refused with nothing written.

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "tests/e2e/sandbox.hpp"

using lm::test::RunResult;
using lm::test::Sandbox;
using nlohmann::json;

namespace {

// Rows of age (normal), income (normal) and city (three values), drawn
// with a fixed seed: `shift` moves age and income by about one standard
// deviation and makes one city dominate.
std::string customers(int rows, unsigned seed, bool shift = false) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> age(shift ? 50 : 40, 10), income(shift ? 60000 : 50000, 8000);
  const char* cities[] = {"paris", "lyon", "nice"};
  std::ostringstream out;
  out << "age,income,city\n";
  for (int i = 0; i < rows; ++i) {
    const unsigned pick = shift ? (rng() % 5 < 3 ? 2 : rng() % 2) : rng() % 3;
    out << static_cast<int>(age(rng)) << ',' << static_cast<int>(income(rng)) << ',' << cities[pick] << '\n';
  }
  return out.str();
}

// A dataset of one CSV file, profiled, and a model made from it.
void profiled(Sandbox& sb) {
  REQUIRE(sb.run({"init", "-q"}).rc == 0);
  sb.write("data/train.csv", customers(4000, 1));
  sb.write("model.bin", "weights");
  REQUIRE(sb.run({"dataset", "register", "customers", "data/train.csv", "-q"}).rc == 0);
  const RunResult p = sb.run({"profile", "customers@0.1.0"});
  INFO(p.err);
  REQUIRE(p.rc == 0);
  REQUIRE(sb.run({"register", "churn", "model.bin", "--input", "customers@0.1.0", "-q"}).rc == 0);
}

long events_of(const Sandbox& sb, const std::string& kind) {
  long n = 0;
  const json history = sb.run({"history", "--json"}).json();  // the loop must not outlive it
  for (const auto& e : history["events"]) n += e["kind"] == kind;
  return n;
}

void log_consistent(const Sandbox& sb) {
  CHECK(sb.run({"verify"}).rc == 0);
  CHECK(sb.run({"audit", "verify"}).rc == 0);
  CHECK(sb.run({"fsck"}).out == "tables match the log\n");
}

}  // namespace

TEST_CASE("profile records each column's type, counts and bins with the version", "[e2e][drift]") {
  Sandbox sb;
  REQUIRE(sb.run({"init", "-q"}).rc == 0);
  sb.write("data/train.csv", customers(2000, 1));
  REQUIRE(sb.run({"dataset", "register", "customers", "data/train.csv", "-q"}).rc == 0);

  RunResult r = sb.run({"profile", "customers@0.1.0"});
  INFO(r.err);
  REQUIRE(r.rc == 0);
  CHECK_THAT(r.out, Catch::StartsWith("profiled customers@0.1.0: 2000 rows, 3 columns (its stored file)\n"));
  CHECK_THAT(r.out, Catch::Contains("age     numeric"));
  CHECK_THAT(r.out, Catch::Contains("city    categorical  0        3 distinct"));

  // The same data gives the same profile, byte for byte.
  const json a = sb.run({"profile", "customers@0.1.0", "--json"}).json();
  const json b = sb.run({"profile", "customers@0.1.0", "--json"}).json();
  CHECK(a["profile"] == b["profile"]);
  CHECK(a["profile"].dump().size() < 16384);  // kilobytes, whatever the rows
  const json columns = a["profile"]["columns"];
  REQUIRE(columns.size() == 3);
  CHECK(columns[0]["name"] == "age");
  CHECK(columns[0]["type"] == "numeric");
  CHECK(columns[2]["type"] == "categorical");
  CHECK(events_of(sb, "profile.recorded") == 3);
  CHECK_THAT(sb.run({"history"}).out, Catch::Contains("3 columns of stored"));
  log_consistent(sb);
}

TEST_CASE("drift: a resample passes with exit 0, a shift is detected with exit 1, each recorded", "[e2e][drift]") {
  Sandbox sb;
  profiled(sb);
  sb.write("same.csv", customers(3000, 2));
  sb.write("shifted.csv", customers(3000, 3, true));

  RunResult r = sb.run({"drift", "churn@0.1.0", "--current", "same.csv"});
  INFO(r.out << r.err);
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::StartsWith("churn@0.1.0 against the profile of customers@0.1.0: 3000 current rows, "
                                      "4000 profiled\n"));
  CHECK_THAT(r.out, Catch::EndsWith("0 of 3 columns (0%) past PSI 0.2; limit 30%: no drift\n"));

  r = sb.run({"drift", "churn@0.1.0", "--current", "shifted.csv", "--env", "production"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.out, Catch::Contains("DRIFT"));
  CHECK_THAT(r.out, Catch::EndsWith("3 of 3 columns (100%) past PSI 0.2; limit 30%: drift detected\n"));

  // JSON: per column PSI and KS; with the raw reference, exact KS and p-values.
  const json j = sb.run({"drift", "churn@0.1.0", "--current", "shifted.csv", "--reference", "data/train.csv",
                         "--json"})
                     .json();
  CHECK(j["drifted"] == true);
  CHECK(j["profile_of"] == "customers@0.1.0");
  REQUIRE(j["columns"].size() == 3);
  for (const auto& c : j["columns"]) {
    CHECK(c["psi"].get<double>() > 0.2);
    if (c["type"] == "numeric") {
      CHECK(c["ks"].get<double>() > 0.2);
      CHECK(c["ks_pvalue"].get<double>() < 0.001);
    }
  }
  // --columns narrows the comparison; thresholds can be raised.
  r = sb.run({"drift", "churn@0.1.0", "--current", "shifted.csv", "--columns", "city", "--psi-threshold", "5"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::EndsWith("0 of 1 columns (0%) past PSI 5; limit 30%: no drift\n"));

  // lastmile.yaml's drift: section sets the project's thresholds; a flag wins.
  sb.write("lastmile.yaml", "drift: {psi_threshold: 5, max_share: 0.3}\nstages:\n  - name: sandbox\n");
  r = sb.run({"drift", "churn@0.1.0", "--current", "shifted.csv"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::EndsWith("0 of 3 columns (0%) past PSI 5; limit 30%: no drift\n"));
  r = sb.run({"drift", "churn@0.1.0", "--current", "shifted.csv", "--psi-threshold", "0.2"});
  CHECK(r.rc == 1);
  sb.write("lastmile.yaml", "stages:\n  - name: sandbox\n");

  // Markdown for a job summary.
  r = sb.run({"drift", "churn@0.1.0", "--current", "same.csv", "--format", "md"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::StartsWith("### Drift of churn@0.1.0\n"));
  CHECK_THAT(r.out, Catch::Contains("| age | numeric |"));

  CHECK(events_of(sb, "drift.measured") == 7);
  const std::string history = sb.run({"history", "churn"}).out;
  CHECK_THAT(history, Catch::Contains("DRIFT in 3 of 3 columns of shifted.csv from production"));
  CHECK_THAT(history, Catch::Contains("no drift: 0 of 3 columns of same.csv"));
  log_consistent(sb);
}

TEST_CASE("drift: missing columns and values that are not numbers are reported, not fatal", "[e2e][drift]") {
  Sandbox sb;
  profiled(sb);
  sb.write("partial.csv", "age,city\n41,paris\nforty,lyon\n39,\n38,nice\n");
  const RunResult r = sb.run({"drift", "churn@0.1.0", "--current", "partial.csv", "--json"});
  INFO(r.err);
  REQUIRE((r.rc == 0 || r.rc == 1));
  CHECK_THAT(r.err, Catch::Contains("warning: column 'income' of the profile is not in 'partial.csv'"));
  const json j = r.json();
  CHECK(j["missing_columns"] == json::array({"income"}));
  CHECK(j["columns"][0]["name"] == "age");
  CHECK(j["columns"][0]["invalid"] == 1);
  CHECK(j["columns"][1]["missing"] == 1);
}

TEST_CASE("drift and profile refuse bad data with a clear error and record nothing", "[e2e][drift]") {
  Sandbox sb;
  profiled(sb);
  const long before = sb.event_count();
  sb.write("empty.csv", "");
  sb.write("ragged.csv", "age,income,city\n40,50000,paris\n41,51000\n");
  sb.write("other.csv", "height,weight\n180,80\n170,70\n");

  RunResult r = sb.run({"drift", "churn@0.1.0", "--current", "empty.csv"});
  CHECK(r.rc == 65);
  CHECK_THAT(r.err, Catch::Contains("empty.csv") && Catch::Contains("empty"));

  r = sb.run({"drift", "churn@0.1.0", "--current", "ragged.csv"});
  CHECK(r.rc == 65);
  CHECK_THAT(r.err, Catch::Contains("ragged.csv") && Catch::Contains("line 3"));

  // The profile of another dataset: no column in common.
  r = sb.run({"drift", "churn@0.1.0", "--current", "other.csv"});
  CHECK(r.rc == 65);
  CHECK_THAT(r.err, Catch::Contains("has none of the profile's columns"));
  CHECK_THAT(r.err, Catch::Contains("a profile of another dataset?"));

  r = sb.run({"drift", "churn@0.1.0", "--current", "absent.csv"});
  CHECK(r.rc == 66);
  CHECK_THAT(r.err, Catch::Contains("absent.csv"));

  r = sb.run({"drift", "churn@0.1.0", "--current", "data/train.csv", "--columns", "nope"});
  CHECK(r.rc == 64);
  CHECK_THAT(r.err, Catch::Contains("nope"));

  r = sb.run({"drift", "churn@0.1.0", "--current", "data/train.csv", "--env", "Prod uction"});
  CHECK(r.rc == 64);

  // A version without a profile, nor a dataset with one.
  sb.write("other.bin", "x");
  REQUIRE(sb.run({"register", "solo", "other.bin", "-q"}).rc == 0);
  const long registered = sb.event_count();
  r = sb.run({"drift", "solo@0.1.0", "--current", "data/train.csv"});
  CHECK(r.rc == 66);
  CHECK_THAT(r.err, Catch::Contains("'solo@0.1.0' has no reference profile"));
  CHECK_THAT(r.err, Catch::Contains("lastmile profile solo@0.1.0 --data"));

  // A version of several files must be told which to profile.
  sb.write("two/a.csv", "x\n1\n");
  sb.write("two/b.csv", "y\n2\n");
  REQUIRE(sb.run({"dataset", "register", "pair", "two", "-q"}).rc == 0);
  const long pair = sb.event_count();
  r = sb.run({"profile", "pair@0.1.0"});
  CHECK(r.rc == 64);
  CHECK_THAT(r.err, Catch::Contains("'pair@0.1.0' holds 2 files"));
  CHECK(sb.run({"profile", "pair@0.1.0", "--data", "two/a.csv"}).rc == 0);

  r = sb.run({"profile", "churn@0.1.0", "--data", "empty.csv"});
  CHECK(r.rc == 65);

  // The dataset's stored file changed behind lastmile's back: refused, not profiled.
  const std::string object = sb.run({"show", "customers@0.1.0", "--json"}).json()["manifest"][0]["sha256"];
  const std::filesystem::path stored = sb.registry() / "objects" / "sha256" / object.substr(0, 2) / object.substr(2);
  const std::string original = sb.read(std::filesystem::relative(stored, sb.repo()));
  std::filesystem::permissions(stored, std::filesystem::perms::owner_write, std::filesystem::perm_options::add);
  for (const std::string tail : {"99,1,nice\n", "99,1\n"}) {  // still a table, then not one
    { std::ofstream(stored, std::ios::app) << tail; }
    r = sb.run({"profile", "customers@0.1.0"});
    CHECK(r.rc == 65);
    CHECK_THAT(r.err, Catch::Contains("'customers@0.1.0''s file 'train.csv' no longer has its registered bytes"));
  }
  { std::ofstream(stored, std::ios::trunc) << original; }  // put back, for the checks below
  CHECK(sb.event_count() == pair + 1);
  CHECK(registered == before + 1);
  log_consistent(sb);
}

TEST_CASE("feedback records outcomes observed in production, with time and environment", "[e2e][drift]") {
  Sandbox sb;
  profiled(sb);
  RunResult r = sb.run({"feedback", "churn@0.1.0", "--metric", "accuracy=0.87", "--metric", "conversion=0.031",
                        "--time", "2026-12-01", "--env", "production"});
  INFO(r.err);
  REQUIRE(r.rc == 0);
  CHECK(r.out == "recorded feedback for churn@0.1.0: accuracy=0.87, conversion=0.031 (observed "
                 "2026-12-01T00:00:00.000000Z in production)\n");
  const json j = sb.run({"feedback", "churn@0.1.0", "--metric", "accuracy=0.85", "--json"}).json();
  CHECK(j["metrics"]["accuracy"] == 0.85);
  CHECK(j["environment"].is_null());
  CHECK_THAT(sb.run({"history", "churn"}).out,
             Catch::Contains("accuracy=0.87, conversion=0.031 observed 2026-12-01T00:00:00.000000Z"));

  const long before = sb.event_count();
  r = sb.run({"feedback", "churn@0.1.0", "--metric", "accuracy=high"});
  CHECK(r.rc == 64);
  CHECK_THAT(r.err, Catch::Contains("accuracy"));
  r = sb.run({"feedback", "churn@0.1.0", "--metric", "accuracy=0.9", "--time", "yesterday"});
  CHECK(r.rc == 64);
  CHECK_THAT(r.err, Catch::Contains("--time 'yesterday' is not a time"));
  r = sb.run({"feedback", "churn@9.9.9", "--metric", "accuracy=0.9"});
  CHECK(r.rc == 66);
  r = sb.run({"feedback", "churn@0.1.0"});
  CHECK(r.rc == 64);
  CHECK(sb.event_count() == before);
  log_consistent(sb);
}
