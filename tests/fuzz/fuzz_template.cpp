// Deployment templates (deploy/template.hpp): the input is a template file,
// read as a YAML and as a unit-file template (a header may name another
// format), then rendered with the context 'lastmile deploy' builds for a
// version, through the checks the built-in targets use. Errors are
// lm::Error with the codes the header documents. Values are hostile: a
// description that would add a key if pasted in unquoted, and values that
// look like tags. When a YAML manifest renders, no value has become a key
// the template does not itself contain; nor a line in a unit file.

#include <yaml-cpp/yaml.h>

#include "deploy/catalog.hpp"
#include "deploy/render.hpp"
#include "registry/deploy_settings.hpp"
#include "tests/fuzz/fuzz.hpp"

namespace {

using lm::ExitCode;
using lm::Json;
using lm::fuzz::attempt;
using lm::fuzz::expect;

// As 'lastmile deploy context' shows it for a registered version, with
// hostile text where users supply text.
const Json& context() {
  static const Json ctx = [] {
    Json deploy = lm::merge_settings(lm::default_deploy_settings(),
                                     {{"name", "churn"}, {"image", "ghcr.io/x/serve:1"}});
    Json c = {
        {"name", "churn"},
        {"version", "1.2.0"},
        {"ref", "churn@1.2.0"},
        {"version_label", "1.2.0"},
        {"sha256", std::string(64, 'a')},
        {"short_sha256", std::string(12, 'a')},
        {"digest", "sha256:" + std::string(64, 'a')},
        {"stage", "production"},
        {"format", "onnx"},
        {"model_format", "onnx"},
        {"size", 3},
        {"file_count", 1},
        {"files", Json::array({{{"path", "model.onnx"}, {"sha256", std::string(64, 'b')}, {"size", 3}}})},
        {"owner", "ml-team\"\ninjected: owner"},
        {"description", "line one\n---\ninjected: true\nkind: Secret\nInjected=1"},
        {"labels", {{"team", "a: b\ninjected: label"}, {"tier", "{{name}}"}}},
        {"params", {{"lr", "0.1"}, {"cmd", "$(rm -rf /) `x` %n"}}},
        {"metric", {{"auc", 0.9}}},
        {"metrics", Json::array({{{"name", "auc"}, {"text", "0.9"}, {"value", 0.9}}})},
        {"git_commit", std::string(40, 'c')},
        {"git", {{"branch", "main\ninjected: branch"}, {"commit", std::string(40, 'c')}, {"dirty", false}, {"remote", nullptr}}},
        {"registered_at", "2026-01-01T00:00:00Z"},
        {"registered_by", "a <a@b>"},
        {"cpu_cores", 1.0},
        {"memory_bytes", "2147483648"},
        {"oci_uri", nullptr},
        {"deploy", deploy},
    };
    return c;
  }();
  return ctx;
}

// Whether a mapping anywhere in `node` has the key `key`.
bool has_key(const YAML::Node& node, const std::string& key, int depth = 0) {
  if (depth > 200) return false;
  if (node.IsMap()) {
    for (const auto& item : node) {
      if (item.first.IsScalar() && item.first.Scalar() == key) return true;
      if (has_key(item.first, key, depth + 1) || has_key(item.second, key, depth + 1)) return true;
    }
  } else if (node.IsSequence()) {
    for (const auto& item : node) {
      if (has_key(item, key, depth + 1)) return true;
    }
  }
  return false;
}

void check_output(const lm::deploy::Template& t, std::string_view source, const std::string& text) {
  const bool yaml = t.format == lm::deploy::OutputFormat::yaml || t.format == lm::deploy::OutputFormat::compose;
  if (yaml && source.find("injected") == std::string_view::npos) {
    for (const auto& doc : YAML::LoadAll(text)) {
      expect(!has_key(doc, "injected"), "a value became a key in the rendered YAML:\n" + text);
    }
  }
  if (t.format == lm::deploy::OutputFormat::systemd && source.find("Injected") == std::string_view::npos) {
    expect(text.find("\nInjected") == std::string::npos && text.rfind("Injected", 0) != 0,
           "a value became a line of the unit file:\n" + text);
  }
}

void check(std::string_view text, const std::string& file_name) {
  lm::deploy::Template t;
  if (!attempt([&] { t = lm::deploy::parse_template(file_name, text, "fuzz/" + file_name); }, {ExitCode::data})) {
    return;
  }
  lm::deploy::Catalog catalog;
  catalog.targets[t.target] = t;
  std::vector<lm::deploy::RenderedFile> files;
  if (attempt([&] { files = lm::deploy::render_targets(catalog, {t.target}, context()); },
              {ExitCode::data, ExitCode::config, ExitCode::usage})) {
    expect(files.size() == 1, "render_targets rendered another number of files");
    check_output(t, text, files.front().text);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, std::size_t size) {
  const std::string_view text = lm::fuzz::as_text(data, size);
  check(text, "fuzz.yaml.mustache");
  check(text, "fuzz.service.mustache");
  attempt([&] { (void)lm::deploy::render_pattern(text, context(), "deploy.storage_uri"); },
          {ExitCode::data, ExitCode::config, ExitCode::usage});
  return 0;
}
