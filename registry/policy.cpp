#include "registry/policy.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <tuple>
#include <cmath>
#include <map>
#include <set>

#include "registry/core/error.hpp"
#include "registry/core/files.hpp"
#include "registry/core/yaml.hpp"
#include "registry/deploy_settings.hpp"
#include "registry/metadata.hpp"
#include "registry/names.hpp"

namespace lm {

namespace {

// Collects problems while walking the YAML tree.
class Checker {
 public:
  explicit Checker(std::vector<PolicyProblem>& problems) : m_problems(problems) {}

  void problem(const YAML::Node& at, std::string message) {
    const YAML::Mark mark = at.Mark();
    m_problems.push_back({mark.line + 1, mark.column + 1, std::move(message)});
  }
  void problem(int line, int column, std::string message) {
    m_problems.push_back({line, column, std::move(message)});
  }

  // The keys of a mapping, each reported once when repeated or unknown.
  bool check_mapping(const YAML::Node& node, const std::set<std::string>& allowed,
                     const std::string& where) {
    if (!node.IsMap()) {
      problem(node, where + " must be a mapping of keys to values");
      return false;
    }
    std::set<std::string> seen;
    for (const auto& item : node) {
      const std::string key = item.first.Scalar();
      if (!seen.insert(key).second) problem(item.first, "duplicate key " + quote(key) + " in " + where);
      if (!allowed.count(key)) problem(item.first, "unknown key " + quote(key) + " in " + where);
    }
    return true;
  }

  std::optional<double> number(const YAML::Node& node, const std::string& what) {
    if (node.IsScalar() && node.Tag() != "!") {
      const std::string& text = node.Scalar();
      double value = 0;
      const char* begin = text.data() + (!text.empty() && text[0] == '+' ? 1 : 0);
      const auto [ptr, ec] = std::from_chars(begin, text.data() + text.size(), value);
      if (!text.empty() && ec == std::errc() && ptr == text.data() + text.size() && std::isfinite(value)) {
        return value;
      }
    }
    problem(node, what + " must be a number, got " + describe(node));
    return std::nullopt;
  }

  std::optional<std::string> text(const YAML::Node& node, const std::string& what) {
    if (node.IsScalar() && !node.Scalar().empty()) return node.Scalar();
    problem(node, what + " must be text, got " + describe(node));
    return std::nullopt;
  }

  std::optional<bool> boolean(const YAML::Node& node, const std::string& what) {
    if (node.IsScalar() && node.Tag() != "!") {
      if (node.Scalar() == "true") return true;
      if (node.Scalar() == "false") return false;
    }
    problem(node, what + " must be true or false, got " + describe(node));
    return std::nullopt;
  }

  std::vector<std::string> text_list(const YAML::Node& node, const std::string& what) {
    std::vector<std::string> out;
    if (!node.IsSequence()) {
      problem(node, what + " must be a list, got " + describe(node));
      return out;
    }
    for (const auto& item : node) {
      if (auto t = text(item, "each entry of " + what)) out.push_back(*t);
    }
    return out;
  }

  static std::string describe(const YAML::Node& node) {
    if (node.IsScalar()) return quote(node.Scalar());
    if (node.IsSequence()) return "a list";
    if (node.IsMap()) return "a mapping";
    return "nothing";
  }

 private:
  std::vector<PolicyProblem>& m_problems;
};

std::optional<Better> better(Checker& c, const YAML::Node& node) {
  if (node.IsScalar() && node.Scalar() == "higher") return Better::higher;
  if (node.IsScalar() && node.Scalar() == "lower") return Better::lower;
  c.problem(node, "better must be 'higher' or 'lower', got " + Checker::describe(node));
  return std::nullopt;
}

const std::set<std::string> k_gate_keys = {"metric", "min",      "max",     "no_worse_than",
                                           "tolerance", "better", "require", "max_size",
                                           "command", "timeout", "file",    "pointer",
                                           "equals",    "drift"};

void parse_metric_gate(Checker& c, const YAML::Node& node, GateSpec& g, std::vector<GateSpec>& out,
                       const Policy& defaults) {
  const auto metric = c.text(node["metric"], "metric");
  if (!metric) return;
  g.metric = *metric;
  try {
    validate_key(g.metric, "a metric gate");
  } catch (const Error& e) {
    c.problem(node["metric"], e.what());
  }
  const bool has_min = static_cast<bool>(node["min"]);
  const bool has_max = static_cast<bool>(node["max"]);
  const bool has_nwt = static_cast<bool>(node["no_worse_than"]);
  if (has_min + has_max + has_nwt != 1) {
    c.problem(node, "metric gate " + quote(g.metric) +
                        " needs exactly one of min, max or no_worse_than (use one gate each)");
    return;
  }
  if (has_nwt) {
    g.kind = GateSpec::Kind::no_worse_than;
    if (node["no_worse_than"].Scalar() != "incumbent") {
      c.problem(node["no_worse_than"], "no_worse_than must be 'incumbent' (what the stage holds now)");
    }
    if (node["tolerance"]) {
      if (auto t = c.number(node["tolerance"], "tolerance of " + quote(g.metric))) {
        if (*t < 0) c.problem(node["tolerance"], "tolerance of " + quote(g.metric) + " must not be negative");
        g.tolerance = *t;
      }
    }
    if (const auto declared = defaults.declared_directions.find(g.metric);
        declared != defaults.declared_directions.end()) {
      g.better = declared->second;
    }
    if (node["better"]) g.better = better(c, node["better"]).value_or(g.better);
  } else {
    g.kind = has_min ? GateSpec::Kind::metric_min : GateSpec::Kind::metric_max;
    const char* key = has_min ? "min" : "max";
    if (auto t = c.number(node[key], std::string(key) + " of " + quote(g.metric))) g.threshold = *t;
    for (const char* extra : {"tolerance", "better"}) {
      if (node[extra]) c.problem(node[extra], std::string(extra) + " belongs to no_worse_than gates");
    }
  }
  out.push_back(g);
}

void parse_require_gate(Checker& c, const YAML::Node& node, GateSpec& g, std::vector<GateSpec>& out) {
  g.kind = GateSpec::Kind::require;
  const YAML::Node list = node["require"];
  if (list.IsSequence() && list.size() == 0) c.problem(list, "require lists no fields");
  for (const auto& field : c.text_list(list, "require")) {
    const bool known = field == "owner" || field == "description" ||
                       field.rfind("label:", 0) == 0 || field.rfind("param:", 0) == 0 ||
                       field.rfind("metric:", 0) == 0;
    if (!known || field.back() == ':') {
      c.problem(list, "require: unknown field " + quote(field) +
                          " (use owner, description, label:KEY, param:KEY or metric:KEY)");
    }
    g.required.push_back(field);
  }
  out.push_back(g);
}

void parse_command_gate(Checker& c, const YAML::Node& node, GateSpec& g, std::vector<GateSpec>& out) {
  g.kind = GateSpec::Kind::command;
  const YAML::Node cmd = node["command"];
  if (cmd.IsScalar()) {
    c.problem(cmd, "a command gate is an argv list such as [\"./smoke.sh\", \"--fast\"], not a "
                   "string: it never runs through a shell");
    return;
  }
  g.argv = c.text_list(cmd, "command");
  if (cmd.IsSequence() && g.argv.empty()) c.problem(cmd, "command must name a program");
  if (node["timeout"]) {
    if (auto t = c.number(node["timeout"], "timeout")) {
      if (*t <= 0 || *t > 86400 || *t != std::floor(*t)) {
        c.problem(node["timeout"], "timeout must be a whole number of seconds from 1 to 86400");
      } else {
        g.timeout_seconds = static_cast<int>(*t);
      }
    }
  }
  out.push_back(g);
}

void parse_file_gate(Checker& c, const YAML::Node& node, GateSpec& g, std::vector<GateSpec>& out) {
  g.kind = GateSpec::Kind::file;
  if (auto f = c.text(node["file"], "file")) {
    g.file = *f;
    // The report is read relative to the top of the work tree; a path that
    // leaves it would make the policy depend on the machine it runs on.
    const std::filesystem::path path(g.file);
    const bool escapes = std::any_of(path.begin(), path.end(), [](const auto& part) { return part == ".."; });
    if (path.is_absolute() || escapes) {
      c.problem(node["file"], "file " + quote(g.file) +
                                  " must be a path inside the repository, relative to its top");
    }
  }
  if (!node["pointer"]) {
    c.problem(node, "file gate needs a JSON pointer, e.g. pointer: /success");
  } else if (!node["pointer"].IsScalar() || node["pointer"].Scalar().empty()) {
    c.problem(node["pointer"], "pointer must be a JSON pointer such as /success, got " +
                                   Checker::describe(node["pointer"]));
  } else {
    g.pointer = node["pointer"].Scalar();
    try {
      (void)Json::json_pointer(g.pointer);
    } catch (const Json::exception&) {
      c.problem(node["pointer"], "pointer " + quote(g.pointer) + " is not a JSON pointer (e.g. /success)");
    }
  }
  const int conditions = static_cast<bool>(node["equals"]) + static_cast<bool>(node["min"]) +
                         static_cast<bool>(node["max"]);
  if (conditions == 0) c.problem(node, "file gate needs equals, min or max");
  if (node["equals"] && (node["min"] || node["max"])) {
    c.problem(node, "file gate takes equals, or min and max, not both");
  }
  if (node["equals"]) {
    const YAML::Node e = node["equals"];
    if (e.IsNull()) {
      g.equals = Json(nullptr);
    } else if (!e.IsScalar()) {
      c.problem(e, "equals must be a single value");
    } else if (e.Tag() == "!") {
      g.equals = Json(e.Scalar());
    } else if (e.Scalar() == "true" || e.Scalar() == "false") {
      g.equals = Json(e.Scalar() == "true");
    } else {
      // A plain scalar that reads as a number compares as one.
      const std::string& t = e.Scalar();
      double v = 0;
      const auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
      g.equals = !t.empty() && ec == std::errc() && ptr == t.data() + t.size() && std::isfinite(v)
                     ? Json(v)
                     : Json(t);
    }
  }
  if (node["min"]) g.min = c.number(node["min"], "min of the file gate");
  if (node["max"]) g.max = c.number(node["max"], "max of the file gate");
  out.push_back(g);
}

// A PSI limit is a number from 0 up; a share, a number from 0 to 1.
std::optional<double> drift_limit(Checker& c, const YAML::Node& node, const std::string& what, bool share) {
  const auto value = c.number(node, what);
  if (!value) return std::nullopt;
  if (*value < 0 || (share && *value > 1)) {
    c.problem(node, what + (share ? " must be a share from 0 to 1" : " must not be negative") + ", got " +
                        Checker::describe(node));
    return std::nullopt;
  }
  return value;
}

// {drift: {max_psi: 0.2, max_share: 0.3}}; what it leaves out comes from
// the policy's drift: section, so that the gate and 'lastmile drift' agree.
void parse_drift_gate(Checker& c, const YAML::Node& node, GateSpec& g, std::vector<GateSpec>& out,
                      const Policy& defaults) {
  g.kind = GateSpec::Kind::drift;
  g.max_psi = defaults.drift_psi_threshold;
  g.max_share = defaults.drift_max_share;
  const YAML::Node settings = node["drift"];
  // `- drift:` with nothing after it takes every default.
  if (!settings.IsNull() && c.check_mapping(settings, {"max_psi", "max_share"}, "a drift gate")) {
    if (settings["max_psi"]) {
      g.max_psi = drift_limit(c, settings["max_psi"], "max_psi of the drift gate", false).value_or(g.max_psi);
    }
    if (settings["max_share"]) {
      g.max_share = drift_limit(c, settings["max_share"], "max_share of the drift gate", true).value_or(g.max_share);
    }
  }
  out.push_back(g);
}

// The keys each kind of gate takes, by the key that names the kind, in the
// order parse_gate() recognises the kinds.
const std::vector<std::pair<std::string, std::set<std::string>>>& kind_keys() {
  static const std::vector<std::pair<std::string, std::set<std::string>>> keys = {
      {"metric", {"metric", "min", "max", "no_worse_than", "tolerance", "better"}},
      {"require", {"require"}},
      {"command", {"command", "timeout"}},
      {"file", {"file", "pointer", "equals", "min", "max"}},
      {"drift", {"drift"}},
      {"max_size", {"max_size"}},
  };
  return keys;
}

// A key of another kind of gate would be ignored; say so instead.
void check_kind_keys(Checker& c, const YAML::Node& node) {
  for (const auto& [kind, allowed] : kind_keys()) {
    if (!node[kind]) continue;
    for (const auto& item : node) {
      const std::string key = item.first.Scalar();
      if (k_gate_keys.count(key) && !allowed.count(key)) {
        c.problem(item.first, "key " + quote(key) + " does not belong in a " + kind + " gate");
      }
    }
    return;
  }
}

void parse_gate(Checker& c, const YAML::Node& node, std::vector<GateSpec>& out, const Policy& defaults) {
  if (!c.check_mapping(node, k_gate_keys, "a gate")) return;
  check_kind_keys(c, node);
  GateSpec g;
  g.line = node.Mark().line + 1;
  g.column = node.Mark().column + 1;
  if (node["metric"]) return parse_metric_gate(c, node, g, out, defaults);
  if (node["require"]) return parse_require_gate(c, node, g, out);
  if (node["command"]) return parse_command_gate(c, node, g, out);
  if (node["file"]) return parse_file_gate(c, node, g, out);
  if (node["drift"]) return parse_drift_gate(c, node, g, out, defaults);
  if (node["max_size"]) {
    g.kind = GateSpec::Kind::max_size;
    const auto size = parse_size(node["max_size"].IsScalar() ? node["max_size"].Scalar() : "");
    if (!size) {
      c.problem(node["max_size"], "max_size must be a size such as 500MiB, 2GB or 1048576, got " +
                                      Checker::describe(node["max_size"]));
    }
    g.max_bytes = size.value_or(0);
    out.push_back(g);
    return;
  }
  c.problem(node, "unknown gate kind: a gate has metric, require, max_size, command, file or drift");
}

void parse_approvals(Checker& c, const YAML::Node& node, StageSpec& s) {
  if (!c.check_mapping(node, {"count", "distinct_from_registrant"}, "approvals")) return;
  if (node["count"]) {
    if (auto n = c.number(node["count"], "approvals count")) {
      if (*n < 0 || *n > 100 || *n != std::floor(*n)) {
        c.problem(node["count"], "approvals count must be a whole number from 0 to 100");
      } else {
        s.approvals = static_cast<int>(*n);
      }
    }
  }
  if (node["distinct_from_registrant"]) {
    s.distinct_from_registrant =
        c.boolean(node["distinct_from_registrant"], "distinct_from_registrant").value_or(false);
  }
}

StageSpec parse_stage(Checker& c, const YAML::Node& node, const Policy& defaults) {
  StageSpec s;
  s.line = node.Mark().line + 1;
  if (!c.check_mapping(node, {"name", "from", "gates", "approvals"}, "a stage")) return s;
  if (!node["name"]) {
    c.problem(node, "a stage needs a name");
  } else if (auto name = c.text(node["name"], "stage name")) {
    s.name = *name;
    try {
      validate_stage(s.name);
    } catch (const Error& e) {
      c.problem(node["name"], e.what());
    }
  }
  if (node["from"]) s.from = c.text_list(node["from"], "from");
  if (node["gates"]) {
    if (!node["gates"].IsSequence()) {
      c.problem(node["gates"], "gates must be a list");
    } else {
      for (const auto& gate : node["gates"]) parse_gate(c, gate, s.gates, defaults);
    }
  }
  if (node["approvals"]) parse_approvals(c, node["approvals"], s);
  return s;
}

// The stage graph: unique names, the first stage entered by registration,
// every other reachable from stages that exist.
void check_graph(Checker& c, const YAML::Node& list, const std::vector<StageSpec>& stages) {
  std::set<std::string> names;
  for (std::size_t i = 0; i < stages.size(); ++i) {
    const StageSpec& s = stages[i];
    if (!s.name.empty() && !names.insert(s.name).second) {
      c.problem(list[i], "stage " + quote(s.name) + " is defined twice");
    }
  }
  for (std::size_t i = 0; i < stages.size(); ++i) {
    const StageSpec& s = stages[i];
    if (s.name.empty()) continue;  // already reported
    const std::set<std::string> distinct(s.from.begin(), s.from.end());
    if (distinct.size() != s.from.size()) {
      c.problem(list[i]["from"], "stage " + quote(s.name) + " lists a stage twice in 'from'");
    }
    if (i == 0 && !s.from.empty()) {
      c.problem(list[i]["from"], "the first stage " + quote(s.name) +
                                     " is where registration lands; it takes no 'from'");
    }
    if (i > 0 && s.from.empty()) {
      c.problem(list[i], "stage " + quote(s.name) + " needs 'from': the stages a version may come from");
    }
    for (const auto& from : s.from) {
      if (from == s.name) {
        c.problem(list[i]["from"], "stage " + quote(s.name) + " cannot come from itself");
      } else if (!names.count(from)) {
        c.problem(list[i]["from"], "stage " + quote(s.name) + " comes from unknown stage " + quote(from));
      }
    }
  }
  // Every stage must be reachable from the first, where versions start.
  if (stages.empty() || stages[0].name.empty()) return;
  std::set<std::string> reached{stages[0].name};
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto& s : stages) {
      if (reached.count(s.name)) continue;
      for (const auto& from : s.from) {
        if (reached.count(from)) {
          reached.insert(s.name);
          grew = true;
          break;
        }
      }
    }
  }
  for (std::size_t i = 1; i < stages.size(); ++i) {
    const StageSpec& s = stages[i];
    const bool known_from = std::all_of(s.from.begin(), s.from.end(),
                                        [&](const std::string& f) { return names.count(f) > 0; });
    if (!s.name.empty() && !s.from.empty() && known_from && !reached.count(s.name)) {
      c.problem(list[i], "stage " + quote(s.name) + " cannot be reached from " + quote(stages[0].name));
    }
  }
}

// Gates that give one metric opposite directions contradict each other.
void check_directions(Checker& c, const Policy& policy) {
  std::map<std::string, Better> seen;
  for (const auto& s : policy.stages) {
    for (const auto& g : s.gates) {
      if (g.kind != GateSpec::Kind::metric_min && g.kind != GateSpec::Kind::metric_max &&
          g.kind != GateSpec::Kind::no_worse_than) {
        continue;
      }
      const Better b = g.kind == GateSpec::Kind::metric_min   ? Better::higher
                       : g.kind == GateSpec::Kind::metric_max ? Better::lower
                                                              : g.better;
      if (const auto declared = policy.declared_directions.find(g.metric);
          declared != policy.declared_directions.end()) {
        if (declared->second != b) {
          c.problem(g.line, g.column,
                    "this gate takes " + quote(g.metric) + " as " + (b == Better::higher ? "higher" : "lower") +
                        " is better, but the metrics: section declares it " +
                        (declared->second == Better::higher ? "higher" : "lower") +
                        " (a min gate means higher is better, a max gate lower)");
        }
        continue;
      }
      const auto [it, inserted] = seen.emplace(g.metric, b);
      if (!inserted && it->second != b) {
        c.problem(g.line, g.column,
                  "gates disagree on which way " + quote(g.metric) + " improves (a min gate "
                  "means higher is better, a max gate lower)");
      }
    }
  }
}

// YAML allows spaces only for indentation; a tab is reported where it is,
// rather than as the parser's confusing complaint further on.
bool check_tabs(std::string_view text, std::vector<PolicyProblem>& problems) {
  int line = 1;
  bool found = false;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto end = text.find('\n', start);
    const std::string_view row = text.substr(start, end == std::string_view::npos ? end : end - start);
    for (std::size_t col = 0; col < row.size() && (row[col] == ' ' || row[col] == '\t' || row[col] == '-'); ++col) {
      if (row[col] == '\t') {
        problems.push_back({line, static_cast<int>(col) + 1,
                            "a tab is used for indentation; YAML allows only spaces"});
        found = true;
        break;
      }
    }
    if (end == std::string_view::npos) break;
    start = end + 1;
    ++line;
  }
  return found;
}

}  // namespace

std::string GateSpec::name() const {
  const auto num = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.10g", v);
    return std::string(buf);
  };
  switch (kind) {
    case Kind::metric_min:
      return metric + " >= " + num(threshold);
    case Kind::metric_max:
      return metric + " <= " + num(threshold);
    case Kind::no_worse_than:
      return metric + " no worse than incumbent" + (tolerance > 0 ? " (tolerance " + num(tolerance) + ")" : "");
    case Kind::require: {
      std::string list;
      for (const auto& r : required) list += (list.empty() ? "" : ", ") + r;
      return "require " + list;
    }
    case Kind::max_size:
      return "size <= " + std::to_string(max_bytes) + " bytes";
    case Kind::command: {
      // The whole argv: two gates running one interpreter on different
      // scripts must be told apart in reports.
      std::string text = "command";
      for (const auto& arg : argv) text += " " + arg;
      return text.size() > 80 ? text.substr(0, 77) + "..." : text;
    }
    case Kind::file:
      return "file " + file + " " + pointer;
    case Kind::drift:
      return "drift: at most " + num(max_share * 100) + "% of columns with PSI > " + num(max_psi);
  }
  return "gate";
}

const StageSpec* Policy::stage(const std::string& name) const {
  for (const auto& s : stages) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::vector<std::string> Policy::stage_names() const {
  std::vector<std::string> names;
  for (const auto& s : stages) names.push_back(s.name);
  return names;
}

std::map<std::string, Better> Policy::metric_directions() const {
  std::map<std::string, Better> out = declared_directions;
  for (const auto& s : stages) {
    for (const auto& g : s.gates) {
      if (g.kind == GateSpec::Kind::metric_min) out.emplace(g.metric, Better::higher);
      if (g.kind == GateSpec::Kind::metric_max) out.emplace(g.metric, Better::lower);
      if (g.kind == GateSpec::Kind::no_worse_than) out.emplace(g.metric, g.better);
    }
  }
  return out;
}

std::size_t Policy::gate_count() const {
  std::size_t n = 0;
  for (const auto& s : stages) n += s.gates.size();
  return n;
}

Policy default_policy() {
  Policy p;
  p.stages = {{"sandbox", {}, {}, 0, false, 0},
              {"staging", {"sandbox"}, {}, 0, false, 0},
              {"production", {"staging"}, {}, 0, false, 0}};
  return p;
}

static void sort_problems(std::vector<PolicyProblem>& problems) {
  std::stable_sort(problems.begin(), problems.end(), [](const auto& a, const auto& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
}

static void parse_into(PolicyLoad& load, std::string_view text, const std::string& file);

// The deploy: settings, each problem placed on the key it is about.
static void parse_deploy(Checker& c, const YAML::Node& node, Policy& policy, const std::string& file) {
  Json settings;
  try {
    settings = yaml_to_json(node, file);
  } catch (const Error& e) {
    c.problem(node, e.what());
    return;
  }
  // Checked as written; kept with its nulls, which remove a default.
  Json checked = settings;
  for (const auto& problem : normalise_deploy_settings(checked)) {
    // reset() rebinds; operator= would write into the tree.
    YAML::Node at;
    at.reset(node);
    for (const auto& key : problem.path) {
      const YAML::Node& here = at;
      if (!here.IsMap() || !here[key]) break;
      at.reset(here[key]);
    }
    c.problem(at, problem.message);
  }
  policy.deploy = std::move(settings);
}

// The git: settings.
static void parse_git(Checker& c, const YAML::Node& node, Policy& policy) {
  if (!c.check_mapping(node, {"tags"}, "git")) return;
  if (node["tags"]) policy.git_tags = c.boolean(node["tags"], "git.tags").value_or(false);
}

// The drift: settings: the defaults of 'lastmile drift' and drift gates.
static void parse_drift_settings(Checker& c, const YAML::Node& node, Policy& policy) {
  if (!c.check_mapping(node, {"psi_threshold", "max_share"}, "drift")) return;
  if (node["psi_threshold"]) {
    policy.drift_psi_threshold = drift_limit(c, node["psi_threshold"], "drift.psi_threshold", false)
                                     .value_or(policy.drift_psi_threshold);
  }
  if (node["max_share"]) {
    policy.drift_max_share =
        drift_limit(c, node["max_share"], "drift.max_share", true).value_or(policy.drift_max_share);
  }
}

// The metrics: section: {KEY: {better: higher|lower}, ...}.
static void parse_metric_settings(Checker& c, const YAML::Node& node, Policy& policy) {
  if (!node.IsMap()) {
    c.problem(node, "metrics must be a mapping of metric keys to {better: higher} or {better: lower}");
    return;
  }
  std::set<std::string> seen;
  for (const auto& item : node) {
    const std::string key = item.first.Scalar();
    if (!seen.insert(key).second) {
      c.problem(item.first, "duplicate key " + quote(key) + " in metrics");
      continue;
    }
    try {
      validate_key(key, "the metrics: section");
    } catch (const Error& e) {
      c.problem(item.first, e.what());
      continue;
    }
    const std::string where = "metrics." + key;
    if (!c.check_mapping(item.second, {"better"}, where)) continue;
    if (!item.second["better"]) {
      c.problem(item.second, where + " needs better: higher or better: lower");
      continue;
    }
    if (const auto b = better(c, item.second["better"])) policy.declared_directions[key] = *b;
  }
}

PolicyLoad parse_policy(std::string_view text, const std::filesystem::path& source) {
  PolicyLoad load;
  load.policy.path = source;
  load.policy.from_file = true;
  parse_into(load, text, source.filename().string());
  sort_problems(load.problems);
  return load;
}

static void parse_into(PolicyLoad& load, std::string_view text, const std::string& file) {
  if (check_tabs(text, load.problems)) return;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    load.problems.push_back({e.mark.line + 1, e.mark.column + 1, "malformed YAML: " + printable(e.msg)});
    return;
  }
  Checker c(load.problems);
  if (!root.IsMap()) {
    c.problem(1, 1, file + " must be a mapping with a 'stages' list");
    return;
  }
  c.check_mapping(root, {"stages", "deploy", "git", "drift", "metrics"}, file);
  if (root["deploy"]) parse_deploy(c, root["deploy"], load.policy, file);
  if (root["git"]) parse_git(c, root["git"], load.policy);
  // Before the stages: drift gates take their defaults from it.
  if (root["drift"]) parse_drift_settings(c, root["drift"], load.policy);
  // And so do no_worse_than gates from this one.
  if (root["metrics"]) parse_metric_settings(c, root["metrics"], load.policy);
  const YAML::Node list = root["stages"];
  if (!list || !list.IsSequence() || list.size() == 0) {
    c.problem(list ? list : root, "'stages' must be a list of at least one stage");
    return;
  }
  for (const auto& node : list) load.policy.stages.push_back(parse_stage(c, node, load.policy));
  check_graph(c, list, load.policy.stages);
  check_directions(c, load.policy);
}

PolicyLoad load_policy(const std::filesystem::path& path) {
  if (!lstat_path(path)) {
    PolicyLoad load;
    load.policy = default_policy();
    return load;
  }
  return parse_policy(read_file(path), path);
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && (std::isdigit(static_cast<unsigned char>(text[digits])) || text[digits] == '.')) {
    ++digits;
  }
  if (digits == 0) return std::nullopt;
  double value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + digits, value);
  if (ec != std::errc() || ptr != text.data() + digits) return std::nullopt;
  std::string_view unit = text.substr(digits);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  static const std::pair<std::string_view, double> k_units[] = {
      {"", 1},       {"B", 1},         {"KB", 1e3},         {"MB", 1e6},         {"GB", 1e9},
      {"TB", 1e12},  {"KiB", 1024.0},  {"MiB", 1048576.0},  {"GiB", 1073741824.0},
      {"TiB", 1099511627776.0}};
  for (const auto& [name, factor] : k_units) {
    if (unit == name) {
      const double bytes = value * factor;
      if (bytes > 1.8e19) return std::nullopt;
      return static_cast<std::uint64_t>(bytes);
    }
  }
  return std::nullopt;
}

std::string example_policy() {
  return R"yaml(# lastmile.yaml: the gates a model version must pass to enter each stage.
# Commit it with the code; 'lastmile policy check' validates it.
#
# Stages form a graph: a version may enter a stage only from a stage in its
# 'from' list that it has been in, and only when every gate passes.
# Registration lands in the first stage.
stages:
  - name: sandbox

  - name: staging
    from: [sandbox]
    # gates:
    #   - {metric: auc, min: 0.80}                 # higher is better
    #   - {metric: latency_p95_ms, max: 40}        # lower is better
    #   - {require: [owner, description]}          # also label:KEY, param:KEY, metric:KEY
    #   - {max_size: 500MiB}

  - name: production
    from: [staging]
    # approvals: {count: 1, distinct_from_registrant: true}
    # gates:
    #   - {metric: auc, no_worse_than: incumbent, tolerance: 0.005}
    #   - {command: ["./scripts/smoke.sh"], timeout: 300}   # argv, never a shell string
    #   - {file: reports/validation.json, pointer: /success, equals: true}
    #   - {drift: {max_psi: 0.2, max_share: 0.3}}   # latest 'lastmile drift --env production'

# What 'lastmile drift' calls drift, and the defaults of drift gates: a
# column drifts past this PSI, the data when more than this share of its
# columns drift.
# drift: {psi_threshold: 0.2, max_share: 0.3}

# Which way a metric improves where no gate says so (a min gate means
# higher, a max gate lower): for 'lastmile diff', 'lastmile report' and
# no_worse_than gates.
# metrics:
#   eval.loss: {better: lower}
)yaml";
}

}  // namespace lm
