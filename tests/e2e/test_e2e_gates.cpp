// lastmile gate and promote: every gate kind passing and failing, the
// report formats (text, json, junit, github, md), what a gate run records
// and what it must never change, and invalid policies.

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "tests/e2e/sandbox.hpp"

using lm::test::RunOptions;
using lm::test::RunResult;
using lm::test::Sandbox;
namespace fs = std::filesystem;

namespace {

const std::string junit_xsd = std::string(LASTMILE_SOURCE_DIR) + "/tests/e2e/junit.xsd";

// sandbox -> staging -> production. Each gate is one YAML line such as
// "{metric: auc, min: 0.8}"; staging's first gate is on line 6 and its
// `from` check is reported at line 3, the stage's own line.
std::string policy(const std::vector<std::string>& staging_gates,
                   const std::vector<std::string>& production_gates = {}) {
  std::string text = "stages:\n  - name: sandbox\n  - name: staging\n    from: [sandbox]\n";
  if (!staging_gates.empty()) text += "    gates:\n";
  for (const auto& g : staging_gates) text += "      - " + g + "\n";
  text += "  - name: production\n    from: [staging]\n";
  if (!production_gates.empty()) text += "    gates:\n";
  for (const auto& g : production_gates) text += "      - " + g + "\n";
  return text;
}

// A registry with lastmile.yaml as given.
void setup(Sandbox& sb, const std::string& policy_text) {
  REQUIRE(sb.run({"init", "-q"}).rc == 0);
  sb.write("lastmile.yaml", policy_text);
  REQUIRE(sb.run({"policy", "check", "-q"}).rc == 0);
}

// Registers churn@VERSION (one file, `content`) with extra register options.
void register_churn(Sandbox& sb, const std::string& version, const std::vector<std::string>& options,
                    const std::string& content = "weights") {
  const std::string path = "models/churn-" + version + ".bin";
  sb.write(path, content);
  std::vector<std::string> args{"register", "churn", path, "--version", version};
  args.insert(args.end(), options.begin(), options.end());
  const RunResult r = sb.run(args);
  INFO(r.err);
  REQUIRE(r.rc == 0);
}

RunResult gate(const Sandbox& sb, const std::string& ref, const std::vector<std::string>& extra = {},
               const RunOptions& opts = {}) {
  std::vector<std::string> args{"gate", ref, "--stage", "staging"};
  args.insert(args.end(), extra.begin(), extra.end());
  return sb.run(args, opts);
}

std::string failed(const std::string& ref, const std::string& stage, const std::string& gate_name,
                   const std::string& message) {
  return "lastmile: error: '" + ref + "' does not pass the gates of '" + stage + "': gate '" +
         gate_name + "' failed (" + message + ")\n";
}

void make_executable(const fs::path& path) {
  fs::permissions(path, fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec,
                  fs::perm_options::add);
}

// The version each of churn's stages holds, from status --json ("" for none).
std::map<std::string, std::string> holders(const Sandbox& sb) {
  std::map<std::string, std::string> held;
  const auto j = sb.run({"status", "--json"}).json();
  for (const auto& model : j["models"]) {
    for (const auto& s : model["stages"]) {
      held[s["stage"].get<std::string>()] = s["version"].is_null() ? "" : s["version"].get<std::string>();
    }
  }
  return held;
}

std::vector<nlohmann::json> events_of_kind(const Sandbox& sb, const std::string& kind) {
  std::vector<nlohmann::json> found;
  // Kept in a variable: a range-for over a member of a temporary dangles.
  const auto audit = sb.run({"audit", "--json"}).json();
  for (const auto& e : audit["events"]) {
    if (e["kind"] == kind) found.push_back(e);
  }
  return found;
}

RunResult xmllint(const Sandbox& sb, const fs::path& file) {
  return sb.exec({"xmllint", "--noout", "--schema", junit_xsd, file.string()});
}

}  // namespace

// ---------------------------------------------------------------------------
// Gate kinds

TEST_CASE("metric gates: min and max pass and fail, and a missing metric is named", "[e2e][gates]") {
  Sandbox sb;
  setup(sb, policy({"{metric: auc, min: 0.8}", "{metric: latency_ms, max: 40}"}));
  register_churn(sb, "1.0.0", {"--metric", "auc=0.8", "--metric", "latency_ms=40"});
  register_churn(sb, "1.1.0", {"--metric", "auc=0.78", "--metric", "latency_ms=45"});
  register_churn(sb, "1.2.0", {"--metric", "auc=0.9"});

  // The bounds are inclusive.
  auto r = gate(sb, "churn@1.0.0");
  CHECK(r.rc == 0);
  CHECK(r.err.empty());
  CHECK(r.out ==
        "churn@1.0.0 → staging: passed (3 of 3 gates)\n"
        "  ok    from sandbox      has been in 'sandbox'\n"
        "  ok    auc >= 0.8        auc 0.8 >= 0.8\n"
        "  ok    latency_ms <= 40  latency_ms 40 <= 40\n");

  r = gate(sb, "churn@1.1.0");
  CHECK(r.rc == 1);
  CHECK(r.out ==
        "churn@1.1.0 → staging: FAILED (2 of 3 gates failed)\n"
        "  ok    from sandbox      has been in 'sandbox'\n"
        "  FAIL  auc >= 0.8        auc 0.78 < 0.8\n"
        "  FAIL  latency_ms <= 40  latency_ms 45 > 40\n");
  CHECK(r.err == failed("churn@1.1.0", "staging", "auc >= 0.8", "auc 0.78 < 0.8") +
                     "hint: 1 more gate failed; the report lists each\n");

  r = gate(sb, "churn@1.2.0");
  CHECK(r.rc == 1);
  CHECK_THAT(r.out, Catch::Contains("  ok    auc >= 0.8        auc 0.9 >= 0.8\n"
                                    "  FAIL  latency_ms <= 40  metric 'latency_ms' is missing from "
                                    "'churn@1.2.0'\n"));
  CHECK(r.err == failed("churn@1.2.0", "staging", "latency_ms <= 40",
                        "metric 'latency_ms' is missing from 'churn@1.2.0'"));
  const auto j = gate(sb, "churn@1.2.0", {"--json"}).json();
  CHECK(j["gates"][2]["measured"].is_null());
  CHECK(j["gates"][2]["threshold"] == 40);
  CHECK(j["gates"][2]["passed"] == false);
}

TEST_CASE("no_worse_than incumbent: empty stage, worse beyond and within tolerance", "[e2e][gates]") {
  Sandbox sb;
  setup(sb, policy({}, {"{metric: auc, no_worse_than: incumbent, tolerance: 0.005}",
                        "{metric: latency_ms, no_worse_than: incumbent, better: lower}"}));
  register_churn(sb, "1.0.0", {"--metric", "auc=0.85", "--metric", "latency_ms=30"});
  REQUIRE(sb.run({"promote", "churn@1.0.0", "--to", "staging"}).rc == 0);

  // Nothing in production yet: nothing to be worse than.
  auto r = sb.run({"gate", "churn@1.0.0", "--stage", "production"});
  CHECK(r.rc == 0);
  CHECK(r.err.empty());
  CHECK_THAT(r.out, Catch::Contains("  ok    auc no worse than incumbent (tolerance 0.005)  the stage "
                                    "holds no version of 'churn' yet\n"));
  REQUIRE(sb.run({"promote", "churn@1.0.0", "--to", "production"}).rc == 0);

  // 0.84 is 0.01 below the incumbent: beyond the tolerance.
  register_churn(sb, "1.1.0", {"--metric", "auc=0.84", "--metric", "latency_ms=30"});
  REQUIRE(sb.run({"promote", "churn@1.1.0", "--to", "staging"}).rc == 0);
  r = sb.run({"gate", "churn@1.1.0", "--stage", "production"});
  CHECK(r.rc == 1);
  const std::string message = "auc 0.84 vs 0.85 of churn@1.0.0 (tolerance 0.005): lower";
  CHECK_THAT(r.out, Catch::Contains("  FAIL  auc no worse than incumbent (tolerance 0.005)  " + message));
  CHECK(r.err == failed("churn@1.1.0", "production", "auc no worse than incumbent (tolerance 0.005)", message));
  auto j = sb.run({"gate", "churn@1.1.0", "--stage", "production", "--json"}).json();
  CHECK(j["incumbent"] == "1.0.0");
  CHECK(j["gates"][1]["measured"] == 0.84);
  CHECK(j["gates"][1]["threshold"].get<double>() == Approx(0.845));

  // 0.846 is within 0.005 of 0.85; a lower-is-better metric may not rise.
  register_churn(sb, "1.2.0", {"--metric", "auc=0.846", "--metric", "latency_ms=31"});
  REQUIRE(sb.run({"promote", "churn@1.2.0", "--to", "staging"}).rc == 0);
  r = sb.run({"gate", "churn@1.2.0", "--stage", "production"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.out, Catch::Contains("  ok    auc no worse than incumbent (tolerance 0.005)  auc 0.846 vs "
                                    "0.85 of churn@1.0.0 (tolerance 0.005)\n"));
  CHECK_THAT(r.out, Catch::Contains("  FAIL  latency_ms no worse than incumbent"));
  CHECK_THAT(r.out, Catch::Contains("latency_ms 31 vs 30 of churn@1.0.0: higher"));

  register_churn(sb, "1.3.0", {"--metric", "auc=0.846", "--metric", "latency_ms=29"});
  REQUIRE(sb.run({"promote", "churn@1.3.0", "--to", "staging"}).rc == 0);
  r = sb.run({"gate", "churn@1.3.0", "--stage", "production"});
  CHECK(r.rc == 0);
  CHECK(r.err.empty());
  CHECK_THAT(r.out, Catch::StartsWith("churn@1.3.0 → production: passed (3 of 3 gates)\n"));

  // The incumbent is whatever production holds now.
  REQUIRE(sb.run({"promote", "churn@1.3.0", "--to", "production"}).rc == 0);
  j = sb.run({"gate", "churn@1.2.0", "--stage", "production", "--json"}).json();
  CHECK(j["incumbent"] == "1.3.0");
}

TEST_CASE("no_worse_than: a value exactly at the edge of the tolerance passes", "[e2e][gates]") {
  Sandbox sb;
  setup(sb, policy({}, {"{metric: acc, no_worse_than: incumbent, tolerance: 0.1}",
                        "{metric: loss, no_worse_than: incumbent, tolerance: 0.7, better: lower}"}));
  register_churn(sb, "1.0.0", {"--metric", "acc=0.8", "--metric", "loss=0.1"});
  register_churn(sb, "1.1.0", {"--metric", "acc=0.7", "--metric", "loss=0.8"});
  register_churn(sb, "1.2.0", {"--metric", "acc=0.6999", "--metric", "loss=0.8001"});
  for (const char* v : {"churn@1.0.0", "churn@1.1.0", "churn@1.2.0"}) {
    REQUIRE(sb.run({"promote", v, "--to", "staging"}).rc == 0);
  }
  REQUIRE(sb.run({"promote", "churn@1.0.0", "--to", "production"}).rc == 0);

  // Written in decimal, 0.7 is within 0.1 of 0.8, though 0.8 - 0.1 is a
  // hair above 0.7 in binary.
  auto r = sb.run({"gate", "churn@1.1.0", "--stage", "production"});
  CHECK(r.rc == 0);
  CHECK(r.err.empty());
  CHECK_THAT(r.out, Catch::Contains("  ok    acc no worse than incumbent (tolerance 0.1)   acc 0.7 vs 0.8 of "
                                    "churn@1.0.0 (tolerance 0.1)\n"
                                    "  ok    loss no worse than incumbent (tolerance 0.7)  loss 0.8 vs 0.1 of "
                                    "churn@1.0.0 (tolerance 0.7)\n"));

  // Just past the edge fails.
  r = sb.run({"gate", "churn@1.2.0", "--stage", "production"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.out, Catch::Contains("acc 0.6999 vs 0.8 of churn@1.0.0 (tolerance 0.1): lower\n"));
  CHECK_THAT(r.out, Catch::Contains("loss 0.8001 vs 0.1 of churn@1.0.0 (tolerance 0.7): higher\n"));
}

TEST_CASE("require gates: owner, description, labels, params and metrics", "[e2e][gates]") {
  Sandbox sb;
  setup(sb, policy({"{require: [owner, description, \"label:team\", \"param:lr\", \"metric:auc\"]}"}));
  register_churn(sb, "1.0.0", {});
  register_churn(sb, "1.1.0", {"--owner", "ada", "--label", "tier=gold", "--param", "lr=0.1"});
  register_churn(sb, "1.2.0", {"--owner", "ada", "--description", "weekly retrain", "--label",
                               "team=growth", "--param", "lr=0.1", "--metric", "auc=0.9"});
  const std::string name = "require owner, description, label:team, param:lr, metric:auc";

  auto r = gate(sb, "churn@1.0.0");
  CHECK(r.rc == 1);
  CHECK_THAT(r.out, Catch::Contains("  FAIL  " + name + "  missing owner, description, label:team, "
                                    "param:lr, metric:auc\n"));
  CHECK(r.err == failed("churn@1.0.0", "staging", name,
                        "missing owner, description, label:team, param:lr, metric:auc"));

  // A label with another key does not count.
  r = gate(sb, "churn@1.1.0");
  CHECK(r.rc == 1);
  CHECK_THAT(r.out, Catch::Contains("  FAIL  " + name + "  missing description, label:team, metric:auc\n"));
  const auto j = gate(sb, "churn@1.1.0", {"--json"}).json();
  CHECK(j["gates"][1]["measured"] == nlohmann::json({"description", "label:team", "metric:auc"}));
  CHECK(j["gates"][1]["threshold"] ==
        nlohmann::json({"owner", "description", "label:team", "param:lr", "metric:auc"}));

  r = gate(sb, "churn@1.2.0");
  CHECK(r.rc == 0);
  CHECK(r.err.empty());
  CHECK_THAT(r.out, Catch::Contains("  ok    " + name + "  has 5 of 5 required fields\n"));
}

TEST_CASE("max_size gates compare the version's total size", "[e2e][gates]") {
  Sandbox sb;
  setup(sb, policy({"{max_size: 1KiB}"}));
  register_churn(sb, "1.0.0", {}, std::string(1024, 'a'));
  register_churn(sb, "1.1.0", {}, std::string(1025, 'b'));
  sb.write("models/dir/a.bin", std::string(600, 'c'));
  sb.write("models/dir/b.bin", std::string(600, 'd'));
  REQUIRE(sb.run({"register", "churn", "models/dir", "--version", "1.2.0"}).rc == 0);

  auto r = gate(sb, "churn@1.0.0");
  CHECK(r.rc == 0);
  CHECK(r.err.empty());
  CHECK_THAT(r.out, Catch::Contains("  ok    size <= 1024 bytes  size 1.0 KiB <= 1.0 KiB\n"));

  r = gate(sb, "churn@1.1.0");
  CHECK(r.rc == 1);
  CHECK_THAT(r.out, Catch::Contains("  FAIL  size <= 1024 bytes  size 1.0 KiB > 1.0 KiB\n"));
  CHECK(r.err == failed("churn@1.1.0", "staging", "size <= 1024 bytes", "size 1.0 KiB > 1.0 KiB"));
  CHECK(gate(sb, "churn@1.1.0", {"--json"}).json()["gates"][1]["measured"] == 1025);

  // Two files of 600 B each: the sum counts.
  r = gate(sb, "churn@1.2.0");
  CHECK(r.rc == 1);
  CHECK(gate(sb, "churn@1.2.0", {"--json"}).json()["gates"][1]["measured"] == 1200);
}

TEST_CASE("command gates: exit 0 passes, exit 1 fails with its output in the report", "[e2e][gates]") {
  Sandbox sb;
  setup(sb, policy({"{command: [\"./smoke.sh\", \"--fast\"], timeout: 30}"}));
  register_churn(sb, "1.0.0", {});
  sb.write("smoke.sh",
           "#!/bin/sh\n"
           "echo \"checking with $1\"\n"
           "echo 'latency too high' >&2\n"
           "exit \"$(cat smoke-status)\"\n");
  make_executable(sb.repo() / "smoke.sh");

  sb.write("smoke-status", "0");
  auto r = gate(sb, "churn@1.0.0");
  CHECK(r.rc == 0);
  CHECK(r.err.empty());
  CHECK_THAT(r.out, Catch::Contains("  ok    command ./smoke.sh --fast  exit status 0 ("));
  // A passing command's output is not shown, but it is kept in the JSON.
  CHECK_THAT(r.out, !Catch::Contains("checking"));
  auto j = gate(sb, "churn@1.0.0", {"--json"}).json();
  CHECK(j["gates"][1]["output"] == "checking with --fast\nlatency too high\n");
  CHECK(j["gates"][1]["measured"] == 0);

  sb.write("smoke-status", "1");
  r = gate(sb, "churn@1.0.0");
  CHECK(r.rc == 1);
  CHECK_THAT(r.out, Catch::Contains("  FAIL  command ./smoke.sh --fast  exit status 1 ("));
  CHECK_THAT(r.out, Catch::EndsWith(" s)\n"
                                    "        | checking with --fast\n"
                                    "        | latency too high\n"));
  CHECK(r.err == failed("churn@1.0.0", "staging", "command ./smoke.sh --fast", "exit status 1"));
  j = gate(sb, "churn@1.0.0", {"--json"}).json();
  CHECK(j["gates"][1]["measured"] == 1);
  CHECK(j["gates"][1]["passed"] == false);

  // The text report shows the last 20 lines of the output, whatever they start with.
  sb.write("smoke.sh", "#!/bin/sh\necho\nfor i in $(seq 1 20); do echo \"line $i\"; done\nexit 1\n");
  r = gate(sb, "churn@1.0.0");
  CHECK(r.rc == 1);
  CHECK_THAT(r.out, Catch::Contains(" s)\n        | line 1\n        | line 2\n"));
  CHECK_THAT(r.out, Catch::EndsWith("        | line 20\n"));
  sb.write("smoke.sh", "#!/bin/sh\nfor i in $(seq 1 25); do echo \"line $i\"; done\nexit 1\n");
  r = gate(sb, "churn@1.0.0");
  CHECK(r.rc == 1);
  CHECK_THAT(r.out, Catch::Contains(" s)\n        | line 6\n        | line 7\n"));
  CHECK_THAT(r.out, Catch::EndsWith("        | line 25\n"));
}

TEST_CASE("a command gate past its timeout is killed and fails as timed out", "[e2e][gates]") {
  Sandbox sb;
  // The sleeping grandchild must die too: the whole process group goes.
  setup(sb, policy({"{command: [\"sh\", \"-c\", \"echo started; sleep 30; echo finished\"], timeout: 1}"}));
  register_churn(sb, "1.0.0", {});
  const auto start = std::chrono::steady_clock::now();
  const auto r = gate(sb, "churn@1.0.0");
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(r.rc == 1);
  CHECK(took < std::chrono::seconds(10));
  // A command gate is named by its whole argv.
  const std::string name = "command sh -c echo started; sleep 30; echo finished";
  CHECK_THAT(r.out, Catch::Contains("  FAIL  " + name + "  timed out after 1 s ("));
  CHECK_THAT(r.out, Catch::EndsWith(" s)\n        | started\n"));
  CHECK(r.err == failed("churn@1.0.0", "staging", name, "timed out after 1 s"));
}

TEST_CASE("a command gate whose program does not exist fails clearly", "[e2e][gates]") {
  Sandbox sb;
  setup(sb, policy({"{command: [\"./scripts/missing.sh\"]}", "{command: [\"lastmile-no-such-program\"]}",
                    "{command: [\"./not-executable.sh\"]}"}));
  sb.write("not-executable.sh", "#!/bin/sh\nexit 0\n");
  register_churn(sb, "1.0.0", {});
  const auto r = gate(sb, "churn@1.0.0");
  CHECK(r.rc == 1);
  CHECK_THAT(r.out, Catch::StartsWith("churn@1.0.0 → staging: FAILED (3 of 4 gates failed)\n"));
  CHECK_THAT(r.out, Catch::Contains("  FAIL  command ./scripts/missing.sh      './scripts/missing.sh' not found ("));
  CHECK_THAT(r.out, Catch::Contains("  FAIL  command lastmile-no-such-program  'lastmile-no-such-program' not "
                                    "found in PATH ("));
  CHECK_THAT(r.out, Catch::Contains("  FAIL  command ./not-executable.sh       cannot run './not-executable.sh': "
                                    "permission denied ("));
  CHECK(r.err == failed("churn@1.0.0", "staging", "command ./scripts/missing.sh",
                        "'./scripts/missing.sh' not found") +
                     "hint: 2 more gates failed; the report lists each\n");
  const auto j = gate(sb, "churn@1.0.0", {"--json"}).json();
  CHECK(j["gates"][1]["measured"].is_null());  // it never ran: no exit status
}

TEST_CASE("a command gate sees the version in LASTMILE_* and its artifact materialised", "[e2e][gates]") {
  Sandbox sb;
  setup(sb, policy({"{command: [\"./check-env.sh\"]}"}));
  sb.write("check-env.sh",
           "#!/bin/sh\n"
           "echo \"name=$LASTMILE_NAME\"\n"
           "echo \"version=$LASTMILE_VERSION\"\n"
           "echo \"digest=$LASTMILE_DIGEST\"\n"
           "echo \"stage=$LASTMILE_STAGE\"\n"
           "echo \"artifact=$LASTMILE_ARTIFACT\"\n"
           "test -f \"$LASTMILE_ARTIFACT\" || { echo 'not a file'; exit 1; }\n"
           "echo \"content=$(cat \"$LASTMILE_ARTIFACT\")\"\n");
  make_executable(sb.repo() / "check-env.sh");
  register_churn(sb, "1.0.0", {}, "the registered weights");
  // The work tree changes after registration: the gate must see what was registered.
  sb.write("models/churn-1.0.0.bin", "edited afterwards");
  const std::string digest = sb.run({"show", "churn@1.0.0", "--json"}).json()["digest"];

  const auto j = gate(sb, "churn@1.0.0", {"--json"}).json();
  REQUIRE(j["gates"][1]["kind"] == "command");
  INFO(j.dump(2));
  CHECK(j["gates"][1]["passed"] == true);
  const std::string output = j["gates"][1]["output"];
  CHECK_THAT(output, Catch::StartsWith("name=churn\nversion=1.0.0\ndigest=" + digest +
                                       "\nstage=staging\nartifact=/"));
  CHECK_THAT(output, Catch::EndsWith("/churn-1.0.0.bin\ncontent=the registered weights\n"));
  // The materialised copy lives outside the work tree and is gone afterwards.
  const auto at = output.find("artifact=") + 9;
  const fs::path artifact = output.substr(at, output.find('\n', at) - at);
  CHECK(artifact.string().rfind(sb.repo().string(), 0) != 0);
  CHECK_FALSE(fs::exists(artifact));
  CHECK_FALSE(fs::exists(artifact.parent_path()));
}

TEST_CASE("a command gate runs at the repository root even from a subdirectory", "[e2e][gates]") {
  Sandbox sb;
  setup(sb, policy({"{command: [\"./where.sh\"]}", "{file: reports/ok.json, pointer: /ok, equals: true}"}));
  sb.write("where.sh", "#!/bin/sh\npwd\n");
  make_executable(sb.repo() / "where.sh");
  sb.write("reports/ok.json", "{\"ok\": true}");
  register_churn(sb, "1.0.0", {});
  fs::create_directories(sb.repo() / "src/deep");
  RunOptions opts;
  opts.cwd = sb.repo() / "src/deep";
  const auto r = gate(sb, "churn@1.0.0", {"--json"}, opts);
  CHECK(r.rc == 0);
  CHECK(r.err.empty());
  const auto j = r.json();
  CHECK(j["passed"] == true);
  CHECK(j["gates"][1]["output"] == sb.repo().string() + "\n");
  CHECK(j["gates"][2]["passed"] == true);
}

TEST_CASE("file gates: equals, min and max against a JSON report", "[e2e][gates]") {
  Sandbox sb;
  setup(sb, policy({"{file: reports/v.json, pointer: /success, equals: true}",
                    "{file: reports/v.json, pointer: /metrics/acc, min: 0.9}",
                    "{file: reports/v.json, pointer: /metrics/acc, max: 0.95}",
                    "{file: reports/v.json, pointer: /metrics/acc, min: 0.5, max: 0.99}"}));
  register_churn(sb, "1.0.0", {});

  sb.write("reports/v.json", R"({"success": true, "metrics": {"acc": 0.93}})");
  auto r = gate(sb, "churn@1.0.0");
  CHECK(r.rc == 0);
  CHECK(r.err.empty());
  CHECK(r.out ==
        "churn@1.0.0 → staging: passed (5 of 5 gates)\n"
        "  ok    from sandbox                      has been in 'sandbox'\n"
        "  ok    file reports/v.json /success      /success is true\n"
        "  ok    file reports/v.json /metrics/acc  /metrics/acc is 0.93\n"
        "  ok    file reports/v.json /metrics/acc  /metrics/acc is 0.93\n"
        "  ok    file reports/v.json /metrics/acc  /metrics/acc is 0.93\n");

  sb.write("reports/v.json", R"({"success": false, "metrics": {"acc": 0.97}})");
  r = gate(sb, "churn@1.0.0");
  CHECK(r.rc == 1);
  CHECK_THAT(r.out, Catch::Contains("  FAIL  file reports/v.json /success      /success is false, not true\n"
                                    "  ok    file reports/v.json /metrics/acc  /metrics/acc is 0.97\n"
                                    "  FAIL  file reports/v.json /metrics/acc  /metrics/acc is 0.97 > 0.95\n"
                                    "  ok    file reports/v.json /metrics/acc  /metrics/acc is 0.97\n"));
  CHECK(r.err == failed("churn@1.0.0", "staging", "file reports/v.json /success",
                        "/success is false, not true") +
                     "hint: 1 more gate failed; the report lists each\n");

  sb.write("reports/v.json", R"({"success": true, "metrics": {"acc": 0.4}})");
  r = gate(sb, "churn@1.0.0");
  CHECK(r.rc == 1);
  CHECK_THAT(r.out, Catch::Contains("  FAIL  file reports/v.json /metrics/acc  /metrics/acc is 0.4 < 0.9\n"
                                    "  ok    file reports/v.json /metrics/acc  /metrics/acc is 0.4\n"
                                    "  FAIL  file reports/v.json /metrics/acc  /metrics/acc is 0.4 < 0.5\n"));
  const auto j = gate(sb, "churn@1.0.0", {"--json"}).json();
  CHECK(j["gates"][1]["threshold"] == true);
  CHECK(j["gates"][4]["measured"] == 0.4);
  CHECK(j["gates"][4]["threshold"] == nlohmann::json({{"min", 0.5}, {"max", 0.99}}));
}

TEST_CASE("file gates fail clearly: no report, not JSON, no value, not a number", "[e2e][gates]") {
  Sandbox sb;
  setup(sb, policy({"{file: reports/v.json, pointer: /success, equals: true}",
                    "{file: reports/v.json, pointer: /acc, min: 0.9}"}));
  register_churn(sb, "1.0.0", {});

  auto r = gate(sb, "churn@1.0.0");
  CHECK(r.rc == 1);
  CHECK_THAT(r.out, Catch::Contains("  FAIL  file reports/v.json /success  cannot read the report "
                                    "'reports/v.json': "));
  CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: 'churn@1.0.0' does not pass the gates of 'staging': "
                                      "gate 'file reports/v.json /success' failed (cannot read the report "
                                      "'reports/v.json': "));
  CHECK_THAT(r.err, Catch::Contains("no such file or directory"));

  sb.write("reports/v.json", "<html>not json</html>");
  r = gate(sb, "churn@1.0.0");
  CHECK(r.rc == 1);
  CHECK_THAT(r.out, Catch::Contains("  FAIL  file reports/v.json /success  malformed JSON in 'reports/v.json'"));
  CHECK_THAT(r.out, Catch::Contains("  FAIL  file reports/v.json /acc      malformed JSON in 'reports/v.json'"));

  sb.write("reports/v.json", R"({"acc": "high"})");
  r = gate(sb, "churn@1.0.0");
  CHECK(r.rc == 1);
  CHECK_THAT(r.out, Catch::Contains("  FAIL  file reports/v.json /success  'reports/v.json' has no value at "
                                    "/success\n"
                                    "  FAIL  file reports/v.json /acc      /acc is \"high\", not a number\n"));
  CHECK(r.err == failed("churn@1.0.0", "staging", "file reports/v.json /success",
                        "'reports/v.json' has no value at /success") +
                     "hint: 1 more gate failed; the report lists each\n");
  const auto j = gate(sb, "churn@1.0.0", {"--json"}).json();
  CHECK(j["gates"][1]["measured"].is_null());
  CHECK(j["gates"][2]["measured"] == "high");
}

TEST_CASE("file gates: a pointer past the end of an array is a missing value", "[e2e][gates]") {
  Sandbox sb;
  setup(sb, policy({"{file: reports/v.json, pointer: /items/3, min: 1}",
                    "{file: reports/v.json, pointer: /items/99999999999999999999999, min: 1}",
                    "{file: reports/v.json, pointer: /items/-, min: 1}",
                    "{file: reports/v.json, pointer: /items/first, min: 1}",
                    "{file: reports/v.json, pointer: /items/2, min: 1}"}));
  sb.write("reports/v.json", R"({"items": [1, 2, 3]})");
  register_churn(sb, "1.0.0", {});
  const long events = sb.event_count();
  const auto r = gate(sb, "churn@1.0.0");
  CHECK(r.rc == 1);
  for (const char* pointer : {"/items/3", "/items/99999999999999999999999", "/items/-", "/items/first"}) {
    CHECK_THAT(r.out, Catch::Contains(std::string("'reports/v.json' has no value at ") + pointer + "\n"));
  }
  CHECK_THAT(r.out, Catch::Contains("  ok    file reports/v.json /items/2"));
  CHECK(r.err == failed("churn@1.0.0", "staging", "file reports/v.json /items/3",
                        "'reports/v.json' has no value at /items/3") +
                     "hint: 3 more gates failed; the report lists each\n");
  CHECK(sb.event_count() == events + 1);
}

// ---------------------------------------------------------------------------
// What gate records, and what it never changes

TEST_CASE("gate never moves a stage and records one gate.evaluated event per run", "[e2e][gates][audit]") {
  Sandbox sb;
  setup(sb, policy({"{metric: auc, min: 0.8}", "{require: [owner]}"}));
  register_churn(sb, "1.0.0", {"--metric", "auc=0.9", "--owner", "ada"});
  register_churn(sb, "1.1.0", {"--metric", "auc=0.7"});
  const auto before = holders(sb);
  CHECK(before.at("sandbox") == "1.1.0");
  CHECK(before.at("staging").empty());
  const long events = sb.event_count();

  CHECK(gate(sb, "churn@1.0.0").rc == 0);
  CHECK(sb.event_count() == events + 1);
  CHECK(gate(sb, "churn@1.1.0").rc == 1);
  CHECK(sb.event_count() == events + 2);
  CHECK(gate(sb, "churn@1.0.0", {"--format", "junit"}).rc == 0);
  CHECK(sb.event_count() == events + 3);
  CHECK(holders(sb) == before);

  const auto evaluated = events_of_kind(sb, "gate.evaluated");
  REQUIRE(evaluated.size() == 3);
  // Newest first: the junit run, the failed one, the first.
  CHECK(evaluated[0]["subject"] == "churn@1.0.0");
  CHECK(evaluated[2]["subject"] == "churn@1.0.0");
  CHECK(evaluated[0]["payload"]["passed"] == true);
  const auto& fail = evaluated[1];
  REQUIRE(fail["subject"] == "churn@1.1.0");
  CHECK(fail["actor"] == "Ada Lovelace <ada@example.com>");
  const auto& payload = fail["payload"];
  CHECK(payload["name"] == "churn");
  CHECK(payload["version"] == "1.1.0");
  CHECK(payload["stage"] == "staging");
  CHECK(payload["passed"] == false);
  REQUIRE(payload["gates"].size() == 3);
  for (const auto& g : payload["gates"]) {
    CHECK(g.contains("gate"));
    CHECK(g.contains("measured"));
    CHECK(g.contains("threshold"));
    CHECK(g.contains("passed"));
  }
  CHECK(payload["gates"][1] == nlohmann::json({{"gate", "auc >= 0.8"},
                                               {"kind", "metric"},
                                               {"passed", false},
                                               {"message", "auc 0.7 < 0.8"},
                                               {"measured", 0.7},
                                               {"threshold", 0.8},
                                               {"seconds", payload["gates"][1]["seconds"]},
                                               {"line", 6}}));
  CHECK(payload["gates"][2]["measured"] == nlohmann::json({"owner"}));
  CHECK(payload["gates"][2]["passed"] == false);

  const auto history = sb.run({"history", "churn"});
  CHECK(history.rc == 0);
  CHECK_THAT(history.out, Catch::Contains("gate.evaluated"));
  CHECK_THAT(history.out, Catch::Contains("staging: FAILED auc >= 0.8 (auc 0.7 < 0.8) and 1 more"));
  CHECK(sb.run({"verify"}).rc == 0);
}

TEST_CASE("gate on a registry it may not write evaluates, warns and records nothing", "[e2e][gates]") {
  Sandbox sb;
  setup(sb, policy({"{metric: auc, min: 0.8}"}));
  register_churn(sb, "1.0.0", {"--metric", "auc=0.9"});
  const long events = sb.event_count();
  // chmod does not stop root, so the command runs as an unprivileged user.
  for (const char* sub : {"", "objects", "objects/sha256", "tmp"}) {
    ::chmod((sb.registry() / sub).c_str(), 0555);
  }
  const auto r = gate(sb, "churn@1.0.0", {}, {.as_unprivileged_user = true});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::StartsWith("churn@1.0.0 → staging: passed (2 of 2 gates)\n"));
  CHECK(r.err == "lastmile: warning: cannot write to registry '" + sb.registry().string() +
                     "': permission denied; the evaluation is not recorded\n");
  CHECK(sb.event_count() == events);
}

TEST_CASE("promote --dry-run evaluates but changes nothing", "[e2e][gates][promote]") {
  Sandbox sb;
  setup(sb, policy({"{metric: auc, min: 0.8}"}));
  register_churn(sb, "1.0.0", {"--metric", "auc=0.9"});
  register_churn(sb, "1.1.0", {"--metric", "auc=0.7"});
  const auto before = holders(sb);
  const long events = sb.event_count();

  auto r = sb.run({"promote", "churn@1.0.0", "--to", "staging", "--dry-run"});
  CHECK(r.rc == 0);
  CHECK(r.err.empty());
  CHECK(r.out ==
        "churn@1.0.0 → staging: passed (2 of 2 gates)\n"
        "  ok    from sandbox  has been in 'sandbox'\n"
        "  ok    auc >= 0.8    auc 0.9 >= 0.8\n"
        "dry run: churn@1.0.0 would be promoted to staging; nothing was changed\n");
  const auto j = sb.run({"promote", "churn@1.0.0", "--to", "staging", "--dry-run", "--json"}).json();
  CHECK(j["dry_run"] == true);
  CHECK(j["promoted"] == false);
  CHECK(j["passed"] == true);

  r = sb.run({"promote", "churn@1.1.0", "--to", "staging", "--dry-run"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.out, Catch::Contains("  FAIL  auc >= 0.8    auc 0.7 < 0.8\n"));
  CHECK(r.err == "lastmile: error: dry run: cannot promote 'churn@1.1.0' to 'staging': gate 'auc >= 0.8' "
                 "failed (auc 0.7 < 0.8)\n");

  CHECK(sb.event_count() == events);
  CHECK(holders(sb) == before);
  CHECK(events_of_kind(sb, "gate.evaluated").empty());

  // The real thing records the evaluation and moves the stage.
  r = sb.run({"promote", "churn@1.1.0", "--to", "staging"});
  CHECK(r.rc == 1);
  CHECK(sb.event_count() == events + 1);
  CHECK(holders(sb).at("staging").empty());
  r = sb.run({"promote", "churn@1.0.0", "--to", "staging"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::EndsWith("promoted churn@1.0.0 to staging\n"));
  CHECK(sb.event_count() == events + 3);
  CHECK(holders(sb).at("staging") == "1.0.0");
}

// ---------------------------------------------------------------------------
// Report formats

TEST_CASE("gate --format json has the documented keys", "[e2e][gates][json]") {
  Sandbox sb;
  setup(sb, policy({"{metric: auc, min: 0.8}", "{max_size: 1MiB}"}));
  register_churn(sb, "1.0.0", {"--metric", "auc=0.7"});
  const std::string digest = sb.run({"show", "churn@1.0.0", "--json"}).json()["digest"];

  const auto r = gate(sb, "churn@1.0.0", {"--format", "json"});
  CHECK(r.rc == 1);
  CHECK(r.err == failed("churn@1.0.0", "staging", "auc >= 0.8", "auc 0.7 < 0.8"));
  const auto j = r.json();
  CHECK(j["name"] == "churn");
  CHECK(j["version"] == "1.0.0");
  CHECK(j["digest"] == digest);
  CHECK(j["stage"] == "staging");
  CHECK(j["passed"] == false);
  CHECK(j["incumbent"].is_null());
  REQUIRE(j["gates"].size() == 3);
  CHECK(j["gates"][0]["kind"] == "from");
  CHECK(j["gates"][0]["line"] == 3);
  CHECK(j["gates"][1]["gate"] == "auc >= 0.8");
  CHECK(j["gates"][1]["line"] == 6);
  CHECK(j["gates"][1]["passed"] == false);
  CHECK(j["gates"][2]["kind"] == "max_size");
  CHECK(j["gates"][2]["threshold"] == 1048576);
  CHECK(j["gates"][2]["passed"] == true);
  // --json is the same document (but for the time each gate took).
  auto again = gate(sb, "churn@1.0.0", {"--json"}).json();
  auto first = j;
  for (auto* doc : {&again, &first}) {
    for (auto& g : (*doc)["gates"]) g.erase("seconds");
  }
  CHECK(again == first);
}

TEST_CASE("gate --format junit validates against the JUnit schema", "[e2e][gates][junit]") {
  Sandbox sb;
  REQUIRE(sb.exec({"sh", "-c", "command -v xmllint"}).rc == 0);
  setup(sb, policy({"{metric: auc, min: 0.8}", "{metric: latency_ms, max: 40}",
                    "{command: [\"./smoke.sh\"]}", "{command: [\"true\"]}"}));
  // Output that XML cannot carry as it is: markup, a control byte, bytes that
  // are not UTF-8 and U+FFFF, which XML 1.0 forbids though UTF-8 allows it.
  sb.write("smoke.sh",
           "#!/bin/sh\n"
           "printf '<b>broken</b> & \"quoted\" \\001 \\377 \\357\\277\\277 \\357\\277\\276 done\\n'\n"
           "exit 2\n");
  make_executable(sb.repo() / "smoke.sh");
  register_churn(sb, "1.0.0", {"--metric", "auc=0.7", "--metric", "latency_ms=30"});

  const auto r = gate(sb, "churn@1.0.0", {"--format", "junit"});
  CHECK(r.rc == 1);
  CHECK(r.err == failed("churn@1.0.0", "staging", "auc >= 0.8", "auc 0.7 < 0.8") +
                     "hint: 1 more gate failed; the report lists each\n");
  CHECK_THAT(r.out, Catch::StartsWith("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                                      "<testsuites name=\"lastmile gates\" tests=\"5\" failures=\"2\" "
                                      "errors=\"0\" skipped=\"0\" time=\""));
  CHECK_THAT(r.out, Catch::Contains("<testsuite name=\"churn@1.0.0 -&gt; staging\" tests=\"5\" "
                                    "failures=\"2\" errors=\"0\" skipped=\"0\" time=\""));
  CHECK_THAT(r.out, Catch::Contains("<testcase classname=\"lastmile.gates.metric\" name=\"auc &gt;= 0.8\" "
                                    "file=\"lastmile.yaml\" line=\"6\" time=\""));
  CHECK_THAT(r.out, Catch::Contains("<failure message=\"auc 0.7 &lt; 0.8\" type=\"metric\">measured=0.7 "
                                    "threshold=0.8</failure>"));
  CHECK_THAT(r.out, Catch::Contains("<failure message=\"exit status 2\" type=\"command\">"));
  CHECK_THAT(r.out, Catch::Contains("<system-out>&lt;b&gt;broken&lt;/b&gt; &amp; &quot;quoted&quot; "));
  // One testcase per gate.
  std::size_t testcases = 0;
  for (auto at = r.out.find("<testcase "); at != std::string::npos; at = r.out.find("<testcase ", at + 1)) {
    ++testcases;
  }
  CHECK(testcases == 5);

  // The same report through --output, checked by the schema.
  const auto w = gate(sb, "churn@1.0.0", {"--format", "junit", "--output", "junit.xml"});
  CHECK(w.rc == 1);
  CHECK_THAT(w.out, Catch::StartsWith("churn@1.0.0 → staging: FAILED (2 of 5 gates failed)\n"));
  CHECK_THAT(sb.read("junit.xml"), Catch::StartsWith(r.out.substr(0, r.out.find(" time="))));
  const auto v = xmllint(sb, sb.repo() / "junit.xml");
  INFO(v.err << sb.read("junit.xml"));
  CHECK(v.rc == 0);
  CHECK_THAT(v.err, Catch::Contains("junit.xml validates"));

  // A passing evaluation validates too.
  sb.write("smoke.sh", "#!/bin/sh\nexit 0\n");
  register_churn(sb, "1.1.0", {"--metric", "auc=0.9", "--metric", "latency_ms=30"});
  CHECK(gate(sb, "churn@1.1.0", {"--format", "junit", "--output", "pass.xml"}).rc == 0);
  CHECK_THAT(sb.read("pass.xml"), Catch::Contains("tests=\"5\" failures=\"0\""));
  const auto p = xmllint(sb, sb.repo() / "pass.xml");
  INFO(p.err);
  CHECK(p.rc == 0);
}

TEST_CASE("the JUnit schema is not vacuous: invalid documents fail", "[e2e][gates][junit]") {
  Sandbox sb;
  const std::string suite_open =
      "<testsuite name=\"s\" tests=\"1\" failures=\"0\" errors=\"0\" time=\"0.1\" "
      "timestamp=\"2026-01-01T00:00:00.5Z\">";
  const std::string good = "<?xml version=\"1.0\"?>\n<testsuites name=\"n\" tests=\"1\" skipped=\"0\">" +
                           suite_open +
                           "<testcase classname=\"c\" name=\"t\" file=\"lastmile.yaml\" line=\"3\" "
                           "time=\"0.1\"><failure message=\"m\" type=\"x\">body</failure>"
                           "<system-out>out</system-out><system-err>err</system-err></testcase>"
                           "<testcase name=\"u\"><skipped message=\"later\"/></testcase>"
                           "<testcase name=\"v\"><error message=\"boom\"/></testcase>"
                           "</testsuite></testsuites>\n";
  sb.write("good.xml", good);
  auto r = xmllint(sb, sb.repo() / "good.xml");
  INFO(r.err);
  REQUIRE(r.rc == 0);

  const std::vector<std::pair<std::string, std::string>> bad = {
      {"a testcase outside a testsuite",
       "<testsuites><testcase name=\"t\"/></testsuites>"},
      {"a testcase as the root", "<testcase name=\"t\"/>"},
      {"a testcase without a name",
       "<testsuites>" + suite_open + "<testcase classname=\"c\"/></testsuite></testsuites>"},
      {"a testsuite without tests",
       "<testsuites><testsuite name=\"s\" failures=\"0\" errors=\"0\"/></testsuites>"},
      {"a count that is not a number",
       "<testsuites>" + std::string("<testsuite name=\"s\" tests=\"one\" failures=\"0\" errors=\"0\"/>") +
           "</testsuites>"},
      {"an unknown element in a testcase",
       "<testsuites>" + suite_open + "<testcase name=\"t\"><verdict/></testcase></testsuite></testsuites>"},
      {"a line that is not a number",
       "<testsuites>" + suite_open + "<testcase name=\"t\" line=\"six\"/></testsuite></testsuites>"},
  };
  for (const auto& [what, doc] : bad) {
    INFO(what);
    sb.write("bad.xml", "<?xml version=\"1.0\"?>\n" + doc + "\n");
    r = xmllint(sb, sb.repo() / "bad.xml");
    INFO(r.err);
    // 3 is xmllint's "validation failed"; a broken schema would be 5.
    CHECK(r.rc == 3);
    CHECK_THAT(r.err, Catch::Contains("bad.xml fails to validate"));
  }
}

TEST_CASE("gate --format github writes escaped workflow commands and appends the summary", "[e2e][gates][github]") {
  Sandbox sb;
  setup(sb, policy({"{metric: auc, min: 0.8}", "{require: [owner, \"label:team\"]}",
                    "{file: reports/v.json, pointer: \"/a:b,c\\nd%\", equals: 1}"}));
  sb.write("reports/v.json", "{}");
  register_churn(sb, "1.0.0", {"--metric", "auc=0.85"});
  sb.write("summary.md", "## an earlier step\n\nits summary\n");
  RunOptions opts;
  opts.env["GITHUB_STEP_SUMMARY"] = (sb.repo() / "summary.md").string();

  const auto r = gate(sb, "churn@1.0.0", {"--format", "github"}, opts);
  CHECK(r.rc == 1);
  CHECK(r.out ==
        "::notice file=lastmile.yaml,line=3,title=lastmile gate from sandbox::churn@1.0.0 → staging: "
        "has been in 'sandbox'\n"
        "::notice file=lastmile.yaml,line=6,title=lastmile gate auc >= 0.8::churn@1.0.0 → staging: "
        "auc 0.85 >= 0.8\n"
        "::error file=lastmile.yaml,line=7,title=lastmile gate require owner%2C label%3Ateam::"
        "churn@1.0.0 → staging: missing owner, label:team\n"
        "::error file=lastmile.yaml,line=8,title=lastmile gate file reports/v.json /a%3Ab%2Cc%0Ad%25::"
        "churn@1.0.0 → staging: 'reports/v.json' has no value at /a:b,c%0Ad%25\n"
        "churn@1.0.0 → staging: FAILED (2 of 4 gates failed)\n");
  CHECK(r.err == failed("churn@1.0.0", "staging", "require owner, label:team", "missing owner, label:team") +
                     "hint: 1 more gate failed; the report lists each\n");

  const std::string summary = sb.read("summary.md");
  CHECK_THAT(summary, Catch::StartsWith("## an earlier step\n\nits summary\n### lastmile gate: churn@1.0.0 → "
                                        "staging ❌\n"));
  CHECK_THAT(summary, Catch::Contains("| gate | result | detail |\n|---|---|---|\n"
                                      "| from sandbox | ✅ pass | has been in 'sandbox' |\n"
                                      "| auc >= 0.8 | ✅ pass | auc 0.85 >= 0.8 |\n"
                                      "| require owner, label:team | ❌ fail | missing owner, label:team |\n"));

  // A second step appends after the first; nothing is lost.
  CHECK(gate(sb, "churn@1.0.0", {"--format", "github"}, opts).rc == 1);
  const std::string twice = sb.read("summary.md");
  CHECK_THAT(twice, Catch::StartsWith(summary));
  CHECK(twice.size() > summary.size());

  // Content without a final newline still leaves the heading on a line of its own.
  sb.write("summary.md", "no newline at the end");
  CHECK(gate(sb, "churn@1.0.0", {"--format", "github"}, opts).rc == 1);
  CHECK_THAT(sb.read("summary.md"), Catch::StartsWith("no newline at the end\n### lastmile gate: "));

  // The text report escapes the newline and still lines the columns up.
  const auto text = gate(sb, "churn@1.0.0");
  CHECK_THAT(text.out, Catch::Contains("  ok    auc >= 0.8                      auc 0.85 >= 0.8\n"
                                       "  FAIL  require owner, label:team       missing owner, label:team\n"
                                       "  FAIL  file reports/v.json /a:b,c\\nd%  'reports/v.json' has no value "
                                       "at /a:b,c\\nd%\n"));

  // Other formats leave the summary alone.
  sb.write("summary.md", "untouched\n");
  CHECK(gate(sb, "churn@1.0.0", {"--format", "md"}, opts).rc == 1);
  CHECK(gate(sb, "churn@1.0.0", {}, opts).rc == 1);
  CHECK(sb.read("summary.md") == "untouched\n");
}

TEST_CASE("gate --format md is a Markdown table", "[e2e][gates]") {
  Sandbox sb;
  setup(sb, policy({"{metric: auc, min: 0.8}", "{file: \"reports/a|b.json\", pointer: /ok, equals: true}"}));
  register_churn(sb, "1.0.0", {"--metric", "auc=0.85"});
  const std::string digest = sb.run({"show", "churn@1.0.0", "--json"}).json()["digest"];
  sb.write("reports/a|b.json", R"({"ok": true})");
  auto r = gate(sb, "churn@1.0.0", {"--format", "md"});
  CHECK(r.rc == 0);
  CHECK(r.err.empty());
  CHECK(r.out ==
        "### lastmile gate: churn@1.0.0 → staging ✅\n\n" + digest +
            " · passed (3 of 3 gates)\n\n"
            "| gate | result | detail |\n"
            "|---|---|---|\n"
            "| from sandbox | ✅ pass | has been in 'sandbox' |\n"
            "| auc >= 0.8 | ✅ pass | auc 0.85 >= 0.8 |\n"
            "| file reports/a\\|b.json /ok | ✅ pass | /ok is true |\n");

  sb.write("reports/a|b.json", R"({"ok": false})");
  r = gate(sb, "churn@1.0.0", {"--format", "md"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.out, Catch::StartsWith("### lastmile gate: churn@1.0.0 → staging ❌\n\n" + digest +
                                      " · FAILED (1 of 3 gates failed)\n"));
  CHECK_THAT(r.out, Catch::Contains("| file reports/a\\|b.json /ok | ❌ fail | /ok is false, not true |\n"));
}

TEST_CASE("gate --output writes the report to FILE and the text report to stdout", "[e2e][gates]") {
  Sandbox sb;
  setup(sb, policy({"{metric: auc, min: 0.8}"}));
  register_churn(sb, "1.0.0", {"--metric", "auc=0.9"});
  const std::string text =
      "churn@1.0.0 → staging: passed (2 of 2 gates)\n"
      "  ok    from sandbox  has been in 'sandbox'\n"
      "  ok    auc >= 0.8    auc 0.9 >= 0.8\n";

  auto r = gate(sb, "churn@1.0.0", {"--format", "json", "--output", "out/report.json"});
  CHECK(r.rc == 0);
  CHECK(r.err.empty());
  CHECK(r.out == text);
  const auto j = nlohmann::json::parse(sb.read("out/report.json"));
  CHECK(j["passed"] == true);
  CHECK(j["gates"].size() == 2);

  // Relative to the directory lastmile runs in, like any path argument.
  fs::create_directories(sb.repo() / "sub");
  RunOptions in_sub;
  in_sub.cwd = sb.repo() / "sub";
  r = gate(sb, "churn@1.0.0", {"--format", "md", "--output", "report.md"}, in_sub);
  CHECK(r.rc == 0);
  CHECK(r.out == text);
  CHECK_THAT(sb.read("sub/report.md"), Catch::StartsWith("### lastmile gate: churn@1.0.0 → staging ✅\n"));

  r = gate(sb, "churn@1.0.0", {"--format", "junit", "--output", "report.xml"});
  CHECK(r.rc == 0);
  CHECK(r.out == text);
  CHECK_THAT(sb.read("report.xml"), Catch::StartsWith("<?xml"));

  // --json: stdout is the JSON document, the file keeps its format.
  r = gate(sb, "churn@1.0.0", {"--format", "junit", "--output", "report2.xml", "--json"});
  CHECK(r.rc == 0);
  CHECK(r.json()["passed"] == true);
  CHECK_THAT(sb.read("report2.xml"), Catch::StartsWith("<?xml"));

  // --json without --output overrides the format.
  r = gate(sb, "churn@1.0.0", {"--format", "github", "--json"});
  CHECK(r.rc == 0);
  CHECK(r.json()["name"] == "churn");
}

// ---------------------------------------------------------------------------
// Invalid policies and references

TEST_CASE("gate on a stage the policy does not have is not found and records nothing", "[e2e][gates][bad-input]") {
  Sandbox sb;
  setup(sb, policy({"{metric: auc, min: 0.8}"}));
  register_churn(sb, "1.0.0", {"--metric", "auc=0.9"});
  const long events = sb.event_count();
  auto r = sb.run({"gate", "churn@1.0.0", "--stage", "qa"});
  CHECK(r.rc == 66);
  CHECK(r.out.empty());
  CHECK(r.err ==
        "lastmile: error: no stage 'qa' in lastmile.yaml\n"
        "hint: the stages are: sandbox, staging, production\n");
  r = sb.run({"gate", "churn@9.9.9", "--stage", "staging"});
  CHECK(r.rc == 66);
  CHECK(r.out.empty());
  CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: "));
  CHECK_THAT(r.err, Catch::Contains("churn"));
  CHECK(sb.event_count() == events);
}

TEST_CASE("an invalid policy stops gate and promote with exit 78 and writes nothing", "[e2e][gates][bad-input]") {
  struct Case {
    const char* what;
    std::string yaml;
    std::string where;  // "lastmile.yaml:LINE:COLUMN: MESSAGE"
  };
  const std::string head = "stages:\n  - name: sandbox\n  - name: staging\n    from: [sandbox]\n    gates:\n";
  const std::vector<Case> cases = {
      {"a tab", head + "      - {metric: auc, min: 0.8}\n\t  - {max_size: 1MiB}\n",
       "lastmile.yaml:7:1: a tab is used for indentation"},
      {"a duplicate key", head + "      - {metric: auc, min: 0.8, min: 0.9}\n",
       "lastmile.yaml:6:33: duplicate key 'min' in a gate"},
      {"an unknown gate kind", head + "      - {metric: auc, min: 0.8}\n      - {bogus: 1}\n",
       "lastmile.yaml:7:9: unknown gate kind"},
      {"a threshold that is not a number", head + "      - {metric: auc, min: high}\n",
       "lastmile.yaml:6:28: min of 'auc' must be a number, got 'high'"},
      {"a command given as a string", head + "      - {command: \"./smoke.sh --fast\"}\n",
       "lastmile.yaml:6:19: a command gate is an argv list"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    Sandbox sb;
    setup(sb, policy({"{metric: auc, min: 0.8}"}));
    register_churn(sb, "1.0.0", {"--metric", "auc=0.9"});
    sb.write("lastmile.yaml", c.yaml);
    const long events = sb.event_count();
    const auto before = holders(sb);
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"gate", "churn@1.0.0", "--stage", "staging"},
          std::vector<std::string>{"gate", "churn@1.0.0", "--stage", "staging", "--format", "junit",
                                   "--output", "junit.xml"},
          std::vector<std::string>{"promote", "churn@1.0.0", "--to", "staging"},
          std::vector<std::string>{"promote", "churn@1.0.0", "--to", "staging", "--dry-run"}}) {
      INFO(args[0] << " " << args.size());
      const auto r = sb.run(args);
      CHECK(r.rc == 78);
      CHECK(r.out.empty());
      CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: invalid policy: " + c.where));
      CHECK_THAT(r.err, Catch::Contains("\nhint: 'lastmile policy check' lists every problem"));
    }
    CHECK(sb.event_count() == events);
    CHECK(holders(sb) == before);
    CHECK_FALSE(fs::exists(sb.repo() / "junit.xml"));
  }
}
