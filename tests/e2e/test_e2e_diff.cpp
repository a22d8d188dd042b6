// lastmile diff

#include <catch2/catch.hpp>

#include "tests/e2e/sandbox.hpp"

using lm::test::Sandbox;

namespace {

void populate(Sandbox& sb) {
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("data/c.csv", "1\n");
  REQUIRE(sb.run({"dataset", "register", "customers", "data"}).rc == 0);
  sb.write("m/weights.bin", std::string(1000, 'a'));
  sb.write("m/config.json", "{}");
  sb.write("m/old.txt", "old");
  REQUIRE(sb.run({"register", "churn", "m", "--version", "1.0.0", "--metric", "auc=0.8",
                  "--metric", "loss=0.5", "--metric", "gone=1", "--param", "lr=0.01",
                  "--label", "team=growth", "--input", "customers@0.1.0"}).rc == 0);
  sb.write("m/weights.bin", std::string(1500, 'b'));
  std::filesystem::remove(sb.repo() / "m/old.txt");
  sb.write("m/new.txt", "new");
  sb.write("data/c.csv", "1\n2\n");
  REQUIRE(sb.run({"register", "churn", "m", "--version", "1.1.0", "--metric", "auc=0.84",
                  "--metric", "loss=0.4", "--metric", "f1=0.7", "--param", "lr=0.005",
                  "--label", "team=growth", "--input", "customers=data", "--parent", "churn@1.0.0"}).rc == 0);
}

}  // namespace

TEST_CASE("diff shows metrics with deltas, params, files, inputs and code", "[e2e][diff]") {
  Sandbox sb;
  populate(sb);
  const auto r = sb.run({"diff", "churn@1.0.0", "churn@1.1.0"});
  CHECK(r.rc == 0);
  CHECK(r.err.empty());
  CHECK_THAT(r.out, Catch::StartsWith("diff churn@1.0.0 → churn@1.1.0\ndigest   sha256:"));
  CHECK_THAT(r.out, Catch::Contains("metrics\n"
                                    "  auc   0.8 → 0.84  +0.04 (+5.0%)\n"
                                    "  f1    - → 0.7  (new)\n"
                                    "  gone  1 → -  (gone)\n"
                                    "  loss  0.5 → 0.4  -0.1 (-20.0%)\n"));
  CHECK_THAT(r.out, Catch::Contains("params\n  lr  0.01 → 0.005\n"));
  CHECK_THAT(r.out, !Catch::Contains("labels"));  // unchanged
  CHECK_THAT(r.out, Catch::Contains("files    1 changed, 1 added, 1 removed, 1 unchanged\n"
                                    "  + new.txt  3 B\n"
                                    "  - old.txt  3 B\n"
                                    "  ~ weights.bin  1000 B → 1.5 KiB (+500 B)\n"));
  CHECK_THAT(r.out, Catch::Contains("inputs\n  - customers@0.1.0\n  + customers@0.2.0\n"
                                    "parents\n  + churn@1.0.0\n"));
  CHECK_THAT(r.out, Catch::Contains("code     the same commit ("));
}

TEST_CASE("diff --json has a stable shape", "[e2e][diff][json]") {
  Sandbox sb;
  populate(sb);
  const auto j = sb.run({"diff", "churn@1.0.0", "churn@1.1.0", "--json"}).json();
  CHECK(j["before"] == "churn@1.0.0");
  CHECK(j["after"] == "churn@1.1.0");
  CHECK(j["same_digest"] == false);
  const auto auc = j["metrics"][0];
  CHECK(auc["key"] == "auc");
  CHECK(auc["before"] == 0.8);
  CHECK(auc["after"] == 0.84);
  CHECK(auc["delta"].get<double>() == Approx(0.04));
  CHECK(auc["relative"].get<double>() == Approx(0.05));
  CHECK(auc["better"].is_null());
  CHECK(j["files_unchanged"] == 1);
  CHECK(j["files"].size() == 3);
  CHECK(j["inputs"]["added"][0] == "customers@0.2.0");
  CHECK(j["code"]["before"]["commit"] == j["code"]["after"]["commit"]);
  CHECK(sb.run({"diff", "churn@1.0.0", "churn@1.1.0", "--format", "json"}).json() == j);
}

TEST_CASE("diff --format md is a pull-request comment", "[e2e][diff]") {
  Sandbox sb;
  populate(sb);
  const auto r = sb.run({"diff", "churn@1.0.0", "churn@1.1.0", "--format", "md"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::StartsWith("### `churn@1.0.0` → `churn@1.1.0`\n\n"
                                      "| metric | `churn@1.0.0` | `churn@1.1.0` | Δ | Δ % |\n"
                                      "|---|---:|---:|---:|---:|\n"
                                      "| auc | 0.8 | 0.84 | +0.04 | +5.0% |\n"));
  CHECK_THAT(r.out, Catch::Contains("| changed | weights.bin | 1000 B → 1.5 KiB (+500 B) |") &&
                        Catch::Contains("**Inputs:** −`customers@0.1.0`, +`customers@0.2.0`") &&
                        Catch::Contains("**Parents:** +`churn@1.0.0`"));
}

TEST_CASE("diff takes any reference form and refuses bad ones", "[e2e][diff]") {
  Sandbox sb;
  populate(sb);
  const std::string digest = sb.run({"show", "churn@1.0.0", "--json"}).json()["digest"];
  auto r = sb.run({"diff", "churn@sha256:" + digest.substr(7, 12), "churn", "--json"});
  REQUIRE(r.rc == 0);
  CHECK(r.json()["before"] == "churn@1.0.0");
  CHECK(r.json()["after"] == "churn@1.1.0");
  r = sb.run({"diff", "churn", "churn", "--json"});
  CHECK(r.json()["same_digest"] == true);
  CHECK(r.json()["files"].empty());
  r = sb.run({"diff", "churn@production", "churn"});
  CHECK(r.rc == 66);
  CHECK_THAT(r.err, Catch::Contains("no version of 'churn' is in stage 'production'"));
  r = sb.run({"diff", "churn", "churn", "--format", "html"});
  CHECK(r.rc == 64);
  r = sb.run({"diff", "churn"});
  CHECK(r.rc == 64);
  CHECK_THAT(r.err, Catch::Contains("REF2 is required"));
}

TEST_CASE("diff escapes values that would break a table or a terminal", "[e2e][diff]") {
  Sandbox sb(false);
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("a.bin", "a");
  sb.write("b.bin", "b");
  REQUIRE(sb.run({"register", "m", "a.bin", "--label", "note=a|b"}).rc == 0);
  REQUIRE(sb.run({"register", "m", "b.bin", "--label", "note=line\nbreak"}).rc == 0);
  const auto md = sb.run({"diff", "m@0.1.0", "m@0.2.0", "--format", "md"});
  CHECK_THAT(md.out, Catch::Contains("| note | a\\|b | line\\\\nbreak |"));
  const auto text = sb.run({"diff", "m@0.1.0", "m@0.2.0"});
  CHECK_THAT(text.out, Catch::Contains("note  a|b → line\\nbreak"));
  // Outside git neither version records code: not "the same commit".
  CHECK_THAT(text.out, Catch::Contains("code     not recorded → not recorded"));
}
