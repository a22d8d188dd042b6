// The fish script: 'complete' lines whose conditions ask which command the
// word being completed belongs to (the line is read once per completion).

#include "registry/completion_scripts.hpp"

namespace lm::completion {

namespace {

constexpr const char* k_head = R"SH(# fish completion for lastmile. Load it with
#   lastmile completion fish | source
# in ~/.config/fish/config.fish, or save it as
# ~/.config/fish/completions/lastmile.fish (then 'git lastmile' is
# completed once lastmile has been).

# Reads the line up to the cursor (once for each line): __lastmile_cmd, the
# command ('deploy render'); __lastmile_npos, the positionals before the
# word being completed; __lastmile_prog and __lastmile_globals, how to run
# lastmile for --list with the -C and --registry typed.
function __lastmile_read_line
    set -l line (commandline -pc)
    test "$line" = "$__lastmile_line"; and return
    set -g __lastmile_line $line
    set -l words (commandline -opc)
    set -g __lastmile_prog (string replace -r '^~' $HOME -- $words[1])
    set -e words[1]
    set -g __lastmile_globals
    set -g __lastmile_cmd ''
    set -g __lastmile_npos 0
    set -l subs (__lastmile_subs '')
    set -l vopts (__lastmile_vopts '')
    set -l dashdash 0
    set -l pending ''
    for w in $words
        if test -n "$pending"
            contains -- $pending -C --registry
            and set -a __lastmile_globals $pending (string replace -r '^~' $HOME -- $w)
            set pending ''
        else if test $dashdash = 0; and test "x$w" = x--
            set dashdash 1
        else if test $dashdash = 0; and string match -q -- '-?*' $w
            set -l parts (string split -m1 = -- $w)
            if set -q parts[2]
                contains -- $parts[1] -C --registry
                and set -a __lastmile_globals $parts[1] $parts[2]
            else if contains -- $w $vopts
                set pending $w
            end
        else if test $dashdash = 0 -a $__lastmile_npos = 0; and contains -- $w $subs
            set -g __lastmile_cmd (string trim -- "$__lastmile_cmd $w")
            set subs (__lastmile_subs $__lastmile_cmd)
            set vopts (__lastmile_vopts $__lastmile_cmd)
        else
            set -g __lastmile_npos (math $__lastmile_npos + 1)
        end
    end
end

# Whether the word being completed belongs to the command $argv[1].
function __lastmile_in
    __lastmile_read_line
    test "$__lastmile_cmd" = "$argv[1]"
end

# ... and is its positional $argv[2] (N, or N+ for N and every one after).
function __lastmile_arg
    __lastmile_in $argv[1]; or return
    set -l n (string trim -r -c + -- $argv[2])
    if string match -q -- '*+' $argv[2]
        test $__lastmile_npos -ge $n
    else
        test $__lastmile_npos -eq $n
    end
end

# The values of kind $argv[1] from the registry and lastmile.yaml.
function __lastmile_list
    __lastmile_read_line
    # Nothing at the prompt when lastmile is not on PATH.
    command -q -- $__lastmile_prog[1]; or return
    command $__lastmile_prog $__lastmile_globals completion --list $argv[1] 2>/dev/null
end

# The words after 'git [OPTIONS] lastmile'; fails when git's command is
# another.
function __lastmile_git_args
    set -l words (commandline -opc)
    set -e words[1]
    while set -q words[1]
        switch $words[1]
            case -C -c --git-dir --work-tree --namespace --exec-path
                set -e words[1..2]
            case '-*'
                set -e words[1]
            case lastmile
                set -e words[1]
                test (count $words) -gt 0; and printf '%s\n' $words
                return 0
            case '*'
                return 1
        end
    end
    return 1
end

# 'git lastmile ...' completed as 'git-lastmile ...'.
function __lastmile_git_complete
    set -l args (__lastmile_git_args)
    complete -C (string join ' ' -- git-lastmile (string escape -- $args) (commandline -ct))
end

# Model and dataset names; after an '@', NAME@VERSION and NAME@STAGE.
function __lastmile_names
    if string match -q -- '*@*' (commandline -ct)
        __lastmile_list refs
    else
        __lastmile_list names
    end
end
)SH";

// A fish single-quoted string: \ and ' are escaped.
std::string fish_quote(std::string_view text) {
  std::string out = "'";
  for (const char c : text) {
    if (c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  return out + "'";
}

// The arguments of `complete` that offer `values`; `option`: for an
// option's value rather than a positional.
std::string offer(const Values& values, bool option) {
  const std::string x = option ? " -x" : "";
  switch (values.source) {
    case Source::none: return x;
    case Source::files: return option ? " -r -F" : " -F";
    case Source::directories: return x + " -a '(__fish_complete_directories)'";
    case Source::names: return x + " -a '(__lastmile_names)'";
    case Source::stages: return x + " -a '(__lastmile_list stages)'";
    case Source::targets: return x + " -a '(__lastmile_list targets)'";
    case Source::choices: return x + " -a " + fish_quote(join(values.choices));
  }
  return x;
}

// A function printing, for the command $argv[1], one word a line of what
// `words` gives for each command.
template <class Words>
std::string switch_function(const std::string& name, const std::string& comment, const std::vector<Node>& nodes,
                            Words words) {
  std::string out = "\n# " + comment + "\nfunction " + name + "\n    switch \"$argv[1]\"\n";
  for (const auto& n : nodes) {
    const std::vector<std::string> list = words(*n.spec);
    if (list.empty()) continue;
    out += "        case " + fish_quote(n.path) + "\n            printf '%s\\n' " + join(list) + "\n";
  }
  return out + "    end\nend\n";
}

std::vector<std::string> subcommand_names(const CommandSpec& spec) {
  std::vector<std::string> out;
  for (const auto& s : spec.subcommands) {
    if (plain_word(s.name)) out.push_back(s.name);
  }
  return out;
}

std::vector<std::string> value_options(const CommandSpec& spec) {
  std::vector<std::string> out;
  for (const auto& o : spec.options) {
    for (const auto& name : o.names) {
      if (o.takes_value && plain_word(name)) out.push_back(name);
    }
  }
  return out;
}

std::string option_line(const OptionSpec& o, const std::string& condition) {
  std::string line = "complete -c lastmile";
  if (!condition.empty()) line += " -n " + fish_quote(condition);
  for (const auto& name : o.names) {
    if (!plain_word(name)) continue;
    if (name.starts_with("--")) {
      line += " -l " + name.substr(2);
    } else {
      line += (name.size() == 2 ? " -s " : " -o ") + name.substr(1);
    }
  }
  if (o.takes_value) line += offer(o.values, true);
  if (!o.help.empty()) line += " -d " + fish_quote(o.help);
  return line + "\n";
}

std::string complete_lines(const std::vector<Node>& nodes) {
  std::string out =
      "\ncomplete -c lastmile -f\n"
      "complete -c git-lastmile -w lastmile\n"
      "complete -c git -f -n __lastmile_git_args -a '(__lastmile_git_complete)'\n";
  for (const auto& o : nodes.front().spec->options) {
    if (same_everywhere(nodes, o)) out += option_line(o, "");
  }
  for (const auto& n : nodes) {
    const std::string in = "__lastmile_in \"" + n.path + "\"";
    out += "\n# lastmile" + (n.path.empty() ? "" : " " + n.path) + "\n";
    for (const auto& s : n.spec->subcommands) {
      if (!plain_word(s.name)) continue;
      out += "complete -c lastmile -n " + fish_quote("__lastmile_arg \"" + n.path + "\" 0") + " -a " + s.name +
             " -d " + fish_quote(s.help) + "\n";
    }
    for (const auto& o : n.spec->options) {
      if (!same_everywhere(nodes, o)) out += option_line(o, in);
    }
    for (std::size_t i = 0; i < n.spec->args.size(); ++i) {
      const ArgSpec& a = n.spec->args[i];
      if (a.values.source == Source::none) continue;
      const std::string at = "__lastmile_arg \"" + n.path + "\" " + std::to_string(i) + (a.repeats ? "+" : "");
      out += "complete -c lastmile -n " + fish_quote(at) + offer(a.values, false) + "\n";
    }
  }
  return out;
}

}  // namespace

std::string fish_script(const CommandSpec& root) {
  const auto nodes = flatten(root);
  return std::string(k_head) +
         switch_function("__lastmile_subs", "The subcommands of the command $argv[1].", nodes, subcommand_names) +
         switch_function("__lastmile_vopts", "The options of the command $argv[1] that take a value.", nodes,
                         value_options) +
         complete_lines(nodes);
}

}  // namespace lm::completion
