#include "deploy/render.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "deploy/quote.hpp"
#include "registry/blobs.hpp"
#include "registry/core/error.hpp"
#include "registry/core/files.hpp"
#include "registry/core/sha256.hpp"
#include "registry/core/yaml.hpp"
#include "registry/deploy_settings.hpp"
#include "registry/promote.hpp"
#include "registry/stages.hpp"

namespace lm::deploy {

namespace {

std::string problems_text(const std::vector<SettingProblem>& problems) {
  std::string text;
  for (const auto& p : problems) text += (text.empty() ? "" : "; ") + p.message;
  return text;
}

Json read_values_file(const std::filesystem::path& path) {
  Json values = parse_yaml(read_file(path), path.string());
  if (values.is_null()) return Json::object();
  if (!values.is_object()) {
    throw Error(ExitCode::data, quote(path.string()) + " must be a mapping of deploy settings",
                "e.g. 'replicas: 3' or 'resources: {memory: 4Gi}'");
  }
  Json checked = values;  // checked as given; the nulls stay, to remove settings in the merge
  if (auto problems = normalise_deploy_settings(checked); !problems.empty()) {
    throw Error(ExitCode::data, path.string() + ": " + problems_text(problems));
  }
  return values;
}

// The stage a version is deployed for: the one the reference named, else
// the furthest along the policy that holds it now, else none.
Json stage_of(sql::Db& db, const Ref& ref, const VersionRecord& v, const std::vector<std::string>& order) {
  if (ref.kind == Ref::Kind::stage) return ref.stage;
  const auto stage = furthest_stage_holding(db, v.name, v.id, order);
  return stage ? Json(*stage) : Json();
}

Json text_or_null(const std::string& text) { return text.empty() ? Json() : Json(text); }

// Where the version was last pushed to an OCI registry, pinned by digest
// ("oci://ghcr.io/acme/models/churn@sha256:..."), or null.
Json pushed_oci_uri(sql::Db& db, const VersionRecord& v) {
  for (const std::string& location : pushed_locations(db, v.id)) {
    if (location.rfind("oci://", 0) == 0) return location;
  }
  return nullptr;
}

Json model_fields(sql::Db& db, const Ref& ref, const VersionRecord& v, const std::vector<std::string>& order) {
  const VersionMetadata meta = load_metadata(db, v.id);
  Json metrics = Json::array();
  Json metric = Json::object();
  for (const auto& [key, value] : meta.metrics) {
    metrics.push_back({{"name", key}, {"value", value}, {"text", number_text(Json(value))}});
    metric[key] = value;
  }
  Json files = Json::array();
  for (const auto& e : load_manifest(db, v.id)) {
    if (!e.is_link()) files.push_back({{"path", e.path}, {"size", e.size}, {"sha256", e.sha256}});
  }
  const std::string hex = v.digest.substr(v.digest.find(':') + 1);
  Json git;
  if (v.git) {
    git = {{"commit", text_or_null(v.git->commit)},
           {"branch", text_or_null(v.git->branch)},
           {"dirty", v.git->dirty},
           {"remote", text_or_null(v.git->remote)}};
  }
  return {{"name", v.name},
          {"version", v.version},
          {"version_label", v.version},
          {"ref", v.ref()},
          {"digest", v.digest},
          {"sha256", hex},
          {"short_sha256", hex.substr(0, 12)},
          {"stage", stage_of(db, ref, v, order)},
          {"owner", text_or_null(v.owner)},
          {"description", text_or_null(v.description)},
          {"format", text_or_null(v.format)},
          {"model_format", text_or_null(serving_format(v.format))},
          {"size", v.size},
          {"file_count", v.file_count},
          {"registered_at", v.registered_at},
          {"registered_by", v.registered_by},
          {"git", git},
          {"git_commit", v.git ? text_or_null(v.git->commit) : Json()},
          {"metrics", metrics},
          {"metric", metric},
          {"params", meta.params},
          {"labels", meta.labels},
          {"files", files},
          {"oci_uri", pushed_oci_uri(db, v)}};
}

// Every text setting is a pattern over the model's fields.
void expand_patterns(Json& value, const Json& fields, const std::string& name) {
  if (value.is_string()) {
    const std::string& text = value.get_ref<const std::string&>();
    if (text.find("{{") != std::string::npos) value = render_pattern(text, fields, name);
  } else if (value.is_array()) {
    for (std::size_t i = 0; i < value.size(); ++i) expand_patterns(value[i], fields, name + "[" + std::to_string(i) + "]");
  } else if (value.is_object()) {
    for (auto& [key, item] : value.items()) expand_patterns(item, fields, name + "." + key);
  }
}

// A check of a text value against one naming rule; `rule` says which, in
// the message, when the value breaks it.
ValueCheck name_check(std::string (*problem_of)(std::string_view), std::string rule) {
  return [problem_of, rule](const Json& value) -> std::string {
    if (!value.is_string()) return "it is not text";
    const std::string problem = problem_of(value.get_ref<const std::string&>());
    if (problem.empty()) return "";
    return quote(value.get<std::string>()) + " is not a valid name: " + problem + " (" + rule + ")";
  };
}

// Compose service names: letters, digits, '.', '_' and '-'.
std::string compose_name_problem(std::string_view name) {
  if (name.empty()) return "it is empty";
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) return "it holds " + quote(std::string(1, c)) + "; only letters, digits, '.', '_' and '-' are allowed";
  }
  return "";
}

// YAML manifests are for Kubernetes and its operators; a compose file has
// its own name rule; a unit file none.
const std::map<std::string, ValueCheck>& checks_for(OutputFormat format) {
  static const std::map<std::string, ValueCheck> none;
  static const std::map<std::string, ValueCheck> kubernetes = {
      {"deploy.name", name_check(dns1035_label_problem, "Kubernetes names a Service with a DNS-1035 label")},
      {"deploy.namespace", name_check(rfc1123_label_problem, "a namespace is an RFC 1123 label")},
      {"version_label", name_check(label_value_problem, "a Kubernetes label value")},
  };
  static const std::map<std::string, ValueCheck> compose = {
      {"deploy.name", name_check(compose_name_problem, "a compose service name")}};
  if (format == OutputFormat::yaml) return kubernetes;
  if (format == OutputFormat::compose) return compose;
  return none;
}

}  // namespace

std::string serving_format(const std::string& format) {
  if (format == "keras") return "tensorflow";
  if (format == "safetensors") return "huggingface";
  return format;
}

std::optional<double> cpu_cores(const std::string& quantity) {
  std::string_view text = quantity;
  const bool milli = !text.empty() && text.back() == 'm';
  if (milli) text.remove_suffix(1);
  double value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || !(value > 0)) return std::nullopt;
  return milli ? value / 1000 : value;  // 700m is 0.7, not 0.7000000000000001
}

std::optional<std::uint64_t> memory_bytes(const std::string& quantity) {
  static const std::pair<std::string_view, double> k_units[] = {
      {"Ki", 1024.0}, {"Mi", 1048576.0}, {"Gi", 1073741824.0}, {"Ti", 1099511627776.0},
      {"Pi", 1125899906842624.0}, {"Ei", 1152921504606846976.0},
      {"k", 1e3},     {"M", 1e6},        {"G", 1e9},           {"T", 1e12},
      {"P", 1e15},    {"E", 1e18},       {"", 1}};
  for (const auto& [unit, factor] : k_units) {
    if (quantity.size() <= unit.size() || quantity.compare(quantity.size() - unit.size(), unit.size(), unit) != 0) {
      continue;
    }
    const std::string_view number(quantity.data(), quantity.size() - unit.size());
    double value = 0;
    const auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (ec != std::errc() || ptr != number.data() + number.size() || !(value > 0)) return std::nullopt;
    const double bytes = std::round(value * factor);
    if (bytes > 1.8e19) return std::nullopt;
    return static_cast<std::uint64_t>(bytes);
  }
  return std::nullopt;
}

namespace {

// Resources in the units other targets want: cpu_cores, memory_bytes (text:
// compose and systemd take it as is) and compose_resources, the whole
// deploy.resources mapping of a compose service. A quantity that does not
// parse is refused here rather than dropped from some targets.
void add_resource_forms(Json& context, Json& settings) {
  if (!settings.contains("resources")) return;
  Json& resources = settings["resources"];
  if (resources.value("gpu", 0) == 0) resources.erase("gpu");  // gpu: 0 asks for none
  Json limits = Json::object();
  if (resources.contains("cpu")) {
    const std::string cpu = resources["cpu"].get<std::string>();
    const auto cores = cpu_cores(cpu);
    if (!cores) {
      throw Error(ExitCode::usage, "deploy.resources.cpu " + quote(cpu) + " is not a CPU quantity",
                  "use cores or millicores, e.g. 2, 0.5 or 500m");
    }
    context["cpu_cores"] = *cores;
    limits["cpus"] = *cores;
  }
  if (resources.contains("memory")) {
    const std::string memory = resources["memory"].get<std::string>();
    const auto bytes = memory_bytes(memory);
    if (!bytes) {
      throw Error(ExitCode::usage, "deploy.resources.memory " + quote(memory) + " is not a memory quantity",
                  "use bytes with a suffix Ki, Mi, Gi, Ti (or k, M, G, T), e.g. 512Mi or 4Gi");
    }
    context["memory_bytes"] = std::to_string(*bytes);
    limits["memory"] = std::to_string(*bytes);
  }
  Json compose = Json::object();
  if (!limits.empty()) compose["limits"] = limits;
  if (resources.contains("gpu")) {
    compose["reservations"] = {
        {"devices", Json::array({{{"capabilities", Json::array({"gpu"})}, {"count", resources["gpu"]}}})}};
  }
  if (!compose.empty()) context["compose_resources"] = compose;
}

}  // namespace

Json merge_deploy_settings(const SettingsSources& sources) {
  Json settings = merge_settings(default_deploy_settings(), sources.policy);
  for (const auto& path : sources.values_files) settings = merge_settings(settings, read_values_file(path));
  Json sets = Json::object();
  for (const auto& assignment : sources.sets) apply_set(sets, assignment);
  Json checked = sets;
  if (auto problems = normalise_deploy_settings(checked); !problems.empty()) {
    throw Error(ExitCode::usage, "--set: " + problems_text(problems));
  }
  settings = merge_settings(settings, sets);
  normalise_deploy_settings(settings);  // numbers given for text become text
  return settings;
}

ManifestContext build_context(sql::Db& db, const ContextRequest& request) {
  ManifestContext result;
  result.version = resolve_model_version(db, request.ref);
  const VersionRecord& v = result.version;
  Json context = model_fields(db, request.ref, v, request.stage_order);
  Json settings = merge_deploy_settings(request.settings);
  if (!settings.contains("name")) settings["name"] = v.name;
  // Pushed to an OCI registry: the server can read the artifact itself.
  if (!settings.contains("storage_uri") && context["oci_uri"].is_string()) settings["storage_uri"] = context["oci_uri"];
  expand_patterns(settings, context, "deploy");
  if (settings.contains("model_format")) context["model_format"] = settings["model_format"];
  add_resource_forms(context, settings);
  if (settings.contains("port")) {
    const std::string base = "http://localhost:" + std::to_string(settings["port"].get<int>());
    Json urls = Json::object();
    const Json probes = settings.value("probes", Json::object());
    for (const auto& [key, path] : probes.items()) {
      urls[key] = base + path.get<std::string>();
    }
    context["probe_urls"] = urls;
  }
  context["deploy"] = std::move(settings);
  result.context = std::move(context);
  return result;
}

std::vector<RenderedFile> render_targets(const Catalog& catalog, const std::vector<std::string>& targets,
                                         const Json& context) {
  std::vector<const Template*> chosen;
  for (const auto& target : targets) chosen.push_back(&catalog.find(target));  // every name checked first
  std::vector<RenderedFile> files;
  for (const Template* t : chosen) {
    RenderedFile f{t->target, t->file_name, render_template(*t, context, checks_for(t->format)), ""};
    f.sha256 = Sha256::hex_of(f.text);
    files.push_back(std::move(f));
  }
  return files;
}

}  // namespace lm::deploy
