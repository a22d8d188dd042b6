#pragma once
// Shell completion scripts for lastmile's command line, in bash, zsh and
// fish. The command tree is described here without CLI11 (the cli builds
// the description from its own definition, so a new option is completed
// with no change here). Values that live in the registry or the policy are
// asked for at completion time with
//   lastmile [-C DIR] [--registry DIR] completion --list KIND [--prefix TEXT]
// which prints one value a line (those starting with TEXT), and nothing
// when there is none.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lm::completion {

enum class Shell { bash, zsh, fish };

// "bash", "zsh" or "fish"; nullopt for any other name.
std::optional<Shell> parse_shell(std::string_view name);

// What `completion --list` prints.
enum class List {
  names,    // every model and dataset name
  refs,     // NAME@VERSION of every version, NAME@STAGE of every stage holding one
  stages,   // the policy's stages
  targets,  // the deployment targets
};

// "names", "refs", "stages" or "targets"; nullopt for any other name.
std::optional<List> parse_list(std::string_view name);

// Where the values of an option or a positional argument come from.
enum class Source {
  none,         // free text: nothing to offer
  choices,      // the fixed list in Values::choices
  files,
  directories,
  names,        // model and dataset names; after an '@', NAME@VERSION and NAME@STAGE
  stages,
  targets,
};

struct Values {
  Source source = Source::none;
  std::vector<std::string> choices;

  bool operator==(const Values&) const = default;
};

// The values a placeholder stands for, as help shows it: an option's type
// name ("S", "DIR", "FILE", "T") or a positional's name ("REF", "NAME",
// "PATH"), optionally followed by ":{a,b,c}", the set a check accepts
// (CLI11 writes IsMember that way). A set wins; S and STAGE are stages,
// T and TARGET targets, REF*, NAME and *_REF names, FILE and PATH files,
// DIR and DIR|- directories; anything else is free text.
Values values_for(std::string_view placeholder);

struct OptionSpec {
  std::vector<std::string> names;  // "-t", "--target"
  std::string help;
  bool takes_value = false;
  Values values;  // when it takes a value

  bool operator==(const OptionSpec&) const = default;
};

struct ArgSpec {
  Values values;
  bool repeats = false;  // takes every positional from here on
};

struct CommandSpec {
  std::string name;
  std::string help;
  std::vector<OptionSpec> options;  // every option it accepts, its parents' included
  std::vector<ArgSpec> args;        // positional arguments, in order
  std::vector<CommandSpec> subcommands;
};

// The completion script for `root` (lastmile itself) in `shell`. It also
// completes 'git lastmile' (bash: _git_lastmile; zsh: _git-lastmile; fish:
// the git-lastmile command that git's completion asks).
std::string completion_script(Shell shell, const CommandSpec& root);

}  // namespace lm::completion
