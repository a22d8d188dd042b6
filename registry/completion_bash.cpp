// The bash script: the same walk over the line for 'lastmile' and for
// 'git lastmile', with no need for the bash-completion package.

#include "registry/completion_scripts.hpp"

namespace lm::completion {

namespace {

constexpr const char* k_head = R"SH(# bash completion for lastmile. Load it with
#   source <(lastmile completion bash)
# in ~/.bashrc, or save it as ~/.local/share/bash-completion/completions/lastmile
# (for every user: /usr/share/bash-completion/completions/lastmile).
# It needs no bash-completion package, and completes 'git lastmile' too.

# Prints the values of kind $1 that start with $2 from the registry and
# lastmile.yaml, one a line, as the -C and --registry typed on the line
# choose them.
_lastmile_list() {
    "${_lm_prog[@]}" "${_lm_globals[@]}" completion --list "$1" --prefix "$2" 2>/dev/null
}

# Adds to COMPREPLY each line of $1 that starts with $2, after $3.
_lastmile_add() {
    local line
    while IFS= read -r line; do
        [[ -n $line && $line == "$2"* ]] && COMPREPLY+=("$3$line")
    done <<<"$1"
}

# Adds the completions of $2 as a value of kind $1, each after $3.
_lastmile_values() {
    case $1 in
    files | dirs)
        compopt -o filenames 2>/dev/null
        local flag=-f
        [[ $1 == dirs ]] && flag=-d
        _lastmile_add "$(compgen $flag -- "$2")" "" "$3" ;;
    names)
        # After an '@': NAME@VERSION and NAME@STAGE.
        if [[ $2 == *@* ]]; then
            _lastmile_add "$(_lastmile_list refs "$2")" "$2" "$3"
        else
            _lastmile_add "$(_lastmile_list names "$2")" "$2" "$3"
        fi ;;
    stages | targets) _lastmile_add "$(_lastmile_list "$1" "$2")" "$2" "$3" ;;
    choice:*)
        local choices=${1#choice:}
        _lastmile_add "${choices//,/$'\n'}" "$2" "$3" ;;
    esac
}

# Keeps -C DIR and --registry DIR for _lastmile_list.
_lastmile_global() {
    case $1 in
    -C | --registry) _lm_globals+=("$1" "${2/#\~/$HOME}") ;;
    esac
}

# Bash replaces only what follows the last word-break character (@, =, :)
# of the word: drops what comes before from each completion.
_lastmile_trim() {
    local breaks=${COMP_WORDBREAKS//[[:space:]\"\']/}
    [[ -n $breaks && $1 == *["$breaks"]* ]] || return 0
    local typed=${1%"${1##*["$breaks"]}"}
    COMPREPLY=("${COMPREPLY[@]#"$typed"}")
}

# _lm_words: the line up to the cursor split at blanks only (bash's own
# words are split at @, = and : too); the last is "" after a blank.
_lastmile_words() {
    local line
    if [[ -n ${COMP_LINE+set} ]]; then
        line=${COMP_LINE:0:COMP_POINT}
    else
        line="${COMP_WORDS[*]:0:COMP_CWORD+1}"
    fi
    read -ra _lm_words <<<"$line"
    [[ ${#_lm_words[@]} -eq 0 || $line == *[[:space:]] ]] && _lm_words+=("")
}

# Completes the last of _lm_words, reading the words from index $1 on:
# the commands, the options seen and the positionals before it.
_lastmile_complete() {
    local cmd= subs= opts= vopts= args= kind= pending= dashdash= w name
    local -i i=$1 n=$((${#_lm_words[@]} - 1)) npos=0
    local cur=${_lm_words[n]}
    _lastmile_spec ''
    for ((; i < n; i++)); do
        w=${_lm_words[i]}
        if [[ -z $dashdash && $w == -- ]]; then
            dashdash=1
        elif [[ -z $dashdash && $w == -?* ]]; then
            name=${w%%=*}
            if [[ $w == *=* ]]; then
                _lastmile_global "$name" "${w#*=}"
            elif [[ " $vopts " == *" $name "* ]]; then
                if ((i + 1 == n)); then
                    pending=$name
                    break
                fi
                i+=1
                _lastmile_global "$name" "${_lm_words[i]}"
            fi
        elif [[ -z $dashdash && $npos -eq 0 && " $subs " == *" $w "* ]]; then
            cmd=${cmd:+$cmd }$w
            _lastmile_spec "$cmd"
        else
            npos+=1
        fi
    done
    COMPREPLY=()
    if [[ -n $pending ]]; then
        _lastmile_kind "$cmd" "$pending"
        _lastmile_values "$kind" "$cur" ""
    elif [[ -z $dashdash && $cur == -?*=* ]]; then
        _lastmile_kind "$cmd" "${cur%%=*}"
        _lastmile_values "$kind" "${cur#*=}" "${cur%%=*}="
    elif [[ -z $dashdash && $cur == -* ]]; then
        _lastmile_add "${opts// /$'\n'}" "$cur" ""
    else
        [[ -z $dashdash && $npos -eq 0 ]] && _lastmile_add "${subs// /$'\n'}" "$cur" ""
        local -a kinds
        read -ra kinds <<<"$args"
        local -i last=${#kinds[@]}-1
        if ((npos <= last)); then
            kind=${kinds[npos]}
        elif ((last >= 0)) && [[ ${kinds[last]} == *+ ]]; then
            kind=${kinds[last]}
        fi
        kind=${kind%+}
        _lastmile_values "$kind" "$cur" ""
    fi
    _lastmile_trim "$cur"
}

_lastmile() {
    local -a _lm_words=() _lm_globals=() _lm_prog=()
    _lastmile_words
    _lm_prog=("${_lm_words[0]/#\~/$HOME}")
    _lastmile_complete 1
}

# git's completion calls _git_<command> for 'git <command>'.
_git_lastmile() {
    local -a _lm_words=() _lm_globals=() _lm_prog=(git lastmile)
    _lastmile_words
    local -i i=1
    while ((i < ${#_lm_words[@]} - 1)) && [[ ${_lm_words[i]} != lastmile ]]; do
        i+=1
    done
    _lastmile_complete $((i + 1))
}

complete -F _lastmile lastmile git-lastmile
)SH";

// _lastmile_spec: the subcommands, options, options that take a value and
// positionals of each command.
std::string spec_function(const std::vector<Node>& nodes) {
  std::string out =
      "\n# Sets subs, opts, vopts (the options that take a value) and args (what\n"
      "# each positional is; + repeats the last) for the command $1.\n"
      "_lastmile_spec() {\n    case $1 in\n";
  for (const auto& n : nodes) {
    std::vector<std::string> subs, opts, vopts;
    for (const auto& s : n.spec->subcommands) {
      if (plain_word(s.name)) subs.push_back(s.name);
    }
    for (const auto& o : n.spec->options) {
      for (const auto& name : o.names) {
        if (!plain_word(name)) continue;
        opts.push_back(name);
        if (o.takes_value) vopts.push_back(name);
      }
    }
    out += "    " + sh_quote(n.path) + ")\n";
    out += "        subs=" + sh_quote(join(subs)) + "\n";
    out += "        opts=" + sh_quote(join(opts)) + "\n";
    out += "        vopts=" + sh_quote(join(vopts)) + "\n";
    out += "        args=" + sh_quote(args_word(*n.spec)) + " ;;\n";
  }
  return out + "    *) subs= opts= vopts= args= ;;\n    esac\n}\n";
}

}  // namespace

std::string bash_script(const CommandSpec& root) {
  const auto nodes = flatten(root);
  return std::string(k_head) + spec_function(nodes) + sh_kind_function(nodes);
}

}  // namespace lm::completion
