// lastmile policy check, and what the policy changes elsewhere (diff).

#include <catch2/catch.hpp>

#include "tests/e2e/sandbox.hpp"

using lm::test::Sandbox;

TEST_CASE("policy check without a lastmile.yaml reports the default", "[e2e][policy]") {
  Sandbox sb;
  const auto r = sb.run({"policy", "check"});
  CHECK(r.rc == 0);
  CHECK(r.out == "no lastmile.yaml: the default policy applies (sandbox → staging → production, no gates)\n");
  const auto j = sb.run({"policy", "check", "--json"}).json();
  CHECK(j["exists"] == false);
  CHECK(j["ok"] == true);
  CHECK(j["stages"].size() == 3);
}

TEST_CASE("policy check reports every problem and exits 78", "[e2e][policy][bad-input]") {
  Sandbox sb;
  sb.write("lastmile.yaml",
           "stages:\n"
           "  - name: sandbox\n"
           "  - name: staging\n"
           "    from: [sandbox]\n"
           "    gates:\n"
           "      - {metric: auc, min: high}\n"
           "      - {command: \"./smoke.sh\"}\n"
           "      - {frobnicate: 1}\n"
           "  - name: production\n"
           "    from: [nowhere]\n");
  const auto r = sb.run({"policy", "check"});
  CHECK(r.rc == 78);
  CHECK(r.out ==
        "lastmile.yaml:6:28: min of 'auc' must be a number, got 'high'\n"
        "lastmile.yaml:7:19: a command gate is an argv list such as [\"./smoke.sh\", \"--fast\"], not a "
        "string: it never runs through a shell\n"
        "lastmile.yaml:8:9: unknown gate kind: a gate has metric, require, max_size, command, file or drift\n"
        "lastmile.yaml:8:10: unknown key 'frobnicate' in a gate\n"
        "lastmile.yaml:10:11: stage 'production' comes from unknown stage 'nowhere'\n");
  CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: 'lastmile.yaml' is not a valid policy: 5 problems\n"
                                      "hint: until it is fixed, every promotion is refused"));
  const auto j = sb.run({"policy", "check", "--json"});
  CHECK(j.rc == 78);
  CHECK(j.json()["problems"].size() == 5);
  CHECK(j.json()["problems"][0] == nlohmann::json{{"line", 6}, {"column", 28},
                                                   {"message", "min of 'auc' must be a number, got 'high'"}});
}

TEST_CASE("policy check finds tabs and duplicate keys, and reads --file", "[e2e][policy][bad-input]") {
  Sandbox sb;
  sb.write("tabs.yaml", "stages:\n\t- name: sandbox\n");
  auto r = sb.run({"policy", "check", "--file", "tabs.yaml"});
  CHECK(r.rc == 78);
  CHECK(r.out == "tabs.yaml:2:1: a tab is used for indentation; YAML allows only spaces\n");
  sb.write("dup.yaml", "stages:\n  - name: sandbox\n    name: other\n");
  r = sb.run({"policy", "check", "--file", "dup.yaml"});
  CHECK(r.rc == 78);
  CHECK_THAT(r.out, Catch::Contains("dup.yaml:3:5: duplicate key 'name' in a stage"));
  r = sb.run({"policy", "check", "--file", "missing.yaml"});
  CHECK(r.rc == 66);
  CHECK(sb.run({"policy"}).rc == 64);
}

TEST_CASE("diff says which metrics got better, as the policy's gates imply", "[e2e][policy][diff]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("lastmile.yaml",
           "stages:\n  - name: sandbox\n  - name: staging\n    from: [sandbox]\n    gates:\n"
           "      - {metric: auc, min: 0.8}\n      - {metric: latency_ms, max: 40}\n");
  sb.write("a.bin", "a");
  sb.write("b.bin", "b");
  REQUIRE(sb.run({"register", "m", "a.bin", "--metric", "auc=0.8", "--metric", "latency_ms=30", "--metric", "n=1"}).rc == 0);
  REQUIRE(sb.run({"register", "m", "b.bin", "--metric", "auc=0.85", "--metric", "latency_ms=35", "--metric", "n=2"}).rc == 0);
  const auto r = sb.run({"diff", "m@0.1.0", "m@0.2.0"});
  CHECK_THAT(r.out, Catch::Contains("auc         0.8 → 0.85  +0.05 (+6.2%)  better\n") &&
                        Catch::Contains("latency_ms  30 → 35  +5 (+16.7%)  worse\n") &&
                        Catch::Contains("n           1 → 2  +1 (+100.0%)\n"));
  const auto j = sb.run({"diff", "m@0.1.0", "m@0.2.0", "--json"}).json();
  CHECK(j["metrics"][0]["better"] == "higher");
  CHECK(j["metrics"][0]["improved"] == true);
  CHECK(j["metrics"][1]["better"] == "lower");
  CHECK(j["metrics"][1]["improved"] == false);
  CHECK(j["metrics"][2]["better"].is_null());
  CHECK_THAT(sb.run({"diff", "m@0.1.0", "m@0.2.0", "--format", "md"}).out,
             Catch::Contains("| auc | 0.8 | 0.85 | +0.05 | +6.2% ✅ |"));
  // A broken policy does not stop diff; it only loses the directions.
  sb.write("lastmile.yaml", "stages: [\n");
  const auto broken = sb.run({"diff", "m@0.1.0", "m@0.2.0"});
  CHECK(broken.rc == 0);
  CHECK_THAT(broken.err, Catch::Contains("lastmile.yaml has problems"));
  CHECK_THAT(broken.out, !Catch::Contains("better"));
}

TEST_CASE("metrics: gives a direction to metrics no gate names, for diff and report", "[e2e][policy][diff][report]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("lastmile.yaml",
           "stages:\n  - name: sandbox\n  - name: staging\n    from: [sandbox]\n    gates:\n"
           "      - {metric: auc, min: 0.8}\n"
           "metrics:\n  loss: {better: lower}\n");
  REQUIRE(sb.run({"policy", "check"}).rc == 0);
  sb.write("a.bin", "a");
  sb.write("b.bin", "b");
  REQUIRE(sb.run({"register", "m", "a.bin", "--metric", "auc=0.8", "--metric", "loss=0.5", "--metric", "n=1"}).rc == 0);
  REQUIRE(sb.run({"register", "m", "b.bin", "--metric", "auc=0.85", "--metric", "loss=0.4", "--metric", "n=2"}).rc == 0);
  const auto d = sb.run({"diff", "m@0.1.0", "m@0.2.0"});
  CHECK_THAT(d.out, Catch::Contains("loss  0.5 → 0.4  -0.1 (-20.0%)  better\n") &&
                        Catch::Contains("n     1 → 2  +1 (+100.0%)\n"));
  // Live loss above the offline one by more than the margin is degraded;
  // below it is not.
  REQUIRE(sb.run({"feedback", "m@0.1.0", "--metric", "loss=0.3"}).rc == 0);
  REQUIRE(sb.run({"feedback", "m@0.2.0", "--metric", "loss=0.6"}).rc == 0);
  const auto r = sb.run({"report", "m", "--fail-on-degraded"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.out, Catch::Contains("  loss    lower   0.4      0.6   +0.2    1  "));
  CHECK_THAT(r.out, Catch::Contains("  loss    lower   0.5      0.3   -0.2    1  "));
  CHECK(r.err == "lastmile: error: 'm@0.2.0' has degraded: live 'loss' 0.6 against 0.4 offline, "
                 "worse by more than 0.05\n");
  const auto j = sb.run({"report", "m", "--json"}).json();
  const auto loss = j["versions"][0]["metrics"][1];
  CHECK(loss["key"] == "loss");
  CHECK(loss["better"] == "lower");
  CHECK(loss["direction_from_policy"] == true);

  // A gate that says otherwise is a problem, found by policy check.
  sb.write("lastmile.yaml",
           "stages:\n  - name: sandbox\n  - name: staging\n    from: [sandbox]\n    gates:\n"
           "      - {metric: loss, min: 0.1}\n"
           "metrics:\n  loss: {better: lower}\n");
  const auto bad = sb.run({"policy", "check"});
  CHECK(bad.rc == 78);
  CHECK_THAT(bad.out, Catch::Contains("lastmile.yaml:6:9: this gate takes 'loss' as higher is better, "
                                      "but the metrics: section declares it lower"));
}
