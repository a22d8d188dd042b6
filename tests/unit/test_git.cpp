// Finding the work tree: the fast path agrees with libgit2.

#include <catch2/catch.hpp>
#include <cstdlib>

#include "registry/core/git.hpp"
#include "registry/core/git_sync.hpp"
#include "tests/unit/helpers.hpp"

using namespace lm;
namespace fs = std::filesystem;

namespace {

void sh(const std::string& command) {
  INFO(command);
  REQUIRE(std::system(("(" + command + ") >/dev/null 2>&1").c_str()) == 0);
}

// Both answers for `dir`, compared.
void agree(const fs::path& dir, const std::optional<fs::path>& expected) {
  INFO(dir.string());
  CHECK(git::work_tree_top(dir) == expected);
  CHECK(git::work_tree_top_libgit2(dir) == expected);
}

}  // namespace

TEST_CASE("work tree discovery agrees with libgit2 across layouts", "[git]") {
  test::TempDir dir;
  const fs::path root = dir.path();
  ::setenv("GIT_CEILING_DIRECTORIES", root.c_str(), 1);
  sh("cd " + root.string() + " && git init -q main && mkdir -p main/a/b && mkdir plain");
  sh("cd " + root.string() + "/main && git -c user.name=a -c user.email=a@b commit -q --allow-empty -m x");
  sh("cd " + root.string() + "/main && git worktree add -q ../linked");
  sh("git init -q --bare " + root.string() + "/bare.git");
  agree(root / "main", root / "main");
  agree(root / "main/a/b", root / "main");
  agree(root / "linked", root / "linked");
  agree(root / "plain", std::nullopt);
  agree(root / "bare.git", std::nullopt);
  agree(root / "main/.git", root / "main");  // libgit2 knows the work tree of a .git
  agree(root / "main/.git/refs", root / "main");
  // A ceiling between the start and the work tree stops the search.
  ::setenv("GIT_CEILING_DIRECTORIES", (root / "main/a").c_str(), 1);
  agree(root / "main/a/b", std::nullopt);
  ::unsetenv("GIT_CEILING_DIRECTORIES");
}

TEST_CASE("credentials never survive in a remote URL", "[git]") {
  CHECK(git::strip_credentials("https://bot:token@example.com/x.git") == "https://example.com/x.git");
  CHECK(git::strip_credentials("https://example.com/x.git") == "https://example.com/x.git");
  CHECK(git::strip_credentials("git@example.com:team/x.git") == "git@example.com:team/x.git");
  CHECK(git::strip_credentials("ssh://git@example.com/x@y.git") == "ssh://example.com/x@y.git");
  CHECK(git::strip_credentials("https://github.com/o/r.git?access_token=ghp_SECRET") ==
        "https://github.com/o/r.git");
  CHECK(git::strip_credentials("https://u:pa/ss@example.com/r.git") == "https://example.com/r.git");
  CHECK(git::strip_credentials("https://u:p@ss@example.com/r.git") == "https://example.com/r.git");
  CHECK(git::strip_credentials("https://example.com:8443/r.git") == "https://example.com:8443/r.git");
}

TEST_CASE("clone depth: shallow clones and tags are told apart", "[git]") {
  test::TempDir dir;
  const fs::path root = dir.path();
  ::setenv("GIT_CEILING_DIRECTORIES", root.c_str(), 1);
  const std::string commit = "git -c user.name=a -c user.email=a@b commit -q --allow-empty -m x";
  sh("cd " + root.string() + " && git init -q origin && cd origin && " + commit + " && git tag v1 && " + commit);
  sh("cd " + root.string() + " && git clone -q --depth 1 file://" + root.string() + "/origin shallow");
  sh("cd " + root.string() + " && git clone -q file://" + root.string() + "/origin full");
  const auto shallow = git::read_clone_depth(root / "shallow");
  REQUIRE(shallow);
  CHECK(shallow->shallow);
  CHECK_FALSE(shallow->has_tags);
  const auto full = git::read_clone_depth(root / "full");
  REQUIRE(full);
  CHECK_FALSE(full->shallow);
  CHECK(full->has_tags);
  CHECK_FALSE(git::read_clone_depth(root));
  // Provenance carries the same answer.
  CHECK(git::read_provenance(root / "shallow")->depth.shallow);
  ::unsetenv("GIT_CEILING_DIRECTORIES");
}

TEST_CASE("branch names follow git's rules, and the last commit's paths are found", "[git]") {
  CHECK(git::valid_branch_name("main"));
  CHECK(git::valid_branch_name("release/1.x+hotfix"));
  CHECK_FALSE(git::valid_branch_name(""));
  CHECK_FALSE(git::valid_branch_name("a..b"));
  CHECK_FALSE(git::valid_branch_name("has space"));
  CHECK_FALSE(git::valid_branch_name("end.lock"));
  CHECK_FALSE(git::valid_branch_name("x\ny"));

  test::TempDir dir;
  const fs::path root = dir.path();
  ::setenv("GIT_CEILING_DIRECTORIES", root.c_str(), 1);
  sh("cd " + root.string() + " && git init -q repo");
  CHECK_FALSE(git::in_head_commit(root / "repo", "a.txt"));  // no commit yet
  sh("cd " + root.string() + "/repo && mkdir -p models && echo w > models/m.bin && echo x > loose.txt && "
     "git add models && git -c user.name=a -c user.email=a@b commit -q -m x");
  CHECK(git::in_head_commit(root / "repo", "models/m.bin") == true);
  CHECK(git::in_head_commit(root / "repo", "models") == true);
  CHECK(git::in_head_commit(root / "repo", "loose.txt") == false);
  CHECK(git::in_head_commit(root / "repo", "missing/x") == false);
  ::unsetenv("GIT_CEILING_DIRECTORIES");
}

TEST_CASE("a push to a path only replaces the value the pusher saw, absence included", "[git][sync]") {
  lm::test::TempDir dir;
  const auto remote = git::SyncRepository::open_or_create(dir / "remote.git");
  auto a = git::SyncRepository::open_or_create(dir / "a.git");
  auto b = git::SyncRepository::open_or_create(dir / "b.git");
  const git::Signature who{"Ann", "ann@example.com"};
  const std::string url = (dir / "remote.git").string();
  const std::string ref = "refs/lastmile/log";
  const std::string first_a = a.commit(std::nullopt, {{"FORMAT", "a\n"}}, "a", who);
  const std::string first_b = b.commit(std::nullopt, {{"FORMAT", "b\n"}}, "b", who);
  using Result = git::SyncRepository::PushResult;
  // Both saw no log; only the first to swap wins.
  CHECK(a.push("origin", url, first_a, ref, std::nullopt) == Result::updated);
  CHECK(b.push("origin", url, first_b, ref, std::nullopt) == Result::remote_moved);
  CHECK(remote.reference(ref) == first_a);
  // b fetches, builds on what it saw, and wins; a, building on the old value, loses.
  CHECK(b.fetch("origin", url, ref, "refs/lastmile/fetched/origin/log") == first_a);
  const std::string second_b = b.commit(first_a, {{"events/1.json", "{}\n"}}, "b2", who);
  const std::string second_a = a.commit(first_a, {{"events/1.json", "[]\n"}}, "a2", who);
  CHECK(b.push("origin", url, second_b, ref, first_a) == Result::updated);
  CHECK(a.push("origin", url, second_a, ref, first_a) == Result::remote_moved);
  CHECK(remote.reference(ref) == second_b);
  CHECK(remote.read_file(second_b, "events/1.json") == std::string("{}\n"));
}
