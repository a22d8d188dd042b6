// GTO-compatible git tags: made by register, promote and rollback, read
// back by the real git, and explained by check-ref, also in a fresh clone
// as CI has it.

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>

#include "tests/e2e/sandbox.hpp"

using lm::test::RunResult;
using lm::test::Sandbox;
namespace fs = std::filesystem;

namespace {

const char* k_tagging_policy =
    "stages:\n  - name: sandbox\n  - name: staging\n    from: [sandbox]\n"
    "  - name: production\n    from: [staging]\ngit:\n  tags: true\n";

RunResult git(const Sandbox& sb, std::vector<std::string> args, const fs::path& cwd = {}) {
  args.insert(args.begin(), "git");
  return sb.exec(args, {.cwd = cwd});
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

std::string head(const Sandbox& sb) { return trimmed(git(sb, {"rev-parse", "HEAD"}).out); }

// "name type commit" for every tag, as git lists them.
std::string tag_listing(const Sandbox& sb, const fs::path& cwd = {}) {
  return git(sb, {"for-each-ref", "refs/tags", "--sort=refname",
                  "--format=%(refname:short) %(objecttype) %(*objectname)"},
             cwd)
      .out;
}

void commit_file(Sandbox& sb, const std::string& path, const std::string& content) {
  sb.write(path, content);
  REQUIRE(git(sb, {"add", path}).rc == 0);
  REQUIRE(git(sb, {"commit", "-q", "-m", "add " + path}).rc == 0);
}

// A registry with the tagging policy committed.
void setup(Sandbox& sb) {
  REQUIRE(sb.run({"init", "-q"}).rc == 0);
  commit_file(sb, "lastmile.yaml", k_tagging_policy);
}

}  // namespace

TEST_CASE("tags: registration and promotion make GTO's annotated tags at the model's commit", "[e2e][tags]") {
  Sandbox sb;
  setup(sb);
  commit_file(sb, "train.py", "v1\n");
  const std::string c1 = head(sb);
  sb.write("m.bin", "weights one");
  RunResult r = sb.run({"register", "churn", "m.bin", "--version", "1.4.0"});
  REQUIRE(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("tagged churn@v1.4.0 at " + c1.substr(0, 12)));
  commit_file(sb, "train.py", "v2\n");
  const std::string c2 = head(sb);
  sb.write("m.bin", "weights two");
  r = sb.run({"register", "churn", "m.bin", "--version", "1.5.0", "--json"});
  REQUIRE(r.rc == 0);
  CHECK(r.json()["tag"] == nlohmann::json({{"name", "churn@v1.5.0"}, {"commit", c2}, {"created", true}}));

  // Promotions number on across stages, and point at the version's commit,
  // not at HEAD.
  commit_file(sb, "later.txt", "x\n");
  REQUIRE(sb.run({"promote", "churn@1.4.0", "--to", "staging"}).rc == 0);
  r = sb.run({"promote", "churn@1.4.0", "--to", "production"});
  REQUIRE(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("promoted churn@1.4.0 to production") &&
                        Catch::Contains("tagged churn#production#2 at " + c1.substr(0, 12)));
  REQUIRE(sb.run({"promote", "churn@1.5.0", "--to", "staging"}).rc == 0);
  REQUIRE(sb.run({"promote", "churn@1.5.0", "--to", "production"}).rc == 0);
  r = sb.run({"rollback", "churn", "--stage", "production", "--reason", "latency", "--json"});
  REQUIRE(r.rc == 0);
  CHECK(r.json()["tag"]["name"] == "churn#production#5");
  CHECK(r.json()["tag"]["commit"] == c1);

  // Every tag is annotated: the ref names a tag object, which names the commit.
  CHECK(tag_listing(sb) == "churn#production#2 tag " + c1 + "\n" +  //
                               "churn#production#4 tag " + c2 + "\n" +  //
                               "churn#production#5 tag " + c1 + "\n" +  //
                               "churn#staging#1 tag " + c1 + "\n" +     //
                               "churn#staging#3 tag " + c2 + "\n" +     //
                               "churn@v1.4.0 tag " + c1 + "\n" +        //
                               "churn@v1.5.0 tag " + c2 + "\n");
  CHECK_THAT(git(sb, {"tag", "-l", "--format=%(contents:subject)", "churn@v1.4.0"}).out,
             Catch::Equals("Registering artifact churn version v1.4.0\n"));

  // Each tag git lists, check-ref explains.
  for (const auto& [tag, event, version, stage] :
       std::vector<std::tuple<std::string, std::string, std::string, std::string>>{
           {"churn@v1.4.0", "registration", "1.4.0", ""},
           {"churn#staging#3", "promotion", "1.5.0", "staging"},
           {"churn#production#5", "promotion", "1.4.0", "production"}}) {
    INFO(tag);
    r = sb.run({"check-ref", tag, "--json"});
    REQUIRE(r.rc == 0);
    const auto doc = r.json();
    CHECK(doc["event"] == event);
    CHECK(doc["name"] == "churn");
    CHECK(doc["version"] == version);
    CHECK(doc["stage"] == (stage.empty() ? nlohmann::json() : nlohmann::json(stage)));
    CHECK(doc["in_registry"] == true);
    CHECK(doc["annotated"] == true);
    CHECK(doc["tagger"] == "Ada Lovelace <ada@example.com>");
    CHECK(doc["digest"].get<std::string>().rfind("sha256:", 0) == 0);
  }
  r = sb.run({"check-ref", "refs/tags/churn#production#2"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::StartsWith("churn#production#2: promotion of churn@1.4.0 to production\n"));
  CHECK(r.err.empty());

  // Registering the same bytes again finds the tag in place.
  sb.write("m.bin", "weights one");
  r = sb.run({"register", "churn", "m.bin", "--version", "1.4.0"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("tag churn@v1.4.0 is already at " + c1.substr(0, 12)));
}

TEST_CASE("tags: --tag and --no-tag override lastmile.yaml, and without either none", "[e2e][tags]") {
  Sandbox sb;
  REQUIRE(sb.run({"init", "-q"}).rc == 0);
  sb.write("m.bin", "w");
  REQUIRE(sb.run({"register", "churn", "m.bin", "--version", "1.0.0"}).rc == 0);
  CHECK(tag_listing(sb).empty());
  REQUIRE(sb.run({"register", "churn", "m.bin", "--version", "1.0.0", "--tag"}).rc == 0);
  CHECK_THAT(tag_listing(sb), Catch::StartsWith("churn@v1.0.0 tag "));
  REQUIRE(sb.run({"promote", "churn@1.0.0", "--to", "staging", "--tag", "--dry-run"}).rc == 0);
  CHECK(tag_listing(sb).find("staging") == std::string::npos);  // a dry run tags nothing

  commit_file(sb, "lastmile.yaml", k_tagging_policy);
  sb.write("m2.bin", "w2");
  RunResult r = sb.run({"register", "churn", "m2.bin", "--no-tag"});
  REQUIRE(r.rc == 0);
  CHECK(r.out.find("tagged") == std::string::npos);
  CHECK(tag_listing(sb).find("churn@v1.1.0") == std::string::npos);
  r = sb.run({"register", "churn", "m2.bin", "--tag", "--no-tag"});
  CHECK(r.rc == 64);
  CHECK_THAT(r.err, Catch::Contains("excludes"));
  // Datasets are not tagged.
  REQUIRE(sb.run({"dataset", "register", "data", "m.bin"}).rc == 0);
  CHECK(tag_listing(sb).find("data") == std::string::npos);
}

TEST_CASE("tags: a registration that cannot be tagged is refused before anything is written", "[e2e][tags]") {
  SECTION("outside a git repository") {
    Sandbox sb(false);
    REQUIRE(sb.run({"init", "-q"}).rc == 0);
    sb.write("m.bin", "w");
    const long before = sb.event_count();
    const RunResult r = sb.run({"register", "churn", "m.bin", "--tag"});
    CHECK(r.rc == 78);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, Catch::Contains("lastmile: error: cannot tag 'churn'") &&
                          Catch::Contains("hint: commit first, or run without tags (--no-tag)"));
    CHECK(sb.event_count() == before);
  }
  SECTION("a repository with nothing committed") {
    Sandbox sb(false);
    REQUIRE(git(sb, {"init", "-q"}).rc == 0);
    REQUIRE(sb.run({"init", "-q"}).rc == 0);
    sb.write("m.bin", "w");
    const long before = sb.event_count();
    const RunResult r = sb.run({"register", "churn", "m.bin", "--version", "1.0.0", "--tag"});
    CHECK(r.rc == 78);
    CHECK_THAT(r.err, Catch::Contains("cannot tag 'churn@1.0.0': it has no git commit"));
    CHECK(sb.event_count() == before);
  }
  SECTION("a version whose tag name git refuses") {
    Sandbox sb;
    REQUIRE(sb.run({"init", "-q"}).rc == 0);
    sb.write("m.bin", "w");
    const RunResult r = sb.run({"register", "churn", "m.bin", "--version", "1.0.0+b.lock", "--tag"});
    CHECK(r.rc == 64);
    CHECK_THAT(r.err, Catch::Contains("cannot tag 'churn@1.0.0+b.lock': git refuses the tag name "
                                      "'churn@v1.0.0+b.lock': a part of it ends with '.lock'"));
    CHECK(sb.event_count() == 0);
  }
  SECTION("the next version's tag is already on another commit") {
    Sandbox sb;
    REQUIRE(sb.run({"init", "-q"}).rc == 0);
    REQUIRE(git(sb, {"tag", "-a", "churn@v0.1.0", "-m", "made elsewhere"}).rc == 0);
    commit_file(sb, "train.py", "new\n");
    sb.write("m.bin", "w");
    const RunResult r = sb.run({"register", "churn", "m.bin", "--tag"});  // 0.1.0, decided by the registry
    CHECK(r.rc == 1);
    CHECK_THAT(r.err, Catch::Contains("git tag 'churn@v0.1.0' points at commit"));
    CHECK(sb.event_count() == 0);
    CHECK(sb.stored_files().empty());
  }
  SECTION("the version's tag is already on another commit") {
    Sandbox sb;
    REQUIRE(sb.run({"init", "-q"}).rc == 0);
    REQUIRE(git(sb, {"tag", "-a", "churn@v1.0.0", "-m", "made elsewhere"}).rc == 0);
    commit_file(sb, "train.py", "new\n");
    sb.write("m.bin", "w");
    const long before = sb.event_count();
    const RunResult r = sb.run({"register", "churn", "m.bin", "--version", "1.0.0", "--tag"});
    CHECK(r.rc == 1);
    CHECK_THAT(r.err, Catch::Contains("git tag 'churn@v1.0.0' points at commit") &&
                          Catch::Contains("hint: inspect it with 'git show churn@v1.0.0'; tags are never moved"));
    CHECK(sb.event_count() == before);
  }
}

TEST_CASE("tags: a promotion whose commit this clone lacks is refused before it moves", "[e2e][tags]") {
  Sandbox sb;
  setup(sb);
  sb.write("m.bin", "w");
  // Registered from a commit that is then thrown away.
  commit_file(sb, "tmp.txt", "x\n");
  REQUIRE(sb.run({"register", "churn", "m.bin", "--version", "1.0.0", "--no-tag"}).rc == 0);
  REQUIRE(git(sb, {"reset", "-q", "--hard", "HEAD~1"}).rc == 0);
  REQUIRE(git(sb, {"reflog", "expire", "--expire=now", "--all"}).rc == 0);
  REQUIRE(git(sb, {"gc", "-q", "--prune=now"}).rc == 0);
  const long before = sb.event_count();
  const RunResult r = sb.run({"promote", "churn@1.0.0", "--to", "staging"});
  CHECK(r.rc == 66);
  CHECK_THAT(r.err, Catch::Contains("cannot tag 'churn@1.0.0': commit") &&
                        Catch::Contains("is not in this repository"));
  CHECK(sb.event_count() == before);
  CHECK(sb.run({"status", "churn", "--json"}).json()["models"][0]["stages"][1]["version"].is_null());

  // A rollback to it is refused the same way, before the stage moves back.
  commit_file(sb, "keep.txt", "y\n");
  sb.write("m2.bin", "w2");
  REQUIRE(sb.run({"register", "churn", "m2.bin", "--version", "2.0.0"}).rc == 0);
  REQUIRE(sb.run({"promote", "churn@1.0.0", "--to", "staging", "--no-tag"}).rc == 0);
  REQUIRE(sb.run({"promote", "churn@2.0.0", "--to", "staging"}).rc == 0);
  const long moved = sb.event_count();
  const RunResult back = sb.run({"rollback", "churn", "--stage", "staging", "--reason", "r"});
  CHECK(back.rc == 66);
  CHECK_THAT(back.err, Catch::Contains("cannot tag 'churn@1.0.0'"));
  CHECK(sb.event_count() == moved);
}

TEST_CASE("check-ref: a fresh clone without a registry reads what a pushed tag means", "[e2e][tags]") {
  Sandbox sb;
  setup(sb);
  sb.write("m.bin", "w");
  REQUIRE(sb.run({"register", "churn", "m.bin", "--version", "2.0.0"}).rc == 0);
  REQUIRE(sb.run({"promote", "churn@2.0.0", "--to", "staging"}).rc == 0);
  const fs::path remote = sb.root() / "remote.git";
  REQUIRE(git(sb, {"init", "-q", "--bare", remote.string()}).rc == 0);
  REQUIRE(git(sb, {"push", "-q", remote.string(), "main", "--tags"}).rc == 0);
  const fs::path clone = sb.root() / "clone";
  REQUIRE(git(sb, {"clone", "-q", remote.string(), clone.string()}, sb.root()).rc == 0);

  const fs::path output = sb.root() / "github-output";
  std::ofstream(output) << "earlier=1";  // an earlier step left its line open
  RunResult r = sb.exec({LASTMILE_BIN, "check-ref", "refs/tags/churn#staging#1", "--json"},
                        {.env = {{"GITHUB_OUTPUT", output.string()}}, .cwd = clone});
  REQUIRE(r.rc == 0);
  const auto doc = r.json();
  CHECK(doc["event"] == "promotion");
  CHECK(doc["version"] == "2.0.0");
  CHECK(doc["version_from"] == "annotation");
  CHECK(doc["in_registry"] == false);
  std::ifstream in(output);
  const std::string outputs((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK_THAT(outputs, Catch::StartsWith("earlier=1\nevent=promotion\n"));
  CHECK_THAT(outputs, Catch::Contains("event=promotion\nname=churn\nversion=2.0.0\nstage=staging\n") &&
                          Catch::Contains("\ndigest=sha256:"));

  // A shallow clone has no tags: the error says why and how to fix it.
  const fs::path shallow = sb.root() / "shallow";
  REQUIRE(git(sb, {"clone", "-q", "--depth", "1", "--no-tags", "file://" + remote.string(), shallow.string()},
              sb.root())
              .rc == 0);
  r = sb.exec({LASTMILE_BIN, "check-ref", "churn#staging#1"}, {.cwd = shallow});
  CHECK(r.rc == 66);
  CHECK(r.out.empty());
  CHECK_THAT(r.err, Catch::Contains("cannot check tag 'churn#staging#1': it is not in this repository") &&
                        Catch::Contains("this is a shallow clone") && Catch::Contains("fetch-depth: 0"));
}

TEST_CASE("check-ref: tags made by GTO or by hand, and tags that disagree with the registry", "[e2e][tags]") {
  Sandbox sb;
  REQUIRE(sb.run({"init", "-q"}).rc == 0);
  sb.write("m.bin", "w");
  REQUIRE(sb.run({"register", "churn", "m.bin", "--version", "1.0.0"}).rc == 0);
  // As GTO writes them: no trailers; the promoted version is the one
  // registered on the same commit.
  REQUIRE(git(sb, {"tag", "-a", "churn@v1.0.0", "-m", "Registering artifact churn version v1.0.0"}).rc == 0);
  REQUIRE(git(sb, {"tag", "-a", "churn#prod#1", "-m", "Assigning stage 'prod'"}).rc == 0);
  RunResult r = sb.run({"check-ref", "churn#prod#1", "--json"});
  REQUIRE(r.rc == 0);
  CHECK(r.json()["version"] == "1.0.0");
  CHECK(r.json()["version_from"] == "registration tag");
  CHECK(r.json()["in_registry"] == true);
  // A lightweight tag is read too, and says less.
  REQUIRE(git(sb, {"tag", "churn#prod!#2"}).rc == 0);
  r = sb.run({"check-ref", "churn#prod!#2", "--json"});
  REQUIRE(r.rc == 0);
  CHECK(r.json()["event"] == "unassignment");
  CHECK(r.json()["annotated"] == false);
  CHECK_THAT(r.err, Catch::Contains("warning: 'churn#prod!#2' is a lightweight tag: GTO ignores it"));
  CHECK(r.json()["tagger"].is_null());
  // A tag of a registered version on another commit than it came from.
  commit_file(sb, "later.txt", "z\n");
  REQUIRE(git(sb, {"tag", "-a", "churn#prod#3", "-m", "x\n\nLastmile-Version: 1.0.0"}).rc == 0);
  r = sb.run({"check-ref", "churn#prod#3"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.err, Catch::Contains("tag 'churn#prod#3' points at commit") &&
                        Catch::Contains("but the registry has churn@1.0.0 from"));
  // An annotation whose digest is not what the registry holds.
  REQUIRE(git(sb, {"tag", "-a", "churn@v1.0.0!", "-m",
                   "x\n\nLastmile-Digest: sha256:" + std::string(64, 'b')})
              .rc == 0);
  r = sb.run({"check-ref", "churn@v1.0.0!"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.err, Catch::Contains("names sha256:bbbb") && Catch::Contains("but the registry holds churn@1.0.0"));
}

TEST_CASE("check-ref: names git forbids and tags that are not model tags never reach git", "[e2e][tags]") {
  Sandbox sb;
  for (const std::string bad : {"churn@v1..0", "churn#prod#1 ", "-churn@v1.0.0", "churn@v1.0.0.lock",
                                "churn~1@v1.0.0", "churn@{1}", "churn:x@v1.0.0", "", "a\nb"}) {
    INFO(bad);
    const RunResult r = sb.run({"check-ref", "--", bad});
    CHECK(r.rc == 64);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, Catch::Contains("lastmile: error: cannot check tag") &&
                          Catch::Contains("git's ref rules forbid the name: ") &&
                          Catch::Contains("hint: see 'git check-ref-format --help'"));
  }
  for (const std::string other :
       {"v1.0.0", "release-2026", "churn@1.0.0", "Churn@v1.0.0", "churn#Prod#1", "churn@vv1.0.0"}) {
    INFO(other);
    const RunResult r = sb.run({"check-ref", other});
    CHECK(r.rc == 64);
    CHECK_THAT(r.err, Catch::Contains("cannot check tag '" + other + "': it is not a model tag") &&
                          Catch::Contains("hint: model tags are NAME@vVERSION"));
  }
  const RunResult r = sb.run({"check-ref", "churn@v1.0.0"});
  CHECK(r.rc == 66);
  CHECK_THAT(r.err, Catch::Contains("cannot check tag 'churn@v1.0.0': it is not in this repository"));
  CHECK_THAT(r.err, Catch::Contains("this clone has no tags"));
}

TEST_CASE("tags: concurrent promotions of one model each get their own number", "[e2e][tags]") {
  Sandbox sb;
  REQUIRE(sb.run({"init", "-q"}).rc == 0);
  std::string policy = "stages:\n  - name: sandbox\n";
  for (int i = 1; i <= 6; ++i) policy += "  - name: s" + std::to_string(i) + "\n    from: [sandbox]\n";
  commit_file(sb, "lastmile.yaml", policy + "git: {tags: true}\n");
  sb.write("m.bin", "w");
  REQUIRE(sb.run({"register", "churn", "m.bin", "--version", "1.0.0", "-q"}).rc == 0);
  std::vector<std::future<RunResult>> runs;
  for (int i = 1; i <= 6; ++i) {
    runs.push_back(std::async(std::launch::async, [&sb, i] {
      return sb.run({"promote", "churn@1.0.0", "--to", "s" + std::to_string(i), "--json"});
    }));
  }
  std::set<std::string> tags;
  for (auto& run : runs) {
    const RunResult r = run.get();
    INFO(r.err);
    REQUIRE(r.rc == 0);
    tags.insert(r.json()["tag"]["name"].get<std::string>());
  }
  CHECK(tags.size() == 6);
  std::set<std::string> numbers;
  for (const auto& tag : tags) numbers.insert(tag.substr(tag.rfind('#') + 1));
  CHECK(numbers == std::set<std::string>{"1", "2", "3", "4", "5", "6"});
  CHECK(git(sb, {"tag", "--list", "churn#*"}).out.size() > 0);
}
