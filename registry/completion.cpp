#include "registry/completion.hpp"

#include <algorithm>
#include <map>

#include "registry/completion_scripts.hpp"

namespace lm::completion {

namespace {

// "{a,b,c}" -> a, b, c; only words every shell takes bare.
std::vector<std::string> set_members(std::string_view set) {
  std::vector<std::string> out;
  if (set.size() < 2 || set.front() != '{' || set.back() != '}') return out;
  set = set.substr(1, set.size() - 2);
  while (!set.empty()) {
    const auto comma = set.find(',');
    const std::string_view item = set.substr(0, comma);
    if (plain_word(item)) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    set.remove_prefix(comma + 1);
  }
  return out;
}

void flatten_into(const CommandSpec& spec, const std::string& path, std::vector<Node>& out) {
  out.push_back({path, &spec});
  for (const auto& sub : spec.subcommands) flatten_into(sub, path.empty() ? sub.name : path + " " + sub.name, out);
}

}  // namespace

std::optional<Shell> parse_shell(std::string_view name) {
  if (name == "bash") return Shell::bash;
  if (name == "zsh") return Shell::zsh;
  if (name == "fish") return Shell::fish;
  return std::nullopt;
}

std::optional<List> parse_list(std::string_view name) {
  if (name == "names") return List::names;
  if (name == "refs") return List::refs;
  if (name == "stages") return List::stages;
  if (name == "targets") return List::targets;
  return std::nullopt;
}

Values values_for(std::string_view placeholder) {
  const auto colon = placeholder.find(':');
  const std::string_view type = placeholder.substr(0, colon);
  if (colon != std::string_view::npos) {
    std::vector<std::string> members = set_members(placeholder.substr(colon + 1));
    if (!members.empty()) return {Source::choices, std::move(members)};
  }
  if (type == "S" || type == "STAGE") return {Source::stages, {}};
  if (type == "T" || type == "TARGET") return {Source::targets, {}};
  if (type == "NAME" || type.starts_with("REF") || type.ends_with("_REF")) return {Source::names, {}};
  if (type == "FILE" || type == "PATH") return {Source::files, {}};
  if (type == "DIR" || type == "DIR|-") return {Source::directories, {}};
  return {};
}

bool plain_word(std::string_view word) {
  return !word.empty() && std::all_of(word.begin(), word.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || c == '/';
  });
}

std::string sh_quote(std::string_view text) {
  std::string out = "'";
  for (const char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

std::vector<Node> flatten(const CommandSpec& root) {
  std::vector<Node> out;
  flatten_into(root, "", out);
  return out;
}

std::string kind_word(const Values& values) {
  switch (values.source) {
    case Source::none: return "";
    case Source::files: return "files";
    case Source::directories: return "dirs";
    case Source::names: return "names";
    case Source::stages: return "stages";
    case Source::targets: return "targets";
    case Source::choices: {
      std::string word = "choice:";
      for (std::size_t i = 0; i < values.choices.size(); ++i) word += (i ? "," : "") + values.choices[i];
      return word;
    }
  }
  return "";
}

std::string args_word(const CommandSpec& spec) {
  std::string out;
  for (const auto& a : spec.args) {
    const std::string kind = kind_word(a.values);
    out += (out.empty() ? "" : " ") + (kind.empty() ? std::string("-") : kind) + (a.repeats ? "+" : "");
  }
  return out;
}

bool same_everywhere(const std::vector<Node>& nodes, const OptionSpec& option) {
  return std::all_of(nodes.begin(), nodes.end(), [&](const Node& n) {
    const auto& opts = n.spec->options;
    return std::find(opts.begin(), opts.end(), option) != opts.end();
  });
}

std::vector<KindRule> kind_rules(const std::vector<Node>& nodes) {
  // Each option name with the kinds it has in each command: one rule for
  // every command when it is the same everywhere, else one per command.
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> by_name;
  std::vector<std::string> order;
  for (const auto& n : nodes) {
    for (const auto& o : n.spec->options) {
      if (!o.takes_value) continue;
      for (const auto& name : o.names) {
        if (!by_name.count(name)) order.push_back(name);
        by_name[name].emplace_back(n.path, kind_word(o.values));
      }
    }
  }
  std::vector<KindRule> specific;
  std::vector<KindRule> general;
  for (const auto& name : order) {
    const auto& uses = by_name[name];
    const bool uniform = std::all_of(uses.begin(), uses.end(), [&](const auto& u) { return u.second == uses.front().second; });
    if (uniform) {
      if (!uses.front().second.empty()) general.push_back({std::nullopt, name, uses.front().second});
      continue;
    }
    for (const auto& [path, kind] : uses) {
      if (!kind.empty()) specific.push_back({path, name, kind});
    }
  }
  specific.insert(specific.end(), general.begin(), general.end());
  return specific;
}

std::string sh_kind_function(const std::vector<Node>& nodes) {
  std::string out =
      "\n# Sets kind: what the value of option $2 of the command $1 is.\n"
      "_lastmile_kind() {\n    case \"$1|$2\" in\n";
  for (const auto& r : kind_rules(nodes)) {
    const std::string pattern = r.path ? sh_quote(*r.path + "|" + r.option) : "*" + sh_quote("|" + r.option);
    out += "    " + pattern + ") kind=" + sh_quote(r.kind) + " ;;\n";
  }
  return out + "    *) kind= ;;\n    esac\n}\n";
}

std::string completion_script(Shell shell, const CommandSpec& root) {
  switch (shell) {
    case Shell::bash: return bash_script(root);
    case Shell::zsh: return zsh_script(root);
    case Shell::fish: return fish_script(root);
  }
  return "";
}

}  // namespace lm::completion
