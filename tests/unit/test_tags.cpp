// Model tags: GTO's grammar, counters, annotations, and git's ref rules as
// git itself applies them.

#include <catch2/catch.hpp>

#include "registry/core/git.hpp"
#include "registry/core/git_tags.hpp"
#include "registry/core/process.hpp"
#include "registry/tags.hpp"
#include "tests/unit/helpers.hpp"

using namespace lm;
namespace fs = std::filesystem;

namespace {

bool git_accepts(const std::string& name) {
  ProcessRequest request;
  request.argv = {"git", "check-ref-format", "refs/tags/" + name};
  return run_process(request).succeeded();
}

void git_in(const fs::path& dir, std::vector<std::string> args) {
  args.insert(args.begin(), "git");
  ProcessRequest request;
  request.argv = std::move(args);
  request.cwd = dir;
  request.env = {{"GIT_AUTHOR_NAME", "a"},     {"GIT_AUTHOR_EMAIL", "a@b"},
                 {"GIT_COMMITTER_NAME", "a"},  {"GIT_COMMITTER_EMAIL", "a@b"},
                 {"GIT_CONFIG_NOSYSTEM", "1"}, {"HOME", dir.string()}};
  const ProcessResult r = run_process(request);
  INFO(r.output);
  REQUIRE(r.succeeded());
}

}  // namespace

TEST_CASE("model tags read as GTO writes them", "[tags]") {
  auto t = parse_model_tag("churn@v1.4.0");
  REQUIRE(t);
  CHECK(t->event == ModelTag::Event::registration);
  CHECK(t->name == "churn");
  CHECK(t->version == "1.4.0");
  CHECK_FALSE(t->counter);

  t = parse_model_tag("team/churn#production#12");
  REQUIRE(t);
  CHECK(t->event == ModelTag::Event::promotion);
  CHECK(t->name == "team/churn");
  CHECK(t->stage == "production");
  CHECK(t->counter == 12);

  t = parse_model_tag("churn#staging");  // GTO's "simple" form, without a counter
  REQUIRE(t);
  CHECK(t->event == ModelTag::Event::promotion);
  CHECK_FALSE(t->counter);

  t = parse_model_tag("churn@v2.0.0-rc.1+b5!#3");
  REQUIRE(t);
  CHECK(t->event == ModelTag::Event::deregistration);
  CHECK(t->version == "2.0.0-rc.1+b5");
  CHECK(t->counter == 3);

  t = parse_model_tag("churn#production!#4");
  REQUIRE(t);
  CHECK(t->event == ModelTag::Event::unassignment);
  CHECK(t->stage == "production");

  t = parse_model_tag("churn@deprecated#5");
  REQUIRE(t);
  CHECK(t->event == ModelTag::Event::deprecation);

  for (const char* other : {"v1.4.0", "churn", "churn@1.4.0", "churn@vx", "churn@v1.4", "Churn@v1.0.0",
                            "churn#Prod#1", "churn#production#", "churn#production#x", "churn#production#-1",
                            "churn#production#1#2", "@v1.0.0", "churn@latest", "churn@v1.0.0!!",
                            "churn#production#99999999999999999999", "a..b@v1.0.0", "churn@vv1.0.0"}) {
    INFO(other);
    CHECK_FALSE(parse_model_tag(other));
  }
}

TEST_CASE("tag names and counters", "[tags]") {
  CHECK(registration_tag_name("churn", "1.4.0") == "churn@v1.4.0");
  CHECK(promotion_tag_name("team/churn", "production", 3) == "team/churn#production#3");
  // The counter runs across every stage of the model, as GTO counts, and
  // ignores other models and tags without one.
  const std::vector<std::string> tags = {"churn#staging#1", "churn#production#4", "churn@v1.0.0",
                                         "churn#staging",   "churnx#staging#9",   "other#staging#7",
                                         "churn@deprecated#2"};
  CHECK(next_tag_counter(tags, "churn") == 5);
  CHECK(next_tag_counter(tags, "fresh") == 1);
  for (const auto& tag : tags) CHECK(parse_model_tag(tag));
  // GTO counts stages lastmile's rules refuse ('/', a leading digit) too.
  CHECK(next_tag_counter({"churn#eu/prod#7", "churn#1st#8"}, "churn") == 9);
  CHECK(test::code_of([] { next_tag_counter({"churn#x#9223372036854775807"}, "churn"); }) == ExitCode::data);
}

TEST_CASE("annotations carry trailers that only checked values fill", "[tags]") {
  VersionRecord v;
  v.name = "churn";
  v.version = "1.4.0";
  v.digest = "sha256:" + std::string(64, 'a');
  const auto reg = tag_trailers(registration_tag_message(v));
  CHECK(reg.at("Lastmile-Version") == "1.4.0");
  CHECK(reg.at("Lastmile-Digest") == v.digest);
  CHECK(registration_tag_message(v).rfind("Registering artifact churn version v1.4.0\n", 0) == 0);
  const auto promo = tag_trailers(promotion_tag_message(v, "production"));
  CHECK(promo.at("Lastmile-Stage") == "production");
  // Only the last paragraph holds trailers.
  CHECK(tag_trailers("Lastmile-Version: 9.9.9\n\nbody text").empty());
  CHECK(tag_trailers("subject\n\nA: b\nnot a trailer\nC-D: e f\n") ==
        std::map<std::string, std::string>{{"A", "b"}, {"C-D", "e f"}});
}

TEST_CASE("tag names follow git's ref rules exactly as git applies them", "[tags][git]") {
  const std::vector<std::string> names = {
      "churn@v1.4.0", "churn#production#3", "team/churn@v1.0.0-rc.1+b.5", "a", "a.b", "a-b_c",
      "", "-x", "a..b", "a b", "a~1", "a^", "a:b", "a?", "a*", "a[b", "a\\b", "a/", "/a", "a//b",
      "a.", "a.lock", "a/b.lock/c", ".a", "a/.b", "@", "a@{1}", "a@b", "a\tb", "a\x7f", "é"};
  for (const auto& name : names) {
    INFO(name);
    // git tag refuses a leading '-' that check-ref-format allows.
    const bool git_ok = git_accepts(name) && name.rfind('-', 0) != 0;
    CHECK(git::valid_tag_name(name) == git_ok);
    CHECK(git::tag_name_problem(name).empty() == git_ok);
  }
}

TEST_CASE("annotated tags are created once, never moved, and read back", "[tags][git]") {
  test::TempDir dir;
  const fs::path repo = dir / "repo";
  fs::create_directories(repo);
  git_in(repo, {"init", "-q"});
  git_in(repo, {"commit", "-q", "--allow-empty", "-m", "one"});
  const std::string first = [&] {
    ProcessRequest r;
    r.argv = {"git", "rev-parse", "HEAD"};
    r.cwd = repo;
    std::string out = run_process(r).output;
    return out.substr(0, 40);
  }();
  CHECK(git::commit_exists(repo, first));
  CHECK_FALSE(git::commit_exists(repo, std::string(40, '0')));
  CHECK(git::create_annotated_tag(repo, "churn@v1.0.0", first, "msg\n\nK: v\n", "Ada <ada@example.com>") ==
        git::TagCreated::created);
  CHECK(git::create_annotated_tag(repo, "churn@v1.0.0", first, "other", "x") == git::TagCreated::exists);
  const auto tag = git::find_tag(repo, "churn@v1.0.0");
  REQUIRE(tag);
  CHECK(tag->commit == first);
  CHECK(tag->annotated);
  CHECK(tag->message == "msg\n\nK: v\n");
  CHECK_FALSE(tag->tagger.empty());
  CHECK_FALSE(git::find_tag(repo, "churn@v2.0.0"));
  CHECK(git::tag_names(repo, "churn") == std::vector<std::string>{"churn@v1.0.0"});
  CHECK(test::code_of([&] { git::create_annotated_tag(repo, "a..b", first, "m", "x"); }) == ExitCode::usage);
  CHECK(test::code_of([&] { git::create_annotated_tag(repo, "t", std::string(40, 'f'), "m", "x"); }) ==
        ExitCode::not_found);
  CHECK(git::read_clone_depth(repo)->has_tags);
}
