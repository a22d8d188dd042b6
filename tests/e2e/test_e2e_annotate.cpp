// lastmile annotate: labels, description and owner change after
// registration, each change an event; the bytes never do.

#include <catch2/catch.hpp>
#include <map>

#include "tests/e2e/sandbox.hpp"

using lm::test::RunResult;
using lm::test::Sandbox;
using nlohmann::json;

namespace {

void registered(Sandbox& sb) {
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("model.bin", "weights");
  REQUIRE(sb.run({"register", "churn", "model.bin", "--label", "team=growth", "--label", "wip=yes",
                  "--owner", "ada", "--description", "first cut"})
              .rc == 0);
}

json show(const Sandbox& sb, const std::string& ref) { return sb.run({"show", ref, "--json"}).json(); }

}  // namespace

TEST_CASE("annotate sets and removes labels, replaces description and owner, as one event", "[e2e][annotate]") {
  Sandbox sb;
  registered(sb);
  const std::string digest = show(sb, "churn@0.1.0")["digest"];
  const long before = sb.event_count();

  RunResult r = sb.run({"annotate", "churn@0.1.0", "--label", "eval=passed", "--label", "team=platform",
                        "--remove-label", "wip", "--owner", "grace", "--description", "reviewed"},
                       {.env = {{"LASTMILE_ACTOR", "grace"}}});
  INFO(r.err);
  REQUIRE(r.rc == 0);
  CHECK(r.out == "annotated churn@0.1.0: label eval=passed, label team=platform, removed label wip, owner grace, "
                 "description\n");
  CHECK(r.err.empty());
  CHECK(sb.event_count() == before + 1);

  const json v = show(sb, "churn@0.1.0");
  CHECK(v["labels"] == json({{"eval", "passed"}, {"team", "platform"}}));
  CHECK(v["owner"] == "grace");
  CHECK(v["description"] == "reviewed");
  CHECK(v["digest"] == digest);  // what the version is did not change

  const json history = sb.run({"history", "churn", "--json"}).json()["events"];
  REQUIRE(history.size() >= 2);
  CHECK(history[0]["kind"] == "version.annotated");
  CHECK(history[0]["actor"] == "grace");
  r = sb.run({"history", "churn"});
  CHECK_THAT(r.out, Catch::Contains("version.annotated"));
  CHECK_THAT(r.out, Catch::Contains("label eval=passed, label team=platform, removed label wip, owner grace"));

  // The tables are what the log says, and the chain holds.
  CHECK(sb.run({"verify"}).rc == 0);
  CHECK(sb.run({"audit", "verify"}).rc == 0);
  CHECK(sb.run({"fsck"}).out == "tables match the log\n");
  REQUIRE(sb.run({"fsck", "--rebuild"}).rc == 0);
  CHECK(show(sb, "churn@0.1.0")["labels"] == v["labels"]);
  CHECK(show(sb, "churn@0.1.0")["owner"] == "grace");
}

TEST_CASE("annotate records only what changes, and nothing at all records nothing", "[e2e][annotate]") {
  Sandbox sb;
  registered(sb);
  const long before = sb.event_count();
  RunResult r = sb.run({"annotate", "churn@0.1.0", "--label", "team=growth", "--owner", "ada"});
  CHECK(r.rc == 0);
  CHECK(r.out == "churn@0.1.0 already reads that way; nothing recorded\n");
  CHECK(sb.event_count() == before);

  r = sb.run({"annotate", "churn", "--label", "team=growth", "--label", "eval=passed", "--json"});
  REQUIRE(r.rc == 0);
  const json doc = r.json();
  CHECK(doc["recorded"] == true);
  CHECK(doc["changed"] == json({{"labels", {{"eval", "passed"}}}}));
  CHECK(doc["labels"] == json({{"eval", "passed"}, {"team", "growth"}, {"wip", "yes"}}));
  CHECK(sb.event_count() == before + 1);
  const json history = sb.run({"history", "churn", "--json"}).json()["events"];
  CHECK(history[0]["payload"]["labels"] == json({{"eval", "passed"}}));
}

TEST_CASE("annotate refuses bad requests and writes nothing", "[e2e][annotate]") {
  Sandbox sb;
  registered(sb);
  const long before = sb.event_count();
  struct Case {
    std::vector<std::string> args;
    int rc;
    std::string err;
  };
  const std::vector<Case> cases = {
      {{"annotate", "churn@0.1.0"}, 64, "lastmile: error: nothing to annotate\n"},
      {{"annotate", "churn@0.1.0", "--label", "x=1", "--remove-label", "x"}, 64,
       "lastmile: error: label 'x' is both set and removed\n"},
      {{"annotate", "churn@0.1.0", "--label", "bad key=1"}, 64, "lastmile: error: "},
      {{"annotate", "churn@0.1.0", "--label", "novalue"}, 64, "lastmile: error: --label expects KEY=VALUE"},
      {{"annotate", "churn@0.1.0", "--remove-label", "absent"}, 66,
       "lastmile: error: 'churn@0.1.0' has no label 'absent'\n"},
      {{"annotate", "churn@9.9.9", "--label", "x=1"}, 66, "lastmile: error: "},
      {{"annotate", "nosuch", "--label", "x=1"}, 66, "lastmile: error: "},
      {{"annotate", "../etc", "--label", "x=1"}, 64, "lastmile: error: "},
      {{"annotate", "churn@0.1.0", "--owner", std::string(300, 'o')}, 64, "lastmile: error: --owner"},
  };
  for (const auto& c : cases) {
    const RunResult r = sb.run(c.args);
    INFO(c.args[1] << " " << (c.args.size() > 2 ? c.args[2] : "") << "\n" << r.err);
    CHECK(r.rc == c.rc);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, Catch::StartsWith(c.err));
    CHECK(sb.event_count() == before);
  }
}

TEST_CASE("a label gate sees labels annotated after registration", "[e2e][annotate][gates]") {
  Sandbox sb;
  sb.write("lastmile.yaml",
           "stages:\n"
           "  - name: sandbox\n"
           "  - name: staging\n"
           "    from: [sandbox]\n"
           "    gates:\n"
           "      - {require: [label:eval]}\n");
  registered(sb);
  RunResult r = sb.run({"promote", "churn@0.1.0", "--to", "staging"});
  CHECK(r.rc == 1);
  REQUIRE(sb.run({"annotate", "churn@0.1.0", "--label", "eval=passed"}).rc == 0);
  r = sb.run({"promote", "churn@0.1.0", "--to", "staging"});
  INFO(r.out << r.err);
  CHECK(r.rc == 0);
}

TEST_CASE("show --at reads labels, owner and description as they were then", "[e2e][annotate]") {
  Sandbox sb;
  registered(sb);
  REQUIRE(sb.run({"annotate", "churn@0.1.0", "--label", "eval=passed", "--remove-label", "wip", "--owner", "grace"})
              .rc == 0);
  REQUIRE(sb.run({"annotate", "churn@0.1.0", "--description", "reviewed", "--label", "eval=failed"}).rc == 0);
  std::map<long, std::string> times;  // by seq: the audit lists the newest first
  const json audit = sb.run({"audit", "--json"}).json();
  for (const auto& e : audit["events"]) times[e["seq"].get<long>()] = e["time"];
  REQUIRE(times.size() == 3);
  const auto at = [&](long seq) { return times.at(seq); };

  json then = sb.run({"show", "churn@0.1.0", "--at", at(1), "--json"}).json();
  CHECK(then["labels"] == json({{"team", "growth"}, {"wip", "yes"}}));
  CHECK(then["owner"] == "ada");
  CHECK(then["description"] == "first cut");
  then = sb.run({"show", "churn@0.1.0", "--at", at(2), "--json"}).json();
  CHECK(then["labels"] == json({{"eval", "passed"}, {"team", "growth"}}));
  CHECK(then["owner"] == "grace");
  CHECK(then["description"] == "first cut");
  then = sb.run({"show", "churn@0.1.0", "--at", at(3), "--json"}).json();
  const json now = show(sb, "churn@0.1.0");
  for (const char* key : {"labels", "owner", "description"}) CHECK(then[key] == now[key]);
  CHECK(now["labels"] == json({{"eval", "failed"}, {"team", "growth"}}));
}
