// Datasets and lineage: dataset register, --input, --parent, lineage.

#include <catch2/catch.hpp>
#include <cstdlib>

#include "tests/e2e/sandbox.hpp"

using lm::test::Sandbox;
namespace fs = std::filesystem;

namespace {

// customers@0.1.0 -> churn@0.1.0 -> churn@0.2.0 <- customers@0.2.0
void populate(Sandbox& sb) {
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("data/customers.csv", "id,churned\n1,0\n");
  sb.write("m1.bin", "model one");
  sb.write("m2.bin", "model two");
  REQUIRE(sb.run({"dataset", "register", "customers", "data"}).rc == 0);
  REQUIRE(sb.run({"register", "churn", "m1.bin", "--input", "customers@0.1.0"}).rc == 0);
  sb.write("data/customers.csv", "id,churned\n1,0\n2,1\n");
  const auto r = sb.run({"register", "churn", "m2.bin", "--input", "customers=data", "--parent", "churn@0.1.0"});
  INFO(r.err);
  REQUIRE(r.rc == 0);
}

}  // namespace

TEST_CASE("dataset register records a dataset version like a model", "[e2e][dataset]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("data/a.csv", "a\n");
  sb.write("data/b.csv", "b\n");
  const auto r = sb.run({"dataset", "register", "customers", "data", "--label", "source=crm", "--json"});
  REQUIRE(r.rc == 0);
  const auto j = r.json();
  CHECK(j["kind"] == "dataset");
  CHECK(j["version"] == "0.1.0");
  CHECK(j["files"] == 2);
  CHECK_THAT(sb.run({"list"}).out, Catch::Contains("customers  dataset  0.1.0"));
  CHECK(sb.run({"verify", "customers"}).rc == 0);
  // One namespace: a model cannot take a dataset's name.
  sb.write("m.bin", "m");
  const auto clash = sb.run({"register", "customers", "m.bin"});
  CHECK(clash.rc == 64);
  CHECK_THAT(clash.err, Catch::Contains("'customers' is a dataset, not a model"));
  const auto help = sb.run({"dataset", "register", "--help"});
  CHECK_THAT(help.out, Catch::StartsWith("Usage: lastmile dataset register [OPTIONS] NAME PATH"));
  CHECK(sb.run({"dataset"}).rc == 64);
}

TEST_CASE("input NAME=PATH registers the dataset first, or reuses its version", "[e2e][dataset]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("data/a.csv", "a\n");
  sb.write("m.bin", "m");
  auto r = sb.run({"register", "churn", "m.bin", "--input", "customers=data"});
  REQUIRE(r.rc == 0);
  CHECK_THAT(r.err, Catch::Contains("registered input customers@0.1.0"));
  sb.write("m.bin", "m2");
  r = sb.run({"register", "churn", "m.bin", "--input", "customers=data"});
  REQUIRE(r.rc == 0);
  CHECK_THAT(r.err, Catch::Contains("input customers@0.1.0 already holds data"));
  CHECK(sb.run({"list", "customers", "--json"}).json()["versions"].size() == 1);
}

TEST_CASE("lineage shows inputs and parents upstream as a tree", "[e2e][lineage]") {
  Sandbox sb;
  populate(sb);
  const auto r = sb.run({"lineage", "churn@0.2.0"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::StartsWith("churn@0.2.0  sha256:"));
  CHECK_THAT(r.out, Catch::Contains("├── input  customers@0.2.0  (dataset)\n"
                                    "└── parent  churn@0.1.0\n"
                                    "    └── input  customers@0.1.0  (dataset)\n"));
  const auto shallow = sb.run({"lineage", "churn@0.2.0", "--depth", "1"});
  CHECK_THAT(shallow.out, !Catch::Contains("customers@0.1.0") && Catch::Contains("(more beyond depth 1)"));
}

TEST_CASE("lineage --downstream answers which models used a dataset version", "[e2e][lineage]") {
  Sandbox sb;
  populate(sb);
  const auto r = sb.run({"lineage", "customers@0.1.0", "--downstream"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("└── input to  churn@0.1.0\n    └── parent of  churn@0.2.0"));
  const auto j = sb.run({"lineage", "customers@0.1.0", "--downstream", "--json"}).json();
  CHECK(j["direction"] == "downstream");
  REQUIRE(j["nodes"].size() == 3);
  CHECK(j["nodes"][2]["ref"] == "churn@0.2.0");
  CHECK(j["edges"][0] == nlohmann::json{{"from", "churn@0.1.0"}, {"to", "customers@0.1.0"}, {"relation", "input"}});
}

TEST_CASE("lineage --format dot renders with Graphviz as it is", "[e2e][lineage]") {
  Sandbox sb;
  populate(sb);
  const auto r = sb.run({"lineage", "churn@0.2.0", "--format", "dot"});
  REQUIRE(r.rc == 0);
  CHECK_THAT(r.out, Catch::StartsWith("digraph lineage {") &&
                        Catch::Contains("\"customers@0.2.0\" -> \"churn@0.2.0\" [label=\"input\"];"));
  if (std::system("command -v dot >/dev/null 2>&1") != 0) {
    WARN("graphviz is not installed: the dot output was not rendered");
    return;
  }
  sb.write("graph.dot", r.out);
  const auto svg = sb.exec({"dot", "-Tsvg", "graph.dot"});
  CHECK(svg.rc == 0);
  CHECK(svg.err.empty());
  CHECK_THAT(svg.out, Catch::Contains("<svg") && Catch::Contains("churn@0.1.0"));
}

TEST_CASE("lineage --format mermaid is a flowchart", "[e2e][lineage]") {
  Sandbox sb;
  populate(sb);
  const auto r = sb.run({"lineage", "churn@0.2.0", "--format", "mermaid"});
  REQUIRE(r.rc == 0);
  CHECK(r.out == "flowchart LR\n"
                 "  n0[\"churn@0.2.0\"]\n"
                 "  n1[(\"customers@0.2.0\")]\n"
                 "  n2[\"churn@0.1.0\"]\n"
                 "  n3[(\"customers@0.1.0\")]\n"
                 "  n1 -->|input| n0\n"
                 "  n2 -->|parent| n0\n"
                 "  n3 -->|input| n2\n");
}

TEST_CASE("lineage and linking refuse bad input clearly", "[e2e][lineage][bad-input]") {
  Sandbox sb;
  populate(sb);
  const long events = sb.event_count();
  auto r = sb.run({"lineage", "churn", "--depth", "-1"});
  CHECK(r.rc == 64);
  CHECK_THAT(r.err, Catch::Contains("--depth"));
  r = sb.run({"lineage", "churn", "--format", "png"});
  CHECK(r.rc == 64);
  CHECK_THAT(r.err, Catch::Contains("--format: png not in {text,json,dot,mermaid}"));
  r = sb.run({"lineage", "churn@production"});
  CHECK(r.rc == 66);
  CHECK_THAT(r.err, Catch::Contains("no version of 'churn' is in stage 'production'"));
  r = sb.run({"lineage", "churn", "--upstream", "--downstream"});
  CHECK(r.rc == 64);
  // A parent that is a descendant: a cycle.
  r = sb.run({"register", "churn", "m1.bin", "--version", "0.1.0", "--parent", "churn@0.2.0"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.err, Catch::Contains("refusing lineage cycle: 'churn@0.2.0' was made from 'churn@0.1.0'"));
  // Links to versions that do not exist, or of the wrong kind.
  sb.write("m3.bin", "three");
  r = sb.run({"register", "churn", "m3.bin", "--input", "customers@9.0.0"});
  CHECK(r.rc == 66);
  CHECK_THAT(r.err, Catch::Contains("no version '9.0.0' of 'customers'"));
  r = sb.run({"register", "churn", "m3.bin", "--input", "churn@0.1.0"});
  CHECK(r.rc == 64);
  CHECK_THAT(r.err, Catch::Contains("--input 'churn@0.1.0' is a model, not a dataset"));
  r = sb.run({"register", "churn", "m3.bin", "--parent", "customers@0.1.0"});
  CHECK(r.rc == 64);
  r = sb.run({"register", "churn", "m3.bin", "--input", "=data"});
  CHECK(r.rc == 64);
  CHECK(sb.event_count() == events);
}

TEST_CASE("show lists a version's inputs and parents", "[e2e][lineage][show]") {
  Sandbox sb;
  populate(sb);
  const auto j = sb.run({"show", "churn@0.2.0", "--json"}).json();
  CHECK(j["inputs"] == nlohmann::json::array({"customers@0.2.0"}));
  CHECK(j["parents"] == nlohmann::json::array({"churn@0.1.0"}));
  const auto text = sb.run({"show", "churn@0.2.0"}).out;
  CHECK_THAT(text, Catch::Contains("inputs       customers@0.2.0\nparents      churn@0.1.0\n"));
}

TEST_CASE("lineage edges are recorded in the log and checked by verify", "[e2e][lineage][verify]") {
  Sandbox sb;
  populate(sb);
  const auto events = sb.run({"history", "churn", "--json"}).json()["events"];
  CHECK(events[0]["payload"]["parents"][0]["version"] == "0.1.0");
  CHECK(events[0]["payload"]["inputs"][0]["name"] == "customers");
  CHECK(sb.run({"verify"}).rc == 0);
  // Named versions are checked with everything they link to, in any order.
  CHECK(sb.run({"verify", "churn@0.2.0"}).rc == 0);
  CHECK(sb.run({"verify", "churn@0.2.0", "customers@0.1.0"}).rc == 0);
  CHECK(sb.run({"verify", "customers@0.1.0", "churn@0.2.0"}).rc == 0);
  sb.sql("DELETE FROM edges WHERE relation = 'parent'");
  const auto r = sb.run({"verify"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.out, Catch::Contains("the log has a row in edges for 'churn@0.2.0 parent churn@0.1.0'"));
  CHECK(sb.run({"verify", "churn@0.2.0"}).rc == 1);
}
