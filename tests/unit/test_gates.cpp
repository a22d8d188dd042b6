// Evaluating a stage's gates against a real registry.

#include <sys/stat.h>

#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "deploy/monitor.hpp"
#include "registry/core/error.hpp"
#include "registry/core/files.hpp"
#include "registry/gates.hpp"
#include "registry/policy.hpp"
#include "registry/promote.hpp"
#include "registry/register.hpp"
#include "registry/registry.hpp"
#include "tests/unit/helpers.hpp"

using namespace lm;
using lm::test::code_of;

namespace {

Registry open_registry(const RegistryLocation& location) {
  Registry::init(location, std::chrono::seconds(1));
  return Registry::open(location, std::chrono::seconds(1));
}

Policy policy_of(const std::string& yaml) {
  const PolicyLoad load = parse_policy(yaml, "lastmile.yaml");
  std::string problems;
  for (const auto& p : load.problems) {
    problems += std::to_string(p.line) + ":" + std::to_string(p.column) + ": " + p.message + "\n";
  }
  INFO(problems);
  REQUIRE(load.ok());
  return load.policy;
}

struct Fixture {
  test::TempDir dir;
  RegistryLocation location{dir / ".lastmile", true, false};
  Registry reg = open_registry(location);
  int artifacts = 0;

  RegisterRequest request(const std::string& name, const std::string& content = "") {
    RegisterRequest r;
    r.name = name;
    r.actor = "ada";
    r.cwd = dir.path();
    r.stage = "sandbox";
    const int n = artifacts++;
    r.path = dir.write("artifacts/" + std::to_string(n) + ".bin",
                       content.empty() ? "artifact number " + std::to_string(n) : content);
    return r;
  }

  VersionRecord add(const std::string& name, const Metrics& metrics = {}) {
    RegisterRequest r = request(name);
    r.metrics = metrics;
    return register_version(reg, r, nullptr).version;
  }

  VersionRecord add(const RegisterRequest& r) { return register_version(reg, r, nullptr).version; }

  Evaluation evaluate(const Policy& policy, const std::string& stage, const VersionRecord& v,
                      const std::optional<VersionRecord>& incumbent = std::nullopt) {
    const StageSpec* spec = policy.stage(stage);
    REQUIRE(spec != nullptr);
    return evaluate_gates(reg, policy, *spec, v, incumbent, GateSetting{dir.path()});
  }
};

// The outcomes of one kind, in order.
std::vector<GateOutcome> of_kind(const Evaluation& e, const std::string& kind) {
  std::vector<GateOutcome> out;
  for (const auto& g : e.gates) {
    if (g.kind == kind) out.push_back(g);
  }
  return out;
}

// "sandbox, then staging with these gates", each gate on its own line from
// line 6 on.
std::string staging_with(const std::vector<std::string>& gates) {
  std::string yaml =
      "stages:\n"
      "  - name: sandbox\n"
      "  - name: staging\n"
      "    from: [sandbox]\n"
      "    gates:\n";
  for (const auto& g : gates) yaml += "      - " + g + "\n";
  return yaml;
}

std::map<std::string, std::string> read_env_file(const fs::path& path) {
  std::map<std::string, std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

void make_executable(const fs::path& path) { REQUIRE(::chmod(path.c_str(), 0755) == 0); }

}  // namespace

TEST_CASE("metric min and max gates: the threshold itself passes", "[gates]") {
  Fixture f;
  const Policy p = policy_of(staging_with({"{metric: auc, min: 0.8}", "{metric: latency_ms, max: 40}"}));
  const VersionRecord at = f.add("churn", {{"auc", 0.8}, {"latency_ms", 40}});
  const Evaluation e = f.evaluate(p, "staging", at);
  const auto metrics = of_kind(e, "metric");
  REQUIRE(metrics.size() == 2);
  CHECK(metrics[0].passed);
  CHECK(metrics[0].gate == "auc >= 0.8");
  CHECK(metrics[0].message == "auc 0.8 >= 0.8");
  CHECK(metrics[0].measured == Json(0.8));
  CHECK(metrics[0].threshold == Json(0.8));
  CHECK(metrics[0].line == 6);
  CHECK(metrics[1].passed);
  CHECK(metrics[1].gate == "latency_ms <= 40");
  CHECK(metrics[1].message == "latency_ms 40 <= 40");
  CHECK(metrics[1].line == 7);
  CHECK(e.passed());
  CHECK(e.failures() == 0);
}

TEST_CASE("metric min and max gates: just past the threshold fails", "[gates]") {
  Fixture f;
  const Policy p = policy_of(staging_with({"{metric: auc, min: 0.8}", "{metric: latency_ms, max: 40}"}));
  const VersionRecord past = f.add("churn", {{"auc", 0.7999}, {"latency_ms", 40.001}});
  const Evaluation e = f.evaluate(p, "staging", past);
  const auto metrics = of_kind(e, "metric");
  REQUIRE(metrics.size() == 2);
  CHECK_FALSE(metrics[0].passed);
  CHECK(metrics[0].message == "auc 0.7999 < 0.8");
  CHECK_FALSE(metrics[1].passed);
  CHECK(metrics[1].message == "latency_ms 40.001 > 40");
  CHECK_FALSE(e.passed());
  CHECK(e.failures() == 2);
  REQUIRE(e.first_failure() != nullptr);
  CHECK(e.first_failure()->gate == "auc >= 0.8");
  // Well inside both bounds passes.
  const VersionRecord good = f.add("churn", {{"auc", 0.95}, {"latency_ms", 12}});
  CHECK(f.evaluate(p, "staging", good).passed());
}

TEST_CASE("a metric gate fails when the version lacks the metric", "[gates]") {
  Fixture f;
  const Policy p = policy_of(staging_with({"{metric: auc, min: 0.8}", "{metric: latency_ms, max: 40}"}));
  const VersionRecord v = f.add("churn", {{"other", 1}});
  const Evaluation e = f.evaluate(p, "staging", v);
  const auto metrics = of_kind(e, "metric");
  REQUIRE(metrics.size() == 2);
  CHECK_FALSE(metrics[0].passed);
  CHECK(metrics[0].message == "metric 'auc' is missing from 'churn@0.1.0'");
  CHECK(metrics[0].measured.is_null());
  CHECK(metrics[1].message == "metric 'latency_ms' is missing from 'churn@0.1.0'");
}

TEST_CASE("no_worse_than, better higher: the incumbent less the tolerance passes", "[gates]") {
  Fixture f;
  const Policy p = policy_of(staging_with({"{metric: auc, no_worse_than: incumbent, tolerance: 0.25}"}));
  const VersionRecord incumbent = f.add("churn", {{"auc", 0.75}});
  const auto check = [&](double auc, bool passes, const std::string& message) {
    INFO("auc " << auc);
    const VersionRecord v = f.add("churn", {{"auc", auc}});
    const auto g = of_kind(f.evaluate(p, "staging", v, incumbent), "no_worse_than");
    REQUIRE(g.size() == 1);
    CHECK(g[0].passed == passes);
    CHECK(g[0].message == message);
    CHECK(g[0].measured == Json(auc));
    CHECK(g[0].threshold == Json(0.5));
  };
  check(0.9, true, "auc 0.9 vs 0.75 of churn@0.1.0 (tolerance 0.25)");
  check(0.75, true, "auc 0.75 vs 0.75 of churn@0.1.0 (tolerance 0.25)");
  check(0.5, true, "auc 0.5 vs 0.75 of churn@0.1.0 (tolerance 0.25)");
  check(0.4999, false, "auc 0.4999 vs 0.75 of churn@0.1.0 (tolerance 0.25): lower");
}

TEST_CASE("no_worse_than, better lower: the incumbent plus the tolerance passes", "[gates]") {
  Fixture f;
  const Policy p = policy_of(
      staging_with({"{metric: loss, no_worse_than: incumbent, better: lower, tolerance: 0.25}"}));
  const VersionRecord incumbent = f.add("churn", {{"loss", 0.5}});
  const auto check = [&](double loss, bool passes, const std::string& message) {
    INFO("loss " << loss);
    const VersionRecord v = f.add("churn", {{"loss", loss}});
    const auto g = of_kind(f.evaluate(p, "staging", v, incumbent), "no_worse_than");
    REQUIRE(g.size() == 1);
    CHECK(g[0].passed == passes);
    CHECK(g[0].message == message);
    CHECK(g[0].threshold == Json(0.75));
  };
  check(0.1, true, "loss 0.1 vs 0.5 of churn@0.1.0 (tolerance 0.25)");
  check(0.75, true, "loss 0.75 vs 0.5 of churn@0.1.0 (tolerance 0.25)");
  check(0.7501, false, "loss 0.7501 vs 0.5 of churn@0.1.0 (tolerance 0.25): higher");
}

TEST_CASE("no_worse_than without a tolerance: equal passes, any worse fails", "[gates]") {
  Fixture f;
  const Policy p = policy_of(staging_with({"{metric: auc, no_worse_than: incumbent}"}));
  const VersionRecord incumbent = f.add("churn", {{"auc", 0.9}});
  const VersionRecord equal = f.add("churn", {{"auc", 0.9}});
  const VersionRecord worse = f.add("churn", {{"auc", 0.8999}});
  const auto same = of_kind(f.evaluate(p, "staging", equal, incumbent), "no_worse_than");
  REQUIRE(same.size() == 1);
  CHECK(same[0].passed);
  CHECK(same[0].message == "auc 0.9 vs 0.9 of churn@0.1.0");
  const auto lower = of_kind(f.evaluate(p, "staging", worse, incumbent), "no_worse_than");
  REQUIRE(lower.size() == 1);
  CHECK_FALSE(lower[0].passed);
  CHECK(lower[0].message == "auc 0.8999 vs 0.9 of churn@0.1.0: lower");
}

TEST_CASE("no_worse_than at a decimal tolerance boundary passes", "[gates]") {
  // registry/gates.cpp no_worse_than() computes the bound as incumbent -
  // tolerance (or + tolerance) in binary floating point: 0.8 - 0.1 is
  // 0.7000000000000001, so a candidate of exactly 0.7 fails "auc 0.7 vs 0.8
  // (tolerance 0.1): lower", and 0.1 + 0.7 is 0.7999999999999999, so a loss
  // of 0.8 fails "higher". The boundary should pass, as min/max gates do.
  Fixture f;
  const Policy p = policy_of(staging_with(
      {"{metric: auc, no_worse_than: incumbent, tolerance: 0.1}",
       "{metric: loss, no_worse_than: incumbent, better: lower, tolerance: 0.7}"}));
  const VersionRecord incumbent = f.add("churn", {{"auc", 0.8}, {"loss", 0.1}});
  const VersionRecord v = f.add("churn", {{"auc", 0.7}, {"loss", 0.8}});
  const auto g = of_kind(f.evaluate(p, "staging", v, incumbent), "no_worse_than");
  REQUIRE(g.size() == 2);
  CHECK(g[0].passed);
  CHECK(g[0].message == "auc 0.7 vs 0.8 of churn@0.1.0 (tolerance 0.1)");
  CHECK(g[1].passed);
  CHECK(g[1].message == "loss 0.8 vs 0.1 of churn@0.1.0 (tolerance 0.7)");
}

TEST_CASE("no_worse_than passes against an empty stage or an incumbent without the metric", "[gates]") {
  Fixture f;
  const Policy p = policy_of(staging_with({"{metric: auc, no_worse_than: incumbent, tolerance: 0.01}"}));
  const VersionRecord bare = f.add("churn", {{"loss", 0.3}});
  const VersionRecord v = f.add("churn", {{"auc", 0.1}});
  const auto empty = of_kind(f.evaluate(p, "staging", v, std::nullopt), "no_worse_than");
  REQUIRE(empty.size() == 1);
  CHECK(empty[0].passed);
  CHECK(empty[0].message == "the stage holds no version of 'churn' yet");
  CHECK(empty[0].threshold.is_null());
  const auto without = of_kind(f.evaluate(p, "staging", v, bare), "no_worse_than");
  REQUIRE(without.size() == 1);
  CHECK(without[0].passed);
  CHECK(without[0].message == "the incumbent 'churn@0.1.0' has no 'auc'");
  // The candidate without the metric fails, incumbent or not.
  const auto missing = of_kind(f.evaluate(p, "staging", bare, v), "no_worse_than");
  REQUIRE(missing.size() == 1);
  CHECK_FALSE(missing[0].passed);
  CHECK(missing[0].message == "metric 'auc' is missing from 'churn@0.1.0'");
  const auto missing_empty = of_kind(f.evaluate(p, "staging", bare, std::nullopt), "no_worse_than");
  REQUIRE(missing_empty.size() == 1);
  CHECK_FALSE(missing_empty[0].passed);
}

TEST_CASE("require checks owner, description, labels, params and metrics", "[gates]") {
  Fixture f;
  const Policy p = policy_of(
      staging_with({"{require: [owner, description, 'label:team', 'param:lr', 'metric:auc']}"}));
  RegisterRequest full = f.request("churn");
  full.owner = "ml-team";
  full.description = "the churn model";
  full.labels = {{"team", "growth"}};
  full.params = {{"lr", "0.01"}};
  full.metrics = {{"auc", 0.9}};
  const VersionRecord all = f.add(full);
  const auto ok = of_kind(f.evaluate(p, "staging", all), "require");
  REQUIRE(ok.size() == 1);
  CHECK(ok[0].passed);
  CHECK(ok[0].message == "has 5 of 5 required fields");
  CHECK(ok[0].measured == Json::array());
  CHECK(ok[0].threshold == Json({"owner", "description", "label:team", "param:lr", "metric:auc"}));

  // Each field on its own: the others present, that one missing.
  const std::vector<std::string> fields = {"owner", "description", "label:team", "param:lr",
                                           "metric:auc"};
  for (const auto& field : fields) {
    INFO(field);
    RegisterRequest r = f.request("churn");
    if (field != "owner") r.owner = "ml-team";
    if (field != "description") r.description = "the churn model";
    // A key of another kind with the same name does not count.
    r.labels = {{field == "label:team" ? "lr" : "team", "growth"}};
    r.params = {{field == "param:lr" ? "team" : "lr", "0.01"}};
    r.metrics = {{field == "metric:auc" ? "lr" : "auc", 0.9}};
    if (field == "label:team") r.params["team"] = "x";
    if (field == "param:lr") r.labels["lr"] = "x";
    if (field == "metric:auc") r.labels["auc"] = "x";
    const auto g = of_kind(f.evaluate(p, "staging", f.add(r)), "require");
    REQUIRE(g.size() == 1);
    CHECK_FALSE(g[0].passed);
    CHECK(g[0].message == "missing " + field);
    CHECK(g[0].measured == Json::array({field}));
  }

  const VersionRecord none = f.add("churn");
  const auto missing = of_kind(f.evaluate(p, "staging", none), "require");
  REQUIRE(missing.size() == 1);
  CHECK_FALSE(missing[0].passed);
  CHECK(missing[0].message == "missing owner, description, label:team, param:lr, metric:auc");
}

TEST_CASE("max_size: the limit itself passes, a byte more fails", "[gates]") {
  Fixture f;
  const Policy p = policy_of(staging_with({"{max_size: 10}"}));
  const VersionRecord ten = f.add(f.request("churn", "0123456789"));
  const VersionRecord eleven = f.add(f.request("churn", "0123456789a"));
  REQUIRE(ten.size == 10);
  const auto ok = of_kind(f.evaluate(p, "staging", ten), "max_size");
  REQUIRE(ok.size() == 1);
  CHECK(ok[0].passed);
  CHECK(ok[0].gate == "size <= 10 bytes");
  CHECK(ok[0].message == "size 10 B <= 10 B");
  CHECK(ok[0].measured == Json(10));
  const auto big = of_kind(f.evaluate(p, "staging", eleven), "max_size");
  REQUIRE(big.size() == 1);
  CHECK_FALSE(big[0].passed);
  CHECK(big[0].message == "size 11 B > 10 B");
}

TEST_CASE("file gates: equals, min and max against a JSON report", "[gates]") {
  Fixture f;
  const Policy p = policy_of(staging_with({
      "{file: reports/v.json, pointer: /success, equals: true}",
      "{file: reports/v.json, pointer: /score, min: 0.5, max: 0.9}",
      "{file: reports/v.json, pointer: /nested/count, equals: 3}",
      "{file: reports/v.json, pointer: /status, equals: ok}",
      "{file: reports/v.json, pointer: /items/1, min: 2}",
  }));
  const VersionRecord v = f.add("churn");
  const auto run = [&](const std::string& report) {
    f.dir.write("reports/v.json", report);
    return of_kind(f.evaluate(p, "staging", v), "file");
  };
  auto g = run(R"({"success": true, "score": 0.5, "nested": {"count": 3}, "status": "ok", "items": [1, 2]})");
  REQUIRE(g.size() == 5);
  for (const auto& o : g) {
    INFO(o.gate << ": " << o.message);
    CHECK(o.passed);
  }
  CHECK(g[0].gate == "file reports/v.json /success");
  CHECK(g[0].message == "/success is true");
  CHECK(g[0].threshold == Json(true));
  CHECK(g[1].message == "/score is 0.5");
  CHECK(g[1].threshold == Json({{"min", 0.5}, {"max", 0.9}}));
  CHECK(g[2].message == "/nested/count is 3");
  CHECK(g[3].message == "/status is \"ok\"");

  g = run(R"({"success": true, "score": 0.9, "nested": {"count": 3.0}, "status": "ok", "items": [1, 2.5]})");
  REQUIRE(g.size() == 5);
  CHECK(g[1].passed);  // the max itself
  CHECK(g[2].passed);  // 3.0 equals 3

  g = run(R"({"success": false, "score": 0.4999, "nested": {"count": 4}, "status": "OK", "items": [1, 1.9]})");
  REQUIRE(g.size() == 5);
  for (const auto& o : g) CHECK_FALSE(o.passed);
  CHECK(g[0].message == "/success is false, not true");
  CHECK(g[0].measured == Json(false));
  CHECK(g[1].message == "/score is 0.4999 < 0.5");
  CHECK_THAT(g[2].message, Catch::StartsWith("/nested/count is 4, not 3"));
  CHECK(g[3].message == "/status is \"OK\", not \"ok\"");
  CHECK(g[4].message == "/items/1 is 1.9 < 2");

  g = run(R"({"success": "true", "score": 0.95, "nested": {"count": "3"}, "status": 1, "items": [1, "2"]})");
  REQUIRE(g.size() == 5);
  for (const auto& o : g) CHECK_FALSE(o.passed);
  CHECK(g[0].message == "/success is \"true\", not true");
  CHECK(g[1].message == "/score is 0.95 > 0.9");
  CHECK(g[4].message == "/items/1 is \"2\", not a number");
}

TEST_CASE("file gates fail on a missing file, bad JSON and a missing pointer", "[gates]") {
  Fixture f;
  const Policy p = policy_of(staging_with({
      "{file: reports/v.json, pointer: /success, equals: true}",
      "{file: reports/v.json, pointer: /a/b, min: 1}",
  }));
  const VersionRecord v = f.add("churn");

  auto g = of_kind(f.evaluate(p, "staging", v), "file");
  REQUIRE(g.size() == 2);
  CHECK_FALSE(g[0].passed);
  CHECK_THAT(g[0].message, Catch::StartsWith("cannot read the report 'reports/v.json'"));
  CHECK(g[0].measured.is_null());

  f.dir.write("reports/v.json", "{\"success\": tru");
  g = of_kind(f.evaluate(p, "staging", v), "file");
  REQUIRE(g.size() == 2);
  CHECK_FALSE(g[0].passed);
  CHECK_THAT(g[0].message, Catch::Contains("malformed JSON") && Catch::Contains("reports/v.json"));

  f.dir.write("reports/v.json", R"({"a": {"c": 2}, "other": true})");
  g = of_kind(f.evaluate(p, "staging", v), "file");
  REQUIRE(g.size() == 2);
  CHECK_FALSE(g[0].passed);
  CHECK(g[0].message == "'reports/v.json' has no value at /success");
  CHECK_FALSE(g[1].passed);
  CHECK(g[1].message == "'reports/v.json' has no value at /a/b");

  // A pointer through a value that is not a container.
  f.dir.write("reports/v.json", R"({"success": 1, "a": 5})");
  g = of_kind(f.evaluate(p, "staging", v), "file");
  REQUIRE(g.size() == 2);
  CHECK_FALSE(g[1].passed);
  CHECK(g[1].message == "'reports/v.json' has no value at /a/b");
}

TEST_CASE("a file gate pointer with an out-of-range array index is a missing value", "[gates]") {
  // registry/gates.cpp file_report() calls Json::contains(json_pointer),
  // which throws nlohmann out_of_range for an array index too large for
  // strtoull: the exception escapes evaluate_gates() instead of the gate
  // failing with "has no value at ...".
  Fixture f;
  const Policy p = policy_of(staging_with({"{file: reports/v.json, pointer: /items/99999999999999999999999, min: 1}"}));
  const VersionRecord v = f.add("churn");
  f.dir.write("reports/v.json", R"({"items": [1, 2, 3]})");
  std::vector<GateOutcome> g;
  REQUIRE_NOTHROW(g = of_kind(f.evaluate(p, "staging", v), "file"));
  REQUIRE(g.size() == 1);
  CHECK_FALSE(g[0].passed);
  CHECK(g[0].message == "'reports/v.json' has no value at /items/99999999999999999999999");
}

TEST_CASE("command gates: the exit status decides and the output is captured", "[gates]") {
  Fixture f;
  make_executable(f.dir.write("gate.sh",
                              "#!/bin/sh\n"
                              "echo \"to stdout $1\"\n"
                              "echo \"to stderr\" >&2\n"
                              "exit \"$1\"\n"));
  const Policy p = policy_of(staging_with({"{command: [./gate.sh, '0']}", "{command: [./gate.sh, '3']}",
                                           "{command: [./no-such-gate.sh]}"}));
  const VersionRecord v = f.add("churn");
  const Evaluation e = f.evaluate(p, "staging", v);
  const auto g = of_kind(e, "command");
  REQUIRE(g.size() == 3);
  CHECK(g[0].passed);
  CHECK(g[0].gate == "command ./gate.sh 0");
  CHECK(g[0].message == "exit status 0");
  CHECK(g[0].measured == Json(0));
  CHECK(g[0].output == "to stdout 0\nto stderr\n");
  CHECK(g[0].seconds >= 0);
  CHECK(g[0].line == 6);
  CHECK_FALSE(g[1].passed);
  CHECK(g[1].message == "exit status 3");
  CHECK(g[1].measured == Json(3));
  CHECK(g[1].output == "to stdout 3\nto stderr\n");
  CHECK_FALSE(g[2].passed);
  CHECK_THAT(g[2].message, Catch::Contains("no-such-gate.sh") && Catch::Contains("not found"));
  CHECK_FALSE(e.passed());
  CHECK(e.failures() == 2);
}

TEST_CASE("command gates see LASTMILE_* and the materialised artifact, removed afterwards", "[gates]") {
  Fixture f;
  make_executable(f.dir.write("dump.sh",
                              "#!/bin/sh\n"
                              "env | grep '^LASTMILE_' > env.txt\n"
                              "cat \"$LASTMILE_ARTIFACT\" > artifact-copy.bin || exit 9\n"
                              "ls \"$LASTMILE_ARTIFACT_DIR\" > artifact-dir.txt\n"
                              "exit 0\n"));
  const Policy p = policy_of(staging_with({"{command: [./dump.sh]}"}));
  const VersionRecord incumbent = f.add("churn", {{"auc", 0.5}});
  RegisterRequest r = f.request("churn", "the model's bytes\n\x01\x02");
  r.metrics = {{"auc", 0.91}, {"loss", 0.25}};
  r.owner = "ml-team";
  const VersionRecord v = f.add(r);
  const Evaluation e = f.evaluate(p, "staging", v, incumbent);
  const auto g = of_kind(e, "command");
  REQUIRE(g.size() == 1);
  INFO(g[0].message << "\n" << g[0].output);
  REQUIRE(g[0].passed);

  const auto env = read_env_file(f.dir / "env.txt");
  CHECK(env.at("LASTMILE_NAME") == "churn");
  CHECK(env.at("LASTMILE_VERSION") == "0.2.0");
  CHECK(env.at("LASTMILE_REF") == "churn@0.2.0");
  CHECK(env.at("LASTMILE_DIGEST") == v.digest);
  CHECK(env.at("LASTMILE_STAGE") == "staging");
  CHECK(env.at("LASTMILE_OWNER") == "ml-team");
  CHECK(env.at("LASTMILE_SIZE") == std::to_string(v.size));
  CHECK(env.at("LASTMILE_INCUMBENT") == "churn@0.1.0");
  CHECK(env.at("LASTMILE_REGISTRY") == f.reg.dir().string());
  CHECK(env.count("LASTMILE_FORMAT") == 1);
  CHECK(env.count("LASTMILE_GIT_COMMIT") == 1);
  CHECK(Json::parse(env.at("LASTMILE_METRICS")) == Json({{"auc", 0.91}, {"loss", 0.25}}));

  // The artifact was there with the registered bytes, inside the directory.
  CHECK(read_file(f.dir / "artifact-copy.bin") == "the model's bytes\n\x01\x02");
  const fs::path artifact = env.at("LASTMILE_ARTIFACT");
  const fs::path artifact_dir = env.at("LASTMILE_ARTIFACT_DIR");
  CHECK(artifact.parent_path() == artifact_dir);
  CHECK(read_file(f.dir / "artifact-dir.txt") == artifact.filename().string() + "\n");
  // ...and is gone now, with the temporary directory around it.
  CHECK_FALSE(fs::exists(artifact));
  CHECK_FALSE(fs::exists(artifact_dir));
  CHECK_FALSE(fs::exists(artifact_dir.parent_path()));

  // Without an incumbent, LASTMILE_INCUMBENT is empty.
  f.evaluate(p, "staging", v, std::nullopt);
  CHECK(read_env_file(f.dir / "env.txt").at("LASTMILE_INCUMBENT") == "");
}

TEST_CASE("approvals count distinct actors, and not the registrant when the policy says so", "[gates]") {
  Fixture f;
  const std::string stages =
      "stages:\n"
      "  - name: sandbox\n"
      "  - name: staging\n"
      "    from: [sandbox]\n";
  const Policy anyone = policy_of(stages + "    approvals: {count: 2}\n");
  const Policy others = policy_of(stages + "    approvals: {count: 2, distinct_from_registrant: true}\n");
  const VersionRecord v = f.add("churn");  // registered by ada
  REQUIRE(v.registered_by == "ada");

  const auto approvals = [&](const Policy& p) {
    const auto g = of_kind(f.evaluate(p, "staging", v), "approvals");
    REQUIRE(g.size() == 1);
    return g[0];
  };
  auto g = approvals(anyone);
  CHECK_FALSE(g.passed);
  CHECK(g.gate == "approvals >= 2");
  CHECK(g.message == "0 of 2 approvals");
  CHECK(g.line == 3);

  const auto approve_as = [&](const Policy& p, const std::string& actor) {
    ApproveRequest r;
    r.ref = parse_ref(v.ref());
    r.stage = "staging";
    r.actor = actor;
    r.comment = "looks good";
    return approve(f.reg, p, r);
  };
  CHECK(approve_as(anyone, "bob").recorded);
  CHECK_FALSE(approve_as(anyone, "bob").recorded);  // the same actor again
  g = approvals(anyone);
  CHECK_FALSE(g.passed);
  CHECK(g.message == "1 of 2 approvals (bob)");
  CHECK(g.measured == Json({"bob"}));

  CHECK(approve_as(anyone, "ada").recorded);  // the registrant, where the policy allows it
  g = approvals(anyone);
  CHECK(g.passed);
  CHECK(g.message == "2 of 2 approvals (bob, ada)");

  // The stricter policy does not count ada's approval.
  g = approvals(others);
  CHECK_FALSE(g.passed);
  CHECK(g.gate == "approvals >= 2 (not the registrant)");
  CHECK(g.message == "1 of 2 approvals (bob)");
  CHECK(code_of([&] { approve_as(others, "ada"); }) == ExitCode::check_failed);
  const auto carol = approve_as(others, "carol");
  CHECK(carol.recorded);
  CHECK(carol.counted == 2);
  CHECK(carol.required == 2);
  g = approvals(others);
  CHECK(g.passed);
  CHECK(g.message == "2 of 2 approvals (bob, carol)");
  CHECK(g.threshold == Json(2));

  // Approvals are per stage: another stage's approvals do not count.
  const Policy prod = policy_of(stages +
                                "  - name: production\n"
                                "    from: [staging]\n"
                                "    approvals: {count: 1}\n");
  const auto pg = of_kind(f.evaluate(prod, "production", v), "approvals");
  REQUIRE(pg.size() == 1);
  CHECK_FALSE(pg[0].passed);
  CHECK(pg[0].message == "0 of 1 approvals");
}

TEST_CASE("check_entry refuses a version that has not been in a from stage", "[gates]") {
  Fixture f;
  const Policy p = policy_of(
      "stages:\n"
      "  - name: sandbox\n"
      "  - name: staging\n"
      "    from: [sandbox]\n"
      "  - name: production\n"
      "    from: [staging]\n");
  const VersionRecord v = f.add("churn");
  CHECK_FALSE(check_entry(f.reg.db(), p, *p.stage("sandbox"), v).has_value());  // the first stage

  const auto staging = check_entry(f.reg.db(), p, *p.stage("staging"), v);
  REQUIRE(staging.has_value());
  CHECK(staging->passed);
  CHECK(staging->kind == "from");
  CHECK(staging->gate == "from sandbox");
  CHECK(staging->message == "has been in 'sandbox'");
  CHECK(staging->measured == Json("sandbox"));

  const auto production = check_entry(f.reg.db(), p, *p.stage("production"), v);
  REQUIRE(production.has_value());
  CHECK_FALSE(production->passed);
  CHECK(production->line == 5);
  CHECK(production->message ==
        "'churn@0.1.0' has not been in 'staging'; the path to 'production' is "
        "sandbox → staging → production");

  // evaluate_gates puts the entry check first and fails on it.
  const Evaluation e = f.evaluate(p, "production", v);
  REQUIRE(e.gates.size() == 1);
  CHECK(e.gates[0].kind == "from");
  CHECK_FALSE(e.passed());

  // A version registered without a landing stage has been nowhere.
  RegisterRequest r = f.request("churn");
  r.stage.clear();
  const VersionRecord nowhere = f.add(r);
  const auto refused = check_entry(f.reg.db(), p, *p.stage("staging"), nowhere);
  REQUIRE(refused.has_value());
  CHECK_FALSE(refused->passed);

  // Once promoted to staging, production may be entered.
  PromoteRequest pr;
  pr.ref = parse_ref(v.ref());
  pr.stage = "staging";
  pr.reason = "test";
  pr.actor = "ada";
  pr.setting.project_root = f.dir.path();
  REQUIRE(promote(f.reg, p, pr).promoted);
  const auto after = check_entry(f.reg.db(), p, *p.stage("production"), v);
  REQUIRE(after.has_value());
  CHECK(after->passed);
}

TEST_CASE("check_entry with several from stages takes any of them", "[gates]") {
  Fixture f;
  const Policy p = policy_of(
      "stages:\n"
      "  - name: dev\n"
      "  - name: qa\n"
      "    from: [dev]\n"
      "  - name: canary\n"
      "    from: [dev]\n"
      "  - name: production\n"
      "    from: [qa, canary]\n");
  RegisterRequest r = f.request("churn");
  r.stage = "dev";
  const VersionRecord v = f.add(r);
  const auto refused = check_entry(f.reg.db(), p, *p.stage("production"), v);
  REQUIRE(refused.has_value());
  CHECK_FALSE(refused->passed);
  CHECK(refused->gate == "from qa or canary");
  CHECK_THAT(refused->message, Catch::Contains("has not been in 'qa or canary'"));
  PromoteRequest pr;
  pr.ref = parse_ref(v.ref());
  pr.stage = "canary";
  pr.reason = "test";
  pr.actor = "ada";
  REQUIRE(promote(f.reg, p, pr).promoted);
  const auto entered = check_entry(f.reg.db(), p, *p.stage("production"), v);
  REQUIRE(entered.has_value());
  CHECK(entered->passed);
  CHECK(entered->message == "has been in 'canary'");
}

TEST_CASE("stage_path follows the from lists back to the first stage, shortest first", "[gates]") {
  const Policy p = policy_of(
      "stages:\n"
      "  - name: dev\n"
      "  - name: production\n"
      "    from: [staging, canary]\n"
      "  - name: qa\n"
      "    from: [dev]\n"
      "  - name: staging\n"
      "    from: [qa]\n"
      "  - name: canary\n"
      "    from: [staging, qa]\n"
      "  - name: hotfix\n"
      "    from: [production, dev]\n");
  CHECK(stage_path(p, "dev") == "dev");
  CHECK(stage_path(p, "qa") == "dev → qa");
  CHECK(stage_path(p, "staging") == "dev → qa → staging");
  // canary is reachable from staging (3 stages) and from qa (2): the shorter.
  CHECK(stage_path(p, "canary") == "dev → qa → canary");
  CHECK(stage_path(p, "production") == "dev → qa → staging → production");
  CHECK(stage_path(p, "hotfix") == "dev → hotfix");
  CHECK(stage_path(p, "nowhere") == "nowhere");
  CHECK(stage_path(default_policy(), "production") == "sandbox → staging → production");
}

TEST_CASE("evaluation_json carries the version, verdict and every gate", "[gates]") {
  Fixture f;
  make_executable(f.dir.write("ok.sh", "#!/bin/sh\necho fine\n"));
  const Policy p = policy_of(staging_with({"{metric: auc, min: 0.8}", "{command: [./ok.sh]}"}));
  const VersionRecord incumbent = f.add("churn", {{"auc", 0.85}});
  const VersionRecord v = f.add("churn", {{"auc", 0.7}});
  const Evaluation e = f.evaluate(p, "staging", v, incumbent);
  const Json j = evaluation_json(e);
  std::set<std::string> keys;
  for (const auto& [key, value] : j.items()) keys.insert(key);
  CHECK(keys == std::set<std::string>{"name", "version", "digest", "stage", "passed", "incumbent", "gates"});
  CHECK(j.at("name") == "churn");
  CHECK(j.at("version") == "0.2.0");
  CHECK(j.at("digest") == v.digest);
  CHECK(j.at("stage") == "staging");
  CHECK(j.at("passed") == false);
  CHECK(j.at("incumbent") == "0.1.0");
  REQUIRE(j.at("gates").size() == 3);  // from, metric, command
  const std::set<std::string> gate_keys = {"gate", "kind",     "passed",    "message",
                                           "measured", "threshold", "seconds", "line"};
  for (const auto& g : j.at("gates")) {
    std::set<std::string> have;
    for (const auto& [key, value] : g.items()) have.insert(key);
    std::set<std::string> want = gate_keys;
    if (g.at("kind") == "command") want.insert("output");
    CHECK(have == want);
  }
  CHECK(j.at("gates")[0].at("kind") == "from");
  CHECK(j.at("gates")[1].at("message") == "auc 0.7 < 0.8");
  CHECK(j.at("gates")[1].at("line") == 6);
  CHECK(j.at("gates")[2].at("output") == "fine\n");
  // Without an incumbent it is null.
  CHECK(evaluation_json(f.evaluate(p, "staging", v)).at("incumbent").is_null());
}

namespace {

// Ten numeric columns c0..c9 holding 1..200; the first `shifted` columns
// moved past the reference's range, so each of them has a PSI far above
// any threshold and the others exactly 0.
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

// A version with a reference profile, measured through deploy/ as
// 'lastmile drift' does.
struct DriftFixture : Fixture {
  VersionRecord v = add("churn");
  int files = 0;

  DriftFixture() {
    deploy::ProfileRequest request;
    request.ref = parse_ref(v.ref());
    request.data = deploy::DataFile{dir.write("train.csv", ten_columns(0)), "train.csv"};
    request.actor = "ada";
    deploy::record_profile(reg, request);
  }

  std::int64_t measure(int shifted, const std::optional<std::string>& environment) {
    deploy::DriftRequest request;
    request.ref = parse_ref(v.ref());
    const std::string name = "current" + std::to_string(files++) + ".csv";
    request.current = deploy::DataFile{dir.write(name, ten_columns(shifted)), name};
    request.environment = environment;
    request.actor = "ada";
    return deploy::record_drift(reg, request).event_seq;
  }

  GateOutcome drift_gate(const std::string& gate, const std::string& extra = "") {
    const Evaluation e = evaluate(policy_of(staging_with({gate}) + extra), "staging", v);
    const auto drift = of_kind(e, "drift");
    REQUIRE(drift.size() == 1);
    return drift[0];
  }
};

}  // namespace

TEST_CASE("a drift gate without a measurement fails and says what to run", "[gates][drift]") {
  DriftFixture f;
  const GateOutcome o = f.drift_gate("{drift: {}}");
  CHECK_FALSE(o.passed);
  CHECK(o.gate == "drift: at most 30% of columns with PSI > 0.2");
  CHECK(o.line == 6);
  CHECK(o.message == "no drift measurement of '" + f.v.ref() + "'; run 'lastmile drift " + f.v.ref() +
                         " --current FILE --env staging'");
  CHECK(o.measured.is_null());
  CHECK(o.threshold == Json{{"max_psi", 0.2}, {"max_share", 0.3}});
}

TEST_CASE("a drift gate passes up to max_share of drifting columns, not past it", "[gates][drift]") {
  DriftFixture f;
  const std::int64_t on_limit = f.measure(3, "staging");
  GateOutcome o = f.drift_gate("{drift: {}}");
  INFO(o.message);
  CHECK(o.passed);  // 3 of 10 is on the limit of 0.3
  CHECK_THAT(o.message, Catch::StartsWith("3 of 10 columns (30%) past PSI 0.2, at most 30%; worst 'c0' PSI "));
  CHECK_THAT(o.message, Catch::EndsWith("event " + std::to_string(on_limit)));
  CHECK_THAT(o.message, !Catch::Contains("of data from"));
  CHECK(o.measured.at("drifted_columns") == 3);
  CHECK(o.measured.at("columns") == 10);
  CHECK(o.measured.at("worst_column") == "c0");
  CHECK(o.measured.at("max_psi").get<double>() > 1);
  CHECK(o.measured.at("event") == on_limit);
  CHECK(o.measured.at("environment") == "staging");
  CHECK_FALSE(f.drift_gate("{drift: {max_share: 0.29}}").passed);
  // A PSI limit above every column's: nothing drifts.
  o = f.drift_gate("{drift: {max_psi: 1000, max_share: 0}}");
  CHECK(o.passed);
  CHECK_THAT(o.message, Catch::StartsWith("0 of 10 columns (0%) past PSI 1000, at most 0%;"));

  const std::int64_t past = f.measure(4, "staging");
  o = f.drift_gate("{drift: {}}");
  CHECK_FALSE(o.passed);
  CHECK_THAT(o.message, Catch::StartsWith("4 of 10 columns (40%) past PSI 0.2, more than 30%;"));
  CHECK(o.measured.at("event") == past);
  // A gate leaving max_share out takes it from the policy's drift: section.
  CHECK(f.drift_gate("{drift: {}}", "drift: {max_share: 0.5}\n").passed);
  CHECK_FALSE(f.drift_gate("{drift: {max_share: 0.3}}", "drift: {max_share: 0.5}\n").passed);
}

TEST_CASE("a drift gate uses the latest measurement, of the stage's data when there is one", "[gates][drift]") {
  DriftFixture f;
  f.measure(5, std::nullopt);
  GateOutcome o = f.drift_gate("{drift: {}}");
  CHECK_FALSE(o.passed);
  CHECK_THAT(o.message, Catch::Contains("of data from no named environment"));

  const std::int64_t clean = f.measure(0, "staging");
  o = f.drift_gate("{drift: {}}");
  CHECK(o.passed);
  CHECK(o.measured.at("event") == clean);
  // Later drifted data from elsewhere does not count while the stage has its own.
  f.measure(10, "production");
  o = f.drift_gate("{drift: {}}");
  CHECK(o.passed);
  CHECK(o.measured.at("event") == clean);
  // A later drifted measurement of the stage's data blocks again.
  f.measure(6, "staging");
  CHECK_FALSE(f.drift_gate("{drift: {}}").passed);
}

TEST_CASE("a drift gate falls back to data from another environment and names it", "[gates][drift]") {
  DriftFixture f;
  const std::int64_t seq = f.measure(1, "production");
  const GateOutcome o = f.drift_gate("{drift: {}}");
  CHECK(o.passed);
  CHECK(o.measured.at("event") == seq);
  CHECK_THAT(o.message, Catch::EndsWith("event " + std::to_string(seq) + ", of data from 'production'"));
}
