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
