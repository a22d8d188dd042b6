// Bad input: each gives a clear error naming the input, the exit code of
// DESIGN.md §9, and writes nothing.

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <algorithm>

#include "tests/e2e/sandbox.hpp"

using lm::test::RunResult;
using lm::test::Sandbox;
namespace fs = std::filesystem;

namespace {

// A registry with one version, and a way to check that a command left it as
// it was.
struct Fixture {
  Sandbox sb;
  std::vector<std::string> files;
  long events = 0;

  Fixture() {
    REQUIRE(sb.run({"init"}).rc == 0);
    sb.write("model.bin", "weights");
    REQUIRE(sb.run({"register", "churn", "model.bin"}).rc == 0);
    files = sb.stored_files();
    events = sb.event_count();
  }

  RunResult refused(const std::vector<std::string>& args, int rc, const std::string& message,
                    const lm::test::RunOptions& opts = {}) {
    const RunResult r = sb.run(args, opts);
    INFO("args: " << args.back() << "\nstderr: " << r.err);
    CHECK(r.rc == rc);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: ") && Catch::Contains(message));
    CHECK(sb.event_count() == events);
    CHECK(sb.stored_files() == files);
    return r;
  }
};

}  // namespace

TEST_CASE("bad model names are usage errors quoting the name and the rule", "[e2e][bad-input]") {
  Fixture f;
  const std::pair<std::string, std::string> cases[] = {
      {"../x", "invalid model name '../x'"},
      {"A B", "invalid model name 'A B'"},
      {"a//b", "invalid model name 'a//b': it has an empty segment"},
      {"churn\r", "invalid model name 'churn\\r'"},
      {std::string(200, 'a'), "it is 200 bytes long (at most 128)"},
      {"x'); DROP TABLE models;--", "invalid model name"},
      {"a/b.lock", "'.lock'"},
  };
  for (const auto& [name, message] : cases) {
    const auto r = f.refused({"register", name, "model.bin"}, 64, message);
    CHECK_THAT(r.err, Catch::Contains("hint: names are '/'-separated segments"));
  }
  CHECK(f.sb.run({"list", "--json"}).json()["models"].size() == 1);
}

TEST_CASE("bad versions are usage errors quoting the version", "[e2e][bad-input]") {
  Fixture f;
  for (std::string v : {"1.2", "01.2.3", "1.2.3; rm -rf /", "1.2.3.4", "latest"}) {
    f.refused({"register", "churn", "model.bin", "--version", v}, 64,
              "invalid version '" + v + "' (SemVer 2.0.0 required)");
  }
  f.refused({"register", "churn", "model.bin", "--bump", "huge"}, 64,
            "invalid bump 'huge': use major, minor or patch");
}

TEST_CASE("a path that does not exist is not found", "[e2e][bad-input]") {
  Fixture f;
  f.refused({"register", "churn", "no/such/model.bin"}, 66,
            "cannot register 'no/such/model.bin': no such file or directory");
}

TEST_CASE("a FIFO is refused, alone or inside a directory", "[e2e][bad-input]") {
  Fixture f;
  REQUIRE(::mkfifo((f.sb.repo() / "pipe").c_str(), 0644) == 0);
  f.refused({"register", "churn", "pipe"}, 65, "cannot register 'pipe': it is a FIFO");
  f.sb.write("dir/w.bin", "w");
  REQUIRE(::mkfifo((f.sb.repo() / "dir/pipe").c_str(), 0644) == 0);
  f.refused({"register", "churn", "dir"}, 65, "dir/pipe': it is a FIFO");
}

TEST_CASE("a symlink that leaves the artifact tree is refused", "[e2e][bad-input]") {
  Fixture f;
  f.sb.write("secret.txt", "do not ship");
  f.sb.write("model/w.bin", "w");
  fs::create_symlink("../secret.txt", f.sb.repo() / "model/extra");
  f.refused({"register", "churn", "model"}, 65, "refusing symlink") ;
  const auto r = f.sb.run({"register", "churn", "model"});
  CHECK_THAT(r.err, Catch::Contains("model/extra' -> '../secret.txt': it resolves outside the artifact"));
  fs::remove(f.sb.repo() / "model/extra");
  fs::create_symlink("/etc/passwd", f.sb.repo() / "model/passwd");
  f.refused({"register", "churn", "model"}, 65, "'/etc/passwd': it is absolute");
}

TEST_CASE("malformed metrics files are data errors naming the file", "[e2e][bad-input]") {
  Fixture f;
  f.sb.write("broken.json", "{\"auc\": 0.9,");
  f.refused({"register", "churn", "model.bin", "--metrics", "broken.json"}, 65,
            "malformed JSON in 'broken.json'");
  f.sb.write("list.json", "[0.9]");
  f.refused({"register", "churn", "model.bin", "--metrics", "list.json"}, 65,
            "must hold an object of metrics");
  f.sb.write("broken.yaml", "auc: [0.9\n");
  f.refused({"register", "churn", "model.bin", "--metrics", "broken.yaml"}, 65,
            "malformed YAML in 'broken.yaml': line ");
  f.refused({"register", "churn", "model.bin", "--metrics", "missing.json"}, 66,
            "cannot read metrics file: cannot open 'missing.json': no such file or directory");
  f.refused({"register", "churn", "model.bin", "--metric", "auc=high"}, 64,
            "metric 'auc' is not a number: 'high'");
}

TEST_CASE("malformed key=value options are usage errors", "[e2e][bad-input]") {
  Fixture f;
  f.refused({"register", "churn", "model.bin", "--param", "lr"}, 64, "--param expects KEY=VALUE, got 'lr'");
  f.refused({"register", "churn", "model.bin", "--label", "bad key=x"}, 64, "invalid key 'bad key' for --label");
  f.refused({"register", "churn", "model.bin", "--store", "cloud"}, 64,
            "invalid store mode 'cloud': use copy or reference");
}

TEST_CASE("a registry that is not writable is a permission error", "[e2e][bad-input]") {
  Fixture f;
  // chmod does not stop root, so the command runs as an unprivileged user.
  for (const char* sub : {"", "objects", "objects/sha256", "tmp"}) {
    ::chmod((f.sb.registry() / sub).c_str(), 0555);
  }
  f.refused({"register", "other", "model.bin"}, 77,
            "cannot write to registry '" + f.sb.registry().string() + "'",
            {.as_unprivileged_user = true});
  // Reading still works.
  const auto r = f.sb.run({"list"}, {.as_unprivileged_user = true});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("churn"));
}

TEST_CASE("bad references are usage errors, missing ones not found", "[e2e][bad-input]") {
  Fixture f;
  f.refused({"show", "churn@1.2"}, 64, "invalid reference 'churn@1.2'");
  f.refused({"show", "churn@sha256:abc"}, 64, "a digest needs 12 to 64 hex digits");
  f.refused({"show", "Churn"}, 64, "invalid model or dataset name 'Churn'");
  f.refused({"show", "nope"}, 66, "no model or dataset named 'nope'");
  f.refused({"show", "churn@9.9.9"}, 66, "no version '9.9.9' of 'churn'");
  f.refused({"show", "churn@production"}, 66, "no version of 'churn' is in stage 'production'");
  f.refused({"show", "churn@sha256:000000000000"}, 66, "no version of 'churn' has digest");
  f.refused({"history", "nope"}, 66, "no model or dataset named 'nope'");
  f.refused({"list", "nope"}, 66, "no model or dataset named 'nope'");
}

TEST_CASE("a bad LASTMILE_LOCK_TIMEOUT is a configuration error", "[e2e][bad-input]") {
  Fixture f;
  f.refused({"register", "churn", "model.bin"}, 78, "LASTMILE_LOCK_TIMEOUT must be a number of seconds",
            {.env = {{"LASTMILE_LOCK_TIMEOUT", "soon"}}});
}

TEST_CASE("a path that leaves the repository through a symlink is refused", "[e2e][bad-input]") {
  Fixture f;
  const fs::path outside = f.sb.root() / "outside";
  f.sb.write(outside / "model/w.bin", "not for shipping");
  fs::create_directory_symlink(outside, f.sb.repo() / "linkdir");  // DVC #11101
  fs::create_symlink(outside / "model/w.bin", f.sb.repo() / "w-link.bin");
  const std::string leaves = "outside the repository '" + f.sb.repo().string() + "'";
  f.refused({"register", "churn", "linkdir/model"}, 65,
            "refusing 'linkdir/model': it resolves to '" + (outside / "model").string() + "', " + leaves);
  f.refused({"register", "churn", "w-link.bin"}, 65, "refusing 'w-link.bin'");
  // Named outside the repository, the path is the user's choice.
  CHECK(f.sb.run({"register", "other", (outside / "model").string()}).rc == 0);
}

TEST_CASE("nothing is ever written inside a git directory, even through a committed link", "[e2e][bad-input]") {
  Fixture f;
  f.sb.write("lastmile.yaml", "stages:\n  - name: sandbox\n  - name: staging\n    from: [sandbox]\n");
  fs::create_directory_symlink(f.sb.repo() / ".git" / "hooks", f.sb.repo() / "out");
  const auto hooks_before = [&] {
    std::vector<std::string> names;
    for (const auto& e : fs::recursive_directory_iterator(f.sb.repo() / ".git")) names.push_back(e.path());
    std::sort(names.begin(), names.end());
    return names;
  };
  const auto before = hooks_before();
  const std::string inside = "inside a git directory";
  f.refused({"checkout", "churn", "--to", ".git/hooks/model"}, 64, "refusing to write the checkout into");
  f.refused({"checkout", "churn", "--to", "out/model"}, 64, inside);
  f.refused({"deploy", "render", "churn", "-t", "kubernetes", "--set", "image=ghcr.io/a/b:1", "--out", "out"}, 64,
            "refusing to write --out 'out': it resolves to '" + (f.sb.repo() / ".git/hooks").string() + "', " + inside);
  f.refused({"deploy", "templates", "export", ".git/templates"}, 64, inside);
  f.refused({"gate", "churn", "--stage", "staging", "--format", "junit", "--output", "out/pre-commit"}, 64, inside);
  CHECK(hooks_before() == before);
  // The same commands outside .git work.
  CHECK(f.sb.run({"checkout", "churn", "--to", "restored"}).rc == 0);
}
