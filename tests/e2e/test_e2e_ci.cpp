// lastmile ci init, end to end: the GitHub workflow checked by
// action-validator (GitHub's own schema) and read back by python's YAML
// parser, the GitLab pipeline read back likewise, and both files' scripts
// run the way the CI would run them against a fresh clone, with the real
// binary. Names and paths that would break a careless script stay data.

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/e2e/sandbox.hpp"

using lm::test::RunOptions;
using lm::test::RunResult;
using lm::test::Sandbox;
namespace fs = std::filesystem;
using Json = nlohmann::json;
using Catch::Contains;

namespace {

const char* k_workflow = ".github/workflows/lastmile.yml";

const std::string k_policy = R"yaml(stages:
  - name: sandbox
  - name: staging
    from: [sandbox]
    gates:
      - {metric: auc, min: 0.8}
  - name: production
    from: [staging]
)yaml";

RunResult ok(const Sandbox& sb, const std::vector<std::string>& args, const RunOptions& opts = {}) {
  RunResult r = sb.run(args, opts);
  INFO("lastmile " << args[0] << "\nstdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.rc == 0);
  return r;
}

// A project with lastmile.yaml, a model and its metrics committed, and the
// model registered from them.
void setup(Sandbox& sb) {
  ok(sb, {"init", "-q"});
  sb.write("lastmile.yaml", k_policy);
  sb.write("models/churn.onnx", "onnx weights");
  sb.write("reports/churn.json", R"({"auc": 0.91})");
  sb.git({"add", "lastmile.yaml", "models", "reports"});
  sb.git({"commit", "-q", "-m", "churn model"});
  ok(sb, {"register", "churn", "models/churn.onnx", "--metrics", "reports/churn.json", "-q"});
}

// Reads the CI files the way the CI services would, and runs their scripts:
//   load FILE                    the document as JSON
//   gitlab-job FILE JOB          one GitLab job with its extends: merged
//   github FILE INDEX EVENT      the run: steps of matrix entry INDEX, as
//                                on a push or pull_request, that need no
//                                root (not the installation)
//   gitlab FILE JOB BRANCH       the job's script, on BRANCH ("" for a
//                                merge request pipeline)
// A step that fails ends the job, as on the services.
const char* k_ci_py = R"py(
import json, os, re, subprocess, sys, yaml

def load(path):
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    if isinstance(doc, dict) and True in doc:  # YAML 1.1 reads the key 'on' as true
        doc["on"] = doc.pop(True)
    return doc

def merge(a, b):
    out = dict(a)
    for k, v in b.items():
        out[k] = merge(out[k], v) if isinstance(out.get(k), dict) and isinstance(v, dict) else v
    return out

def gitlab_job(doc, name):
    job = doc[name]
    if "extends" not in job:
        return job
    return merge(gitlab_job(doc, job["extends"]), {k: v for k, v in job.items() if k != "extends"})

def run(argv, script, env):
    r = subprocess.run(argv + [script], env=env, capture_output=True, text=True)
    return {"rc": r.returncode, "out": r.stdout, "err": r.stderr}

INSTALL = {"Install git", "Trust the checkout", "Build and install lastmile"}

def github_condition(cond, event):
    if cond == "":
        return True
    if cond == "always()":
        return True
    if cond == "github.event_name == 'push' && github.ref_type == 'branch'":
        return event == "push"
    if cond.startswith("startsWith(github.ref, 'refs/tags/')"):
        return False
    raise SystemExit("unknown condition: " + cond)

def github(path, index, event):
    job = load(path)["jobs"]["lastmile"]
    entry = job["strategy"]["matrix"]["include"][int(index)]
    expand = lambda v: re.sub(r"\$\{\{ matrix\.(\w+) \}\}", lambda m: str(entry.get(m.group(1), "")), str(v))
    env = dict(os.environ)
    env.update({k: expand(v) for k, v in job["env"].items()})
    shell = job["defaults"]["run"]["shell"]
    assert shell == "bash"
    results = []
    for step in job["steps"]:
        if "run" not in step or step["name"] in INSTALL:
            continue
        if not github_condition(step.get("if", ""), event):
            continue
        results.append(dict(name=step["name"], **run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"], step["run"], env)))
        if results[-1]["rc"] != 0:
            break
    return results

def gitlab(path, name, branch):
    doc = load(path)
    job = gitlab_job(doc, name)
    env = dict(os.environ)
    for k, v in list(doc.get("variables", {}).items()) + list(job.get("variables", {}).items()):
        env[k] = v["value"] if isinstance(v, dict) else str(v)
    if branch:
        env["CI_COMMIT_BRANCH"] = branch
        env["CI_PIPELINE_SOURCE"] = "push"
    else:
        env["CI_PIPELINE_SOURCE"] = "merge_request_event"
    return [dict(name="script", **run(["sh", "-e", "-c"], "\n".join(job["script"]), env))]

mode, args = sys.argv[1], sys.argv[2:]
if mode == "load":
    out = load(args[0])
elif mode == "gitlab-job":
    out = gitlab_job(load(args[0]), args[1])
elif mode == "github":
    out = github(*args)
else:
    out = gitlab(*args)
print(json.dumps(out))
)py";

Json ci_py(const Sandbox& sb, std::vector<std::string> args, const RunOptions& opts = {}) {
  args.insert(args.begin(), {lm::test::python_with_yaml(sb), "-c", k_ci_py});
  const RunResult r = sb.exec(args, opts);
  INFO("python: " << r.err);
  REQUIRE(r.rc == 0);
  return r.json();
}

Json load(const Sandbox& sb, const fs::path& file) { return ci_py(sb, {"load", file.string()}); }

// action-validator: LASTMILE_ACTION_VALIDATOR, else where ./build.sh test
// installs it. Missing, it fails the test: CI installs it.
std::string action_validator() {
  const char* env = std::getenv("LASTMILE_ACTION_VALIDATOR");
  const std::string path = env && *env ? env : LASTMILE_ACTION_VALIDATOR;
  if (::access(path.c_str(), X_OK) != 0) {
    FAIL("action-validator is not installed at " << path
                                                  << ": run ./build.sh test, or npm install --prefix build/node-tools "
                                                     "@action-validator/cli@0.6.0, or set LASTMILE_ACTION_VALIDATOR");
  }
  return path;
}

RunResult validate(const Sandbox& sb, const fs::path& workflow) {
  return sb.exec({action_validator(), workflow.string()});
}

// A fresh clone of the repository, as a CI job checks it out: no registry.
fs::path checkout(const Sandbox& sb, const std::string& name = "checkout") {
  const fs::path dir = sb.root() / name;
  const RunResult r = sb.exec({"git", "clone", "-q", "file://" + sb.repo().string(), dir.string()});
  INFO(r.err);
  REQUIRE(r.rc == 0);
  return dir;
}

// The environment of a CI job: lastmile on PATH, a step summary file.
RunOptions job_env(const Sandbox& sb, const fs::path& dir) {
  const std::string bin_dir = fs::path(LASTMILE_BIN).parent_path().string();
  const char* path = std::getenv("PATH");
  return {.env = {{"PATH", bin_dir + ":" + (path ? path : "/usr/bin:/bin")},
                  {"GITHUB_STEP_SUMMARY", (sb.root() / "summary.md").string()}},
          .cwd = dir};
}

// The steps a run ran, by name, and the last one.
std::vector<std::string> step_names(const Json& steps) {
  std::vector<std::string> names;
  for (const auto& s : steps) names.push_back(s["name"]);
  return names;
}

std::vector<std::string> runs_of(const Json& steps) {
  std::vector<std::string> runs;
  for (const auto& s : steps) {
    if (s.contains("run")) runs.push_back(s["run"]);
  }
  return runs;
}

const Json* step_using(const Json& steps, const std::string& action) {
  for (const auto& s : steps) {
    if (s.contains("uses") && s["uses"] == action) return &s;
  }
  return nullptr;
}

const Json* step_running(const Json& steps, const std::string& text) {
  for (const auto& s : steps) {
    if (s.contains("run") && s["run"].get<std::string>().find(text) != std::string::npos) return &s;
  }
  return nullptr;
}

// What lastmile status --json says stage `stage` holds of `model`, or "".
std::string held(const Sandbox& sb, const fs::path& dir, const std::string& model, const std::string& stage) {
  const Json status = ok(sb, {"status", model, "--json"}, {.cwd = dir}).json();
  INFO(status.dump());
  for (const auto& m : status["models"]) {
    for (const auto& s : m["stages"]) {
      if (s["stage"] == stage && !s["version"].is_null()) return s["version"];
    }
  }
  return "";
}

}  // namespace

TEST_CASE("ci init github: a workflow GitHub's schema accepts, with the whole history and lastmile's steps",
          "[e2e][ci]") {
  Sandbox sb;
  setup(sb);
  RunResult r = ok(sb, {"ci", "init", "github", "--metrics", "reports/churn.json"});
  CHECK(r.out == std::string("written ") + k_workflow + "\n");
  CHECK_THAT(r.err, Contains("evaluate the gates of 'staging'") && !Contains("warning"));

  const RunResult valid = validate(sb, sb.repo() / k_workflow);
  INFO("action-validator: " << valid.out << valid.err);
  CHECK(valid.rc == 0);

  const Json doc = load(sb, sb.repo() / k_workflow);
  CHECK(doc["on"]["push"]["branches"] == Json::array({"main"}));
  CHECK(doc["on"]["push"]["tags"] == Json::array({"**@v*", "**#*#*"}));
  CHECK(doc["on"]["pull_request"]["branches"] == Json::array({"main"}));
  CHECK(doc["permissions"] == Json({{"contents", "read"}}));
  REQUIRE(doc["jobs"].size() == 1);
  const Json& job = doc["jobs"]["lastmile"];
  CHECK(job["strategy"]["fail-fast"] == false);
  CHECK(job["strategy"]["matrix"]["include"] ==
        Json::array({{{"model", "churn"}, {"path", "models/churn.onnx"}, {"metrics", "reports/churn.json"}}}));
  CHECK(job["container"] == "debian:12");
  CHECK(job["env"]["LASTMILE_STAGE"] == "staging");
  CHECK(job["env"]["LASTMILE_VERSION"] == "0.1.0");
  CHECK(job["env"]["LASTMILE_SOURCE"] == "https://github.com/lastmile-dev/lastmile");
  CHECK(job["env"]["LASTMILE_MODEL"] == "${{ matrix.model }}");
  CHECK(job["env"]["LASTMILE_MODEL_PATH"] == "${{ matrix.path }}");

  const Json& steps = job["steps"];
  const Json* checkout_step = step_using(steps, "actions/checkout@v4");
  REQUIRE(checkout_step);
  CHECK((*checkout_step)["with"]["fetch-depth"] == 0);
  const Json* cache = step_using(steps, "actions/cache/restore@v4");
  REQUIRE(cache);
  CHECK_THAT((*cache)["with"]["key"].get<std::string>(), Catch::StartsWith("lastmile-0.1.0-debian-12-"));
  // Saved right after the build, so a run whose gates fail keeps it.
  const Json* save = step_using(steps, "actions/cache/save@v4");
  REQUIRE(save);
  CHECK((*save)["with"]["key"] == (*cache)["with"]["key"]);
  CHECK((*save)["if"] == "steps.lastmile-cache.outputs.cache-hit != 'true'");
  const Json* upload = step_using(steps, "actions/upload-artifact@v4");
  REQUIRE(upload);
  CHECK((*upload)["if"] == "always()");
  CHECK((*upload)["with"]["path"] == "lastmile-junit.xml");

  const Json* build = step_running(steps, "git clone");
  REQUIRE(build);
  CHECK_THAT((*build)["run"].get<std::string>(),
             Contains(R"(git clone --depth 1 --branch "v$LASTMILE_VERSION" -- "$LASTMILE_SOURCE")") &&
                 Contains("./build.sh build") && Contains("cmake --install build"));
  // A path that starts with '-' is still a path.
  const Json* register_step = step_running(steps, "lastmile register");
  REQUIRE(register_step);
  CHECK_THAT((*register_step)["run"].get<std::string>(),
             Catch::EndsWith(R"(-- "$LASTMILE_MODEL" "$LASTMILE_MODEL_PATH")"));
  for (const char* command : {"lastmile policy check", "lastmile init", "lastmile register",
                              "--format github", "--format junit --output lastmile-junit.xml"}) {
    INFO(command);
    CHECK(step_running(steps, command));
  }
  const Json* promote = step_running(steps, "lastmile promote");
  REQUIRE(promote);
  CHECK((*promote)["if"] == "github.event_name == 'push' && github.ref_type == 'branch'");
  CHECK_THAT((*promote)["run"].get<std::string>(), Contains(R"("$LASTMILE_MODEL@latest" --to "$LASTMILE_STAGE")"));
  const Json* tag = step_running(steps, "lastmile check-ref");
  REQUIRE(tag);
  CHECK_THAT((*tag)["if"].get<std::string>(), Catch::StartsWith("startsWith(github.ref, 'refs/tags/')"));
  // The pushed tag is fetched again with its annotation (actions/checkout
  // leaves it lightweight), and read before the job has a registry.
  CHECK((*tag)["run"] == "git fetch --force --no-tags origin \"+$GITHUB_REF:$GITHUB_REF\"\n"
                         "lastmile check-ref \"$GITHUB_REF\" --json\n");
  CHECK(tag < step_running(steps, "lastmile init"));
  // Values reach scripts through env: only.
  for (const auto& run : runs_of(steps)) CHECK_THAT(run, !Contains("${{"));
}

TEST_CASE("ci init github: action-validator refuses a broken workflow", "[e2e][ci]") {
  Sandbox sb;
  setup(sb);
  ok(sb, {"ci", "init", "github"});
  const std::string good = sb.read(k_workflow);
  // A step that both uses an action and runs a script; a key GitHub does not know.
  const std::string uses = "        uses: actions/checkout@v4\n";
  REQUIRE(good.find(uses) != std::string::npos);
  std::string both = good;
  both.replace(both.find(uses), uses.size(), uses + "        run: echo both\n");
  std::string unknown = good;
  unknown.replace(unknown.find("    runs-on:"), 12, "    runs-onn:");
  for (const auto& text : {both, unknown}) {
    const fs::path file = sb.write("broken/.github/workflows/lastmile.yml", text);
    const RunResult r = validate(sb, file);
    INFO(r.out << r.err);
    CHECK(r.rc != 0);
    CHECK_THAT(r.out + r.err, Contains("errors"));
  }
  CHECK(validate(sb, sb.repo() / k_workflow).rc == 0);
}

TEST_CASE("ci init github: the workflow's steps register, gate and promote as a push would run them",
          "[e2e][ci]") {
  Sandbox sb;
  setup(sb);
  sb.write("models/fraud.onnx", "fraud weights");
  sb.write("reports/fraud.json", R"({"auc": 0.5})");
  sb.git({"add", "models", "reports"});
  sb.git({"commit", "-q", "-m", "fraud model"});
  ok(sb, {"ci", "init", "github", "--model", "churn", "--path", "models/churn.onnx", "--metrics",
          "reports/churn.json", "--model", "fraud", "--path", "models/fraud.onnx", "--metrics", "reports/fraud.json"});
  sb.git({"add", k_workflow});
  sb.git({"commit", "-q", "-m", "ci"});
  const fs::path workflow = sb.repo() / k_workflow;

  SECTION("a pull request evaluates the gates and promotes nothing") {
    const fs::path dir = checkout(sb);
    const Json steps = ci_py(sb, {"github", workflow.string(), "0", "pull_request"}, job_env(sb, dir));
    INFO(steps.dump(2));
    CHECK(step_names(steps) == std::vector<std::string>{"Check the policy", "Create an empty registry",
                                                         "Register the model", "Evaluate the gates"});
    for (const auto& s : steps) CHECK(s["rc"] == 0);
    CHECK_THAT(steps[3]["out"].get<std::string>(), Contains("::notice ") && Contains("auc >= 0.8"));
    CHECK_THAT(sb.read(dir / "lastmile-junit.xml"), Contains("<testsuites") && Contains("failures=\"0\""));
    CHECK_THAT(sb.read(sb.root() / "summary.md"), Contains("### lastmile gate: churn@0.1.0"));
    CHECK(held(sb, dir, "churn", "staging").empty());
  }
  SECTION("a push promotes the model that passes") {
    const fs::path dir = checkout(sb);
    const Json steps = ci_py(sb, {"github", workflow.string(), "0", "push"}, job_env(sb, dir));
    INFO(steps.dump(2));
    REQUIRE(steps.size() == 5);
    CHECK(steps[4]["name"] == "Promote");
    for (const auto& s : steps) CHECK(s["rc"] == 0);
    CHECK(held(sb, dir, "churn", "staging") == "0.1.0");
    // The provenance of the clone's commit.
    const Json shown = ok(sb, {"show", "churn", "--json"}, {.cwd = dir}).json();
    CHECK(shown["git"]["branch"] == "main");
    CHECK(shown["git"]["dirty"] == false);
  }
  SECTION("a model that fails its gates stops at the gates, with a JUnit report") {
    const fs::path dir = checkout(sb);
    const Json steps = ci_py(sb, {"github", workflow.string(), "1", "push"}, job_env(sb, dir));
    INFO(steps.dump(2));
    REQUIRE(steps.size() == 4);
    CHECK(steps[3]["name"] == "Evaluate the gates");
    CHECK(steps[3]["rc"] == 1);
    CHECK_THAT(steps[3]["out"].get<std::string>(), Contains("::error ") && Contains("auc 0.5 < 0.8"));
    CHECK_THAT(sb.read(dir / "lastmile-junit.xml"), Contains("failures=\"1\""));
    CHECK(held(sb, dir, "fraud", "staging").empty());
  }
}

TEST_CASE("ci init gitlab: one job per model with the whole history, a JUnit report and rules", "[e2e][ci]") {
  Sandbox sb;
  setup(sb);
  RunResult r = ok(sb, {"ci", "init", "gitlab", "--metrics", "reports/churn.json"});
  CHECK(r.out == "written .gitlab-ci.yml\n");
  const fs::path file = sb.repo() / ".gitlab-ci.yml";
  const Json doc = load(sb, file);
  CHECK(doc["variables"]["LASTMILE_STAGE"] == "staging");
  CHECK(doc["variables"]["LASTMILE_BRANCH"] == Json({{"value", "main"}, {"expand", false}}));
  CHECK(doc.contains("lastmile churn"));
  CHECK(doc.contains("lastmile:check-ref"));

  const Json job = ci_py(sb, {"gitlab-job", file.string(), "lastmile churn"});
  CHECK(job["image"] == "debian:12");
  CHECK(job["variables"]["GIT_DEPTH"] == "0");
  CHECK(job["variables"]["LASTMILE_MODEL"] == Json({{"value", "churn"}, {"expand", false}}));
  CHECK(job["variables"]["LASTMILE_MODEL_PATH"] == Json({{"value", "models/churn.onnx"}, {"expand", false}}));
  CHECK(job["variables"]["LASTMILE_METRICS"] == Json({{"value", "reports/churn.json"}, {"expand", false}}));
  CHECK(job["artifacts"]["when"] == "always");
  CHECK(job["artifacts"]["reports"]["junit"] == "lastmile-junit.xml");
  CHECK(job["artifacts"]["paths"] == Json::array({"lastmile-junit.xml"}));
  CHECK(job["rules"] == Json::parse(R"([{"if": "$CI_PIPELINE_SOURCE == \"merge_request_event\" && $CI_MERGE_REQUEST_TARGET_BRANCH_NAME == $LASTMILE_BRANCH"},
                                         {"if": "$CI_COMMIT_BRANCH == $LASTMILE_BRANCH"}])"));
  CHECK(job["cache"]["when"] == "always");
  CHECK(job["cache"]["key"].get<std::string>().rfind("lastmile-0.1.0-debian-12-", 0) == 0);
  std::string before;
  for (const auto& line : job["before_script"]) before += line.get<std::string>() + "\n";
  CHECK_THAT(before, Contains(R"(git clone --depth 1 --branch "v$LASTMILE_VERSION" -- "$LASTMILE_SOURCE")") &&
                         Contains("./build.sh build") && Contains("cmake --install build"));
  std::string script;
  for (const auto& line : job["script"]) script += line.get<std::string>() + "\n";
  CHECK_THAT(script, Contains("lastmile policy check") && Contains("lastmile init") &&
                         Contains("lastmile register") && Contains("--format junit --output lastmile-junit.xml") &&
                         Contains("lastmile promote") && !Contains("churn"));
  const Json tag = ci_py(sb, {"gitlab-job", file.string(), "lastmile:check-ref"});
  CHECK(tag["script"] == Json::array({R"(lastmile check-ref "$CI_COMMIT_TAG" --json)"}));
  CHECK_THAT(tag["rules"][0]["if"].get<std::string>(), Contains("$CI_COMMIT_TAG"));
  CHECK_FALSE(tag.contains("artifacts"));

  sb.git({"add", ".gitlab-ci.yml"});
  sb.git({"commit", "-q", "-m", "ci"});
  SECTION("a merge request pipeline gates without promoting") {
    const fs::path dir = checkout(sb);
    const Json steps = ci_py(sb, {"gitlab", file.string(), "lastmile churn", ""}, job_env(sb, dir));
    INFO(steps.dump(2));
    CHECK(steps[0]["rc"] == 0);
    CHECK_THAT(sb.read(dir / "lastmile-junit.xml"), Contains("failures=\"0\""));
    CHECK(held(sb, dir, "churn", "staging").empty());
  }
  SECTION("the branch promotes") {
    const fs::path dir = checkout(sb);
    const Json steps = ci_py(sb, {"gitlab", file.string(), "lastmile churn", "main"}, job_env(sb, dir));
    INFO(steps.dump(2));
    CHECK(steps[0]["rc"] == 0);
    CHECK(held(sb, dir, "churn", "staging") == "0.1.0");
  }
}

TEST_CASE("ci init: names and paths with spaces, $(...), quotes and newlines stay data", "[e2e][ci]") {
  Sandbox sb;
  ok(sb, {"init", "-q"});
  sb.write("lastmile.yaml", k_policy);
  const std::string name = "team.a/churn_v2-x";
  const std::string path = "models/my model $(touch PWNED) \"dq\" 'sq' `touch PWNED2`\nline2.bin";
  const std::string metrics = "reports/$HOME ${USER} m.json";
  sb.write(path, "weights");
  sb.write(metrics, R"({"auc": 0.9})");
  sb.git({"add", "lastmile.yaml", "models", "reports"});
  sb.git({"commit", "-q", "-m", "odd names"});
  for (const std::string provider : {"github", "gitlab"}) {
    INFO(provider);
    ok(sb, {"ci", "init", provider, "--model", name, "--path", path, "--metrics", metrics});
  }
  const Json github = load(sb, sb.repo() / k_workflow);
  const Json& job = github["jobs"]["lastmile"];
  CHECK(job["strategy"]["matrix"]["include"] ==
        Json::array({{{"model", name}, {"path", path}, {"metrics", metrics}}}));
  for (const auto& run : runs_of(job["steps"])) {
    CHECK_THAT(run, !Contains("PWNED") && !Contains("team.a") && !Contains("$HOME"));
  }
  CHECK(validate(sb, sb.repo() / k_workflow).rc == 0);
  const Json gitlab = ci_py(sb, {"gitlab-job", (sb.repo() / ".gitlab-ci.yml").string(), "lastmile " + name});
  CHECK(gitlab["variables"]["LASTMILE_MODEL"]["value"] == name);
  CHECK(gitlab["variables"]["LASTMILE_MODEL_PATH"] == Json({{"value", path}, {"expand", false}}));
  CHECK(gitlab["variables"]["LASTMILE_METRICS"] == Json({{"value", metrics}, {"expand", false}}));
  for (const auto& line : gitlab["script"]) CHECK_THAT(line.get<std::string>(), !Contains("PWNED"));

  // Run as the services would: the model registers from its odd path, and
  // nothing in the name or path ran.
  sb.git({"add", ".github", ".gitlab-ci.yml"});
  sb.git({"commit", "-q", "-m", "ci"});
  const fs::path dir = checkout(sb, "github-job");
  Json steps = ci_py(sb, {"github", (sb.repo() / k_workflow).string(), "0", "push"}, job_env(sb, dir));
  INFO(steps.dump(2));
  for (const auto& s : steps) CHECK(s["rc"] == 0);
  CHECK(held(sb, dir, name, "staging") == "0.1.0");
  const fs::path gitlab_dir = checkout(sb, "gitlab-job");
  steps = ci_py(sb, {"gitlab", (sb.repo() / ".gitlab-ci.yml").string(), "lastmile " + name, "main"},
                job_env(sb, gitlab_dir));
  INFO(steps.dump(2));
  CHECK(steps[0]["rc"] == 0);
  CHECK(held(sb, gitlab_dir, name, "staging") == "0.1.0");
  const Json shown = ok(sb, {"show", name, "--json"}, {.cwd = gitlab_dir}).json();
  CHECK(shown["source"] == (gitlab_dir / path).string());
  for (const auto& entry : fs::recursive_directory_iterator(sb.root())) {
    CHECK_THAT(entry.path().filename().string(), !Catch::StartsWith("PWNED"));
  }
}

TEST_CASE("ci init github: text GitHub would evaluate as an expression is refused", "[e2e][ci]") {
  Sandbox sb;
  const RunResult r = sb.run({"ci", "init", "github", "--model", "churn", "--path", "m/${{ secrets.TOKEN }}.bin"});
  CHECK(r.rc == 64);
  CHECK_THAT(r.err, Contains("contains '${{', which GitHub reads as an expression"));
  CHECK_FALSE(fs::exists(sb.repo() / ".github"));
  // GitLab has no such expressions: there it is a path like any other.
  CHECK(sb.run({"ci", "init", "gitlab", "--model", "churn", "--path", "m/${{ x }}.bin", "-q"}).rc == 0);
}

TEST_CASE("ci init: an existing file is kept unless --force, --out - prints, --json reports", "[e2e][ci]") {
  Sandbox sb;
  setup(sb);
  sb.write(k_workflow, "# mine\n");
  RunResult r = sb.run({"ci", "init", "github"});
  CHECK(r.rc == 1);
  CHECK(r.out.empty());
  CHECK_THAT(r.err, Contains(std::string("lastmile: error: '") + k_workflow + "' exists") &&
                        Contains("hint: use --force to replace it, or --out - to print the configuration"));
  CHECK(sb.read(k_workflow) == "# mine\n");

  r = ok(sb, {"ci", "init", "github", "--out", "-"});
  CHECK_THAT(r.out, Catch::StartsWith("# Written by 'lastmile ci init github'") && Contains("fetch-depth: 0"));
  CHECK(sb.read(k_workflow) == "# mine\n");
  const std::string printed = r.out;

  r = ok(sb, {"ci", "init", "github", "--force"});
  CHECK(r.out == std::string("replaced ") + k_workflow + "\n");
  CHECK(sb.read(k_workflow) == printed);
  r = ok(sb, {"ci", "init", "github"});
  CHECK(r.out == std::string("unchanged ") + k_workflow + "\n");

  const Json doc = ok(sb, {"ci", "init", "gitlab", "--out", "ci/pipeline.yml", "--json"}).json();
  CHECK(doc["provider"] == "gitlab");
  CHECK(doc["action"] == "written");
  CHECK(doc["file"] == (sb.repo() / "ci/pipeline.yml").string());
  CHECK(doc["models"] == Json::parse(R"([{"name": "churn", "path": "models/churn.onnx", "metrics": null}])"));
  CHECK(doc["stage"] == "staging");
  CHECK(doc["branch"] == "main");
  CHECK(doc["shallow"] == false);
  CHECK(doc["warnings"].size() == 1);  // the gates read auc; no --metrics
  CHECK(fs::exists(sb.repo() / "ci/pipeline.yml"));
  CHECK_FALSE(fs::exists(sb.repo() / ".gitlab-ci.yml"));
  const Json printed_doc = ok(sb, {"ci", "init", "gitlab", "--out", "-", "--json", "-q"}).json();
  CHECK(printed_doc["action"] == "printed");
  CHECK(printed_doc["content"] == sb.read("ci/pipeline.yml"));
}

TEST_CASE("ci init: bad input is refused and writes nothing", "[e2e][ci]") {
  Sandbox sb;
  const auto refused = [&](const std::vector<std::string>& args, int rc, const std::string& message,
                           const RunOptions& opts = {}) {
    std::vector<std::string> all{"ci", "init"};
    all.insert(all.end(), args.begin(), args.end());
    const RunResult r = sb.run(all, opts);
    INFO(r.err);
    CHECK(r.rc == rc);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, Contains(message));
    CHECK_FALSE(fs::exists(sb.repo() / ".github"));
    CHECK_FALSE(fs::exists(sb.repo() / ".gitlab-ci.yml"));
  };
  refused({"jenkins"}, 64, "jenkins not in {github,gitlab}");
  refused({}, 64, "PROVIDER is required");
  refused({"github"}, 64, "no model given, and there is no registry here to take them from");
  refused({"github"}, 64, "hint: name each model with --model NAME --path PATH");
  refused({"gitlab", "--model", "churn"}, 64, "no --path for model 'churn', and no registration of it");
  refused({"github", "--model", "Churn", "--path", "m.bin"}, 64, "invalid model name 'Churn'");
  refused({"github", "--model", "a", "--model", "b", "--path", "m.bin"}, 64, "1 --path for 2 --model");
  refused({"github", "--model", "a", "--model", "a", "--path", "x", "--path", "y"}, 64, "model 'a' is given twice");
  refused({"github", "--model", "churn", "--path", "../outside.bin"}, 64,
          "--path '../outside.bin' is outside the git work tree");
  refused({"github", "--model", "churn", "--path", "m.bin", "--stage", "qa"}, 64,
          "the default policy has no stage 'qa'");
  refused({"github", "--model", "churn", "--path", "m.bin", "--branch", "bad..name"}, 64,
          "invalid branch name 'bad..name'");
  refused({"github", "--model", "churn", "--path", "m.bin", "--source", "https://x\ny"}, 64, "invalid --source");
  fs::create_directories(sb.root() / "elsewhere");
  refused({"github", "--model", "churn", "--path", "m.bin"}, 64, "lastmile: error: not in a git work tree",
          {.cwd = sb.root() / "elsewhere"});
  CHECK(fs::is_empty(sb.root() / "elsewhere"));
  ok(sb, {"init", "-q"});
  refused({"github"}, 64, "no model given, and the registry has no model");
  sb.write("lastmile.yaml", "stages:\n  - name: dev\n  - name: prod\n    from: [dev]\n");
  refused({"github", "--model", "churn", "--path", "m.bin", "--stage", "staging"}, 64,
          "lastmile.yaml has no stage 'staging'");
  // A model registered from outside the work tree has no path a CI job can use.
  sb.write("../outside/m.bin", "w");
  ok(sb, {"register", "churn", (sb.root() / "outside/m.bin").string(), "-q"});
  refused({"github"}, 64, "was registered from '" + (sb.root() / "outside/m.bin").string() + "'");
}

TEST_CASE("ci init: defaults from the registry, the policy and the current branch, and warnings", "[e2e][ci]") {
  Sandbox sb;
  setup(sb);
  sb.write("lastmile.yaml", "stages:\n  - name: dev\n  - name: qa\n    from: [dev]\n    gates:\n"
                            "      - {require: [metric:auc]}\n");
  sb.git({"checkout", "-q", "-b", "release+1"});
  sb.write("models/new.onnx", "not committed");
  ok(sb, {"dataset", "register", "customers", "models/churn.onnx", "-q"});  // datasets are not CI models
  ok(sb, {"register", "fresh", "models/new.onnx", "-q"});
  const RunResult r = ok(sb, {"ci", "init", "github"});
  CHECK_THAT(r.err, Contains("lastmile: warning: 'models/new.onnx' (the path of 'fresh') is not in the last commit"));
  CHECK_THAT(r.err, Contains("lastmile: warning: the gates of 'qa' read auc, and 'churn' has no metrics file"));
  CHECK_THAT(r.err, Contains("pull requests to 'release+1' evaluate the gates of 'qa'"));
  const Json doc = load(sb, sb.repo() / k_workflow);
  CHECK(doc["on"]["push"]["branches"] == Json::array({"release\\+1"}));
  CHECK(doc["jobs"]["lastmile"]["env"]["LASTMILE_STAGE"] == "qa");
  const Json include = doc["jobs"]["lastmile"]["strategy"]["matrix"]["include"];
  CHECK(include == Json::parse(R"([{"model": "churn", "path": "models/churn.onnx"},
                                    {"model": "fresh", "path": "models/new.onnx"}])"));
  CHECK(validate(sb, sb.repo() / k_workflow).rc == 0);
  // Explicit choices win.
  const Json chosen = ok(sb, {"ci", "init", "gitlab", "--model", "churn", "--stage", "dev", "--branch", "trunk",
                              "--source", "https://git.example.com/lastmile.git", "--out", "-", "--json"})
                          .json();
  CHECK(chosen["stage"] == "dev");
  CHECK(chosen["branch"] == "trunk");
  CHECK(chosen["models"][0]["path"] == "models/churn.onnx");
  CHECK_THAT(chosen["content"].get<std::string>(), Contains("https://git.example.com/lastmile.git"));
  // Paths are relative to the top of the work tree wherever the command runs.
  const Json from_sub = ok(sb, {"ci", "init", "github", "--model", "churn", "--path", "churn.onnx", "--out", "-",
                                "--json"},
                           {.cwd = sb.repo() / "models"})
                            .json();
  CHECK(from_sub["models"][0]["path"] == "models/churn.onnx");
  // A stage that needs approvals can never pass in a job's new registry.
  sb.write("lastmile.yaml", "stages:\n  - name: dev\n  - name: qa\n    from: [dev]\n    approvals: {count: 2}\n");
  const RunResult approvals = ok(sb, {"ci", "init", "github", "--out", "-"});
  CHECK_THAT(approvals.err, Contains("lastmile: warning: 'qa' needs 2 approval(s), which a CI job's new registry "
                                     "never holds"));
}

TEST_CASE("ci init warns in a shallow clone", "[e2e][ci]") {
  Sandbox sb;
  sb.write("models/m.bin", "weights");
  sb.git({"add", "models"});
  sb.git({"commit", "-q", "-m", "model"});
  const std::string url = "file://" + sb.repo().string();
  REQUIRE(sb.exec({"git", "clone", "-q", "--depth", "1", url, (sb.root() / "shallow").string()}).rc == 0);
  const std::vector<std::string> args{"ci", "init", "github", "--model", "m", "--path", "models/m.bin", "--out", "-"};
  const RunResult r = ok(sb, args, {.cwd = sb.root() / "shallow"});
  CHECK_THAT(r.err, Contains("lastmile: warning: this is a shallow clone without tags:") &&
                        Contains("'fetch-depth: 0'"));
  CHECK(ok(sb, {"ci", "init", "github", "--model", "m", "--path", "models/m.bin", "--out", "-", "--json"},
           {.cwd = sb.root() / "shallow"})
            .json()["shallow"] == true);
  CHECK_THAT(ok(sb, args).err, !Contains("shallow"));
}
