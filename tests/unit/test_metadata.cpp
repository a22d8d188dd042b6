// Metrics, params and labels.

#include <catch2/catch.hpp>

#include "registry/core/error.hpp"
#include "registry/metadata.hpp"

using namespace lm;

TEST_CASE("metrics JSON flattens nested objects to dotted keys", "[metadata]") {
  const Metrics m =
      parse_metrics_file(R"({"auc": 0.91, "eval": {"loss": 0.2, "at": {"k5": 3}}, "n": 10})", "m.json").metrics;
  CHECK(m.size() == 4);
  CHECK(m.at("auc") == 0.91);
  CHECK(m.at("eval.loss") == 0.2);
  CHECK(m.at("eval.at.k5") == 3);
  CHECK(m.at("n") == 10);
}

TEST_CASE("values that are not numbers are kept as labels", "[metadata]") {
  const MetricsFile f = parse_metrics_file(
      R"({"auc": 0.9, "stage": "eval", "eval": {"ok": true, "note": null, "ks": [1, 2]}})", "m.json");
  CHECK(f.metrics == Metrics{{"auc", 0.9}});
  CHECK(f.labels == StringMap{{"stage", "eval"}, {"eval.ok", "true"}, {"eval.note", "null"},
                              {"eval.ks", "[1,2]"}});
}

TEST_CASE("YAML metrics files read as DVC writes them", "[metadata][yaml]") {
  const MetricsFile f = parse_metrics_file(
      "auc: 0.91\neval:\n  loss: 2.5e-1\n  epochs: 12\n  tag: 'v2'\n  quoted: \"3\"\n  done: true\n",
      "metrics.yaml");
  CHECK(f.metrics == Metrics{{"auc", 0.91}, {"eval.loss", 0.25}, {"eval.epochs", 12}});
  CHECK(f.labels == StringMap{{"eval.tag", "v2"}, {"eval.quoted", "3"}, {"eval.done", "true"}});
  CHECK(parse_metrics_file("a: 1\n", "m.yml").metrics.at("a") == 1);
}

TEST_CASE("bad metrics files are data errors naming the file", "[metadata]") {
  const std::pair<const char*, const char*> cases[] = {
      {"{\"auc\": ", "m.json"},           // malformed
      {"[1, 2]", "must hold an object"},
      {"{\"a\": 1e400}", "number out of range"},
  };
  for (const auto& [text, expect] : cases) {
    INFO(text);
    try {
      parse_metrics_file(text, "m.json");
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK(e.code() == ExitCode::data);
      CHECK_THAT(e.what(), Catch::Contains(expect) && Catch::Contains("m.json"));
    }
  }
  try {
    parse_metrics_file("auc: [1, 2\n", "m.yaml");
    FAIL("accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::data);
    CHECK_THAT(e.what(), Catch::Contains("malformed YAML in 'm.yaml': line "));
  }
  CHECK_THROWS_AS(parse_metrics_file("- 1\n- 2\n", "m.yaml"), Error);
}

TEST_CASE("deeply nested or long metric names are data errors, not crashes", "[metadata]") {
  std::string deep;
  for (int i = 0; i < 30000; ++i) deep += "{\"a\":";
  deep += "1";
  deep += std::string(30000, '}');
  CHECK_THROWS_WITH(parse_metrics_file(deep, "d.json"), Catch::Contains("longer than 128 bytes"));
  try {
    parse_metrics_file("{\"" + std::string(200, 'k') + "\": 1}", "m.json");
    FAIL("accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::data);
  }
}

TEST_CASE("key=value arguments are checked", "[metadata]") {
  CHECK(parse_key_value("lr=0.01", "--param") == std::pair<std::string, std::string>{"lr", "0.01"});
  CHECK(parse_key_value("note=a=b", "--label").second == "a=b");
  CHECK(parse_key_value("empty=", "--label").second.empty());
  CHECK_THROWS_AS(parse_key_value("novalue", "--param"), Error);
  CHECK_THROWS_AS(parse_key_value("=x", "--param"), Error);
  CHECK_THROWS_AS(parse_key_value("a b=x", "--param"), Error);
  CHECK_THROWS_AS(parse_key_value("a=\xff", "--param"), Error);
}

TEST_CASE("metric values must be finite numbers", "[metadata]") {
  CHECK(parse_metric_value("auc", "0.91") == 0.91);
  CHECK(parse_metric_value("n", "-3e2") == -300);
  for (const char* bad : {"", "high", "0.9x", "nan", "inf", "1e999"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_metric_value("auc", bad), Error);
  }
}

TEST_CASE("metrics print in their shortest exact form", "[metadata]") {
  CHECK(format_metric(0.91) == "0.91");
  CHECK(format_metric(12) == "12");
  CHECK(format_metric(1e-6) == "1e-06");
}
