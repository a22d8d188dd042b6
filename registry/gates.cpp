#include "registry/gates.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <set>

#include "registry/checkout.hpp"
#include "registry/core/clock.hpp"
#include "registry/core/error.hpp"
#include "registry/core/files.hpp"
#include "registry/core/process.hpp"
#include "registry/core/units.hpp"
#include "registry/metadata.hpp"
#include "registry/monitoring.hpp"
#include "registry/stages.hpp"

namespace lm {

namespace {

namespace fs = std::filesystem;
using Kind = GateSpec::Kind;

GateOutcome outcome_for(const GateSpec& g, const char* kind) {
  GateOutcome o;
  o.gate = g.name();
  o.kind = kind;
  o.line = g.line;
  return o;
}

std::optional<double> metric_of(const VersionMetadata& meta, const std::string& key) {
  const auto it = meta.metrics.find(key);
  if (it == meta.metrics.end()) return std::nullopt;
  return it->second;
}

GateOutcome missing_metric(GateOutcome o, const std::string& metric, const VersionRecord& v) {
  o.passed = false;
  o.message = "metric " + quote(metric) + " is missing from " + quote(v.ref());
  return o;
}

GateOutcome metric_bound(const GateSpec& g, const VersionRecord& v, const VersionMetadata& meta) {
  GateOutcome o = outcome_for(g, "metric");
  o.threshold = g.threshold;
  const auto value = metric_of(meta, g.metric);
  if (!value) return missing_metric(std::move(o), g.metric, v);
  o.measured = *value;
  const bool minimum = g.kind == Kind::metric_min;
  o.passed = minimum ? *value >= g.threshold : *value <= g.threshold;
  const char* op = o.passed ? (minimum ? " >= " : " <= ") : (minimum ? " < " : " > ");
  o.message = g.metric + " " + format_metric(*value) + op + format_metric(g.threshold);
  return o;
}

GateOutcome no_worse_than(sql::Db& db, const GateSpec& g, const VersionRecord& v,
                          const VersionMetadata& meta, const std::optional<VersionRecord>& incumbent) {
  GateOutcome o = outcome_for(g, "no_worse_than");
  const auto value = metric_of(meta, g.metric);
  if (!value) return missing_metric(std::move(o), g.metric, v);
  o.measured = *value;
  if (!incumbent) {
    o.passed = true;
    o.message = "the stage holds no version of " + quote(v.name) + " yet";
    return o;
  }
  const auto theirs = metric_of(load_metadata(db, incumbent->id), g.metric);
  if (!theirs) {
    o.passed = true;
    o.message = "the incumbent " + quote(incumbent->ref()) + " has no " + quote(g.metric);
    return o;
  }
  const bool higher = g.better == Better::higher;
  const double bound = higher ? *theirs - g.tolerance : *theirs + g.tolerance;
  o.threshold = bound;
  // Metrics and tolerances are written in decimal, and in binary 0.8 - 0.1
  // is a hair above 0.7: a value within rounding error of the bound is on it.
  const double slack = 1e-12 * std::max(std::abs(*theirs), std::abs(g.tolerance));
  o.passed = higher ? *value >= bound - slack : *value <= bound + slack;
  o.message = g.metric + " " + format_metric(*value) + " vs " + format_metric(*theirs) + " of " +
              incumbent->ref() + (g.tolerance > 0 ? " (tolerance " + format_metric(g.tolerance) + ")" : "") +
              (o.passed ? "" : higher ? ": lower" : ": higher");
  return o;
}

bool has_field(const std::string& field, const VersionRecord& v, const VersionMetadata& meta) {
  if (field == "owner") return !v.owner.empty();
  if (field == "description") return !v.description.empty();
  const auto colon = field.find(':');
  const std::string kind = field.substr(0, colon);
  const std::string key = field.substr(colon + 1);
  if (kind == "label") return meta.labels.count(key) > 0;
  if (kind == "param") return meta.params.count(key) > 0;
  return meta.metrics.count(key) > 0;
}

GateOutcome require_fields(const GateSpec& g, const VersionRecord& v, const VersionMetadata& meta) {
  GateOutcome o = outcome_for(g, "require");
  std::vector<std::string> missing;
  for (const auto& field : g.required) {
    if (!has_field(field, v, meta)) missing.push_back(field);
  }
  o.passed = missing.empty();
  o.threshold = g.required;
  o.measured = missing;
  if (o.passed) {
    o.message = "has " + std::to_string(g.required.size()) + " of " +
                std::to_string(g.required.size()) + " required fields";
  } else {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    o.message = "missing " + list;
  }
  return o;
}

GateOutcome size_limit(const GateSpec& g, const VersionRecord& v) {
  GateOutcome o = outcome_for(g, "max_size");
  o.measured = v.size;
  o.threshold = g.max_bytes;
  o.passed = v.size <= g.max_bytes;
  o.message = "size " + human_size(v.size) + (o.passed ? " <= " : " > ") + human_size(g.max_bytes);
  return o;
}

// A temporary directory removed when it goes out of scope.
class TempDir {
 public:
  TempDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/lastmile-gate-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw system_error(errno, "cannot create a temporary directory for a command gate");
    }
    m_path = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    // A gate may have left read-only directories behind; make them writable.
    for (auto it = fs::recursive_directory_iterator(m_path, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      if (it->is_directory(ec)) fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
    }
    fs::remove_all(m_path, ec);
  }
  const fs::path& path() const { return m_path; }

 private:
  fs::path m_path;
};

// The version's files, checked out (and verified) once for all command gates.
class Materialised {
 public:
  Materialised(Registry& registry, const VersionRecord& v) : m_registry(registry), m_version(v) {}

  // The artifact's path: the file itself for a single-file artifact.
  const fs::path& artifact() {
    if (m_artifact.empty()) {
      m_temp.emplace();
      const fs::path dir = m_temp->path() / "artifact";
      checkout(m_registry, parse_ref(m_version.ref()), dir, nullptr);
      m_dir = dir;
      m_artifact = dir;
      if (m_version.single_file) {
        const Manifest manifest = load_manifest(m_registry.db(), m_version.id);
        if (manifest.size() == 1) m_artifact = dir / manifest.front().path;
      }
    }
    return m_artifact;
  }
  const fs::path& dir() {
    artifact();
    return m_dir;
  }

 private:
  Registry& m_registry;
  const VersionRecord& m_version;
  std::optional<TempDir> m_temp;
  fs::path m_dir;
  fs::path m_artifact;
};

std::vector<std::pair<std::string, std::string>> command_environment(
    Registry& registry, const StageSpec& stage, const VersionRecord& v, const VersionMetadata& meta,
    const std::optional<VersionRecord>& incumbent, Materialised& files) {
  Json metrics = Json::object();
  for (const auto& [key, value] : meta.metrics) metrics[key] = value;
  return {
      {"LASTMILE_NAME", v.name},
      {"LASTMILE_VERSION", v.version},
      {"LASTMILE_REF", v.ref()},
      {"LASTMILE_DIGEST", v.digest},
      {"LASTMILE_STAGE", stage.name},
      {"LASTMILE_FORMAT", v.format},
      {"LASTMILE_OWNER", v.owner},
      {"LASTMILE_SIZE", std::to_string(v.size)},
      {"LASTMILE_GIT_COMMIT", v.git ? v.git->commit : ""},
      {"LASTMILE_METRICS", metrics.dump()},
      {"LASTMILE_INCUMBENT", incumbent ? incumbent->ref() : ""},
      {"LASTMILE_REGISTRY", registry.dir().string()},
      {"LASTMILE_ARTIFACT", files.artifact().string()},
      {"LASTMILE_ARTIFACT_DIR", files.dir().string()},
  };
}

GateOutcome run_command(Registry& registry, const GateSpec& g, const StageSpec& stage,
                        const VersionRecord& v, const VersionMetadata& meta,
                        const std::optional<VersionRecord>& incumbent, Materialised& files,
                        const GateSetting& setting) {
  GateOutcome o = outcome_for(g, "command");
  ProcessRequest request;
  request.argv = g.argv;
  request.cwd = setting.project_root;
  request.timeout = std::chrono::seconds(g.timeout_seconds);
  request.env = command_environment(registry, stage, v, meta, incumbent, files);
  const ProcessResult r = run_process(request);
  o.output = to_valid_utf8(r.output);
  o.seconds = std::chrono::duration<double>(r.duration).count();
  o.passed = r.succeeded();
  o.threshold = 0;
  if (!r.started) {
    o.message = r.start_error;
  } else if (r.timed_out) {
    o.message = "timed out after " + std::to_string(g.timeout_seconds) + " s";
  } else if (r.signal != 0) {
    o.measured = 128 + r.signal;
    o.message = "killed by signal " + std::to_string(r.signal);
  } else {
    o.measured = r.exit_code;
    o.message = "exit status " + std::to_string(r.exit_code);
  }
  return o;
}

std::string short_json(const Json& value) {
  std::string text = value.dump();
  if (text.size() > 80) text = text.substr(0, 77) + "...";
  return text;
}

// The value at `pointer`, or nullptr when the report has none there.
// contains() throws rather than answer false for an array index too large
// to parse; that is no value all the same.
const Json* value_at(const Json& report, const std::string& pointer) {
  try {
    const Json::json_pointer p(pointer);
    return report.contains(p) ? &report.at(p) : nullptr;
  } catch (const Json::exception&) {
    return nullptr;
  }
}

GateOutcome file_report(const GateSpec& g, const GateSetting& setting) {
  GateOutcome o = outcome_for(g, "file");
  if (g.equals) o.threshold = *g.equals;
  if (g.min || g.max) {
    o.threshold = Json::object();
    if (g.min) o.threshold["min"] = *g.min;
    if (g.max) o.threshold["max"] = *g.max;
  }
  const fs::path path = setting.project_root / g.file;
  std::string text;
  try {
    text = read_file(path);
  } catch (const Error& e) {
    o.message = "cannot read the report " + quote(g.file) + ": " + e.what();
    return o;
  }
  Json report;
  try {
    report = parse_json(text, g.file);
  } catch (const Error& e) {
    o.message = e.what();
    return o;
  }
  const Json* found = value_at(report, g.pointer);
  if (!found) {
    o.message = quote(g.file) + " has no value at " + g.pointer;
    return o;
  }
  const Json& value = *found;
  o.measured = value;
  if (g.equals) {
    o.passed = value == *g.equals;
    o.message = g.pointer + " is " + short_json(value) + (o.passed ? "" : ", not " + short_json(*g.equals));
    return o;
  }
  if (!value.is_number()) {
    o.message = g.pointer + " is " + short_json(value) + ", not a number";
    return o;
  }
  const double number = value.get<double>();
  o.passed = (!g.min || number >= *g.min) && (!g.max || number <= *g.max);
  o.message = g.pointer + " is " + format_metric(number);
  if (g.min && number < *g.min) o.message += " < " + format_metric(*g.min);
  if (g.max && number > *g.max) o.message += " > " + format_metric(*g.max);
  return o;
}

// Figures for messages: PSI to four significant digits, shares in percent.
std::string short_number(double value, const char* format = "%.4g") {
  char buf[32];
  std::snprintf(buf, sizeof buf, format, value);
  return buf;
}

std::string percent(double share) { return short_number(share * 100, "%.3g") + "%"; }

// The latest drift measurement of the version, preferably of the stage's
// own data (an environment is named like its stage): passes when at most
// max_share of its columns have a PSI above max_psi.
GateOutcome drift_measured(sql::Db& db, const GateSpec& g, const StageSpec& stage, const VersionRecord& v) {
  GateOutcome o = outcome_for(g, "drift");
  o.threshold = {{"max_psi", g.max_psi}, {"max_share", g.max_share}};
  const auto m = latest_drift(db, v.id, stage.name);
  if (!m) {
    o.message = "no drift measurement of " + quote(v.ref()) + "; run 'lastmile drift " + v.ref() +
                " --current FILE --env " + stage.name + "'";
    return o;
  }
  std::size_t compared = 0, drifting = 0;
  std::string worst;
  double worst_psi = -1;
  for (const auto& column : m->columns) {
    if (!column.is_object() || !column.contains("psi") || !column["psi"].is_number()) continue;
    const double value = column["psi"].get<double>();
    ++compared;
    if (value > g.max_psi) ++drifting;
    if (value > worst_psi) {
      worst_psi = value;
      worst = column.value("name", std::string("?"));
    }
  }
  const std::string when = "measured " + m->time + ", event " + std::to_string(m->event_seq) +
                           (m->environment == stage.name ? ""
                            : m->environment         ? ", of data from " + quote(*m->environment)
                                                     : ", of data from no named environment");
  if (compared == 0) {
    o.message = "the drift measurement compared no columns (" + when + ")";
    return o;
  }
  const double share = static_cast<double>(drifting) / static_cast<double>(compared);
  o.measured = {{"drifted_columns", drifting}, {"columns", compared},     {"drifted_share", share},
                {"worst_column", worst},       {"max_psi", worst_psi},     {"time", m->time},
                {"event", m->event_seq},       {"environment", m->environment ? Json(*m->environment) : Json()}};
  // The share is a ratio of counts and the limit is written in decimal:
  // 3 of 10 is on a limit of 0.3, whatever the rounding.
  o.passed = share <= g.max_share + 1e-12;
  // Worded as 'lastmile drift' reports it.
  o.message = std::to_string(drifting) + " of " + std::to_string(compared) + " columns (" + percent(share) +
              ") past PSI " + format_metric(g.max_psi) + (o.passed ? ", at most " : ", more than ") +
              percent(g.max_share) + "; worst " + quote(worst) + " PSI " + short_number(worst_psi) + "; " + when;
  return o;
}

GateOutcome approvals(sql::Db& db, const StageSpec& stage, const VersionRecord& v) {
  GateOutcome o;
  o.kind = "approvals";
  o.gate = "approvals >= " + std::to_string(stage.approvals) +
           (stage.distinct_from_registrant ? " (not the registrant)" : "");
  o.line = stage.line;
  std::vector<std::string> counted;
  for (const auto& a : approvals_for(db, v.id, stage.name)) {
    if (stage.distinct_from_registrant && a.actor == v.registered_by) continue;
    counted.push_back(a.actor);
  }
  o.measured = counted;
  o.threshold = stage.approvals;
  o.passed = counted.size() >= static_cast<std::size_t>(stage.approvals);
  std::string who;
  for (const auto& c : counted) who += (who.empty() ? "" : ", ") + c;
  o.message = std::to_string(counted.size()) + " of " + std::to_string(stage.approvals) +
              " approvals" + (who.empty() ? "" : " (" + who + ")");
  return o;
}

}  // namespace

bool Evaluation::passed() const { return first_failure() == nullptr; }

const GateOutcome* Evaluation::first_failure() const {
  for (const auto& g : gates) {
    if (!g.passed) return &g;
  }
  return nullptr;
}

std::size_t Evaluation::failures() const {
  return static_cast<std::size_t>(
      std::count_if(gates.begin(), gates.end(), [](const auto& g) { return !g.passed; }));
}

double Evaluation::seconds() const {
  double total = 0;
  for (const auto& g : gates) total += g.seconds;
  return total;
}

std::string stage_path(const Policy& policy, const std::string& stage) {
  // Breadth-first from the first stage over the `from` edges: the shortest
  // way a version can get there.
  if (policy.stages.empty()) return stage;
  std::map<std::string, std::string> came_from;
  std::vector<std::string> queue{policy.stages.front().name};
  came_from[queue.front()] = "";
  for (std::size_t i = 0; i < queue.size(); ++i) {
    for (const auto& s : policy.stages) {
      const bool reachable = std::find(s.from.begin(), s.from.end(), queue[i]) != s.from.end();
      if (reachable && !came_from.count(s.name)) {
        came_from[s.name] = queue[i];
        queue.push_back(s.name);
      }
    }
  }
  if (!came_from.count(stage)) return stage;
  std::vector<std::string> path;
  for (std::string at = stage; !at.empty(); at = came_from[at]) path.push_back(at);
  std::string text;
  for (auto it = path.rbegin(); it != path.rend(); ++it) text += (text.empty() ? "" : " → ") + *it;
  return text;
}

std::optional<GateOutcome> check_entry(sql::Db& db, const Policy& policy, const StageSpec& stage,
                                       const VersionRecord& v) {
  if (stage.from.empty()) return std::nullopt;
  GateOutcome o;
  o.kind = "from";
  std::string list;
  for (const auto& f : stage.from) list += (list.empty() ? "" : " or ") + f;
  o.gate = "from " + list;
  o.line = stage.line;
  o.threshold = stage.from;
  for (const auto& f : stage.from) {
    if (has_been_in(db, v.id, f)) {
      o.passed = true;
      o.measured = f;
      o.message = "has been in " + quote(f);
      return o;
    }
  }
  o.message = quote(v.ref()) + " has not been in " + quote(list) + "; the path to " +
              quote(stage.name) + " is " + stage_path(policy, stage.name);
  return o;
}

Evaluation evaluate_gates(Registry& registry, const Policy& policy, const StageSpec& stage,
                          const VersionRecord& v, const std::optional<VersionRecord>& incumbent,
                          const GateSetting& setting) {
  sql::Db& db = registry.db();
  Evaluation e;
  e.version = v;
  e.stage = stage.name;
  e.incumbent = incumbent;
  e.time = format_rfc3339(now_ns());
  const VersionMetadata meta = load_metadata(db, v.id);
  if (auto entry = check_entry(db, policy, stage, v)) e.gates.push_back(std::move(*entry));
  Materialised files(registry, v);
  for (const auto& g : stage.gates) {
    const auto start = std::chrono::steady_clock::now();
    GateOutcome o;
    switch (g.kind) {
      case Kind::metric_min:
      case Kind::metric_max:
        o = metric_bound(g, v, meta);
        break;
      case Kind::no_worse_than:
        o = no_worse_than(db, g, v, meta, incumbent);
        break;
      case Kind::require:
        o = require_fields(g, v, meta);
        break;
      case Kind::max_size:
        o = size_limit(g, v);
        break;
      case Kind::command:
        o = run_command(registry, g, stage, v, meta, incumbent, files, setting);
        break;
      case Kind::file:
        o = file_report(g, setting);
        break;
      case Kind::drift:
        o = drift_measured(db, g, stage, v);
        break;
    }
    if (g.kind != Kind::command) {
      o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    e.gates.push_back(std::move(o));
  }
  if (stage.approvals > 0) e.gates.push_back(approvals(db, stage, v));
  return e;
}

Json outcome_json(const GateOutcome& o) {
  Json j = {{"gate", o.gate},         {"kind", o.kind},           {"passed", o.passed},
            {"message", o.message},   {"measured", o.measured},   {"threshold", o.threshold},
            {"seconds", o.seconds},   {"line", o.line}};
  if (o.kind == "command") j["output"] = o.output;
  return j;
}

Json evaluation_json(const Evaluation& e) {
  Json gates = Json::array();
  for (const auto& g : e.gates) gates.push_back(outcome_json(g));
  return {{"name", e.version.name},
          {"version", e.version.version},
          {"digest", e.version.digest},
          {"stage", e.stage},
          {"passed", e.passed()},
          {"incumbent", e.incumbent ? Json(e.incumbent->version) : Json()},
          {"gates", gates}};
}

}  // namespace lm
