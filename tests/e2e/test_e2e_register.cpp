// lastmile register

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "tests/e2e/sandbox.hpp"

using lm::test::Sandbox;
namespace fs = std::filesystem;

namespace {

Sandbox& ready(Sandbox& sb) {
  REQUIRE(sb.run({"init"}).rc == 0);
  return sb;
}

std::string head_commit(const Sandbox& sb) {
  auto r = sb.exec({"git", "rev-parse", "HEAD"});
  r.out.pop_back();
  return r.out;
}

}  // namespace

TEST_CASE("register a file: first version 0.1.0, digest, provenance", "[e2e][register]") {
  Sandbox sb;
  ready(sb);
  sb.write("model.pkl", "weights");
  const auto r = sb.run({"register", "churn", "model.pkl"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::Matches("registered churn@0\\.1\\.0  sha256:[0-9a-f]{64}  \\(7 B in 1 file\\)\n"));
  CHECK(r.err.empty());
  const auto j = sb.run({"show", "churn@0.1.0", "--json"}).json();
  CHECK(j["name"] == "churn");
  CHECK(j["version"] == "0.1.0");
  CHECK(j["kind"] == "model");
  CHECK(j["size"] == 7);
  CHECK(j["files"] == 1);
  CHECK(j["store"] == "copy");
  CHECK(j["manifest"][0]["path"] == "model.pkl");
  CHECK(j["git"]["commit"] == head_commit(sb));
  CHECK(j["git"]["branch"] == "main");
  CHECK(j["git"]["dirty"] == false);
  CHECK(j["registered_by"] == "Ada Lovelace <ada@example.com>");
  CHECK(sb.event_count() == 1);
}

TEST_CASE("versions: next minor by default, --bump, --version, pre-releases", "[e2e][register]") {
  Sandbox sb;
  ready(sb);
  sb.write("a.bin", "a");
  auto version_of = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"register", "churn", "a.bin", "--json"});
    const auto r = sb.run(args);
    INFO(r.err);
    REQUIRE(r.rc == 0);
    return r.json()["version"].get<std::string>();
  };
  CHECK(version_of({}) == "0.1.0");
  CHECK(version_of({}) == "0.2.0");
  CHECK(version_of({"--bump", "patch"}) == "0.2.1");
  CHECK(version_of({"--bump", "major"}) == "1.0.0");
  CHECK(version_of({"--version", "v2.0.0-rc.1"}) == "2.0.0-rc.1");
  CHECK(version_of({"--version", "1.5.0+build.7"}) == "1.5.0+build.7");
  // latest is the highest release; the next minor follows the highest version.
  CHECK(sb.run({"show", "churn", "--json"}).json()["version"] == "1.5.0+build.7");
  CHECK(version_of({}) == "2.0.0");
  const auto both = sb.run({"register", "churn", "a.bin", "--version", "3.0.0", "--bump", "major"});
  CHECK(both.rc == 64);
  CHECK_THAT(both.err, Catch::Contains("--bump") && Catch::Contains("--version"));
}

TEST_CASE("the same bytes under the same version is a no-op that says so", "[e2e][register]") {
  Sandbox sb;
  ready(sb);
  sb.write("a.bin", "a");
  REQUIRE(sb.run({"register", "churn", "a.bin", "--version", "1.0.0"}).rc == 0);
  const auto files = sb.stored_files();
  const auto r = sb.run({"register", "churn", "a.bin", "--version", "1.0.0"});
  CHECK(r.rc == 0);
  CHECK(r.out == "churn@1.0.0 is already registered with these bytes; nothing changed\n");
  CHECK(sb.event_count() == 1);
  CHECK(sb.stored_files() == files);
  const auto j = sb.run({"register", "churn", "a.bin", "--version", "1.0.0", "--json"}).json();
  CHECK(j["created"] == false);
  const auto meta = sb.run({"register", "churn", "a.bin", "--version", "1.0.0", "--owner", "bob"});
  CHECK(meta.rc == 0);
  CHECK_THAT(meta.err, Catch::Contains("warning: the metadata given now differs"));
}

TEST_CASE("other bytes under an existing version are refused, nothing written", "[e2e][register]") {
  Sandbox sb;
  ready(sb);
  sb.write("a.bin", "a");
  sb.write("b.bin", "b");
  REQUIRE(sb.run({"register", "churn", "a.bin", "--version", "1.0.0"}).rc == 0);
  const auto files = sb.stored_files();
  const auto r = sb.run({"register", "churn", "b.bin", "--version", "1.0.0"});
  CHECK(r.rc == 1);
  CHECK(r.out.empty());
  CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: version 'churn@1.0.0' already exists with other content (sha256:") &&
                        Catch::Contains("hint: versions never change"));
  CHECK(sb.event_count() == 1);
  CHECK(sb.stored_files() == files);
  CHECK(sb.run({"verify"}).rc == 0);
}

TEST_CASE("metrics, params, labels, owner and description are recorded", "[e2e][register]") {
  Sandbox sb;
  ready(sb);
  sb.write("a.bin", "a");
  sb.write("metrics.json", R"({"auc": 0.91, "eval": {"loss": 0.25, "at": {"k": 5}}, "f1": 0.5})");
  const auto r = sb.run({"register", "churn", "a.bin", "--metrics", "metrics.json", "--metric",
                         "f1=0.7", "--param", "lr=0.01", "--param", "epochs=3", "--label",
                         "team=growth", "--owner", "ada", "--description", "first cut"});
  REQUIRE(r.rc == 0);
  const auto j = sb.run({"show", "churn", "--json"}).json();
  CHECK(j["metrics"]["auc"] == 0.91);
  CHECK(j["metrics"]["eval.loss"] == 0.25);
  CHECK(j["metrics"]["eval.at.k"] == 5);
  CHECK(j["metrics"]["f1"] == 0.7);  // --metric wins over the file
  CHECK(j["params"]["lr"] == "0.01");
  CHECK(j["params"]["epochs"] == "3");
  CHECK(j["labels"]["team"] == "growth");
  CHECK(j["owner"] == "ada");
  CHECK(j["description"] == "first cut");
  const auto text = sb.run({"show", "churn"}).out;
  CHECK_THAT(text, Catch::Contains("auc=0.91") && Catch::Contains("eval.loss=0.25") &&
                       Catch::Contains("lr=0.01") && Catch::Contains("team=growth"));
}

TEST_CASE("YAML metrics files, and values that are not numbers kept as labels", "[e2e][register]") {
  Sandbox sb;
  ready(sb);
  sb.write("a.bin", "a");
  sb.write("metrics.yaml", "auc: 0.91\neval:\n  loss: 0.2\n  split: holdout\n  ok: true\n");
  const auto r = sb.run({"register", "churn", "a.bin", "--metrics", "metrics.yaml", "--label", "eval.ok=checked"});
  REQUIRE(r.rc == 0);
  CHECK_THAT(r.err, Catch::Contains("note: 'eval.split' in the metrics is not a number; kept as a label"));
  CHECK_THAT(r.err, !Catch::Contains("'eval.ok'"));  // replaced by --label: no note
  const auto j = sb.run({"show", "churn", "--json"}).json();
  CHECK(j["metrics"] == nlohmann::json{{"auc", 0.91}, {"eval.loss", 0.2}});
  CHECK(j["labels"] == nlohmann::json{{"eval.split", "holdout"}, {"eval.ok", "checked"}});  // --label wins
  // A later file wins over an earlier one; a label value is checked before anything is written.
  sb.write("later.json", R"({"auc": 0.95, "eval": {"split": 7}})");
  REQUIRE(sb.run({"register", "churn", "a.bin", "--version", "2.0.0", "--metrics", "metrics.yaml",
                  "--metrics", "later.json"}).rc == 0);
  const auto k = sb.run({"show", "churn@2.0.0", "--json"}).json();
  CHECK(k["metrics"]["auc"] == 0.95);
  CHECK(k["metrics"]["eval.split"] == 7);
  CHECK_FALSE(k["labels"].contains("eval.split"));
  sb.write("huge.json", "{\"note\": \"" + std::string(5000, 'x') + "\"}");
  const long events = sb.event_count();
  const auto huge = sb.run({"register", "churn", "a.bin", "--metrics", "huge.json"});
  CHECK(huge.rc == 65);
  CHECK_THAT(huge.err, Catch::Contains("value of 'note' in 'huge.json' is 5000 bytes long"));
  CHECK(sb.event_count() == events);
}

TEST_CASE("a directory: nested files, executable bits and inner symlinks", "[e2e][register]") {
  Sandbox sb;
  ready(sb);
  sb.write("model/config.json", "{}");
  sb.write("model/weights/part-0.bin", std::string(5000, 'x'));
  sb.write("model/serve.sh", "#!/bin/sh\n");
  ::chmod((sb.repo() / "model/serve.sh").c_str(), 0755);
  fs::create_symlink("weights/part-0.bin", sb.repo() / "model/current.bin");
  const auto r = sb.run({"register", "churn", "model", "--json"});
  INFO(r.err);
  REQUIRE(r.rc == 0);
  CHECK(r.json()["files"] == 3);
  const auto m = sb.run({"show", "churn", "--json"}).json()["manifest"];
  REQUIRE(m.size() == 4);
  CHECK(m[0]["path"] == "config.json");
  CHECK(m[1]["path"] == "current.bin");
  CHECK(m[1]["link"] == "weights/part-0.bin");
  CHECK(m[2]["path"] == "serve.sh");
  CHECK(m[2]["executable"] == true);
  CHECK(m[3]["path"] == "weights/part-0.bin");
  CHECK(m[3]["size"] == 5000);
}

TEST_CASE("the same bytes and names give the same digest wherever they are", "[e2e][register]") {
  Sandbox sb;
  ready(sb);
  sb.write("one/m/w.bin", "w");
  sb.write("two/m/w.bin", "w");
  const auto a = sb.run({"register", "a", "one/m", "--json"}).json();
  const auto b = sb.run({"register", "b", "two/m", "--json"}).json();
  CHECK(a["digest"] == b["digest"]);
  CHECK(b["new_objects"] == 0);  // the store already had the bytes
}

TEST_CASE("git provenance: dirty work tree, remote without credentials", "[e2e][register]") {
  Sandbox sb;
  ready(sb);
  sb.git({"remote", "add", "origin", "https://ci-bot:s3cret-token@git.example.com/team/churn.git"});
  sb.write("README.md", "changed\n");
  sb.write("a.bin", "a");
  const auto r = sb.run({"register", "churn", "a.bin"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.err, Catch::Contains("uncommitted changes"));
  const auto j = sb.run({"show", "churn", "--json"}).json();
  CHECK(j["git"]["dirty"] == true);
  CHECK(j["git"]["remote"] == "https://git.example.com/team/churn.git");
  const auto history = sb.run({"history", "--json"}).out;
  CHECK_THAT(history, !Catch::Contains("s3cret"));
}

TEST_CASE("detached HEAD and an unborn branch are recorded as they are", "[e2e][register]") {
  Sandbox sb;
  ready(sb);
  sb.git({"checkout", "-q", "--detach"});
  sb.write("a.bin", "a");
  REQUIRE(sb.run({"register", "churn", "a.bin"}).rc == 0);
  auto j = sb.run({"show", "churn", "--json"}).json();
  CHECK(j["git"]["branch"] == "");
  CHECK(j["git"]["commit"].get<std::string>().size() == 40);

  Sandbox fresh(false);
  fresh.git({"init", "-q", "-b", "trunk"});
  REQUIRE(fresh.run({"init"}).rc == 0);
  fresh.write("a.bin", "a");
  REQUIRE(fresh.run({"register", "churn", "a.bin"}).rc == 0);
  j = fresh.run({"show", "churn", "--json"}).json();
  CHECK(j["git"]["commit"] == "");
  CHECK(j["git"]["branch"] == "trunk");
}

TEST_CASE("outside git lastmile works and records no provenance", "[e2e][register]") {
  Sandbox sb(false);
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("a.bin", "a");
  const auto r = sb.run({"register", "churn", "a.bin"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.err, Catch::Contains("not in a git repository"));
  CHECK(sb.run({"show", "churn", "--json"}).json()["git"].is_null());
  CHECK_THAT(sb.run({"show", "churn"}).out, Catch::Contains("not recorded"));
}

TEST_CASE("the actor comes from LASTMILE_ACTOR, then CI, then git, then $USER", "[e2e][register]") {
  Sandbox sb;
  ready(sb);
  sb.write("a.bin", "a");
  REQUIRE(sb.run({"register", "a", "a.bin"}, {.env = {{"LASTMILE_ACTOR", "release-bot"}, {"GITHUB_ACTOR", "octo"}}}).rc == 0);
  REQUIRE(sb.run({"register", "b", "a.bin"}, {.env = {{"GITHUB_ACTOR", "octo"}}}).rc == 0);
  REQUIRE(sb.run({"register", "c", "a.bin"}, {.env = {{"GITLAB_USER_LOGIN", "tanuki"}}}).rc == 0);
  REQUIRE(sb.run({"register", "d", "a.bin"}, {.env = {{"GIT_AUTHOR_NAME", "Grace"}, {"GIT_AUTHOR_EMAIL", "grace@example.com"}}}).rc == 0);
  const auto nogit = sb.run({"register", "e", "a.bin"}, {.env = {{"HOME", sb.root().string()}}});
  REQUIRE(nogit.rc == 0);
  CHECK(sb.run({"show", "a", "--json"}).json()["registered_by"] == "release-bot");
  CHECK(sb.run({"show", "b", "--json"}).json()["registered_by"] == "octo");
  CHECK(sb.run({"show", "c", "--json"}).json()["registered_by"] == "tanuki");
  CHECK(sb.run({"show", "d", "--json"}).json()["registered_by"] == "Grace <grace@example.com>");
  CHECK(sb.run({"show", "e", "--json"}).json()["registered_by"].get<std::string>().rfind("ada@", 0) == 0);
}

TEST_CASE("store mode reference records hashes and the path without copying", "[e2e][register]") {
  Sandbox sb;
  ready(sb);
  sb.write("big/w.bin", std::string(100000, 'w'));
  const auto r = sb.run({"register", "churn", "big", "--store", "reference", "--json"});
  REQUIRE(r.rc == 0);
  CHECK(r.json()["store"] == "reference");
  CHECK(r.json()["source"] == (sb.repo() / "big").string());
  CHECK(sb.stored_files().empty());
  CHECK(sb.run({"verify", "churn"}).rc == 0);
  sb.write("big/w.bin", std::string(99999, 'w') + "!");
  const auto v = sb.run({"verify", "churn"});
  CHECK(v.rc == 1);
  CHECK_THAT(v.out, Catch::Contains("w.bin: content changed"));
}

TEST_CASE("register --json has a stable shape", "[e2e][register][json]") {
  Sandbox sb;
  ready(sb);
  sb.write("a.bin", "a");
  const auto j = sb.run({"register", "churn", "a.bin", "--json"}).json();
  for (const char* key : {"name", "version", "ref", "kind", "digest", "size", "files", "store",
                          "source", "owner", "description", "git", "registered_at",
                          "registered_by", "event", "created", "new_objects", "new_bytes",
                          "metadata_differs"}) {
    INFO(key);
    CHECK(j.contains(key));
  }
  CHECK(j["ref"] == "churn@0.1.0");
  CHECK(j["created"] == true);
  CHECK(j["new_objects"] == 1);
}

TEST_CASE("a progress bar appears on a terminal when hashing takes over a second", "[e2e][register][progress]") {
  Sandbox sb;
  ready(sb);
  // A sparse file: no disk used, but 1.5 GiB to hash.
  const fs::path big = sb.repo() / "big.bin";
  { std::ofstream f(big); }
  fs::resize_file(big, std::uint64_t{1536} << 20);
  const std::string command =
      std::string(LASTMILE_BIN) + " register big big.bin --store reference";
  // script(1) runs the command with a pseudo-terminal as its stderr.
  const auto r = sb.exec({"script", "-qfec", command, "/dev/null"}, {.env = {{"TERM", "xterm"}}});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("hashing [") && Catch::Contains("GiB / 1.5 GiB") &&
                        Catch::Contains("registered big@0.1.0"));
}

TEST_CASE("registering bytes again repairs a damaged stored copy", "[e2e][register][verify]") {
  Sandbox sb;
  ready(sb);
  sb.write("m/w.bin", std::string(1000, 'w'));
  REQUIRE(sb.run({"register", "a", "m"}).rc == 0);
  const std::string sha = sb.run({"show", "a", "--json"}).json()["manifest"][0]["sha256"];
  const fs::path object = sb.registry() / "objects/sha256" / sha.substr(0, 2) / sha.substr(2);
  ::chmod(object.c_str(), 0644);
  { std::ofstream(object) << std::string(1000, 'X'); }
  CHECK(sb.run({"verify"}).rc == 1);
  sb.write("m2/w.bin", std::string(1000, 'w'));
  sb.write("m2/extra.txt", "more");
  REQUIRE(sb.run({"register", "b", "m2"}).rc == 0);
  // The damaged object was not trusted: the fresh copy replaced it.
  CHECK(sb.run({"verify"}).rc == 0);
  CHECK(sb.run({"verify", "--deep"}).rc == 0);
  CHECK(sb.read(object) == std::string(1000, 'w'));
}

TEST_CASE("the model format is recognised at registration, or given", "[e2e][register][format]") {
  Sandbox sb;
  ready(sb);
  sb.write("hf/config.json", "{}");
  sb.write("hf/model.safetensors", "weights");
  sb.write("model.onnx", std::string("\x08\x07\x12\x04", 4));
  sb.write("model.bin", "GGUF\x03");
  const auto format_of = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "register");
    args.push_back("--json");
    const auto r = sb.run(args);
    INFO(r.err);
    REQUIRE(r.rc == 0);
    return r.json()["format"].get<std::string>();
  };
  CHECK(format_of({"hf", "hf"}) == "huggingface");
  CHECK(format_of({"onnx", "model.onnx"}) == "onnx");
  CHECK(format_of({"llm", "model.bin"}) == "gguf");
  CHECK(format_of({"custom", "model.bin", "--format", "my-runtime"}) == "my-runtime");
  CHECK_THAT(sb.run({"show", "onnx"}).out, Catch::Contains("format       onnx\n"));
  const auto bad = sb.run({"register", "x", "model.bin", "--format", "Not Valid"});
  CHECK(bad.rc == 64);
  CHECK_THAT(bad.err, Catch::Contains("invalid format 'Not Valid'"));
  const auto again = sb.run({"register", "onnx", "model.onnx", "--version", "0.1.0", "--format", "other"});
  CHECK(again.rc == 0);
  CHECK_THAT(again.err, Catch::Contains("warning: the metadata given now differs"));
  const auto data = sb.run({"dataset", "register", "d", "model.onnx", "--json"});
  CHECK(data.json()["format"] == "");
}

TEST_CASE("register in a shallow clone records the commit and warns once, a full clone does not",
          "[e2e][register]") {
  Sandbox sb;
  sb.write("models/m.bin", "weights");
  sb.git({"add", "models"});
  sb.git({"commit", "-q", "-m", "model"});
  sb.git({"tag", "churn@v0.1.0", "HEAD~1"});
  sb.write("notes.txt", "more history");
  sb.git({"add", "notes.txt"});
  sb.git({"commit", "-q", "-m", "notes"});
  const std::string url = "file://" + sb.repo().string();
  REQUIRE(sb.exec({"git", "clone", "-q", "--depth", "1", url, (sb.root() / "shallow").string()}).rc == 0);
  REQUIRE(sb.exec({"git", "clone", "-q", url, (sb.root() / "full").string()}).rc == 0);

  const lm::test::RunOptions shallow{.cwd = sb.root() / "shallow"};
  REQUIRE(sb.run({"init", "-q"}, shallow).rc == 0);
  auto r = sb.run({"register", "churn", "models/m.bin"}, shallow);
  REQUIRE(r.rc == 0);
  const std::string warning = "lastmile: warning: this is a shallow clone without tags:";
  CHECK_THAT(r.err, Catch::Contains(warning) && Catch::Contains("'git fetch --unshallow --tags'") &&
                        Catch::Contains("actions/checkout with 'fetch-depth: 0'") &&
                        Catch::Contains("GIT_DEPTH: \"0\""));
  CHECK(r.err.find("lastmile: warning:") == r.err.rfind("lastmile: warning:"));
  const auto j = sb.run({"show", "churn", "--json"}, shallow).json();
  CHECK(j["git"]["commit"] == head_commit(sb));
  CHECK(j["git"]["branch"] == "main");
  // The same bytes under the same version record nothing, and warn of nothing.
  r = sb.run({"register", "churn", "models/m.bin", "--version", "0.1.0"}, shallow);
  CHECK(r.rc == 0);
  CHECK_THAT(r.err, !Catch::Contains("shallow"));
  // A shallow clone that has a tag is still shallow.
  REQUIRE(sb.exec({"git", "-C", (sb.root() / "shallow").string(), "tag", "v-local"}).rc == 0);
  r = sb.run({"register", "churn", "models/m.bin", "--version", "2.0.0"}, shallow);
  CHECK(r.rc == 0);
  CHECK_THAT(r.err, Catch::Contains("lastmile: warning: this is a shallow clone:"));

  const lm::test::RunOptions full{.cwd = sb.root() / "full"};
  REQUIRE(sb.run({"init", "-q"}, full).rc == 0);
  r = sb.run({"register", "churn", "models/m.bin"}, full);
  CHECK(r.rc == 0);
  CHECK_THAT(r.err, !Catch::Contains("shallow") && !Catch::Contains("warning"));
}
