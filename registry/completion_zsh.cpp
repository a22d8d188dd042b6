// The zsh script: a #compdef file that also works when sourced, with the
// commands and options described.

#include "registry/completion_scripts.hpp"

namespace lm::completion {

namespace {

constexpr const char* k_head = R"SH(#compdef lastmile git-lastmile
# zsh completion for lastmile. Load it with
#   source <(lastmile completion zsh)
# in ~/.zshrc after compinit, or save it as _lastmile in a directory on
# $fpath before compinit runs. It completes 'git lastmile' too.

# Prints the values of kind $1 from the registry and lastmile.yaml, one a
# line, as the -C and --registry typed on the line choose them.
_lastmile_list() {
    "${_lm_prog[@]}" "${_lm_globals[@]}" completion --list "$1" 2>/dev/null
}

# Offers the values of kind $1 for the word being completed.
_lastmile_values() {
    local -a vals
    case $1 in
    (files) _files ;;
    (dirs) _files -/ ;;
    (names)
        # After an '@': NAME@VERSION and NAME@STAGE.
        if [[ $PREFIX == *@* ]]; then
            vals=(${(f)"$(_lastmile_list refs)"})
        else
            vals=(${(f)"$(_lastmile_list names)"})
        fi
        compadd -a vals ;;
    (stages|targets)
        vals=(${(f)"$(_lastmile_list $1)"})
        compadd -a vals ;;
    (choice:*)
        vals=(${(s:,:)${1#choice:}})
        compadd -a vals ;;
    esac
}

# Keeps -C DIR and --registry DIR for _lastmile_list.
_lastmile_global() {
    case $1 in
    (-C|--registry) _lm_globals+=($1 ${2/#\~/$HOME}) ;;
    esac
}

# Completes words[CURRENT], reading the words from index $1 on: the
# commands, the options seen and the positionals before it.
_lastmile_complete() {
    local cmd= kind= pending= dashdash= w name cur=$words[CURRENT]
    local -a subs opts vopts args subnames
    local -i i=$1 npos=0
    _lastmile_spec ''
    for (( ; i < CURRENT; i++ )); do
        w=$words[i]
        subnames=(${subs%%:*})
        if [[ -z $dashdash && $w == -- ]]; then
            dashdash=1
        elif [[ -z $dashdash && $w == -?* ]]; then
            name=${w%%=*}
            if [[ $w == *=* ]]; then
                _lastmile_global $name ${w#*=}
            elif (( ${vopts[(Ie)$name]} )); then
                if (( i + 1 == CURRENT )); then
                    pending=$name
                    break
                fi
                (( i++ ))
                _lastmile_global $name $words[i]
            fi
        elif [[ -z $dashdash ]] && (( npos == 0 && ${subnames[(Ie)$w]} )); then
            cmd=${cmd:+$cmd }$w
            _lastmile_spec "$cmd"
        else
            (( npos++ ))
        fi
    done
    if [[ -n $pending ]]; then
        _lastmile_kind "$cmd" $pending
        _lastmile_values $kind
    elif [[ -z $dashdash && $cur == -?*=* ]]; then
        _lastmile_kind "$cmd" ${cur%%=*}
        compset -P '*='
        _lastmile_values $kind
    elif [[ -z $dashdash && $cur == -* ]]; then
        _describe -t options option opts
    else
        [[ -z $dashdash ]] && (( npos == 0 && $#subs )) && _describe -t commands command subs
        if (( npos < $#args )); then
            kind=$args[npos+1]
        elif (( $#args )) && [[ $args[-1] == *+ ]]; then
            kind=$args[-1]
        fi
        _lastmile_values ${kind%+}
    fi
}

_lastmile() {
    local -a _lm_prog=(${words[1]/#\~/$HOME}) _lm_globals=()
    _lastmile_complete 2
}

# zsh's git completion calls _git-<command> for 'git <command>'.
_git-lastmile() {
    local -a _lm_prog=(git lastmile) _lm_globals=()
    _lastmile_complete 2
}
)SH";

constexpr const char* k_tail = R"SH(
if [[ $funcstack[1] == _lastmile ]]; then
    # Autoloaded from $fpath: this is the first completion asked for.
    _lastmile "$@"
elif (( $+functions[compdef] )); then
    compdef _lastmile lastmile git-lastmile
fi
)SH";

// 'name:description' for _describe, the colons in the name escaped.
std::string described(const std::string& name, const std::string& help) {
  std::string out;
  for (const char c : name) out += c == ':' ? std::string("\\:") : std::string(1, c);
  return sh_quote(out + ":" + help);
}

std::string spec_function(const std::vector<Node>& nodes) {
  std::string out =
      "\n# Sets subs and opts ('name:description'), vopts (the options that take\n"
      "# a value) and args (what each positional is; + repeats the last) for\n"
      "# the command $1.\n"
      "_lastmile_spec() {\n    case $1 in\n";
  for (const auto& n : nodes) {
    std::string subs, opts, vopts;
    for (const auto& s : n.spec->subcommands) {
      if (plain_word(s.name)) subs += "\n            " + described(s.name, s.help);
    }
    for (const auto& o : n.spec->options) {
      for (const auto& name : o.names) {
        if (!plain_word(name)) continue;
        opts += "\n            " + described(name, o.help);
        if (o.takes_value) vopts += " " + name;
      }
    }
    out += "    (" + sh_quote(n.path) + ")\n";
    out += "        subs=(" + subs + (subs.empty() ? "" : "\n        ") + ")\n";
    out += "        opts=(" + opts + (opts.empty() ? "" : "\n        ") + ")\n";
    out += "        vopts=(" + (vopts.empty() ? "" : vopts.substr(1)) + ")\n";
    out += "        args=(" + args_word(*n.spec) + ") ;;\n";
  }
  return out + "    (*) subs=() opts=() vopts=() args=() ;;\n    esac\n}\n";
}

}  // namespace

std::string zsh_script(const CommandSpec& root) {
  const auto nodes = flatten(root);
  return std::string(k_head) + spec_function(nodes) + sh_kind_function(nodes) + k_tail;
}

}  // namespace lm::completion
