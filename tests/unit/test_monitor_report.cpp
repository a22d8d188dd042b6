// The monitoring report: which versions are degraded, the series it reads
// from a real registry, and its renderings (HTML escaped and self-contained).

#include <catch2/catch.hpp>

#include <chrono>
#include <limits>
#include <regex>

#include "deploy/monitor.hpp"
#include "deploy/monitor_report.hpp"
#include "registry/register.hpp"
#include "registry/registry.hpp"
#include "tests/unit/helpers.hpp"

using namespace lm;
using lm::test::code_of;

namespace {

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

struct Fixture {
  test::TempDir dir;
  RegistryLocation location{dir / ".lastmile", true, false};
  Registry reg = [this] {
    Registry::init(location, std::chrono::seconds(1));
    return Registry::open(location, std::chrono::seconds(1));
  }();
  int artifacts = 0;

  VersionRecord add(const std::string& name, const Metrics& metrics) {
    RegisterRequest r;
    r.name = name;
    r.actor = "ada";
    r.cwd = dir.path();
    r.stage = "sandbox";
    r.metrics = metrics;
    const int n = artifacts++;
    r.path = dir.write("artifacts/" + std::to_string(n) + ".bin", "artifact " + std::to_string(n));
    return register_version(reg, r, nullptr).version;
  }

  void feedback(const VersionRecord& v, const std::map<std::string, double>& metrics, const std::string& time,
                std::optional<std::string> env = "production") {
    deploy::FeedbackRequest r;
    r.ref = parse_ref(v.ref());
    r.metrics = metrics;
    r.observed_at = time;
    r.environment = std::move(env);
    r.actor = "ada";
    deploy::record_feedback(reg, r);
  }
};

// A report built by hand, with text a registry would refuse, to check the
// renderers escape whatever they are given.
deploy::MonitorReport hostile_report() {
  deploy::MonitorReport r;
  r.name = "<script>alert('name')</script>";
  r.kind = "model";
  deploy::VersionReport v;
  v.version.name = r.name;
  v.version.version = "1.0.0";
  v.stages = {"prod\"uction"};
  deploy::MetricSeries m;
  m.key = "acc<b>&";
  m.offline = 0.9;
  m.feedback = {{"2026-01-01T00:00:00.000000Z", 0.8, "env'<i>"}, {"2026-01-02T00:00:00.000000Z", 0.7, std::nullopt}};
  m.live = 0.7;
  m.change = -0.2;
  m.degraded = true;
  v.metrics.push_back(m);
  v.drift.push_back({"2026-01-02T00:00:00.000000Z", std::string("e<v>"), 10, 0.4, 0.5, true});
  r.versions.push_back(v);
  return r;
}

}  // namespace

TEST_CASE("degraded: higher is better, worse means below by more than the margin", "[monitor_report]") {
  using deploy::is_degraded;
  CHECK(is_degraded(0.91, 0.84, 0.05, Better::higher));
  CHECK_FALSE(is_degraded(0.91, 0.87, 0.05, Better::higher));
  CHECK_FALSE(is_degraded(0.91, 0.99, 0.05, Better::higher));  // better, by far
  // Exactly the margin is not more than it, whatever 0.9 - 0.85 rounds to.
  CHECK_FALSE(is_degraded(0.9, 0.85, 0.05, Better::higher));
  CHECK(is_degraded(0.9, 0.8499, 0.05, Better::higher));
  // The margin is configurable: 0 flags any drop.
  CHECK(is_degraded(0.9, 0.8999, 0, Better::higher));
  CHECK_FALSE(is_degraded(0.9, 0.9, 0, Better::higher));
  CHECK_FALSE(is_degraded(0.91, 0.84, 0.1, Better::higher));
}

TEST_CASE("degraded: lower is better, worse means above by more than the margin", "[monitor_report]") {
  using deploy::is_degraded;
  CHECK(is_degraded(30, 31, 0.05, Better::lower));
  CHECK_FALSE(is_degraded(30, 25, 0.05, Better::lower));  // lower latency is better, by far
  CHECK_FALSE(is_degraded(0.2, 0.25, 0.05, Better::lower));
  CHECK(is_degraded(0.2, 0.2501, 0.05, Better::lower));
  CHECK_FALSE(is_degraded(30, 31, 2, Better::lower));
}

TEST_CASE("report model: live is the latest observed value, directions from the policy", "[monitor_report]") {
  Fixture f;
  const VersionRecord v1 = f.add("churn", {{"accuracy", 0.91}, {"latency_ms", 30}});
  const VersionRecord v2 = f.add("churn", {{"accuracy", 0.93}});
  // Recorded out of order: the latest observation decides, not the latest event.
  f.feedback(v1, {{"accuracy", 0.90}, {"latency_ms", 29}}, "2026-01-01");
  f.feedback(v1, {{"accuracy", 0.84}, {"latency_ms", 40}}, "2026-01-03");
  f.feedback(v1, {{"accuracy", 0.92}}, "2026-01-02T12:00:00+02:00");
  f.feedback(v2, {{"accuracy", 0.95}, {"conversion", 0.03}}, "2026-01-05", "staging");

  deploy::MonitorOptions options;
  options.directions = {{"latency_ms", Better::lower}};
  const deploy::MonitorReport r = deploy::build_monitor_report(f.reg.db(), "churn", options);
  REQUIRE(r.versions.size() == 2);
  CHECK(r.kind == "model");
  CHECK(r.versions[0].version.version == "0.2.0");  // highest first
  CHECK(r.versions[0].stages == std::vector<std::string>{"sandbox"});
  CHECK(r.versions[1].stages.empty());
  const auto& m1 = r.versions[1].metrics;
  REQUIRE(m1.size() == 2);
  CHECK(m1[0].key == "accuracy");
  REQUIRE(m1[0].feedback.size() == 3);
  CHECK(m1[0].feedback[1].observed_at == "2026-01-02T10:00:00.000000Z");
  CHECK(m1[0].live == Approx(0.84));
  CHECK(*m1[0].change == Approx(-0.07));
  CHECK(m1[0].degraded);
  CHECK(m1[1].key == "latency_ms");
  CHECK(m1[1].better == Better::lower);
  CHECK(m1[1].direction_from_policy);
  CHECK(m1[1].degraded);  // 40 against 30, lower is better
  const auto& m2 = r.versions[0].metrics;
  REQUIRE(m2.size() == 2);
  CHECK(m2[1].key == "conversion");  // observed only: shown, never degraded
  CHECK_FALSE(m2[1].offline);
  CHECK_FALSE(m2[1].degraded);
  CHECK(r.degraded_refs() == std::vector<std::string>{"churn@0.1.0"});

  // A wider margin clears the accuracy drop; the latency rise stays.
  options.margin = 0.1;
  auto wide = deploy::build_monitor_report(f.reg.db(), "churn", options);
  CHECK_FALSE(wide.versions[1].metrics[0].degraded);
  CHECK(wide.versions[1].metrics[1].degraded);
  // Without the policy's direction, higher latency is better.
  options.directions.clear();
  wide = deploy::build_monitor_report(f.reg.db(), "churn", options);
  CHECK(wide.degraded_refs().empty());

  // One environment only.
  options.environment = "staging";
  const auto staging = deploy::build_monitor_report(f.reg.db(), "churn", options);
  CHECK(staging.versions[1].feedback_count() == 0);
  CHECK(staging.versions[0].feedback_count() == 2);
}

TEST_CASE("report model: unknown name, bad margin", "[monitor_report]") {
  Fixture f;
  f.add("churn", {{"auc", 0.9}});
  CHECK(code_of([&] { deploy::build_monitor_report(f.reg.db(), "nope", {}); }) == ExitCode::not_found);
  deploy::MonitorOptions bad;
  bad.margin = -0.1;
  CHECK(code_of([&] { deploy::build_monitor_report(f.reg.db(), "churn", bad); }) == ExitCode::usage);
  bad.margin = std::numeric_limits<double>::quiet_NaN();
  CHECK(code_of([&] { deploy::build_monitor_report(f.reg.db(), "churn", bad); }) == ExitCode::usage);
}

TEST_CASE("html_escape: markup and quotes", "[monitor_report]") {
  CHECK(deploy::html_escape("a<b>&\"c'") == "a&lt;b&gt;&amp;&quot;c&#39;");
  CHECK(deploy::html_escape("plain text 0.9") == "plain text 0.9");
}

TEST_CASE("HTML: user text is escaped, no scripts, no URLs", "[monitor_report]") {
  const std::string html = deploy::monitor_report_html(hostile_report());
  CHECK_THAT(html, Catch::StartsWith("<!DOCTYPE html>") && Catch::EndsWith("</html>\n"));
  CHECK(count(html, "<script") == 0);
  CHECK(count(html, "&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;") >= 2);
  CHECK(count(html, "acc&lt;b&gt;&amp;") >= 2);
  CHECK_THAT(html, Catch::Contains("prod&quot;uction") && Catch::Contains("env&#39;&lt;i&gt;") &&
                       Catch::Contains("e&lt;v&gt;"));
  CHECK_THAT(html, !Catch::Contains("<b>") && !Catch::Contains("<i>") && !Catch::Contains("<v>"));
  // Self-contained: nothing fetched, nothing run.
  CHECK_THAT(html, !Catch::Contains("http:", Catch::CaseSensitive::No) &&
                       !Catch::Contains("https:", Catch::CaseSensitive::No) && !Catch::Contains("src=") &&
                       !Catch::Contains("href=") && !Catch::Contains("@import") && !Catch::Contains("url("));
  CHECK_FALSE(std::regex_search(html, std::regex(R"(<[a-z]+[^>]*\son[a-z]+=)", std::regex::icase)));
}

TEST_CASE("HTML: one chart per observed metric and one for drift, with reference lines", "[monitor_report]") {
  const deploy::MonitorReport r = hostile_report();
  const std::string html = deploy::monitor_report_html(r);
  CHECK(count(html, "<svg") == 2);  // the metric and the drift
  CHECK(count(html, "<polyline") == 2);
  CHECK(count(html, "stroke-dasharray") == 2);  // offline value, PSI threshold
  CHECK(count(html, "<circle") == 3);
  CHECK_THAT(html, Catch::Contains("offline 0.9") && Catch::Contains("threshold 0.2"));
  // Deterministic: the same report, the same bytes.
  CHECK(deploy::monitor_report_html(r) == html);
}

TEST_CASE("text, Markdown and JSON forms", "[monitor_report]") {
  deploy::MonitorReport r = hostile_report();
  r.name = "churn";
  r.versions[0].version.name = "churn";
  r.versions[0].metrics[0].key = "acc_1";
  const std::string text = deploy::monitor_report_text(r);
  CHECK_THAT(text, Catch::StartsWith("report churn (model): 1 version, 1 degraded\n"));
  CHECK_THAT(text, Catch::Contains("churn@1.0.0  prod\"uction  DEGRADED\n"));
  CHECK_THAT(text, Catch::Contains("  acc_1   higher  0.9      0.7   -0.2    2         2026-01-02 00:00  degraded\n"));
  const std::string md = deploy::monitor_report_markdown(r);
  CHECK_THAT(md, Catch::Contains("| acc\\_1 | higher | 0.9 | 0.7 | -0.2 ❌ | 2 | 2026-01-02 00:00 |"));
  CHECK_THAT(md, Catch::Contains("| 2026-01-02 00:00 | e\\<v\\> | 10 | 0.4000 | 50.0% | yes |"));
  const Json j = deploy::monitor_report_json(r);
  CHECK(j["degraded"] == Json::array({"churn@1.0.0"}));
  CHECK(j["versions"][0]["metrics"][0]["feedback"][0]["environment"] == "env'<i>");
  CHECK(j["versions"][0]["metrics"][0]["feedback"][1]["environment"].is_null());
  CHECK(j["versions"][0]["drift"][0]["max_psi"] == 0.4);
  CHECK(j["margin"] == 0.05);
}
