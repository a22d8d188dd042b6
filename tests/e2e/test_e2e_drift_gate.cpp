// The drift gate end to end: 'lastmile promote' into a stage whose policy
// asks for a drift gate, with the measurements made the way users make
// them, by 'lastmile profile' and 'lastmile drift'.

#include <catch2/catch.hpp>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tests/e2e/sandbox.hpp"

using lm::test::RunResult;
using lm::test::Sandbox;

namespace {

// production's drift gate is on line 8.
const std::string k_policy =
    "stages:\n"
    "  - name: sandbox\n"
    "  - name: staging\n"
    "    from: [sandbox]\n"
    "  - name: production\n"
    "    from: [staging]\n"
    "    gates:\n"
    "      - {drift: {max_psi: 0.2, max_share: 0.3}}\n";

const std::string k_gate = "drift: at most 30% of columns with PSI > 0.2";

// Ten numeric columns c0..c9 holding 1..200; the first `shifted` moved past
// the training range (each then has a PSI far above 0.2, the rest exactly 0).
std::string ten_columns(int shifted) {
  std::ostringstream out;
  for (int c = 0; c < 10; ++c) out << (c ? "," : "") << 'c' << c;
  out << '\n';
  for (int row = 1; row <= 200; ++row) {
    for (int c = 0; c < 10; ++c) out << (c ? "," : "") << row + (c < shifted ? 1000 : 0);
    out << '\n';
  }
  return out.str();
}

void require_ok(const RunResult& r) {
  INFO(r.out << r.err);
  REQUIRE(r.rc == 0);
}

// churn@1.0.0 profiled on train.csv and in staging, production empty.
void setup(Sandbox& sb) {
  require_ok(sb.run({"init", "-q"}));
  sb.write("lastmile.yaml", k_policy);
  require_ok(sb.run({"policy", "check", "-q"}));
  sb.write("data/train.csv", ten_columns(0));
  sb.write("data/clean.csv", ten_columns(0));
  sb.write("data/drifted.csv", ten_columns(4));
  sb.write("models/churn.bin", "weights");
  require_ok(sb.run({"register", "churn", "models/churn.bin", "--version", "1.0.0"}));
  require_ok(sb.run({"profile", "churn@1.0.0", "--data", "data/train.csv"}));
  require_ok(sb.run({"promote", "churn@1.0.0", "--to", "staging"}));
}

// Measures data/FILE against churn@1.0.0's profile; returns the event
// number. `expected_rc` is 1 when drift is detected.
long measure(const Sandbox& sb, const std::string& file, int expected_rc,
             const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args{"drift", "churn@1.0.0", "--current", "data/" + file, "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  const RunResult r = sb.run(args);
  INFO(r.err);
  REQUIRE(r.rc == expected_rc);
  return r.json().at("event").get<long>();
}

// The version production holds, "" for none.
std::string production_holder(const Sandbox& sb) {
  const auto status = sb.run({"status", "--json"}).json();
  for (const auto& model : status["models"]) {
    for (const auto& s : model["stages"]) {
      if (s["stage"] == "production") return s["version"].is_null() ? "" : s["version"].get<std::string>();
    }
  }
  return "";
}

std::string refusal(const std::string& message) {
  return "lastmile: error: cannot promote 'churn@1.0.0' to 'production': gate '" + k_gate + "' failed (" +
         message;
}

}  // namespace

TEST_CASE("promote past a drift gate: refused without a measurement and after drift, allowed after a clean one",
          "[e2e][gates][drift-gate]") {
  Sandbox sb;
  setup(sb);
  const std::vector<std::string> promote{"promote", "churn@1.0.0", "--to", "production"};

  // No measurement yet: the gate says what to run.
  const std::string none = "no drift measurement of 'churn@1.0.0'; run 'lastmile drift churn@1.0.0 "
                           "--current FILE --env production'";
  RunResult r = sb.run(promote);
  CHECK(r.rc == 1);
  CHECK(r.out == "churn@1.0.0 → production: FAILED (1 of 2 gates failed)\n"
                 "  ok    from staging                                  has been in 'staging'\n"
                 "  FAIL  " + k_gate + "  " + none + "\n");
  CHECK(r.err == refusal(none) + ")\n");
  CHECK(production_holder(sb).empty());

  // Production data that drifted in 4 of 10 columns: still refused.
  const long drifted = measure(sb, "drifted.csv", 1, {"--env", "production"});
  r = sb.run(promote);
  CHECK(r.rc == 1);
  CHECK_THAT(r.err, Catch::StartsWith(refusal("4 of 10 columns (40%) past PSI 0.2, more than 30%; worst 'c0' PSI ")));
  CHECK_THAT(r.err, Catch::EndsWith(", event " + std::to_string(drifted) + ")\n"));
  CHECK_THAT(r.out, Catch::Contains("  FAIL  " + k_gate + "  4 of 10 columns (40%)"));
  CHECK(production_holder(sb).empty());

  // A clean measurement of production data lets it through.
  const long clean = measure(sb, "clean.csv", 0, {"--env", "production"});
  r = sb.run(promote);
  INFO(r.err);
  CHECK(r.rc == 0);
  CHECK(r.err.empty());
  CHECK_THAT(r.out, Catch::Contains("  ok    " + k_gate + "  0 of 10 columns (0%) past PSI 0.2, at most 30%; "));
  CHECK_THAT(r.out, Catch::Contains(", event " + std::to_string(clean) + "\n"));
  CHECK_THAT(r.out, Catch::EndsWith("promoted churn@1.0.0 to production\n"));
  CHECK(production_holder(sb) == "1.0.0");

  // Each evaluation is in the log with the drift gate's figures.
  std::vector<nlohmann::json> evaluated;
  const auto audit = sb.run({"audit", "--json"}).json();
  for (const auto& e : audit["events"]) {
    if (e["kind"] == "gate.evaluated") evaluated.push_back(e);
  }
  REQUIRE(evaluated.size() == 4);  // newest first; the last is setup's promotion to staging
  const auto& last = evaluated[0]["payload"]["gates"][1];
  CHECK(last["kind"] == "drift");
  CHECK(last["passed"] == true);
  CHECK(last["line"] == 8);
  CHECK(last["measured"]["event"] == clean);
  CHECK(last["threshold"] == nlohmann::json{{"max_psi", 0.2}, {"max_share", 0.3}});
  CHECK(evaluated[1]["payload"]["gates"][1]["measured"]["drifted_columns"] == 4);
  CHECK(evaluated[2]["payload"]["gates"][1]["measured"].is_null());
}

TEST_CASE("a drift gate prefers the stage's own data and names any other it falls back to",
          "[e2e][gates][drift-gate]") {
  Sandbox sb;
  setup(sb);
  const std::vector<std::string> gate{"gate", "churn@1.0.0", "--stage", "production", "--format", "json"};

  // Data from no named environment counts, and the report says so.
  measure(sb, "clean.csv", 0);
  RunResult r = sb.run(gate);
  CHECK(r.rc == 0);
  CHECK_THAT(r.json()["gates"][1]["message"].get<std::string>(),
             Catch::EndsWith(", of data from no named environment"));

  // The latest measurement of any data, while production has none of its own.
  measure(sb, "drifted.csv", 1, {"--env", "staging"});
  r = sb.run(gate);
  CHECK(r.rc == 1);
  CHECK_THAT(r.json()["gates"][1]["message"].get<std::string>(), Catch::EndsWith(", of data from 'staging'"));

  // Production's own data wins over later data from elsewhere.
  const long own = measure(sb, "clean.csv", 0, {"--env", "production"});
  measure(sb, "drifted.csv", 1, {"--env", "staging"});
  r = sb.run(gate);
  CHECK(r.rc == 0);
  const auto j = r.json();
  CHECK(j["gates"][1]["measured"]["event"] == own);
  CHECK(j["gates"][1]["measured"]["environment"] == "production");
  CHECK_THAT(j["gates"][1]["message"].get<std::string>(), !Catch::Contains("of data from"));

  // The Markdown report carries the same row.
  r = sb.run({"gate", "churn@1.0.0", "--stage", "production", "--format", "md"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("| " + k_gate + " | ✅ pass | 0 of 10 columns (0%) past PSI 0.2, at most 30%; "));
}

TEST_CASE("policy check places drift gate and drift settings problems", "[e2e][policy][drift-gate][bad-input]") {
  Sandbox sb;
  require_ok(sb.run({"init", "-q"}));
  sb.write("lastmile.yaml",
           "stages:\n"
           "  - name: sandbox\n"
           "  - name: production\n"
           "    from: [sandbox]\n"
           "    gates:\n"
           "      - {drift: {max_psi: -1, max_share: 1.5, psi: 0.2}}\n"
           "drift: {psi_threshold: big}\n");
  const RunResult r = sb.run({"policy", "check"});
  CHECK(r.rc == 78);
  CHECK(r.out ==
        "lastmile.yaml:6:27: max_psi of the drift gate must not be negative, got '-1'\n"
        "lastmile.yaml:6:42: max_share of the drift gate must be a share from 0 to 1, got '1.5'\n"
        "lastmile.yaml:6:47: unknown key 'psi' in a drift gate\n"
        "lastmile.yaml:7:24: drift.psi_threshold must be a number, got 'big'\n");
  sb.write("lastmile.yaml", "stages:\n  - name: sandbox\n  - name: production\n    from: [sandbox]\n"
                            "    gates:\n      - drift:\ndrift: {psi_threshold: 0.1, max_share: 0.5}\n");
  const RunResult ok = sb.run({"policy", "check"});
  CHECK(ok.rc == 0);
  CHECK(ok.out == "lastmile.yaml: ok: 2 stages (sandbox → production), 1 gate\n");
}
