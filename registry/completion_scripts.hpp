#pragma once
// Inside registry/completion: what the bash, zsh and fish writers share.
// The scripts pass an argument's kind around as one word: files, dirs,
// names, stages, targets, choice:A,B,C, or "" (nothing to offer); a
// command's positionals as those words separated by blanks, "-" for
// nothing, with "+" after one that repeats.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "registry/completion.hpp"

namespace lm::completion {

// One command of the tree and the words that lead to it ("deploy render";
// "" for lastmile itself).
struct Node {
  std::string path;
  const CommandSpec* spec;
};

// Every command, the root first, each before its subcommands.
std::vector<Node> flatten(const CommandSpec& root);

// Letters, digits and . _ - /: safe bare in every shell and in a kind word.
bool plain_word(std::string_view word);

// A single-quoted word for sh, bash and zsh: ' is written '\''.
std::string sh_quote(std::string_view text);

// The words joined with single blanks.
std::string join(const std::vector<std::string>& words);

std::string kind_word(const Values& values);
std::string args_word(const CommandSpec& spec);

// Whether every command has `option`, exactly (a global option).
bool same_everywhere(const std::vector<Node>& nodes, const OptionSpec& option);

// The kind of an option's value, in command `path` (nullopt: every command
// that has the option).
struct KindRule {
  std::optional<std::string> path;
  std::string option;
  std::string kind;
};

// The rules for every option that takes a value with something to offer,
// those for one command before those for all.
std::vector<KindRule> kind_rules(const std::vector<Node>& nodes);

// _lastmile_kind for bash and zsh: sets kind for option $2 of command $1.
std::string sh_kind_function(const std::vector<Node>& nodes);

std::string bash_script(const CommandSpec& root);
std::string zsh_script(const CommandSpec& root);
std::string fish_script(const CommandSpec& root);

}  // namespace lm::completion
