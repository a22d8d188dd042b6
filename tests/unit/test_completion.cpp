// Shell completion scripts from a command tree (run in the real shells by
// tests/e2e/test_e2e_completion.cpp).

#include <catch2/catch.hpp>

#include "registry/completion.hpp"

using namespace lm::completion;
using Catch::Contains;

namespace {

OptionSpec flag(std::vector<std::string> names, std::string help) { return {std::move(names), std::move(help), false, {}}; }

OptionSpec option(std::vector<std::string> names, const std::string& placeholder, std::string help = "") {
  return {std::move(names), std::move(help), true, values_for(placeholder)};
}

// lastmile with a global --color, and commands where --to is a stage in
// one and a directory in another.
CommandSpec tree() {
  const std::vector<OptionSpec> global = {option({"--color"}, "WHEN:{auto,always,never}", "colour"),
                                          flag({"-q", "--quiet"}, "say less")};
  CommandSpec promote{"promote", "move a version", global, {{values_for("REF"), false}}, {}};
  promote.options.push_back(option({"--to"}, "S", "the stage"));
  CommandSpec checkout{"checkout", "write a version's files", global, {{values_for("REF"), false}}, {}};
  checkout.options.push_back(option({"--to"}, "DIR"));
  CommandSpec render{"render", "render manifests", global, {{values_for("REF"), false}}, {}};
  render.options.push_back(option({"-t", "--target"}, "T", "it's a target"));
  CommandSpec deploy{"deploy", "deploy things", global, {}, {render}};
  CommandSpec verify{"verify", "check", global, {{values_for("REF"), true}}, {}};
  CommandSpec root{"lastmile", "", global, {}, {promote, checkout, deploy, verify}};
  root.options.insert(root.options.begin(), flag({"--version"}, "print the version"));
  return root;
}

}  // namespace

TEST_CASE("shell and list names", "[completion]") {
  CHECK(parse_shell("bash") == Shell::bash);
  CHECK(parse_shell("zsh") == Shell::zsh);
  CHECK(parse_shell("fish") == Shell::fish);
  CHECK_FALSE(parse_shell("tcsh"));
  CHECK_FALSE(parse_shell("Bash"));
  CHECK(parse_list("names") == List::names);
  CHECK(parse_list("refs") == List::refs);
  CHECK(parse_list("stages") == List::stages);
  CHECK(parse_list("targets") == List::targets);
  CHECK_FALSE(parse_list("models"));
}

TEST_CASE("a placeholder says where the values come from", "[completion]") {
  CHECK(values_for("S").source == Source::stages);
  CHECK(values_for("STAGE").source == Source::stages);
  CHECK(values_for("T").source == Source::targets);
  for (const char* p : {"REF", "REF1", "REF2", "NAME", "MODEL_REF", "DATASET_REF"}) {
    INFO(p);
    CHECK(values_for(p).source == Source::names);
  }
  CHECK(values_for("FILE").source == Source::files);
  CHECK(values_for("PATH").source == Source::files);
  CHECK(values_for("DIR").source == Source::directories);
  CHECK(values_for("DIR|-").source == Source::directories);
  for (const char* p : {"TEXT", "K=V", "KEY=VALUE", "V", "N", "TIME", "", "SHELL", "WHO"}) {
    INFO(p);
    CHECK(values_for(p).source == Source::none);
  }
}

TEST_CASE("a set a check accepts is offered as it is, whatever the placeholder", "[completion]") {
  CHECK(values_for("FORMAT:{text,json,md}") == Values{Source::choices, {"text", "json", "md"}});
  CHECK(values_for("TEXT:{bash,zsh,fish}") == Values{Source::choices, {"bash", "zsh", "fish"}});
  CHECK(values_for("S:{dev}") == Values{Source::choices, {"dev"}});
  // Members a shell would read as more than a word are left out.
  CHECK(values_for("X:{a b,c'd,$(x),ok}") == Values{Source::choices, {"ok"}});
  // Not a set: a range, or nothing safe in it.
  CHECK(values_for("N:[1 - 10]").source == Source::none);
  CHECK(values_for("DIR:{ }").source == Source::directories);
}

TEST_CASE("bash: commands, options and what each value is", "[completion]") {
  const std::string s = completion_script(Shell::bash, tree());
  CHECK_THAT(s, Contains("complete -F _lastmile lastmile git-lastmile\n"));
  CHECK_THAT(s, Contains("_git_lastmile() {"));
  CHECK_THAT(s, Contains("    '')\n        subs='promote checkout deploy verify'\n"
                         "        opts='--version --color -q --quiet'\n        vopts='--color'\n        args='' ;;"));
  CHECK_THAT(s, Contains("    'deploy render')\n        subs=''\n        opts='--color -q --quiet -t --target'\n"
                         "        vopts='--color -t --target'\n        args='names' ;;"));
  CHECK_THAT(s, Contains("    'verify')\n        subs=''\n        opts='--color -q --quiet'\n        vopts='--color'\n"
                         "        args='names+' ;;"));
  // The same option name: one rule where it means the same everywhere, one
  // per command where it does not, those first.
  const auto promote = s.find("    'promote|--to') kind='stages' ;;\n");
  const auto checkout = s.find("    'checkout|--to') kind='dirs' ;;\n");
  const auto color = s.find("    *'|--color') kind='choice:auto,always,never' ;;\n");
  REQUIRE(promote != std::string::npos);
  REQUIRE(checkout != std::string::npos);
  REQUIRE(color != std::string::npos);
  CHECK(promote < color);
  CHECK_THAT(s, Contains("    *'|-t') kind='targets' ;;\n    *'|--target') kind='targets' ;;\n"));
  CHECK_THAT(s, !Contains("--quiet') kind"));
}

TEST_CASE("zsh: a #compdef file with descriptions, quoted", "[completion]") {
  const std::string s = completion_script(Shell::zsh, tree());
  CHECK_THAT(s, Catch::StartsWith("#compdef lastmile git-lastmile\n"));
  CHECK_THAT(s, Contains("            'checkout:write a version'\\''s files'\n"));
  CHECK_THAT(s, Contains("            '-t:it'\\''s a target'\n            '--target:it'\\''s a target'\n"));
  CHECK_THAT(s, Contains("        vopts=(--color -t --target)\n        args=(names) ;;"));
  CHECK_THAT(s, Contains("    'promote|--to') kind='stages' ;;\n"));
  CHECK_THAT(s, Contains("_git-lastmile() {"));
  CHECK_THAT(s, Contains("compdef _lastmile lastmile git-lastmile\n"));
}

TEST_CASE("fish: global options once, the rest under their command", "[completion]") {
  const std::string s = completion_script(Shell::fish, tree());
  CHECK_THAT(s, Contains("\ncomplete -c lastmile -l color -x -a 'auto always never' -d 'colour'\n"));
  CHECK_THAT(s, Contains("\ncomplete -c lastmile -s q -l quiet -d 'say less'\n"));
  CHECK_THAT(s, Contains("complete -c lastmile -n '__lastmile_in \"\"' -l version -d 'print the version'\n"));
  CHECK_THAT(s, Contains("complete -c lastmile -n '__lastmile_arg \"\" 0' -a checkout -d 'write a version\\'s files'\n"));
  CHECK_THAT(s, Contains("complete -c lastmile -n '__lastmile_in \"promote\"' -l to -x -a '(__lastmile_list stages)' "
                         "-d 'the stage'\n"));
  CHECK_THAT(s, Contains("complete -c lastmile -n '__lastmile_in \"checkout\"' -l to -x -a '(__fish_complete_directories)'\n"));
  CHECK_THAT(s, Contains("complete -c lastmile -n '__lastmile_in \"deploy render\"' -s t -l target -x "
                         "-a '(__lastmile_list targets)' -d 'it\\'s a target'\n"));
  CHECK_THAT(s, Contains("complete -c lastmile -n '__lastmile_arg \"verify\" 0+' -a '(__lastmile_names)'\n"));
  CHECK_THAT(s, Contains("        case 'deploy render'\n            printf '%s\\n' --color -t --target\n"));
  CHECK_THAT(s, Contains("complete -c git-lastmile -w lastmile\n"));
}
