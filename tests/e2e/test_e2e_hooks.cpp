// Git hooks, fired by the real git: commit and push in a sandbox repository
// with a local bare remote.

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "tests/e2e/sandbox.hpp"

using lm::test::RunResult;
using lm::test::Sandbox;
namespace fs = std::filesystem;

namespace {

const char* k_valid_policy = "stages:\n  - name: sandbox\n  - name: production\n    from: [sandbox]\n";

RunResult git(const Sandbox& sb, std::vector<std::string> args) {
  args.insert(args.begin(), "git");
  return sb.exec(args);
}

bool executable(const fs::path& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && (st.st_mode & S_IXUSR);
}

// A repository with a registry, a committed valid policy and a bare remote.
void setup(Sandbox& sb) {
  REQUIRE(sb.run({"init", "-q"}).rc == 0);
  sb.write("lastmile.yaml", k_valid_policy);
  sb.write("models/m.bin", "weights");
  REQUIRE(sb.run({"register", "churn", "models/m.bin", "--version", "1.0.0", "-q"}).rc == 0);
  REQUIRE(git(sb, {"add", "lastmile.yaml"}).rc == 0);
  REQUIRE(git(sb, {"commit", "-q", "-m", "policy"}).rc == 0);
  REQUIRE(git(sb, {"init", "-q", "--bare", (sb.root() / "remote.git").string()}).rc == 0);
  REQUIRE(git(sb, {"remote", "add", "origin", (sb.root() / "remote.git").string()}).rc == 0);
}

}  // namespace

TEST_CASE("hooks install: pre-commit blocks a broken lastmile.yaml and chains to the hook there", "[e2e][hooks]") {
  Sandbox sb;
  setup(sb);
  const fs::path hooks = sb.repo() / ".git" / "hooks";
  fs::create_directories(hooks);
  sb.write(hooks / "pre-commit", "#!/bin/sh\necho ran \"$#\" >> \"$(git rev-parse --show-toplevel)/../old-hook.log\"\n");
  fs::permissions(hooks / "pre-commit", fs::perms::owner_all, fs::perm_options::add);

  RunResult r = sb.run({"hooks", "install"});
  REQUIRE(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("chained pre-commit") && Catch::Contains("installed pre-push"));
  CHECK(executable(hooks / "pre-commit"));
  CHECK(executable(hooks / "pre-push"));
  CHECK(executable(hooks / "pre-commit.lastmile-chained"));
  // Idempotent.
  r = sb.run({"hooks", "install"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("unchanged pre-commit") && Catch::Contains("unchanged pre-push"));

  // A broken policy is refused by the real git commit, naming the problem.
  sb.write("lastmile.yaml", "stages:\n  - name: sandbox\n    bogus: 1\n");
  REQUIRE(git(sb, {"add", "lastmile.yaml"}).rc == 0);
  r = git(sb, {"commit", "-q", "-m", "broken"});
  CHECK(r.rc != 0);
  CHECK_THAT(r.err, Catch::Contains("the staged lastmile.yaml is not a valid policy") &&
                        Catch::Contains("lastmile.yaml:3:5: unknown key 'bogus'"));
  CHECK(git(sb, {"log", "--oneline"}).out.find("broken") == std::string::npos);
  // What is checked is what is staged: a fixed work tree does not help.
  sb.write("lastmile.yaml", std::string(k_valid_policy) + "# reviewed\n");
  CHECK(git(sb, {"commit", "-q", "-m", "broken"}).rc != 0);
  REQUIRE(git(sb, {"add", "lastmile.yaml"}).rc == 0);
  r = git(sb, {"commit", "-q", "-m", "fixed"});
  CHECK(r.rc == 0);
  CHECK(r.err.empty());
  // The hook that was there ran on every attempt.
  CHECK(sb.read(sb.root() / "old-hook.log") == "ran 0\nran 0\nran 0\n");

  // A commit that does not touch the policy passes too.
  sb.write("README", "x\n");
  REQUIRE(git(sb, {"add", "README"}).rc == 0);
  CHECK(git(sb, {"commit", "-q", "-m", "docs"}).rc == 0);

  // Uninstall puts the old hook back, and is idempotent.
  r = sb.run({"hooks", "uninstall"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("restored pre-commit") && Catch::Contains("removed pre-push"));
  CHECK(sb.read(hooks / "pre-commit").find("old-hook.log") != std::string::npos);
  CHECK_FALSE(fs::exists(hooks / "pre-push"));
  CHECK_FALSE(fs::exists(hooks / "pre-commit.lastmile-chained"));
  r = sb.run({"hooks", "uninstall", "--json"});
  CHECK(r.rc == 0);
  CHECK(r.json()["hooks"][0]["action"] == "absent");
}

TEST_CASE("hooks install: pre-push runs verify against a real push", "[e2e][hooks]") {
  Sandbox sb;
  setup(sb);
  REQUIRE(sb.run({"hooks", "install", "--pre-push"}).rc == 0);
  CHECK_FALSE(fs::exists(sb.repo() / ".git" / "hooks" / "pre-commit"));
  RunResult r = git(sb, {"push", "-q", "origin", "HEAD:refs/heads/main"});
  CHECK(r.rc == 0);
  const std::string pushed = git(sb, {"--git-dir", (sb.root() / "remote.git").string(), "rev-parse", "main"}).out;

  // One changed byte in a stored object: the push is refused.
  const auto stored = sb.stored_files();
  REQUIRE_FALSE(stored.empty());
  const fs::path object = sb.registry() / stored.front();
  fs::permissions(object, fs::perms::owner_write, fs::perm_options::add);
  sb.write(object, "tampered");
  sb.write("README", "x\n");
  REQUIRE(git(sb, {"add", "README"}).rc == 0);
  REQUIRE(git(sb, {"commit", "-q", "-m", "docs"}).rc == 0);
  r = git(sb, {"push", "-q", "origin", "HEAD:refs/heads/main"});
  CHECK(r.rc != 0);
  CHECK_THAT(r.err, Catch::Contains("lastmile verify found 1 problem; not pushing") &&
                        Catch::Contains("churn@1.0.0"));
  CHECK(git(sb, {"--git-dir", (sb.root() / "remote.git").string(), "rev-parse", "main"}).out == pushed);
}

TEST_CASE("hooks follow core.hooksPath, and --force keeps the old hook without running it", "[e2e][hooks]") {
  Sandbox sb;
  setup(sb);
  REQUIRE(git(sb, {"config", "core.hooksPath", ".githooks"}).rc == 0);
  sb.write(".githooks/pre-commit", "#!/bin/sh\ntouch \"$(git rev-parse --show-toplevel)/../old-ran\"\n");
  fs::permissions(sb.repo() / ".githooks/pre-commit", fs::perms::owner_all, fs::perm_options::add);
  const RunResult r = sb.run({"hooks", "install", "--pre-commit", "--force"});
  REQUIRE(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("replaced pre-commit") && Catch::Contains(".githooks"));
  CHECK(fs::exists(sb.repo() / ".githooks" / "pre-commit.lastmile-replaced"));
  CHECK_FALSE(fs::exists(sb.repo() / ".git" / "hooks" / "pre-commit"));
  sb.write("lastmile.yaml", "stages: []\n");
  REQUIRE(git(sb, {"add", "lastmile.yaml"}).rc == 0);
  CHECK(git(sb, {"commit", "-q", "-m", "broken"}).rc != 0);
  CHECK_FALSE(fs::exists(sb.root() / "old-ran"));
}

TEST_CASE("hooks never run user data: a description with $(...) and backticks stays text", "[e2e][hooks]") {
  Sandbox sb;
  setup(sb);
  REQUIRE(sb.run({"hooks", "install"}).rc == 0);
  sb.write("models/n.bin", "weights 2");
  REQUIRE(sb.run({"register", "churn", "models/n.bin", "--version", "1.1.0", "-q", "--description",
                  "$(touch PWNED) `touch PWNED2` ; touch PWNED3"}).rc == 0);
  sb.write("lastmile.yaml", std::string(k_valid_policy) + "# $(touch PWNED4)\n");
  REQUIRE(git(sb, {"add", "lastmile.yaml"}).rc == 0);
  CHECK(git(sb, {"commit", "-q", "-m", "$(touch PWNED5)"}).rc == 0);
  CHECK(git(sb, {"push", "-q", "origin", "HEAD:refs/heads/main"}).rc == 0);
  for (const auto& entry : fs::recursive_directory_iterator(sb.root())) {
    CHECK(entry.path().filename().string().find("PWNED") == std::string::npos);
  }
}

TEST_CASE("hooks outside a git repository is a usage error", "[e2e][hooks]") {
  Sandbox sb(false);
  const RunResult r = sb.run({"hooks", "install"});
  CHECK(r.rc == 64);
  CHECK_THAT(r.err, Catch::Contains("not in a git repository"));
  CHECK(r.out.empty());
}

TEST_CASE("git lastmile runs lastmile through the git-lastmile link", "[e2e][hooks]") {
  Sandbox sb;
  const fs::path bin_dir = fs::path(LASTMILE_BIN).parent_path();
  REQUIRE(fs::exists(bin_dir / "git-lastmile"));
  lm::test::RunOptions opts;
  opts.env["PATH"] = bin_dir.string() + ":" + sb.base_env().at("PATH");
  RunResult r = sb.exec({"git", "lastmile", "--version"}, opts);
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::StartsWith("lastmile "));
  r = sb.exec({"git", "lastmile", "init", "-q"}, opts);
  CHECK(r.rc == 0);
  CHECK(fs::exists(sb.registry() / "registry.db"));
  // git lastmile --help becomes 'git help lastmile': the page exists.
  CHECK(fs::exists(fs::path(LASTMILE_SOURCE_DIR) / "man" / "git-lastmile.1"));
}
