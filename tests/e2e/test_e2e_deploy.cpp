// Deployment manifests, end to end: every built-in target rendered and read
// back by an independent YAML parser (python3's yaml.safe_load_all), text
// from the registry that must not change a manifest's structure, refusals
// that write nothing, project and --template-dir templates, the layering of
// lastmile.yaml, --values and --set, and deploy record with what status
// says about an environment its stage has moved on from.

#include <sys/stat.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tests/e2e/sandbox.hpp"

using lm::test::RunOptions;
using lm::test::RunResult;
using lm::test::Sandbox;
namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

const std::string k_image = "registry.example.com/serve@sha256:" + std::string(64, 'a');

// The default stages, and deploy settings for every built-in target: an
// image (kubernetes, compose), a storage URI pattern (kserve, seldon) and a
// command whose words are patterns too (systemd).
const std::string k_policy = R"yaml(stages:
  - name: sandbox
  - name: staging
    from: [sandbox]
  - name: production
    from: [staging]
)yaml";

const std::string k_deploy = "deploy:\n"
                             "  image: " + k_image + "\n" +
                             R"yaml(  storage_uri: "s3://models/{{name}}/{{version}}"
  command: [/usr/bin/model-server, --model, "{{name}}", --port, "8080"]
)yaml";

const std::vector<std::string> k_yaml_targets = {"kubernetes", "kserve", "seldon", "compose"};

RunResult ok(const Sandbox& sb, const std::vector<std::string>& args, const RunOptions& opts = {}) {
  RunResult r = sb.run(args, opts);
  INFO("lastmile " << args[0] << (args.size() > 1 ? " " + args[1] : "") << "\nstderr: " << r.err);
  REQUIRE(r.rc == 0);
  return r;
}

// An initialised registry with lastmile.yaml as given (`deploy` appended to
// the stages), and fraud-model@1.4.0 registered from an ONNX file.
void setup(Sandbox& sb, const std::string& deploy = k_deploy,
           const std::string& description = "scores card transactions") {
  ok(sb, {"init", "-q"});
  sb.write("lastmile.yaml", k_policy + deploy);
  ok(sb, {"policy", "check", "-q"});
  sb.write("models/fraud.onnx", "onnx weights 1.4.0");
  ok(sb, {"register", "fraud-model", "models/fraud.onnx", "--version", "1.4.0", "--description", description});
}

void register_version(Sandbox& sb, const std::string& version, const std::vector<std::string>& extra = {}) {
  const std::string path = "models/fraud-" + version + ".onnx";
  sb.write(path, "onnx weights " + version);
  std::vector<std::string> args{"register", "fraud-model", path, "--version", version};
  args.insert(args.end(), extra.begin(), extra.end());
  ok(sb, args);
}

// The version's digest without "sha256:", from show --json.
std::string sha256_of(const Sandbox& sb, const std::string& ref) {
  const Json j = ok(sb, {"show", ref, "--json"}).json();
  const std::string digest = j["digest"];
  REQUIRE(digest.rfind("sha256:", 0) == 0);
  const std::string hex = digest.substr(7);
  REQUIRE(hex.size() == 64);
  return hex;
}

const char* k_load_all = R"py(
import json, sys, yaml
docs = []
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        docs.append(list(yaml.safe_load_all(f)))
print(json.dumps(docs, default=str))
)py";

// Each file's YAML documents, as python's yaml.safe_load_all reads them.
std::vector<Json> load_all(const Sandbox& sb, const std::vector<fs::path>& files) {
  std::vector<std::string> argv{lm::test::python_with_yaml(sb), "-c", k_load_all};
  for (const auto& f : files) argv.push_back(f.string());
  const RunResult r = sb.exec(argv);
  INFO("python: " << r.err);
  REQUIRE(r.rc == 0);
  const Json all = r.json();
  REQUIRE(all.size() == files.size());
  return {all.begin(), all.end()};
}

// The documents of YAML text (kept outside the repository).
Json parse_yaml(Sandbox& sb, const std::string& text) {
  static int n = 0;
  const fs::path file = sb.root() / ("parsed-" + std::to_string(++n) + ".yaml");
  sb.write(file, text);
  return load_all(sb, {file})[0];
}

// The files in a directory, sorted; empty when it does not exist.
std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string sha256sum(const Sandbox& sb, const fs::path& file) {
  const RunResult r = sb.exec({"sha256sum", file.string()});
  REQUIRE(r.rc == 0);
  return r.out.substr(0, 64);
}

// A JSON value with every leaf replaced by null: the keys and documents it
// has, not what they hold.
Json shape(const Json& v) {
  if (v.is_object()) {
    Json out = Json::object();
    for (const auto& [k, item] : v.items()) out[k] = shape(item);
    return out;
  }
  if (v.is_array()) {
    Json out = Json::array();
    for (const auto& item : v) out.push_back(shape(item));
    return out;
  }
  return nullptr;
}

// The lines of a unit file, and whether it is only sections, Key=value and
// comments.
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::size_t count_of(const std::vector<std::string>& lines, const std::string& line) {
  return static_cast<std::size_t>(std::count(lines.begin(), lines.end(), line));
}

// The environments of fraud-model in status --json, by name.
std::map<std::string, Json> environments(const Sandbox& sb) {
  std::map<std::string, Json> envs;
  const Json status = ok(sb, {"status", "--json"}).json();
  for (const auto& m : status["models"]) {
    if (m["name"] != "fraud-model") continue;
    for (const auto& e : m["environments"]) envs[e["environment"].get<std::string>()] = e;
  }
  return envs;
}

// A refusal: the exit code, a message on stderr, nothing on stdout, the log
// as it was and nothing in `out_dir`.
void refused(const Sandbox& sb, const std::vector<std::string>& args, int rc, const std::vector<std::string>& messages,
             const fs::path& out_dir = {}, const RunOptions& opts = {}) {
  const long events = sb.event_count();
  const RunResult r = sb.run(args, opts);
  std::string line;
  for (const auto& a : args) line += " " + a;
  INFO("lastmile" << line << "\nstdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.rc == rc);
  CHECK(r.out.empty());
  CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: "));
  for (const auto& m : messages) CHECK_THAT(r.err, Catch::Contains(m));
  CHECK(sb.event_count() == events);
  if (!out_dir.empty()) CHECK(listing(out_dir).empty());
}

}  // namespace

// ---------------------------------------------------------------------------
// 1. Every built-in target

TEST_CASE("deploy targets lists the five built-in targets with a description", "[e2e][deploy]") {
  Sandbox sb;  // no registry needed: the built-in templates are in the binary
  const RunResult r = ok(sb, {"deploy", "targets"});
  CHECK(r.err.empty());
  const std::vector<std::string> lines = lines_of(r.out);
  REQUIRE(lines.size() == 6);
  CHECK_THAT(lines[0], Catch::StartsWith("TARGET") && Catch::Contains("FILE") && Catch::Contains("DESCRIPTION"));
  const std::vector<std::pair<std::string, std::string>> expected = {{"compose", "compose.yaml"},
                                                                     {"kserve", "kserve.yaml"},
                                                                     {"kubernetes", "kubernetes.yaml"},
                                                                     {"seldon", "seldon.yaml"},
                                                                     {"systemd", "systemd.service"}};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CHECK_THAT(lines[i + 1], Catch::StartsWith(expected[i].first + " ") && Catch::Contains(expected[i].second));
  }
  const Json j = ok(sb, {"deploy", "targets", "--json"}).json();
  REQUIRE(j["targets"].size() == 5);
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const Json& t = j["targets"][i];
    CHECK(t["target"] == expected[i].first);
    CHECK(t["file"] == expected[i].second);
    CHECK(t["source"] == "built-in " + expected[i].second + ".mustache");
    CHECK_FALSE(t["description"].get<std::string>().empty());
    CHECK(t["description"].get<std::string>().find('\n') == std::string::npos);
  }
}

TEST_CASE("every built-in target renders a manifest pinned to the digest that a YAML parser reads back",
          "[e2e][deploy]") {
  Sandbox sb;
  setup(sb);
  const std::string hex = sha256_of(sb, "fraud-model@1.4.0");
  CHECK(ok(sb, {"show", "fraud-model@1.4.0", "--json"}).json()["format"] == "onnx");
  const std::string uri = "s3://models/fraud-model/1.4.0";
  const long events = sb.event_count();

  // Each target on its own to stdout, twice: the same bytes both times.
  std::map<std::string, std::string> rendered;
  for (const std::string target : {"kubernetes", "kserve", "seldon", "compose", "systemd"}) {
    const RunResult first = ok(sb, {"deploy", "render", "fraud-model@1.4.0", "--target", target});
    const RunResult second = ok(sb, {"deploy", "render", "fraud-model@1.4.0", "--target", target});
    INFO(target);
    CHECK(first.err.empty());
    CHECK(first.out == second.out);
    CHECK_THAT(first.out, Catch::Contains(hex));
    rendered[target] = first.out;
  }
  CHECK(sb.event_count() == events);  // rendering records nothing

  std::vector<fs::path> files;
  for (const auto& t : k_yaml_targets) files.push_back(sb.write(sb.root() / (t + ".yaml"), rendered[t]));
  const std::vector<Json> docs = load_all(sb, files);
  const auto annotations_pinned = [&](const Json& doc) {
    CHECK(doc["metadata"]["annotations"]["lastmile.dev/model-sha256"] == hex);
    CHECK(doc["metadata"]["annotations"]["lastmile.dev/model"] == "fraud-model@1.4.0");
  };

  {
    INFO("kubernetes: a Deployment and a Service, nothing else");
    const Json& k = docs[0];
    REQUIRE(k.size() == 2);
    CHECK(k[0]["apiVersion"] == "apps/v1");
    CHECK(k[0]["kind"] == "Deployment");
    CHECK(k[1]["apiVersion"] == "v1");
    CHECK(k[1]["kind"] == "Service");
    for (const auto& doc : k) {
      annotations_pinned(doc);
      CHECK(doc["metadata"]["name"] == "fraud-model");
      CHECK(doc["metadata"]["labels"]["app.kubernetes.io/version"] == "1.4.0");
    }
    CHECK(k[0]["metadata"]["annotations"]["lastmile.dev/description"] == "scores card transactions");
    CHECK(k[0]["metadata"]["annotations"]["lastmile.dev/stage"] == "sandbox");
    CHECK(k[0]["spec"]["replicas"] == 1);
    const Json& pod = k[0]["spec"]["template"];
    CHECK(pod["metadata"]["annotations"]["lastmile.dev/model-sha256"] == hex);
    REQUIRE(pod["spec"]["containers"].size() == 1);
    const Json& c = pod["spec"]["containers"][0];
    CHECK(c["image"] == k_image);
    std::map<std::string, Json> env;
    for (const auto& e : c["env"]) env[e["name"].get<std::string>()] = e["value"];
    CHECK(env["MODEL_SHA256"] == hex);
    CHECK(env["MODEL_NAME"] == "fraud-model");
    CHECK(env["MODEL_VERSION"] == "1.4.0");
    CHECK(env["MODEL_URI"] == uri);
    CHECK(c["ports"][0]["containerPort"] == 8080);
    CHECK(k[0]["spec"]["selector"]["matchLabels"] == k[1]["spec"]["selector"]);
  }

  {
    INFO("kserve: one InferenceService serving the registered format from the storage URI");
    REQUIRE(docs[1].size() == 1);
    const Json& d = docs[1][0];
    CHECK(d["apiVersion"] == "serving.kserve.io/v1beta1");
    CHECK(d["kind"] == "InferenceService");
    annotations_pinned(d);
    CHECK(d["metadata"]["annotations"]["lastmile.dev/model-version"] == "1.4.0");
    CHECK(d["spec"]["predictor"]["model"]["modelFormat"]["name"] == "onnx");
    CHECK(d["spec"]["predictor"]["model"]["storageUri"] == uri);
    CHECK(d["spec"]["predictor"]["model"]["protocolVersion"] == "v2");
    CHECK(d["spec"]["predictor"]["minReplicas"] == 1);
  }

  {
    INFO("seldon: one Model with the storage URI");
    REQUIRE(docs[2].size() == 1);
    const Json& d = docs[2][0];
    CHECK(d["apiVersion"] == "mlops.seldon.io/v1alpha1");
    CHECK(d["kind"] == "Model");
    annotations_pinned(d);
    CHECK(d["spec"]["storageUri"] == uri);
    CHECK(d["spec"]["requirements"] == Json::array({"onnx"}));
  }

  {
    INFO("compose: one service running the image");
    REQUIRE(docs[3].size() == 1);
    const Json& d = docs[3][0];
    REQUIRE(d["services"].size() == 1);
    const Json& s = d["services"]["fraud-model"];
    CHECK(s["image"] == k_image);
    CHECK(s["labels"]["lastmile.dev/model-sha256"] == hex);
    CHECK(s["environment"]["MODEL_SHA256"] == hex);
    CHECK(s["environment"]["MODEL_URI"] == uri);
    CHECK(s["deploy"]["replicas"] == 1);
  }

  {
    INFO("systemd: the four sections, once each, and the full digest");
    const std::vector<std::string> lines = lines_of(rendered["systemd"]);
    for (const std::string section : {"[Unit]", "[Service]", "[Install]", "[X-Lastmile]"}) {
      CHECK(count_of(lines, section) == 1);
    }
    CHECK(count_of(lines, "ModelSha256=" + hex) == 1);
    CHECK(count_of(lines, "Environment=MODEL_SHA256=" + hex) == 1);
    CHECK(count_of(lines, "ModelName=fraud-model") == 1);
    CHECK(count_of(lines, "ModelVersion=1.4.0") == 1);
    CHECK(count_of(lines, "ExecStart=/usr/bin/model-server --model fraud-model --port 8080") == 1);
    CHECK(count_of(lines, "Environment=MODEL_URI=" + uri) == 1);
    // Sections in order; every other line a comment or Key=value.
    std::vector<std::string> sections;
    for (const auto& line : lines) {
      if (line.empty() || line[0] == '#') continue;
      if (line.front() == '[') {
        sections.push_back(line);
        continue;
      }
      INFO(line);
      const auto eq = line.find('=');
      CHECK((eq != std::string::npos && eq > 0));
    }
    CHECK(sections == std::vector<std::string>{"[Unit]", "[Service]", "[Install]", "[X-Lastmile]"});
  }

  {
    INFO("several YAML targets on stdout are one stream separated by ---");
    const RunResult all = ok(sb, {"deploy", "render", "fraud-model@1.4.0", "-t", "kubernetes", "-t", "kserve",
                                  "-t", "seldon", "-t", "compose"});
    CHECK(all.out == rendered["kubernetes"] + "---\n" + rendered["kserve"] + "---\n" + rendered["seldon"] +
                         "---\n" + rendered["compose"]);
    const Json stream = parse_yaml(sb, all.out);
    REQUIRE(stream.size() == 5);
    CHECK(stream[0]["kind"] == "Deployment");
    CHECK(stream[1]["kind"] == "Service");
    CHECK(stream[2]["kind"] == "InferenceService");
    CHECK(stream[3]["kind"] == "Model");
    CHECK(stream[4].contains("services"));
  }

  {
    INFO("--out writes one file per target, the same bytes as stdout, on every run");
    const std::vector<std::string> args{"deploy", "render", "fraud-model@1.4.0", "-t", "kubernetes", "-t", "kserve",
                                        "-t", "seldon", "-t", "compose", "-t", "systemd", "--out", "deploy/out"};
    const RunResult r = ok(sb, args);
    CHECK_THAT(r.out, Catch::Contains("wrote deploy/out/kubernetes.yaml  "));
    CHECK_THAT(r.out, Catch::Contains("wrote deploy/out/systemd.service  "));
    const fs::path dir = sb.repo() / "deploy/out";
    CHECK(listing(dir) == std::vector<std::string>{"compose.yaml", "kserve.yaml", "kubernetes.yaml", "seldon.yaml",
                                                   "systemd.service"});
    std::map<std::string, std::string> written;
    for (const auto& name : listing(dir)) written[name] = sb.read(dir / name);
    for (const auto& [target, text] : rendered) {
      const std::string file = target + (target == "systemd" ? ".service" : ".yaml");
      INFO(file);
      CHECK(written[file] == text);
    }
    ok(sb, args);
    for (const auto& name : listing(dir)) CHECK(sb.read(dir / name) == written[name]);
    // --json names each file with the hash of its bytes.
    const Json j = ok(sb, {"deploy", "render", "fraud-model@1.4.0", "-t", "kubernetes", "--out", "deploy/out",
                           "--json"})
                       .json();
    CHECK(j["digest"] == "sha256:" + hex);
    CHECK(j["version"] == "1.4.0");
    REQUIRE(j["files"].size() == 1);
    CHECK(j["files"][0]["sha256"] == sha256sum(sb, dir / "kubernetes.yaml"));
    CHECK(j["files"][0]["bytes"] == written["kubernetes.yaml"].size());
    CHECK(sb.event_count() == events);
  }
}

// ---------------------------------------------------------------------------
// 2. Injection

TEST_CASE("text from the registry stays one value: no key, document or setting is added", "[e2e][deploy]") {
  Sandbox sb;
  setup(sb, k_deploy, "plain description");
  ok(sb, {"register", "fraud-model", "models/fraud.onnx", "--version", "1.0.0", "--description", "plain",
          "--owner", "plain"});
  // A description and an owner written to break out of a YAML scalar: a line
  // break, a document marker, a mapping key, a comment, Mustache, quotes, a
  // backslash, a tab, and what YAML makes of &, *, !, %, | and >.
  const std::string description =
      "line one\n---\nkind: Secret\nkey: value # not a comment\n{{x}} {{{y}}} \"quoted\" 'single' "
      "back\\slash\\n\ttab\n...\n- item\n&anchor *alias !!binary %YAML 1.2 | > \"$HOME\" ${X}";
  const std::string owner = "team: ml\" # x\n---\nextra: \"true";
  // The baseline, rendered while 1.0.0 is what the first stage holds.
  const auto render_all = [&](const std::string& ref, const std::string& dir) {
    std::vector<std::string> args{"deploy", "render", ref, "--out", dir};
    for (const auto& t : k_yaml_targets) args.insert(args.end(), {"-t", t});
    ok(sb, args);
    std::vector<fs::path> files;
    for (const auto& t : k_yaml_targets) files.push_back(sb.repo() / dir / (t + ".yaml"));
    return load_all(sb, files);
  };
  const std::vector<Json> plain = render_all("fraud-model@1.0.0", "plain");
  register_version(sb, "1.1.0", {"--description", description, "--owner", owner});
  REQUIRE(ok(sb, {"show", "fraud-model@1.1.0", "--json"}).json()["description"] == description);
  const std::vector<Json> nasty = render_all("fraud-model@1.1.0", "nasty");

  for (std::size_t i = 0; i < k_yaml_targets.size(); ++i) {
    const std::string& target = k_yaml_targets[i];
    INFO(target << ": " << nasty[i].dump(2));
    // The same documents with the same keys as for a plain description.
    CHECK(shape(nasty[i]) == shape(plain[i]));
    CHECK(nasty[i].size() == (target == "kubernetes" ? 2u : 1u));
    if (target == "compose") {
      std::string doubled;
      for (const char c : description) doubled += c == '$' ? std::string("$$") : std::string(1, c);
      const Json& labels = nasty[i][0]["services"]["fraud-model"]["labels"];
      CHECK(labels["lastmile.dev/description"] == doubled);
      CHECK(labels["lastmile.dev/model-sha256"] == sha256_of(sb, "fraud-model@1.1.0"));
    } else {
      const Json& a = nasty[i][0]["metadata"]["annotations"];
      CHECK(a["lastmile.dev/description"] == description);
      CHECK(a["lastmile.dev/owner"] == owner);
      CHECK(a["lastmile.dev/model-sha256"] == sha256_of(sb, "fraud-model@1.1.0"));
    }
  }
  // The unit file does not use the description, but a command word with the
  // same characters stays one word and one line.
  const RunResult unit = ok(sb, {"deploy", "render", "fraud-model@1.1.0", "-t", "systemd", "--set",
                                 "command=[serve, \"a b\", \"100%\", \"x\\n[Service]\\nUser=root\"]"});
  const std::vector<std::string> lines = lines_of(unit.out);
  CHECK(count_of(lines, "[Service]") == 1);
  CHECK(count_of(lines, "User=root") == 0);
  CHECK(count_of(lines, "ExecStart=serve \"a b\" \"100%%\" \"x\\n[Service]\\nUser=root\"") == 1);
  // systemd expands $ in ExecStart= and not in Environment=: no spelling is
  // right for both, so a $ is refused; so is a first word it reads as a prefix.
  for (const char* command : {"command=[serve, \"$HOME\"]", "command=[-/usr/bin/serve]", "command=[\";\"]"}) {
    INFO(command);
    const RunResult r = sb.run({"deploy", "render", "fraud-model@1.1.0", "-t", "systemd", "--set", command});
    CHECK(r.rc == 64);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, Catch::Contains("cannot insert {{deploy.command}}"));
  }
}

TEST_CASE("non-ASCII text in a description reads back unchanged from every YAML target", "[e2e][deploy]") {
  Sandbox sb;
  // CJK, Cyrillic, Yi, Latin-1 and an emoji: 老 is U+8001, Ґ U+0490, ꀨ U+A028.
  const std::string description = "\xe8\x80\x81 \xd2\x90 \xea\x80\xa8 caf\xc3\xa9 \xf0\x9f\x9a\x80";
  setup(sb, k_deploy, description);
  REQUIRE(ok(sb, {"show", "fraud-model@1.4.0", "--json"}).json()["description"] == description);
  std::vector<std::string> args{"deploy", "render", "fraud-model@1.4.0", "--out", "out"};
  std::vector<fs::path> files;
  for (const auto& t : k_yaml_targets) {
    args.insert(args.end(), {"-t", t});
    files.push_back(sb.repo() / "out" / (t + ".yaml"));
  }
  ok(sb, args);
  const std::vector<Json> docs = load_all(sb, files);
  for (std::size_t i = 0; i < k_yaml_targets.size(); ++i) {
    const std::string& target = k_yaml_targets[i];
    const Json& d = docs[i][0];
    const Json value = target == "compose" ? d["services"]["fraud-model"]["labels"]["lastmile.dev/description"]
                                           : d["metadata"]["annotations"]["lastmile.dev/description"];
    INFO(target << ": " << sb.read(files[i]));
    CHECK(value == description);
  }
}

// ---------------------------------------------------------------------------
// 3. Refusals

TEST_CASE("deploy render refusals exit with their code, say why and write nothing", "[e2e][deploy]") {
  Sandbox sb;
  setup(sb, "");  // no deploy settings at all
  const fs::path out = sb.repo() / "out";
  const std::vector<std::string> render{"deploy", "render", "fraud-model@1.4.0"};
  const auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = render;
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };

  {
    INFO("a variable a template uses with no value is a configuration error naming it and the template");
    refused(sb, with({"-t", "kubernetes", "--out", "out"}), 78,
            {"template 'kubernetes'", "uses {{deploy.image}}, which has no value", "hint: set deploy.image"}, out);
    CHECK_FALSE(fs::exists(out));
    refused(sb, with({"-t", "kserve", "--out", "out"}), 78, {"template 'kserve'", "{{deploy.storage_uri}}"}, out);
    refused(sb, with({"-t", "seldon"}), 78, {"template 'seldon'", "{{deploy.storage_uri}}"});
    refused(sb, with({"-t", "systemd"}), 78, {"template 'systemd'", "{{deploy.command}}"});
    // One target that renders and one that does not: neither is written.
    refused(sb, with({"-t", "kserve", "-t", "kubernetes", "--out", "out", "--set", "storage_uri=s3://m"}), 78,
            {"{{deploy.image}}"}, out);
    CHECK_FALSE(fs::exists(out));
    // A pattern in a setting naming a variable that does not exist.
    refused(sb, with({"-t", "kserve", "--set", "storage_uri=s3://m/{{nope}}"}), 78, {"{{nope}}"});
  }

  {
    INFO("an unknown target is not found, and the targets are listed");
    refused(sb, with({"-t", "helm", "--out", "out"}), 66,
            {"no deployment target 'helm'", "compose, kserve, kubernetes, seldon, systemd"}, out);
    // Checked before anything renders, even after a valid target.
    refused(sb, with({"-t", "compose", "-t", "helm", "--set", "image=x"}), 66, {"'helm'"});
  }

  {
    INFO("a reference that does not resolve is not found");
    const std::string args_set = "image=x";
    refused(sb, {"deploy", "render", "fraud-model@9.9.9", "-t", "compose", "--set", args_set, "--out", "out"}, 66,
            {"no version '9.9.9' of 'fraud-model'"}, out);
    refused(sb, {"deploy", "render", "no-such-model@1.0.0", "-t", "compose", "--set", args_set}, 66,
            {"'no-such-model'"});
    refused(sb, {"deploy", "render", "fraud-model@production", "-t", "compose", "--set", args_set}, 66,
            {"'production'"});
    refused(sb, {"deploy", "context", "fraud-model@9.9.9"}, 66, {"'9.9.9'"});
  }

  {
    INFO("an --out directory that cannot be written is a permission error");
    const std::vector<std::string> ok_args = with({"-t", "compose", "--set", "image=x"});
    // Denied even for root: sysfs takes no new directories.
    if (fs::is_directory("/sys/kernel")) {
      std::vector<std::string> args = ok_args;
      args.insert(args.end(), {"--out", "/sys/kernel/lastmile-e2e-out"});
      refused(sb, args, 77, {"cannot", "'/sys/kernel/lastmile-e2e-out'"});
      CHECK_FALSE(fs::exists("/sys/kernel/lastmile-e2e-out"));
    }
    // A read-only directory; chmod does not stop root, so run as nobody.
    fs::create_directories(sb.repo() / "closed");
    ::chmod((sb.repo() / "closed").c_str(), 0555);
    std::vector<std::string> args = ok_args;
    args.insert(args.end(), {"--out", "closed"});
    refused(sb, args, 77, {"cannot write manifests into 'closed'", "permission denied"}, sb.repo() / "closed",
            {.as_unprivileged_user = true});
  }

  {
    INFO("an --out that is a regular file is a usage error and the file is kept");
    sb.write("manifest.yaml", "keep me\n");
    refused(sb, with({"-t", "compose", "--set", "image=x", "--out", "manifest.yaml"}), 64,
            {"--out 'manifest.yaml' exists and is not a directory"});
    CHECK(sb.read("manifest.yaml") == "keep me\n");
  }

  {
    INFO("a deploy.name Kubernetes would refuse is a usage error");
    // Compose has its own rule: Fraud_Model is a service name, team/fraud is not.
    refused(sb, with({"-t", "compose", "--set", "image=x", "--set", "name=team/fraud", "--out", "out"}), 64,
            {"{{deploy.name}}", "'team/fraud' is not a valid name", "compose service name"}, out);
    CHECK(ok(sb, with({"-t", "compose", "--set", "image=x", "--set", "name=Fraud_Model"})).out.find("\"Fraud_Model\":") !=
          std::string::npos);
    refused(sb, with({"-t", "kserve", "--set", "storage_uri=s3://m", "--set", "name=9lives"}), 64,
            {"'9lives'", "must start with a letter"});
    refused(sb, with({"-t", "kubernetes", "--set", "image=x", "--set", "namespace=Prod"}), 64,
            {"{{deploy.namespace}}", "'Prod'"});
    // In lastmile.yaml too.
    sb.write("lastmile.yaml", k_policy + k_deploy + "  name: Fraud_Model\n");
    refused(sb, with({"-t", "kubernetes", "--out", "out"}), 64, {"'Fraud_Model'"}, out);
    sb.write("lastmile.yaml", k_policy);
  }

  {
    INFO("a bad --set is a usage error");
    const std::vector<std::string> base = with({"-t", "compose", "--set", "image=x", "--out", "out"});
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"replicas", "--set 'replicas' is not KEY=VALUE"},
        {"=3", "--set '=3' is not KEY=VALUE"},
        {"replica=3", "unknown setting deploy.replica"},
        {"replicas=many", "deploy.replicas must be a whole number"},
        {"port=70000", "deploy.port must be a whole number from 1 to 65535"},
        {"resources..cpu=1", "is not a setting name"},
        {"command=[unclosed", "--set"},
    };
    for (const auto& [assignment, message] : cases) {
      std::vector<std::string> args = base;
      args.insert(args.end(), {"--set", assignment});
      refused(sb, args, 64, {message}, out);
    }
  }

  {
    INFO("a malformed custom template is a data error naming the file and line");
    sb.write("tpl/broken.yaml.mustache", "apiVersion: v1\nkind: ConfigMap\n{{#deploy.image}}\ndata: {}\n");
    refused(sb, with({"-t", "broken", "--template-dir", "tpl", "--out", "out"}), 65,
            {"broken.yaml.mustache:3: {{#deploy.image}} is never closed"}, out);
    sb.write("tpl/broken.yaml.mustache", "apiVersion: v1\n{{/x}}\n");
    refused(sb, with({"-t", "broken", "--template-dir", "tpl"}), 65, {"broken.yaml.mustache:2:", "{{/x}}"});
    sb.write("tpl/broken.yaml.mustache", "apiVersion: v1\nname: {{name\n");
    refused(sb, with({"-t", "broken", "--template-dir", "tpl"}), 65, {"never closed"});
    sb.write("tpl/broken.yaml.mustache", "{{> partial}}\n");
    refused(sb, with({"-t", "broken", "--template-dir", "tpl"}), 65, {"partials"});
    // Indentation that does not parse once rendered.
    sb.write("tpl/broken.yaml.mustache", "a: {{name}}\n  b: {{version}}\n c: 1\n");
    refused(sb, with({"-t", "broken", "--template-dir", "tpl", "--out", "out"}), 65,
            {"rendered YAML that does not parse"}, out);
    fs::remove(sb.repo() / "tpl/broken.yaml.mustache");
  }

  {
    INFO("a YAML template variable inside quotes is a data error");
    sb.write("tpl/quoted.yaml.mustache", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: \"{{name}}\"\n");
    refused(sb, with({"-t", "quoted", "--template-dir", "tpl", "--out", "out"}), 65,
            {"quoted.yaml.mustache:4: {{name}} is part of a larger value"}, out);
    sb.write("tpl/quoted.yaml.mustache", "note: 'v{{version}}'\n");
    refused(sb, with({"-t", "quoted", "--template-dir", "tpl"}), 65, {"{{version}} is part of a larger value"});
    sb.write("tpl/quoted.yaml.mustache", "uri: s3://{{name}}\n");
    refused(sb, with({"-t", "quoted", "--template-dir", "tpl"}), 65, {"{{name}} is part of a larger value"});
  }

  {
    INFO("missing and malformed inputs: --values, --template-dir");
    refused(sb, with({"-t", "compose", "--values", "nope.yaml"}), 66, {"nope.yaml"});
    refused(sb, with({"-t", "compose", "--template-dir", "no-dir"}), 66,
            {"--template-dir 'no-dir' is not a directory"});
    sb.write("bad-values.yaml", "replicas: [\n");
    refused(sb, with({"-t", "compose", "--values", "bad-values.yaml", "--out", "out"}), 65, {"bad-values.yaml"},
            out);
    sb.write("bad-values.yaml", "replicas: 3\nreplica: 4\n");
    refused(sb, with({"-t", "compose", "--values", "bad-values.yaml"}), 65, {"unknown setting deploy.replica"});
  }

  // The log never moved: render and the refusals record nothing.
  const Json history = ok(sb, {"history", "fraud-model", "--json"}).json();
  CHECK(history.dump().find("deployment") == std::string::npos);
}

TEST_CASE("a YAML template variable that is only part of a plain value is refused", "[e2e][deploy]") {
  // template.hpp: "in YAML each {{variable}} must be a whole value". After
  // a plain word the quoted value is not a scalar of its own: " #" in the
  // description would silently cut the value short.
  Sandbox sb;
  setup(sb, k_deploy, "a # b");
  sb.write("tpl/note.yaml.mustache", "apiVersion: v1\nkind: ConfigMap\ndata:\n  note: prefix {{description}}\n");
  const RunResult r = sb.run({"deploy", "render", "fraud-model@1.4.0", "-t", "note", "--template-dir", "tpl"});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.rc == 65);
  CHECK_THAT(r.err, Catch::Contains("{{description}} is part of a larger value"));
}

// ---------------------------------------------------------------------------
// 4. Overrides and export

TEST_CASE("templates export writes the built-ins, reports unchanged files and refuses to overwrite edits",
          "[e2e][deploy]") {
  Sandbox sb;
  setup(sb);
  const fs::path dir = sb.repo() / "exported";
  const std::vector<std::string> names{"compose.yaml.mustache", "kserve.yaml.mustache", "kubernetes.yaml.mustache",
                                       "seldon.yaml.mustache", "systemd.service.mustache"};
  RunResult r = ok(sb, {"deploy", "templates", "export", "exported"});
  for (const auto& n : names) CHECK_THAT(r.out, Catch::Contains("wrote " + (dir / n).string() + "\n"));
  CHECK(listing(dir) == names);
  for (const auto& n : names) {
    INFO(n);
    CHECK(sb.read(dir / n) == sb.read(fs::path(LASTMILE_SOURCE_DIR) / "templates/deploy" / n));
  }

  r = ok(sb, {"deploy", "templates", "export", "exported"});
  for (const auto& n : names) CHECK_THAT(r.out, Catch::Contains("unchanged " + (dir / n).string() + "\n"));
  CHECK_THAT(r.out, !Catch::Contains("wrote"));

  // An edited file is refused, and the refusal writes nothing at all.
  const std::string edited = sb.read(dir / "seldon.yaml.mustache") + "# ours\n";
  sb.write(dir / "seldon.yaml.mustache", edited);
  fs::remove(dir / "kserve.yaml.mustache");
  r = sb.run({"deploy", "templates", "export", "exported"});
  CHECK(r.rc == 1);
  CHECK(r.out.empty());
  CHECK_THAT(r.err, Catch::Contains("'" + (dir / "seldon.yaml.mustache").string() +
                                    "' exists and differs from the built-in template") &&
                        Catch::Contains("--force"));
  CHECK(sb.read(dir / "seldon.yaml.mustache") == edited);
  CHECK_FALSE(fs::exists(dir / "kserve.yaml.mustache"));

  r = ok(sb, {"deploy", "templates", "export", "exported", "--force"});
  CHECK_THAT(r.out, Catch::Contains("wrote " + (dir / "seldon.yaml.mustache").string()));
  CHECK_THAT(r.out, Catch::Contains("wrote " + (dir / "kserve.yaml.mustache").string()));
  CHECK_THAT(r.out, Catch::Contains("unchanged " + (dir / "kubernetes.yaml.mustache").string()));
  CHECK(sb.read(dir / "seldon.yaml.mustache") ==
        sb.read(fs::path(LASTMILE_SOURCE_DIR) / "templates/deploy/seldon.yaml.mustache"));
  CHECK(listing(dir) == names);
}

TEST_CASE("a project template replaces a built-in one and --template-dir adds a target", "[e2e][deploy]") {
  Sandbox sb;
  setup(sb);
  ok(sb, {"deploy", "templates", "export", "exported", "-q"});
  std::string k8s = sb.read("exported/kubernetes.yaml.mustache");
  const std::string from = "description: Kubernetes Deployment and Service; image and model pinned by digest";
  REQUIRE(k8s.find(from) != std::string::npos);
  k8s.replace(k8s.find(from), from.size(), "description: our Deployment");
  const std::string replicas = "  replicas: {{deploy.replicas}}\n";
  REQUIRE(k8s.find(replicas) != std::string::npos);
  k8s.replace(k8s.find(replicas), replicas.size(), "  replicas: {{deploy.replicas}}\n  minReadySeconds: 30\n");
  const fs::path project = sb.write(".lastmile/templates/kubernetes.yaml.mustache", k8s);

  // deploy targets says where the template comes from.
  RunResult r = ok(sb, {"deploy", "targets"});
  CHECK_THAT(r.out, Catch::Contains("our Deployment  (" + project.string() + ")"));
  Json j = ok(sb, {"deploy", "targets", "--json"}).json();
  std::map<std::string, Json> targets;
  for (const auto& t : j["targets"]) targets[t["target"].get<std::string>()] = t;
  CHECK(targets.size() == 5);
  CHECK(targets["kubernetes"]["source"] == project.string());
  CHECK(targets["kubernetes"]["description"] == "our Deployment");
  CHECK(targets["kserve"]["source"] == "built-in kserve.yaml.mustache");

  r = ok(sb, {"deploy", "render", "fraud-model@1.4.0", "-t", "kubernetes"});
  Json docs = parse_yaml(sb, r.out);
  REQUIRE(docs.size() == 2);
  CHECK(docs[0]["spec"]["minReadySeconds"] == 30);
  CHECK(docs[0]["metadata"]["annotations"]["lastmile.dev/model-sha256"] == sha256_of(sb, "fraud-model@1.4.0"));

  // A new target from --template-dir, with a header and a free value.
  sb.write("ops/templates/configmap.yaml.mustache",
           "{{! description: a ConfigMap naming the model\n    format: yaml }}\n"
           "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{deploy.name}}\n"
           "data:\n  sha256: {{sha256}}\n  ref: {{ref}}\n  team: {{deploy.values.team}}\n");
  r = ok(sb, {"deploy", "targets", "--template-dir", "ops/templates"});
  CHECK_THAT(r.out, Catch::Contains("configmap") && Catch::Contains("a ConfigMap naming the model"));
  j = ok(sb, {"deploy", "targets", "--template-dir", "ops/templates", "--json"}).json();
  CHECK(j["targets"].size() == 6);
  // Without --template-dir the target does not exist.
  refused(sb, {"deploy", "render", "fraud-model@1.4.0", "-t", "configmap"}, 66, {"'configmap'"});

  r = ok(sb, {"deploy", "render", "fraud-model@1.4.0", "-t", "configmap", "-t", "kubernetes", "--template-dir",
              "ops/templates", "--set", "values.team=risk", "--out", "rendered"});
  CHECK(listing(sb.repo() / "rendered") == std::vector<std::string>{"configmap.yaml", "kubernetes.yaml"});
  const std::vector<Json> both =
      load_all(sb, {sb.repo() / "rendered/configmap.yaml", sb.repo() / "rendered/kubernetes.yaml"});
  REQUIRE(both[0].size() == 1);
  CHECK(both[0][0] == Json::parse(R"({"apiVersion": "v1", "kind": "ConfigMap",
                                      "metadata": {"name": "fraud-model"},
                                      "data": {"sha256": ")" + sha256_of(sb, "fraud-model@1.4.0") +
                                  R"(", "ref": "fraud-model@1.4.0", "team": "risk"}})"));
  CHECK(both[1][0]["spec"]["minReadySeconds"] == 30);  // the project template still applies

  // --template-dir is read after the project's templates: it wins.
  std::string other = k8s;
  other.replace(other.find("minReadySeconds: 30"), 19, "minReadySeconds: 45");
  sb.write("ops/templates/kubernetes.yaml.mustache", other);
  r = ok(sb, {"deploy", "render", "fraud-model@1.4.0", "-t", "kubernetes", "--template-dir", "ops/templates"});
  CHECK(parse_yaml(sb, r.out)[0]["spec"]["minReadySeconds"] == 45);
}

// ---------------------------------------------------------------------------
// 5. deploy record and status

TEST_CASE("deploy record keeps the manifests' hashes and status flags an environment its stage moved on from",
          "[e2e][deploy]") {
  Sandbox sb;
  setup(sb);
  ok(sb, {"promote", "fraud-model@1.4.0", "--to", "staging"});
  ok(sb, {"promote", "fraud-model@1.4.0", "--to", "production"});
  ok(sb, {"deploy", "render", "fraud-model@production", "-t", "kubernetes", "-t", "systemd", "--out",
          "deploy/prod-eu"});

  long events = sb.event_count();
  Json j = ok(sb, {"deploy", "record", "fraud-model@production", "--env", "prod-eu", "--manifest",
                   "deploy/prod-eu/kubernetes.yaml", "--manifest", "deploy/prod-eu/systemd.service", "--json"})
               .json();
  CHECK(sb.event_count() == events + 1);
  CHECK(j["environment"] == "prod-eu");
  CHECK(j["version"] == "1.4.0");
  CHECK(j["stage"] == "production");
  CHECK(j["digest"] == "sha256:" + sha256_of(sb, "fraud-model@1.4.0"));
  CHECK(j["before"].is_null());
  REQUIRE(j["manifests"].size() == 2);
  for (const auto& m : j["manifests"]) {
    const fs::path file = sb.repo() / m["path"].get<std::string>();
    INFO(m.dump());
    CHECK(m["sha256"] == sha256sum(sb, file));
    CHECK(m["size"] == fs::file_size(file));
  }
  CHECK(j["manifests"][0]["path"] == "deploy/prod-eu/kubernetes.yaml");
  CHECK(j["manifests"][1]["path"] == "deploy/prod-eu/systemd.service");

  // A development environment runs what the first stage holds.
  const RunResult dev = ok(sb, {"deploy", "record", "fraud-model@1.4.0", "--env", "dev", "--stage", "sandbox"});
  CHECK(dev.out == "recorded fraud-model@1.4.0 running in dev (serving sandbox)\n");

  auto envs = environments(sb);
  REQUIRE(envs.size() == 2);
  CHECK(envs["prod-eu"]["stale"] == false);
  CHECK(envs["prod-eu"]["stage_holds"] == "1.4.0");
  CHECK(envs["prod-eu"]["manifests"] == j["manifests"]);
  CHECK(envs["dev"]["stale"] == false);
  CHECK(envs["dev"]["manifests"] == Json::array());
  CHECK_THAT(ok(sb, {"status"}).out, !Catch::Contains("✘"));

  // A newer version lands in sandbox: dev is behind, production is not.
  register_version(sb, "1.5.0");
  envs = environments(sb);
  CHECK(envs["dev"]["stale"] == true);
  CHECK(envs["dev"]["stage"] == "sandbox");
  CHECK(envs["dev"]["version"] == "1.4.0");
  CHECK(envs["dev"]["stage_holds"] == "1.5.0");
  CHECK(envs["prod-eu"]["stale"] == false);
  RunResult status = ok(sb, {"status"});
  CHECK_THAT(status.out, Catch::Contains("✘ sandbox now holds 1.5.0"));
  CHECK_THAT(status.out, !Catch::Contains("✘ production"));

  // Promoted to production: prod-eu is behind too.
  ok(sb, {"promote", "fraud-model@1.5.0", "--to", "staging"});
  ok(sb, {"promote", "fraud-model@1.5.0", "--to", "production"});
  envs = environments(sb);
  CHECK(envs["prod-eu"]["stale"] == true);
  CHECK(envs["prod-eu"]["stage_holds"] == "1.5.0");
  CHECK(envs["prod-eu"]["version"] == "1.4.0");
  status = ok(sb, {"status"});
  CHECK_THAT(status.out, Catch::Contains("✘ production now holds 1.5.0"));

  // Deployed: current again, and the record says what ran before.
  j = ok(sb, {"deploy", "record", "fraud-model@production", "--env", "prod-eu", "--json"}).json();
  CHECK(j["before"] == "1.4.0");
  CHECK(environments(sb)["prod-eu"]["stale"] == false);

  // Rolled back: behind once more.
  ok(sb, {"rollback", "fraud-model", "--stage", "production", "--reason", "latency regression"});
  envs = environments(sb);
  CHECK(envs["prod-eu"]["stale"] == true);
  CHECK(envs["prod-eu"]["version"] == "1.5.0");
  CHECK(envs["prod-eu"]["stage_holds"] == "1.4.0");
  CHECK_THAT(ok(sb, {"status"}).out, Catch::Contains("✘ production now holds 1.4.0"));

  // Refusals record nothing.
  events = sb.event_count();
  const Json before = ok(sb, {"status", "--json"}).json();
  for (const std::string& env : std::vector<std::string>{"Prod EU", "prod_eu", "-prod", "", std::string(64, 'a')}) {
    refused(sb, {"deploy", "record", "fraud-model@1.5.0", "--env", env}, 64, {"invalid environment name"});
  }
  refused(sb, {"deploy", "record", "fraud-model@1.5.0", "--env", "prod-us", "--manifest", "deploy/missing.yaml"}, 66,
          {"deploy/missing.yaml"});
  refused(sb, {"deploy", "record", "fraud-model@9.9.9", "--env", "prod-us"}, 66, {"'9.9.9'"});
  refused(sb, {"deploy", "record", "fraud-model@1.5.0", "--env", "prod-us", "--stage", "qa"}, 66,
          {"no stage 'qa'"});
  CHECK(sb.event_count() == events);
  CHECK(ok(sb, {"status", "--json"}).json() == before);
}

// ---------------------------------------------------------------------------
// 6. Settings layering

TEST_CASE("a values file overlays lastmile.yaml and --set overlays them all", "[e2e][deploy]") {
  Sandbox sb;
  setup(sb, k_deploy + "  replicas: 2\n  resources: {cpu: 500m}\n");
  sb.write("values/prod.yaml", "replicas: 3\nresources:\n  memory: 4Gi\nnamespace: risk\n");
  sb.write("values/eu.yaml", "namespace: risk-eu\n");
  const auto deployment = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> args{"deploy", "render", "fraud-model@1.4.0", "-t", "kubernetes"};
    args.insert(args.end(), extra.begin(), extra.end());
    const Json docs = parse_yaml(sb, ok(sb, args).out);
    REQUIRE(docs.size() == 2);
    return docs[0];
  };

  Json d = deployment({});
  CHECK(d["spec"]["replicas"] == 2);
  CHECK_FALSE(d["metadata"].contains("namespace"));

  d = deployment({"--values", "values/prod.yaml"});
  CHECK(d["spec"]["replicas"] == 3);
  CHECK(d["metadata"]["namespace"] == "risk");
  // Mappings merge key by key: cpu from lastmile.yaml, memory from the file.
  const Json& resources = d["spec"]["template"]["spec"]["containers"][0]["resources"];
  CHECK(resources["requests"]["cpu"] == "500m");
  CHECK(resources["requests"]["memory"] == "4Gi");
  CHECK(resources["limits"]["memory"] == "4Gi");

  d = deployment({"--values", "values/prod.yaml", "--set", "replicas=4"});
  CHECK(d["spec"]["replicas"] == 4);
  // --set wins wherever it stands on the command line; later files win.
  d = deployment({"--set", "replicas=4", "--values", "values/prod.yaml", "--values", "values/eu.yaml"});
  CHECK(d["spec"]["replicas"] == 4);
  CHECK(d["metadata"]["namespace"] == "risk-eu");
  CHECK(d["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["memory"] == "4Gi");

  // deploy context shows the merged settings, patterns rendered.
  const Json c = ok(sb, {"deploy", "context", "fraud-model@1.4.0", "--values", "values/prod.yaml", "--set",
                         "replicas=4", "--set", "storage_uri=gs://b/{{name}}/{{short_sha256}}"})
                     .json();
  CHECK(c["deploy"]["replicas"] == 4);
  CHECK(c["deploy"]["namespace"] == "risk");
  CHECK(c["deploy"]["resources"] == Json::parse(R"({"cpu": "500m", "memory": "4Gi"})"));
  CHECK(c["deploy"]["storage_uri"] == "gs://b/fraud-model/" + sha256_of(sb, "fraud-model@1.4.0").substr(0, 12));
  CHECK(c["deploy"]["command"] == Json::parse(R"(["/usr/bin/model-server", "--model", "fraud-model", "--port",
                                                   "8080"])"));
  CHECK(c["sha256"] == sha256_of(sb, "fraud-model@1.4.0"));
  CHECK(c["format"] == "onnx");
}

TEST_CASE("a --set value may be a pattern that starts with {{", "[e2e][deploy]") {
  // Every text setting is a Mustache pattern, and --set overlays any setting.
  Sandbox sb;
  setup(sb);
  const RunResult r = sb.run({"deploy", "context", "fraud-model@1.4.0", "--set", "name={{name}}-svc", "--set",
                              "storage_uri={{name}}/{{version}}"});
  INFO("stderr: " << r.err);
  REQUIRE(r.rc == 0);
  const Json c = r.json();
  CHECK(c["deploy"]["name"] == "fraud-model-svc");
  CHECK(c["deploy"]["storage_uri"] == "fraud-model/1.4.0");
}

TEST_CASE("resources, nulls and records: what the targets need in their own units", "[e2e][deploy]") {
  Sandbox sb;
  setup(sb, k_deploy + "  namespace: team-a\n  resources: {cpu: 700m, memory: 2Gi, gpu: 0}\n");
  const std::vector<std::string> render{"deploy", "render", "fraud-model@1.4.0"};
  const auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = render;
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  {
    INFO("compose gets resources as the Compose Specification types them; gpu: 0 asks for none");
    const Json docs = parse_yaml(sb, ok(sb, with({"-t", "compose"})).out);
    const Json& service = docs[0]["services"]["fraud-model"];
    CHECK(service["deploy"]["resources"]["limits"]["memory"] == "2147483648");
    CHECK(service["deploy"]["resources"]["limits"]["cpus"] == 0.7);
    CHECK_FALSE(service["deploy"]["resources"].contains("reservations"));
    const Json k8s = parse_yaml(sb, ok(sb, with({"-t", "kubernetes"})).out);
    const Json& container = k8s[0]["spec"]["template"]["spec"]["containers"][0];
    CHECK_FALSE(container["resources"]["limits"].contains("nvidia.com/gpu"));
    CHECK(container["resources"]["requests"]["cpu"] == "700m");
  }
  {
    INFO("without resources, compose has no resources key at all");
    const Json docs = parse_yaml(sb, ok(sb, with({"-t", "compose", "--set", "resources=null"})).out);
    CHECK_FALSE(docs[0]["services"]["fraud-model"]["deploy"].contains("resources"));
  }
  {
    INFO("a null in a values file removes a setting from lastmile.yaml");
    sb.write("values.yaml", "namespace: null\n");
    const Json context = ok(sb, {"deploy", "context", "fraud-model@1.4.0", "--values", "values.yaml"}).json();
    CHECK_FALSE(context["deploy"].contains("namespace"));
    CHECK(ok(sb, {"deploy", "context", "fraud-model@1.4.0"}).json()["deploy"]["namespace"] == "team-a");
  }
  {
    INFO("a quantity that does not parse is refused, not dropped from some targets");
    refused(sb, with({"-t", "systemd", "--set", "resources.memory=2GB"}), 64,
            {"deploy.resources.memory '2GB' is not a memory quantity"});
    refused(sb, with({"-t", "compose", "--set", "resources.cpu=lots"}), 64, {"is not a CPU quantity"});
  }
  {
    INFO("an --out where a file to write is a directory is refused before anything is written");
    fs::create_directories(sb.repo() / "out" / "kubernetes.yaml");
    refused(sb, with({"-t", "compose", "-t", "kubernetes", "--out", "out"}), 64, {"is a directory"});
    CHECK_FALSE(fs::exists(sb.repo() / "out" / "compose.yaml"));
  }
  {
    INFO("a manifest that does not name the version's digest is recorded with a warning");
    register_version(sb, "1.5.0");
    ok(sb, with({"-t", "kubernetes", "--out", "deploy"}));
    const RunResult r = sb.run({"deploy", "record", "fraud-model@1.5.0", "--env", "prod", "--manifest",
                                "deploy/kubernetes.yaml"});
    CHECK(r.rc == 0);
    CHECK_THAT(r.err, Catch::Contains("lastmile: warning: 'deploy/kubernetes.yaml' does not name fraud-model@1.5.0's digest"));
    const RunResult clean = sb.run({"deploy", "record", "fraud-model@1.4.0", "--env", "prod", "--manifest",
                                    "deploy/kubernetes.yaml"});
    CHECK(clean.rc == 0);
    CHECK(clean.err.empty());
  }
}
