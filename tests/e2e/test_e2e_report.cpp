// lastmile report: offline metrics next to production feedback and drift,
// in every format, and the HTML form rendered by headless Chromium.

#include <catch2/catch.hpp>

#include <filesystem>
#include <regex>

#include "tests/e2e/sandbox.hpp"

using lm::test::RunResult;
using lm::test::Sandbox;

namespace {

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

void ok(const Sandbox& sb, const std::vector<std::string>& args) {
  const RunResult r = sb.run(args);
  INFO(args.front() << ": " << r.err);
  REQUIRE(r.rc == 0);
}

// churn 1.0.0 lost accuracy in production (0.91 offline, 0.84 last); its
// latency fell, which is better for a metric the policy caps. churn 1.1.0
// holds up in production, but its latency rose in staging.
void populate(Sandbox& sb) {
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("lastmile.yaml",
           "stages:\n"
           "  - name: sandbox\n"
           "  - name: production\n"
           "    from: [sandbox]\n"
           "    gates:\n"
           "      - {metric: accuracy, min: 0.8}\n"
           "      - {metric: latency_ms, max: 100}\n"
           "drift: {psi_threshold: 0.25}\n");
  sb.write("m1.bin", "weights 1");
  sb.write("m2.bin", "weights 2");
  ok(sb, {"register", "churn", "m1.bin", "--version", "1.0.0", "--metric", "accuracy=0.91", "--metric", "latency_ms=30"});
  ok(sb, {"register", "churn", "m2.bin", "--version", "1.1.0", "--metric", "accuracy=0.93", "--metric", "latency_ms=25"});
  ok(sb, {"promote", "churn@1.0.0", "--to", "production"});
  // Recorded out of order: the latest observation is the live value.
  ok(sb, {"feedback", "churn@1.0.0", "--metric", "accuracy=0.9", "--metric", "latency_ms=31", "--time", "2026-03-01", "--env", "production"});
  ok(sb, {"feedback", "churn@1.0.0", "--metric", "accuracy=0.84", "--metric", "latency_ms=28", "--time", "2026-03-03", "--env", "production"});
  ok(sb, {"feedback", "churn@1.0.0", "--metric", "accuracy=0.88", "--time", "2026-03-02T00:00:00Z", "--env", "production"});
  ok(sb, {"feedback", "churn@1.1.0", "--metric", "accuracy=0.94", "--metric", "latency_ms=25.02", "--time", "2026-03-04", "--env", "production"});
  ok(sb, {"feedback", "churn@1.1.0", "--metric", "accuracy=0.92", "--time", "2026-03-05", "--env", "production"});
  ok(sb, {"feedback", "churn@1.1.0", "--metric", "latency_ms=40", "--time", "2026-03-06", "--env", "staging"});
  // Drift of 1.0.0: a shifted sample, then the training data itself.
  std::string train = "age,plan\n", shifted = "age,plan\n";
  for (int i = 0; i < 200; ++i) {
    train += std::to_string(20 + i % 40) + "," + (i % 3 ? "basic" : "pro") + "\n";
    shifted += std::to_string(60 + i % 40) + ",pro\n";
  }
  sb.write("data/train.csv", train);
  sb.write("data/shifted.csv", shifted);
  ok(sb, {"profile", "churn@1.0.0", "--data", "data/train.csv"});
  REQUIRE(sb.run({"drift", "churn@1.0.0", "--current", "data/shifted.csv", "--env", "production"}).rc == 1);
  ok(sb, {"drift", "churn@1.0.0", "--current", "data/train.csv", "--env", "production"});
}

// Renders `html` in headless Chromium and returns the DOM it built, or
// nullopt when Chromium is not installed.
std::optional<std::string> chromium_dom(const Sandbox& sb, const std::filesystem::path& html) {
  if (sb.exec({"sh", "-c", "command -v chromium"}).rc != 0) return std::nullopt;
  const RunResult r = sb.exec({"timeout", "60", "chromium", "--headless", "--no-sandbox", "--disable-gpu",
                               "--no-first-run", "--disable-extensions", "--disable-background-networking",
                               "--disable-sync", "--disable-component-update", "--mute-audio",
                               "--user-data-dir=" + (sb.root() / "chromium").string(), "--dump-dom",
                               "file://" + html.string()});
  INFO("chromium: " << r.err.substr(0, 2000));
  REQUIRE(r.rc == 0);
  return r.out;
}

}  // namespace

TEST_CASE("report: text shows offline next to live values and flags the degraded version", "[e2e][report]") {
  Sandbox sb;
  populate(sb);
  const RunResult r = sb.run({"report", "churn"});
  CHECK(r.rc == 0);
  CHECK(r.err.empty());
  CHECK_THAT(r.out, Catch::StartsWith("report churn (model): 2 versions, 2 degraded\n"
                                      "degraded: a live metric worse than its offline value by more than 0.05\n"));
  CHECK_THAT(r.out, Catch::Contains("\nchurn@1.1.0  sandbox  DEGRADED\n"
                                    "  metric      better  offline  live  change  feedback  last observed\n"
                                    "  accuracy    higher  0.93     0.92  -0.01   2         2026-03-05 00:00\n"
                                    "  latency_ms  lower   25       40    +15     2         2026-03-06 00:00  degraded\n"
                                    "  drift not measured\n"));
  CHECK_THAT(r.out, Catch::Contains("\nchurn@1.0.0  production  DEGRADED\n"
                                    "  metric      better  offline  live  change  feedback  last observed\n"
                                    "  accuracy    higher  0.91     0.84  -0.07   3         2026-03-03 00:00  degraded\n"
                                    "  latency_ms  lower   30       28    -2      2         2026-03-03 00:00\n"
                                    "  drift measured    environment  rows  max PSI  drifted share  drifted\n"));
  CHECK(std::regex_search(r.out, std::regex(R"(\n  \d{4}-\d\d-\d\d \d\d:\d\d  production   200   \d+\.\d{4} +100\.0% +yes\n)")));
  CHECK(std::regex_search(r.out, std::regex(R"(\n  \d{4}-\d\d-\d\d \d\d:\d\d  production   200   0\.0000   0\.0% +no\n)")));
}

TEST_CASE("report: --env, --margin and --fail-on-degraded", "[e2e][report]") {
  Sandbox sb;
  populate(sb);
  // Production only: 1.1.0's staging latency is left out, 1.0.0 remains.
  RunResult r = sb.run({"report", "churn", "--env", "production", "--fail-on-degraded"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.out, Catch::StartsWith("report churn (model): 2 versions, 1 degraded, environment production\n"));
  CHECK_THAT(r.out, Catch::Contains("  latency_ms  lower   25       25.02  +0.02   1         2026-03-04 00:00\n"));
  CHECK(r.err == "lastmile: error: 'churn@1.0.0' has degraded: live 'accuracy' 0.84 against 0.91 offline, "
                 "worse by more than 0.05\n");
  // A margin of 0.1 forgives the accuracy drop of 0.07; latency +15 stays.
  r = sb.run({"report", "churn", "--margin", "0.1", "--fail-on-degraded"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.err, Catch::Contains("'churn@1.1.0' has degraded: live 'latency_ms' 40 against 25 offline"));
  r = sb.run({"report", "churn", "--margin", "0.1", "--env", "production", "--fail-on-degraded"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::StartsWith("report churn (model): 2 versions, 0 degraded"));
  CHECK(r.err.empty());
  // Without the flag a degraded version is reported, not an error.
  CHECK(sb.run({"report", "churn"}).rc == 0);
}

TEST_CASE("report: a metric compared without a direction from the policy is named in a note", "[e2e][report]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("m.bin", "m");
  ok(sb, {"register", "churn", "m.bin", "--metric", "loss=0.3", "--metric", "auc=0.8", "--metric", "rows=10"});
  ok(sb, {"feedback", "churn@0.1.0", "--metric", "loss=0.5", "--metric", "auc=0.81"});
  const std::string note =
      "note: 'auc', 'loss' are taken as higher is better, as lastmile.yaml gives them no direction; declare one "
      "where lower is better: metrics: {KEY: {better: lower}}\n";
  RunResult r = sb.run({"report", "churn"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("  loss    higher  0.3      0.5   +0.2    1  "));
  CHECK(r.err == note);  // rows has no live value: its direction does not matter
  CHECK(sb.run({"report", "churn", "--json"}).err.empty());
  CHECK(sb.run({"-q", "report", "churn"}).err.empty());
  CHECK(sb.run({"report", "churn", "--format", "md"}).err == note);

  // Declared, loss is lower-is-better: its rise is a degradation, and only auc is noted.
  sb.write("lastmile.yaml", "stages:\n  - name: sandbox\nmetrics:\n  loss: {better: lower}\n");
  r = sb.run({"report", "churn"});
  CHECK_THAT(r.out, Catch::Contains("  loss    lower   0.3      0.5   +0.2    1  ") && Catch::Contains("DEGRADED"));
  CHECK(r.err == "note: 'auc' is taken as higher is better, as lastmile.yaml gives it no direction; declare one "
                 "where lower is better: metrics: {KEY: {better: lower}}\n");
  sb.write("lastmile.yaml", "stages:\n  - name: sandbox\nmetrics:\n  loss: {better: lower}\n  auc: {better: higher}\n");
  CHECK(sb.run({"report", "churn"}).err.empty());
}

TEST_CASE("report --json has a stable shape", "[e2e][report][json]") {
  Sandbox sb;
  populate(sb);
  const auto j = sb.run({"report", "churn", "--json"}).json();
  CHECK(j["name"] == "churn");
  CHECK(j["kind"] == "model");
  CHECK(j["margin"] == 0.05);
  CHECK(j["psi_threshold"] == 0.25);
  CHECK(j["environment"].is_null());
  CHECK(j["degraded"] == nlohmann::json::array({"churn@1.1.0", "churn@1.0.0"}));
  REQUIRE(j["versions"].size() == 2);
  const auto& v = j["versions"][1];
  CHECK(v["ref"] == "churn@1.0.0");
  CHECK(v["stages"] == nlohmann::json::array({"production"}));
  CHECK(v["degraded"] == true);
  const auto& acc = v["metrics"][0];
  CHECK(acc["key"] == "accuracy");
  CHECK(acc["better"] == "higher");
  CHECK(acc["direction_from_policy"] == true);
  CHECK(acc["offline"] == 0.91);
  CHECK(acc["live"] == 0.84);
  CHECK(acc["change"].get<double>() == Approx(-0.07));
  CHECK(acc["degraded"] == true);
  REQUIRE(acc["feedback"].size() == 3);
  CHECK(acc["feedback"][1] == nlohmann::json({{"observed_at", "2026-03-02T00:00:00.000000Z"},
                                              {"value", 0.88},
                                              {"environment", "production"}}));
  REQUIRE(v["drift"].size() == 2);
  CHECK(v["drift"][0]["drifted"] == true);
  CHECK(v["drift"][0]["rows"] == 200);
  CHECK(v["drift"][0]["max_psi"].get<double>() > 0.25);
  CHECK(v["drift"][1]["drifted"] == false);
  CHECK(v["drift"][1]["environment"] == "production");
  CHECK(sb.run({"report", "churn", "--format", "json"}).json() == j);
}

TEST_CASE("report --format md is a table per version", "[e2e][report]") {
  Sandbox sb;
  populate(sb);
  const RunResult r = sb.run({"report", "churn", "--format", "md"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::StartsWith("### Monitoring report: `churn`\n\n2 versions, **2 degraded**"));
  CHECK_THAT(r.out, Catch::Contains("#### `churn@1.0.0` · production · ⚠️ **degraded**\n\n"
                                    "| metric | better | offline | live | change | feedback | last observed |\n"
                                    "|---|---|---:|---:|---:|---:|---|\n"
                                    "| accuracy | higher | 0.91 | 0.84 | -0.07 ❌ | 3 | 2026-03-03 00:00 |\n"
                                    "| latency\\_ms | lower | 30 | 28 | -2 | 2 | 2026-03-03 00:00 |\n"));
  CHECK_THAT(r.out, Catch::Contains("| drift measured | environment | rows | max PSI | drifted share | drifted |\n"));
}

TEST_CASE("report --format html: one self-contained file that Chromium renders with its charts", "[e2e][report][html]") {
  Sandbox sb;
  populate(sb);
  RunResult r = sb.run({"report", "churn", "--format", "html", "--output", "reports/churn.html"});
  REQUIRE(r.rc == 0);
  CHECK(r.out == "wrote the html report of churn (2 versions, 2 degraded) to reports/churn.html\n");
  const std::string html = sb.read("reports/churn.html");
  CHECK_THAT(html, Catch::StartsWith("<!DOCTYPE html>"));
  CHECK_THAT(html, !Catch::Contains("http:", Catch::CaseSensitive::No) &&
                       !Catch::Contains("https:", Catch::CaseSensitive::No) &&
                       !Catch::Contains("<script", Catch::CaseSensitive::No) && !Catch::Contains("src=") &&
                       !Catch::Contains("href="));
  // The same registry gives the same bytes.
  r = sb.run({"report", "churn", "--format", "html"});
  CHECK(r.out == html);

  const auto dom = chromium_dom(sb, sb.repo() / "reports/churn.html");
  if (!dom) {
    WARN("chromium is not installed: the HTML report was not rendered (./build.sh installs it)");
    return;
  }
  // Charts: 1.0.0 accuracy, latency and drift; 1.1.0 accuracy and latency.
  CHECK(count(*dom, "<svg") == 5);
  CHECK(count(*dom, "<polyline") == 5);
  CHECK(count(*dom, "stroke-dasharray") == 5);  // offline values and the PSI threshold
  CHECK(count(*dom, "<circle") == 3 + 2 + 2 + 2 + 2);
  CHECK_THAT(*dom, Catch::Contains("<code>churn@1.0.0</code>") && Catch::Contains("<code>churn@1.1.0</code>"));
  CHECK_THAT(*dom, Catch::Contains("offline 0.91") && Catch::Contains("threshold 0.25"));
  CHECK_THAT(*dom, Catch::Contains("churn@1.0.0: accuracy observed in production"));
}

TEST_CASE("report: bad input and unknown names", "[e2e][report]") {
  Sandbox sb;
  RunResult r = sb.run({"report", "churn"});
  CHECK(r.rc == 66);
  CHECK_THAT(r.err, Catch::Contains("no registry"));
  populate(sb);
  r = sb.run({"report", "nope"});
  CHECK(r.rc == 66);
  CHECK(r.out.empty());
  CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: ") && Catch::Contains("'nope'"));
  r = sb.run({"report", "churn", "--margin", "-0.5"});
  CHECK(r.rc == 64);
  CHECK_THAT(r.err, Catch::Contains("--margin"));
  CHECK(sb.run({"report", "churn", "--margin", "x"}).rc == 64);
  CHECK(sb.run({"report", "churn", "--format", "pdf"}).rc == 64);
  CHECK(sb.run({"report", "churn", "--env", "Prod!"}).rc == 64);
  CHECK(sb.run({"report", "bad name"}).rc == 64);
  r = sb.run({"report", "churn", "--output", ".git/hooks/pre-commit"});
  CHECK(r.rc == 64);
  CHECK_THAT(r.err, Catch::Contains("inside a git directory"));
  CHECK_FALSE(std::filesystem::exists(sb.repo() / ".git/hooks/pre-commit"));
}
