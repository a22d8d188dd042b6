// Parsing and checking lastmile.yaml.

#include <catch2/catch.hpp>

#include "registry/policy.hpp"

using namespace lm;

namespace {

PolicyLoad parse(const std::string& text) { return parse_policy(text, "lastmile.yaml"); }

std::string problems_of(const PolicyLoad& load) {
  std::string out;
  for (const auto& p : load.problems) {
    out += std::to_string(p.line) + ":" + std::to_string(p.column) + ": " + p.message + "\n";
  }
  return out;
}

}  // namespace

TEST_CASE("the design's example policy parses into stages and gates", "[policy]") {
  const PolicyLoad load = parse(R"(
stages:
  - name: sandbox
  - name: staging
    from: [sandbox]
    gates:
      - {metric: auc, min: 0.80}
      - {metric: latency_p95_ms, max: 40}
      - {require: [owner, description]}
  - name: production
    from: [staging]
    approvals: {count: 1, distinct_from_registrant: true}
    gates:
      - {metric: auc, no_worse_than: incumbent, tolerance: 0.005}
      - {command: ["./scripts/smoke.sh"], timeout: 300}
      - {file: reports/validation.json, pointer: /success, equals: true}
      - {max_size: 500MiB}
)");
  INFO(problems_of(load));
  REQUIRE(load.ok());
  const Policy& p = load.policy;
  REQUIRE(p.stages.size() == 3);
  CHECK(p.stage_names() == std::vector<std::string>{"sandbox", "staging", "production"});
  CHECK(p.stages[1].from == std::vector<std::string>{"sandbox"});
  CHECK(p.gate_count() == 7);
  const StageSpec& prod = *p.stage("production");
  CHECK(prod.approvals == 1);
  CHECK(prod.distinct_from_registrant);
  CHECK(prod.gates[0].kind == GateSpec::Kind::no_worse_than);
  CHECK(prod.gates[0].tolerance == 0.005);
  CHECK(prod.gates[1].argv == std::vector<std::string>{"./scripts/smoke.sh"});
  CHECK(prod.gates[2].equals == Json(true));
  CHECK(prod.gates[3].max_bytes == 500ull << 20);
  CHECK(p.stage("staging")->gates[0].name() == "auc >= 0.8");
  CHECK(p.metric_directions() ==
        std::map<std::string, Better>{{"auc", Better::higher}, {"latency_p95_ms", Better::lower}});
  CHECK(p.stages[1].gates[0].line == 7);
}

TEST_CASE("every problem is reported with its line and column", "[policy]") {
  const PolicyLoad load = parse(
      "stages:\n"
      "  - name: sandbox\n"
      "  - name: staging\n"
      "    from: [sandbox]\n"
      "    gates:\n"
      "      - {metric: auc, min: high}\n"
      "      - {command: \"./smoke.sh --fast\"}\n"
      "      - {frobnicate: 1}\n"
      "  - name: production\n"
      "    from: [nowhere]\n");
  const std::string p = problems_of(load);
  CHECK_THAT(p, Catch::Contains("6:28: min of 'auc' must be a number, got 'high'"));
  CHECK_THAT(p, Catch::Contains("7:19: a command gate is an argv list"));
  CHECK_THAT(p, Catch::Contains("8:10: unknown key 'frobnicate' in a gate"));
  CHECK_THAT(p, Catch::Contains("8:9: unknown gate kind"));
  CHECK_THAT(p, Catch::Contains("10:11: stage 'production' comes from unknown stage 'nowhere'"));
}

TEST_CASE("tabs, duplicate keys and broken graphs are problems", "[policy]") {
  CHECK_THAT(problems_of(parse("stages:\n\t- name: x\n")),
             Catch::Contains("2:1: a tab is used for indentation"));
  CHECK_THAT(problems_of(parse("stages:\n  - name: a\n    name: b\n")),
             Catch::Contains("3:5: duplicate key 'name' in a stage"));
  CHECK_THAT(problems_of(parse("stages:\n  - name: a\n  - name: a\n    from: [a]\n")),
             Catch::Contains("stage 'a' is defined twice") && Catch::Contains("cannot come from itself"));
  CHECK_THAT(problems_of(parse("stages:\n  - name: a\n    from: [b]\n  - name: b\n")),
             Catch::Contains("the first stage 'a' is where registration lands") &&
                 Catch::Contains("stage 'b' needs 'from'"));
  CHECK_THAT(problems_of(parse("stages: []\n")), Catch::Contains("at least one stage"));
  CHECK_THAT(problems_of(parse("stages:\n  - name: Prod\n")), Catch::Contains("invalid stage name 'Prod'"));
  CHECK_THAT(problems_of(parse("stages: [\n")), Catch::Contains("malformed YAML"));
  CHECK_THAT(problems_of(parse("stages:\n  - name: a\n    gates:\n      - {metric: auc, min: 1, max: 2}\n")),
             Catch::Contains("needs exactly one of min, max or no_worse_than"));
}

TEST_CASE("gates are checked for stray keys, empty lists and contradictions", "[policy]") {
  const auto p = [](const std::string& gates) {
    return problems_of(parse("stages:\n  - name: a\n  - name: b\n    from: [a]\n    gates:\n" + gates));
  };
  CHECK_THAT(p("      - {metric: auc, min: 1, command: [x], timeout: 5}\n"),
             Catch::Contains("key 'command' does not belong in a metric gate") &&
                 Catch::Contains("key 'timeout' does not belong in a metric gate"));
  CHECK_THAT(p("      - {require: []}\n"), Catch::Contains("require lists no fields"));
  CHECK_THAT(p("      - {file: r.json, pointer: [x], equals: 1}\n"), Catch::Contains("pointer must be a JSON pointer"));
  CHECK_THAT(p("      - {metric: 'a b', min: 1}\n"), Catch::Contains("invalid key 'a b'"));
  CHECK_THAT(p("      - {metric: auc, min: 0.8}\n      - {metric: auc, max: 0.9}\n"),
             Catch::Contains("gates disagree on which way 'auc' improves"));
  CHECK_THAT(p("      - {command: [x], timeout: 1e300}\n"), Catch::Contains("timeout must be a whole number"));
  CHECK(parse("stages:\n  - name: a\n  - name: b\n    from: [a]\n    gates:\n"
              "      - {file: r.json, pointer: /ok, equals: null}\n").ok());
  CHECK_THAT(p("      - {file: r.json, pointer: /auc, equals: 1, min: 0.9}\n"),
             Catch::Contains("file gate takes equals, or min and max, not both"));
  CHECK_THAT(p("      - {file: /tmp/r.json, pointer: /ok, equals: true}\n"),
             Catch::Contains("file '/tmp/r.json' must be a path inside the repository"));
  CHECK_THAT(p("      - {file: reports/../../r.json, pointer: /ok, equals: true}\n"),
             Catch::Contains("must be a path inside the repository"));
}

TEST_CASE("a command gate is named by its whole argv", "[policy]") {
  const PolicyLoad load = parse("stages:\n  - name: a\n  - name: b\n    from: [a]\n    gates:\n"
                                "      - {command: [python, checks/a.py, --fast]}\n"
                                "      - {command: [python, checks/b.py]}\n");
  REQUIRE(load.ok());
  CHECK(load.policy.stages[1].gates[0].name() == "command python checks/a.py --fast");
  CHECK(load.policy.stages[1].gates[1].name() == "command python checks/b.py");
}

TEST_CASE("every stage must be reachable from the first", "[policy]") {
  const std::string p = problems_of(parse(
      "stages:\n  - name: a\n  - name: b\n    from: [c]\n  - name: c\n    from: [b, b]\n"));
  CHECK_THAT(p, Catch::Contains("stage 'b' cannot be reached from 'a'") &&
                    Catch::Contains("stage 'c' lists a stage twice in 'from'"));
  // A way back is fine as long as everything is reachable.
  CHECK(parse("stages:\n  - name: a\n  - name: b\n    from: [a, c]\n  - name: c\n    from: [b]\n").ok());
}

TEST_CASE("problems come sorted by position, whatever path found them", "[policy]") {
  const PolicyLoad load = parse("foo: 1\nbar: 2\n");
  REQUIRE(load.problems.size() >= 2);
  for (std::size_t i = 1; i < load.problems.size(); ++i) {
    CHECK(load.problems[i - 1].line <= load.problems[i].line);
  }
}

TEST_CASE("sizes parse with decimal and binary units", "[policy]") {
  CHECK(parse_size("1024") == 1024u);
  CHECK(parse_size("500MiB") == 500ull << 20);
  CHECK(parse_size("2GB") == 2'000'000'000ull);
  CHECK(parse_size("1.5 KiB") == 1536u);
  CHECK_FALSE(parse_size("5 lightyears"));
  CHECK_FALSE(parse_size("MiB"));
  CHECK_FALSE(parse_size("-1"));
}

TEST_CASE("the example policy is valid and equals the default", "[policy]") {
  const PolicyLoad load = parse(example_policy());
  INFO(problems_of(load));
  REQUIRE(load.ok());
  const Policy d = default_policy();
  REQUIRE(load.policy.stages.size() == d.stages.size());
  for (std::size_t i = 0; i < d.stages.size(); ++i) {
    CHECK(load.policy.stages[i].name == d.stages[i].name);
    CHECK(load.policy.stages[i].from == d.stages[i].from);
    CHECK(load.policy.stages[i].gates.empty());
  }
}

TEST_CASE("git: {tags: true} turns tags on, anything else there is a problem", "[policy]") {
  const std::string stages = "stages:\n  - name: sandbox\n";
  CHECK_FALSE(parse(stages).policy.git_tags);
  const PolicyLoad on = parse(stages + "git:\n  tags: true\n");
  CHECK(on.ok());
  CHECK(on.policy.git_tags);
  CHECK_FALSE(parse(stages + "git: {tags: false}\n").policy.git_tags);
  CHECK(problems_of(parse(stages + "git:\n  tags: yes\n")) == "4:9: git.tags must be true or false, got 'yes'\n");
  CHECK(problems_of(parse(stages + "git:\n  tag: true\n")) == "4:3: unknown key 'tag' in git\n");
  CHECK(problems_of(parse(stages + "git: true\n")) == "3:6: git must be a mapping of keys to values\n");
}

TEST_CASE("a drift gate takes max_psi and max_share, each with a default", "[policy][drift]") {
  const PolicyLoad load = parse("stages:\n  - name: a\n  - name: b\n    from: [a]\n    gates:\n"
                                "      - {drift: {max_psi: 0.1, max_share: 0.5}}\n"
                                "      - {drift: {max_psi: 0.25}}\n"
                                "      - {drift: {}}\n"
                                "      - drift:\n");
  INFO(problems_of(load));
  REQUIRE(load.ok());
  const auto& gates = load.policy.stages[1].gates;
  REQUIRE(gates.size() == 4);
  CHECK(gates[0].kind == GateSpec::Kind::drift);
  CHECK(gates[0].max_psi == 0.1);
  CHECK(gates[0].max_share == 0.5);
  CHECK(gates[0].line == 6);
  CHECK(gates[1].max_psi == 0.25);
  CHECK(gates[1].max_share == 0.3);
  for (const auto* g : {&gates[2], &gates[3]}) {
    CHECK(g->kind == GateSpec::Kind::drift);
    CHECK(g->max_psi == 0.2);
    CHECK(g->max_share == 0.3);
  }
  CHECK(gates[0].name() == "drift: at most 50% of columns with PSI > 0.1");
  CHECK(gates[2].name() == "drift: at most 30% of columns with PSI > 0.2");
  // Drift gates say nothing about which way a metric improves.
  CHECK(load.policy.metric_directions().empty());
}

TEST_CASE("drift gate problems are placed on the value at fault", "[policy][drift]") {
  const auto p = [](const std::string& gate) {
    return problems_of(parse("stages:\n  - name: a\n  - name: b\n    from: [a]\n    gates:\n      - " + gate + "\n"));
  };
  CHECK(p("{drift: {max_psi: -0.1}}") == "6:27: max_psi of the drift gate must not be negative, got '-0.1'\n");
  CHECK(p("{drift: {max_share: 1.5}}") == "6:29: max_share of the drift gate must be a share from 0 to 1, got '1.5'\n");
  CHECK(p("{drift: {max_share: lots}}") == "6:29: max_share of the drift gate must be a number, got 'lots'\n");
  CHECK(p("{drift: {psi: 0.2}}") == "6:18: unknown key 'psi' in a drift gate\n");
  CHECK(p("{drift: 0.2}") == "6:17: a drift gate must be a mapping of keys to values\n");
  CHECK(p("{drift: {}, timeout: 5}") == "6:21: key 'timeout' does not belong in a drift gate\n");
  CHECK(p("{drift: {max_psi: .inf}}") == "6:27: max_psi of the drift gate must be a number, got '.inf'\n");
  // The bounds themselves are allowed.
  CHECK(p("{drift: {max_psi: 0, max_share: 1}}").empty());
  CHECK(p("{drift: {max_share: 0}}").empty());
}

TEST_CASE("drift: settings give lastmile drift and drift gates their defaults", "[policy][drift]") {
  const std::string stages =
      "stages:\n  - name: a\n  - name: b\n    from: [a]\n    gates:\n"
      "      - {drift: {}}\n      - {drift: {max_share: 0.1}}\n";
  const Policy plain = parse(stages).policy;
  CHECK(plain.drift_psi_threshold == 0.2);
  CHECK(plain.drift_max_share == 0.3);
  const PolicyLoad set = parse(stages + "drift:\n  psi_threshold: 0.15\n  max_share: 0.5\n");
  INFO(problems_of(set));
  REQUIRE(set.ok());
  CHECK(set.policy.drift_psi_threshold == 0.15);
  CHECK(set.policy.drift_max_share == 0.5);
  // A gate takes what it leaves out from drift:, whichever comes first in the file.
  const auto& gates = set.policy.stages[1].gates;
  CHECK(gates[0].max_psi == 0.15);
  CHECK(gates[0].max_share == 0.5);
  CHECK(gates[1].max_psi == 0.15);
  CHECK(gates[1].max_share == 0.1);
  const PolicyLoad first = parse("drift: {psi_threshold: 0.4}\n" + stages);
  REQUIRE(first.ok());
  CHECK(first.policy.stages[1].gates[0].max_psi == 0.4);

  const std::string one = "stages:\n  - name: sandbox\n";
  CHECK(problems_of(parse(one + "drift:\n  psi_threshold: -1\n")) ==
        "4:18: drift.psi_threshold must not be negative, got '-1'\n");
  CHECK(problems_of(parse(one + "drift:\n  max_share: 2\n")) ==
        "4:14: drift.max_share must be a share from 0 to 1, got '2'\n");
  CHECK(problems_of(parse(one + "drift:\n  threshold: 0.2\n")) == "4:3: unknown key 'threshold' in drift\n");
  CHECK(problems_of(parse(one + "drift: 0.2\n")) == "3:8: drift must be a mapping of keys to values\n");
  CHECK(problems_of(parse(one + "drifts: {}\n")) == "3:1: unknown key 'drifts' in lastmile.yaml\n");
}

TEST_CASE("the example policy shows the drift gate and settings, commented", "[policy][drift]") {
  const std::string text = example_policy();
  CHECK_THAT(text, Catch::Contains("#   - {drift: {max_psi: 0.2, max_share: 0.3}}"));
  CHECK_THAT(text, Catch::Contains("# drift: {psi_threshold: 0.2, max_share: 0.3}"));
  // Uncommented, both parse.
  std::string uncommented = text;
  for (const std::string from : {"    #   - {drift:", "# drift: {"}) {
    const auto at = uncommented.find(from);
    REQUIRE(at != std::string::npos);
    uncommented.replace(at, from.size(), from[0] == '#' ? "drift: {" : "    gates:\n      - {drift:");
  }
  const PolicyLoad load = parse(uncommented);
  INFO(uncommented << problems_of(load));
  REQUIRE(load.ok());
  CHECK(load.policy.stage("production")->gates.size() == 1);
  CHECK(load.policy.drift_max_share == 0.3);
}

TEST_CASE("metrics: declares which way a metric improves where no gate says", "[policy]") {
  const std::string stages =
      "stages:\n  - name: a\n  - name: b\n    from: [a]\n    gates:\n"
      "      - {metric: auc, min: 0.8}\n      - {metric: eval.loss, no_worse_than: incumbent}\n";
  // Without it, a no_worse_than gate takes higher as better and others are unknown.
  const Policy plain = parse(stages).policy;
  CHECK(plain.stages[1].gates[1].better == Better::higher);
  CHECK(plain.metric_directions() == std::map<std::string, Better>{{"auc", Better::higher}, {"eval.loss", Better::higher}});

  // Before or after the stages, it sets the direction of undeclared gates
  // and of metrics no gate names.
  for (const std::string& text :
       {stages + "metrics:\n  eval.loss: {better: lower}\n  latency_ms: {better: lower}\n",
        "metrics: {eval.loss: {better: lower}, latency_ms: {better: lower}}\n" + stages}) {
    const PolicyLoad load = parse(text);
    INFO(text << problems_of(load));
    REQUIRE(load.ok());
    CHECK(load.policy.stages[1].gates[1].better == Better::lower);
    CHECK(load.policy.metric_directions() == std::map<std::string, Better>{{"auc", Better::higher},
                                                                           {"eval.loss", Better::lower},
                                                                           {"latency_ms", Better::lower}});
  }
  // A declaration that agrees with a gate is fine.
  CHECK(parse(stages + "metrics: {auc: {better: higher}}\n").ok());

  const std::string one = "stages:\n  - name: a\n  - name: b\n    from: [a]\n    gates:\n";
  CHECK(problems_of(parse(one + "      - {metric: auc, min: 0.8}\nmetrics: {auc: {better: lower}}\n")) ==
        "6:9: this gate takes 'auc' as higher is better, but the metrics: section declares it lower "
        "(a min gate means higher is better, a max gate lower)\n");
  CHECK(problems_of(parse(one + "      - {metric: loss, no_worse_than: incumbent, better: higher}\n"
                                "metrics: {loss: {better: lower}}\n")) ==
        "6:9: this gate takes 'loss' as higher is better, but the metrics: section declares it lower "
        "(a min gate means higher is better, a max gate lower)\n");
  const std::string a = "stages:\n  - name: a\n";
  CHECK(problems_of(parse(a + "metrics: {loss: {better: down}}\n")) ==
        "3:26: better must be 'higher' or 'lower', got 'down'\n");
  CHECK(problems_of(parse(a + "metrics: {loss: lower}\n")) == "3:17: metrics.loss must be a mapping of keys to values\n");
  CHECK(problems_of(parse(a + "metrics: {loss: {}}\n")) == "3:17: metrics.loss needs better: higher or better: lower\n");
  CHECK(problems_of(parse(a + "metrics: {loss: {better: lower, margin: 1}}\n")) ==
        "3:33: unknown key 'margin' in metrics.loss\n");
  CHECK_THAT(problems_of(parse(a + "metrics: {'a b': {better: lower}}\n")), Catch::StartsWith("3:11: invalid key 'a b'"));
  CHECK(problems_of(parse(a + "metrics: [loss]\n")) ==
        "3:10: metrics must be a mapping of metric keys to {better: higher} or {better: lower}\n");
}

TEST_CASE("the example policy shows a metrics: declaration, commented", "[policy]") {
  std::string text = example_policy();
  const std::string commented = "# metrics:\n#   eval.loss: {better: lower}\n";
  const auto at = text.find(commented);
  REQUIRE(at != std::string::npos);
  text.replace(at, commented.size(), "metrics:\n  eval.loss: {better: lower}\n");
  const PolicyLoad load = parse(text);
  INFO(problems_of(load));
  REQUIRE(load.ok());
  CHECK(load.policy.metric_directions().at("eval.loss") == Better::lower);
}
