// Shell completion: the scripts lastmile prints, run by the real bash, zsh
// and fish against a registry with a model and a dataset, a lastmile.yaml
// with its own stages, and a project's own deployment target.

#include <catch2/catch.hpp>
#include <filesystem>
#include <sstream>

#include "tests/e2e/sandbox.hpp"

using lm::test::RunOptions;
using lm::test::RunResult;
using lm::test::Sandbox;
using Catch::Contains;
using Strings = std::vector<std::string>;
namespace fs = std::filesystem;

namespace {

// lastmile on PATH, as the scripts run it by the name typed.
RunOptions on_path(const Sandbox& sb, fs::path cwd = {}) {
  const std::string bin = fs::path(LASTMILE_BIN).parent_path().string();
  return {.env = {{"PATH", bin + ":" + sb.base_env().at("PATH")}}, .cwd = std::move(cwd)};
}

bool installed(const Sandbox& sb, const std::string& program) {
  return sb.exec({"sh", "-c", "command -v " + program}).rc == 0;
}

Strings lines(const std::string& text) {
  Strings out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// churn 1.0.0 and 1.1.0 and the dataset customers, registered under the
// stages dev -> qa -> prod; and a project template for the target 'edge'.
void setup(Sandbox& sb) {
  REQUIRE(sb.run({"init", "-q"}).rc == 0);
  sb.write("lastmile.yaml", "stages:\n  - name: dev\n  - name: qa\n    from: [dev]\n  - name: prod\n    from: [qa]\n");
  sb.write("m.bin", "x");
  REQUIRE(sb.run({"register", "churn", "m.bin", "--version", "1.0.0", "-q"}).rc == 0);
  REQUIRE(sb.run({"register", "churn", "m.bin", "--version", "1.1.0", "-q"}).rc == 0);
  sb.write("data/d.csv", "a,b\n");
  REQUIRE(sb.run({"dataset", "register", "customers", "data/d.csv", "-q"}).rc == 0);
  sb.write(".lastmile/templates/edge.yaml.mustache",
           "{{! description: an edge box\n    format: yaml }}\nname: {{name}}\n");
  fs::create_directories(sb.repo() / "subdir");
}

// The project set up, and the script for `shell` saved at `path` and
// read by the shell's own parser (-n); false, with a warning, when the
// shell is not installed.
bool set_up_and_parsed(Sandbox& sb, const std::string& shell, const fs::path& path) {
  if (!installed(sb, shell)) {
    WARN(shell << " is not installed: its completion script was not tried");
    return false;
  }
  setup(sb);
  const RunResult script = sb.run({"completion", shell});
  REQUIRE(script.rc == 0);
  sb.write(path, script.out);
  const RunResult parsed = sb.exec({shell, "-n", path.string()});
  CHECK(parsed.rc == 0);
  CHECK(parsed.err.empty());
  return true;
}

// What bash offers for `line` with the cursor at its end: the script
// sourced into a bash with no bash-completion package, `function` called
// as bash calls it, COMPREPLY one a line.
constexpr const char* k_bash_driver = R"SH(
declare -F _init_completion >/dev/null && { echo "bash-completion is loaded" >&2; exit 3; }
source "$1" || exit 2
COMP_LINE=$3 COMP_POINT=${#3}
# bash splits the words at the characters in COMP_WORDBREAKS too
COMP_WORDS=($(printf '%s\n' "$3" | sed 's/\([@=:]\)/ \1 /g'))
[[ $3 == *' ' ]] && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
"$2"
((${#COMPREPLY[@]} == 0)) || printf '%s\n' "${COMPREPLY[@]}"
)SH";

struct Bash {
  Sandbox& sb;
  fs::path script;

  explicit Bash(Sandbox& s) : sb(s), script(s.root() / "lastmile.bash") {
    const RunResult r = sb.run({"completion", "bash"});
    REQUIRE(r.rc == 0);
    REQUIRE(r.err.empty());
    sb.write(script, r.out);
    sb.write(s.root() / "driver.bash", k_bash_driver);
  }

  Strings complete(const std::string& line, const fs::path& cwd = {}, const std::string& function = "_lastmile") {
    const RunResult r = sb.exec({"bash", "--norc", "--noprofile", (sb.root() / "driver.bash").string(),
                                 script.string(), function, line},
                                on_path(sb, cwd));
    INFO(line << "\n" << r.err);
    REQUIRE(r.rc == 0);
    CHECK(r.err.empty());
    return lines(r.out);
  }
};

}  // namespace

TEST_CASE("bash completes commands, subcommands, options and fixed values", "[e2e][completion]") {
  Sandbox sb;
  setup(sb);
  Bash bash(sb);
  const Strings top = bash.complete("lastmile ");
  for (const char* cmd : {"init", "register", "dataset", "promote", "deploy", "hooks", "policy", "completion"}) {
    CHECK_THAT(top, Catch::VectorContains(std::string(cmd)));
  }
  CHECK(bash.complete("lastmile dep") == Strings{"deploy"});
  CHECK(bash.complete("lastmile deploy ") == Strings{"targets", "templates", "render", "context", "record"});
  CHECK(bash.complete("lastmile deploy templates ") == Strings{"export"});
  CHECK(bash.complete("lastmile hooks ") == Strings{"install", "uninstall", "run"});
  CHECK(bash.complete("lastmile policy ") == Strings{"check"});
  CHECK(bash.complete("lastmile dataset ") == Strings{"register"});
  CHECK(bash.complete("lastmile -") ==
        Strings{"-h", "--help", "--version", "-C", "--registry", "--json", "-q", "--quiet", "-v", "--verbose", "--color"});
  const Strings render = bash.complete("lastmile deploy render -");
  for (const char* opt : {"-t", "--target", "--set", "--values", "-o", "--out", "--template-dir", "-C", "--json", "-h"}) {
    CHECK_THAT(render, Catch::VectorContains(std::string(opt)));
  }
  CHECK_THAT(render, !Catch::VectorContains(std::string("--version")));
  CHECK(bash.complete("lastmile hooks install --p") == Strings{"--pre-commit", "--pre-push"});
  CHECK(bash.complete("lastmile --color ") == Strings{"auto", "always", "never"});
  CHECK(bash.complete("lastmile list --color=al") == Strings{"always"});
  CHECK(bash.complete("lastmile gate churn --format ") == Strings{"text", "json", "junit", "github", "md"});
  CHECK(bash.complete("lastmile lineage churn --format ") == Strings{"text", "json", "dot", "mermaid"});
  CHECK(bash.complete("lastmile diff churn churn --format=m") == Strings{"md"});
  CHECK(bash.complete("lastmile register churn m.bin --bump ") == Strings{"major", "minor", "patch"});
  CHECK(bash.complete("lastmile completion ") == Strings{"bash", "zsh", "fish"});
  // Paths: files where a file goes, directories where a directory goes.
  CHECK(bash.complete("lastmile register churn m.") == Strings{"m.bin"});
  CHECK(bash.complete("lastmile register churn m.bin --metrics da") == Strings{"data"});
  CHECK(bash.complete("lastmile checkout churn --to sub") == Strings{"subdir"});
  CHECK(bash.complete("lastmile checkout churn --to m.").empty());
  // Free text has nothing to offer.
  CHECK(bash.complete("lastmile promote churn --reason ").empty());
}

TEST_CASE("bash completes model names, versions, stages and targets from the project", "[e2e][completion]") {
  Sandbox sb;
  setup(sb);
  Bash bash(sb);
  CHECK(bash.complete("lastmile promote ") == Strings{"churn", "customers"});
  CHECK(bash.complete("lastmile show c") == Strings{"churn", "customers"});
  CHECK(bash.complete("lastmile diff churn ch") == Strings{"churn"});
  CHECK(bash.complete("lastmile verify churn cu") == Strings{"customers"});
  CHECK(bash.complete("lastmile register churn m.bin --input cu") == Strings{"customers"});
  // After an '@': what bash puts after it (it breaks words at '@').
  CHECK(bash.complete("lastmile promote churn@") == Strings{"1.0.0", "1.1.0", "dev"});
  CHECK(bash.complete("lastmile promote churn@1.1") == Strings{"1.1.0"});
  CHECK(bash.complete("lastmile diff churn@1.0.0 customers@") == Strings{"0.1.0"});
  CHECK(bash.complete("lastmile deploy render --target=kubernetes churn@d") == Strings{"dev"});
  // Stages from lastmile.yaml, targets from the built-in and the project's templates.
  CHECK(bash.complete("lastmile promote churn --to ") == Strings{"dev", "qa", "prod"});
  CHECK(bash.complete("lastmile gate churn@1.1.0 --stage p") == Strings{"prod"});
  CHECK(bash.complete("lastmile rollback churn --stage ") == Strings{"dev", "qa", "prod"});
  CHECK(bash.complete("lastmile deploy render churn -t ") ==
        Strings{"compose", "edge", "kserve", "kubernetes", "seldon", "systemd"});
  CHECK(bash.complete("lastmile deploy render churn --target=k") == Strings{"kserve", "kubernetes"});
  // Options after a value-taking option's value are still options.
  CHECK(bash.complete("lastmile deploy render churn -t edge --o") == Strings{"--out"});
}

TEST_CASE("bash follows -C and --registry typed on the line", "[e2e][completion]") {
  Sandbox sb;
  setup(sb);
  Bash bash(sb);
  const std::string repo = sb.repo().string();
  // From outside the repository there is nothing to offer, and nothing is said.
  CHECK(bash.complete("lastmile list ", sb.root()).empty());
  CHECK(bash.complete("lastmile -C " + repo + " list ", sb.root()) == Strings{"churn", "customers"});
  CHECK(bash.complete("lastmile list -C " + repo + " --color never c", sb.root()) == Strings{"churn", "customers"});
  CHECK(bash.complete("lastmile -C " + repo + " promote churn --to q", sb.root()) == Strings{"qa"});
  CHECK(bash.complete("lastmile --registry " + repo + "/.lastmile show ch", sb.root()) == Strings{"churn"});
  CHECK(bash.complete("lastmile --registry=" + repo + "/.lastmile show ch", sb.root()) == Strings{"churn"});
  CHECK(bash.complete("lastmile -C /no/such/dir list ", sb.root()).empty());
}

TEST_CASE("bash completes 'git lastmile' through git's completion", "[e2e][completion]") {
  Sandbox sb;
  setup(sb);
  Bash bash(sb);
  CHECK(bash.complete("git lastmile dep", {}, "_git_lastmile") == Strings{"deploy"});
  CHECK(bash.complete("git -c core.pager=cat lastmile promote churn --to ", {}, "_git_lastmile") ==
        Strings{"dev", "qa", "prod"});
  const fs::path git_completion = "/usr/share/bash-completion/completions/git";
  if (!fs::exists(git_completion)) {
    WARN("git's bash completion is not installed: 'git lastmile' was not completed through it");
    return;
  }
  // git's own completion finds _git_lastmile for 'git lastmile'.
  sb.write(sb.root() / "both.bash", "source " + git_completion.string() + "\nsource " + bash.script.string() + "\n");
  bash.script = sb.root() / "both.bash";
  CHECK(bash.complete("git lastmile deploy render churn -t k", {}, "__git_wrap__git_main") ==
        Strings{"kserve", "kubernetes"});
}

TEST_CASE("completion --list prints values, and nothing where there are none", "[e2e][completion]") {
  Sandbox sb;
  for (const char* list : {"names", "refs"}) {
    const RunResult r = sb.run({"completion", "--list", list});  // no registry
    CHECK(r.rc == 0);
    CHECK(r.out.empty());
    CHECK(r.err.empty());
  }
  // No lastmile.yaml: the default policy's stages.
  CHECK(sb.run({"completion", "--list", "stages"}).out == "sandbox\nstaging\nproduction\n");
  CHECK(sb.run({"completion", "--list", "targets"}).out == "compose\nkserve\nkubernetes\nseldon\nsystemd\n");
  // A lastmile.yaml that is not YAML, and a template that does not parse.
  sb.write("lastmile.yaml", "stages: [\n");
  sb.write(".lastmile/templates/bad.yaml.mustache", "{{#x}}\n");
  for (const char* list : {"stages", "targets"}) {
    const RunResult r = sb.run({"completion", "--list", list});
    CHECK(r.rc == 0);
    CHECK(r.err.empty());
  }
  CHECK(sb.run({"completion", "--list", "stages"}).out.empty());
  // A committed policy whose stage name is shell syntax: a policy with
  // problems offers no stages, and no value that is not a plain word is
  // ever offered.
  sb.write("lastmile.yaml", "stages:\n  - name: \"x;touch${IFS}PWNED\"\n  - name: ok\n");
  CHECK(sb.run({"completion", "--list", "stages"}).out.empty());
  fs::remove(sb.repo() / ".lastmile/templates/bad.yaml.mustache");
  sb.write(".lastmile/templates/x;touch PWNED.yaml.mustache", "a: 1\n");
  CHECK_THAT(sb.run({"completion", "--list", "targets"}).out, !Catch::Contains("PWNED"));
  fs::remove(sb.repo() / ".lastmile/templates/x;touch PWNED.yaml.mustache");

  setup(sb);
  CHECK(sb.run({"completion", "--list", "names"}).out == "churn\ncustomers\n");
  CHECK(sb.run({"completion", "--list", "refs"}).out ==
        "churn@1.0.0\nchurn@1.1.0\nchurn@dev\ncustomers@0.1.0\n");
  CHECK(sb.run({"completion", "--list", "stages"}).out == "dev\nqa\nprod\n");
  CHECK(sb.run({"completion", "--list", "refs", "--prefix", "churn@1"}).out == "churn@1.0.0\nchurn@1.1.0\n");
  CHECK(sb.run({"completion", "--list", "refs", "--prefix", "churn@"}).out == "churn@1.0.0\nchurn@1.1.0\nchurn@dev\n");
  CHECK(sb.run({"completion", "--list", "stages", "--prefix", "q"}).out == "qa\n");

  const RunResult bad = sb.run({"completion", "--list", "models"});
  CHECK(bad.rc == 64);
  CHECK_THAT(bad.err, Contains("unknown list 'models'"));
  CHECK(sb.run({"completion", "--list", "names", "bash"}).rc == 64);
}

TEST_CASE("completion refuses a shell it does not know", "[e2e][completion]") {
  Sandbox sb;
  const RunResult r = sb.run({"completion", "tcsh"});
  CHECK(r.rc == 64);
  CHECK(r.out.empty());
  CHECK(r.err == "lastmile: error: unknown shell 'tcsh': use bash, zsh or fish\n");
  const RunResult none = sb.run({"completion"});
  CHECK(none.rc == 64);
  CHECK(none.out.empty());
  CHECK_THAT(none.err, Contains("SHELL is required"));
}

TEST_CASE("zsh: the script parses, and completes from $fpath and when sourced", "[e2e][completion][zsh]") {
  Sandbox sb;
  const fs::path dir = sb.root() / "zfunc";
  if (!set_up_and_parsed(sb, "zsh", dir / "_lastmile")) return;

  // An interactive zsh on a pseudo-terminal: each line is typed, then TAB,
  // then a key that prints the line as <<LINE>>; a list zsh shows comes
  // before it.
  sb.write(sb.root() / "drive.zsh", R"SH(
zmodload zsh/zpty || exit 2
zpty z zsh -f -i
zpty -w z 'PROMPT= RPROMPT=; unsetopt beep'
zpty -w z "$1"
zpty -w z 'show() { print -r -- "<<$BUFFER>>"; BUFFER=; }; zle -N show; bindkey "^O" show'
zpty -w z 'print -r -- RE""ADY'
zpty -r z out '*READY*' || exit 3
shift
for line in "$@"; do
    zpty -w -n z "$line"$'\t\x0f'
    zpty -r z out '*<<*>>*' || exit 4
    print -r -- "$out"
    print -r -- @@@
done
zpty -d z
)SH");
  const auto drive = [&](const std::string& setup_line, const Strings& typed) {
    Strings argv{"timeout", "20", "zsh", "-f", (sb.root() / "drive.zsh").string(), setup_line};
    argv.insert(argv.end(), typed.begin(), typed.end());
    const RunResult r = sb.exec(argv, on_path(sb));
    INFO(r.out << r.err);
    REQUIRE(r.rc == 0);
    Strings blocks;
    for (std::size_t from = 0, at; (at = r.out.find("@@@\n", from)) != std::string::npos; from = at + 4) {
      blocks.push_back(r.out.substr(from, at - from));
    }
    REQUIRE(blocks.size() == typed.size());
    return blocks;
  };

  const Strings out = drive("fpath=(" + dir.string() + " $fpath); autoload -U compinit; compinit -u -D",
                            {"lastmile dep", "lastmile deploy ", "lastmile promote churn --to p",
                             "lastmile promote churn@1.1", "lastmile deploy render churn -t ed",
                             "lastmile gate churn --format=ju", "lastmile register churn m.",
                             "lastmile -C " + sb.repo().string() + " list cu", "git lastmile hooks ins"});
  CHECK_THAT(out[0], Contains("<<lastmile deploy >>"));
  // Ambiguous: zsh lists the subcommands with their descriptions.
  CHECK_THAT(out[1], Contains("render") && Contains("record") && Contains("targets") && Contains("templates") &&
                         Contains("render manifests for a version"));
  CHECK_THAT(out[2], Contains("<<lastmile promote churn --to prod >>"));
  CHECK_THAT(out[3], Contains("<<lastmile promote churn@1.1.0 >>"));
  CHECK_THAT(out[4], Contains("<<lastmile deploy render churn -t edge >>"));
  CHECK_THAT(out[5], Contains("<<lastmile gate churn --format=junit >>"));
  CHECK_THAT(out[6], Contains("<<lastmile register churn m.bin >>"));
  CHECK_THAT(out[7], Contains("<<lastmile -C " + sb.repo().string() + " list customers >>"));
  // _git-lastmile exists once _lastmile has been loaded.
  CHECK_THAT(out[8], Contains("<<git lastmile hooks install >>"));

  const Strings sourced =
      drive("autoload -U compinit; compinit -u -D; source <(lastmile completion zsh)", {"git lastmile st"});
  CHECK_THAT(sourced[0], Contains("<<git lastmile status >>"));
}

TEST_CASE("fish: the script parses, and complete -C offers what bash does", "[e2e][completion][fish]") {
  Sandbox sb;
  const fs::path file = sb.root() / "lastmile.fish";
  if (!set_up_and_parsed(sb, "fish", file)) return;

  const auto complete = [&](const Strings& typed) {
    Strings argv{"fish", "-N", "-c",
                 "source $argv[1]; for line in $argv[2..]; complete -C $line | string split -f1 \\t; echo @@@; end",
                 file.string()};
    argv.insert(argv.end(), typed.begin(), typed.end());
    const RunResult r = sb.exec(argv, on_path(sb));
    INFO(r.err);
    REQUIRE(r.rc == 0);
    CHECK(r.err.empty());
    std::vector<Strings> out(1);
    for (const auto& l : lines(r.out)) {
      if (l == "@@@") {
        out.emplace_back();
      } else {
        out.back().push_back(l);
      }
    }
    out.pop_back();
    REQUIRE(out.size() == typed.size());
    return out;
  };
  const auto out = complete({"lastmile dep", "lastmile deploy ", "lastmile deploy render churn -",
                             "lastmile --color ", "lastmile gate churn --format ", "lastmile promote ",
                             "lastmile promote churn@", "lastmile promote churn --to ", "lastmile deploy render churn -t ",
                             "lastmile register churn m.", "lastmile -C " + sb.repo().string() + " list c",
                             "git lastmile promote churn --to q", "git-lastmile dep"});
  CHECK(out[0] == Strings{"deploy"});
  CHECK(out[1] == Strings{"context", "record", "render", "targets", "templates"});
  for (const char* opt : {"-t", "-o", "-C", "-q", "-h"}) CHECK_THAT(out[2], Catch::VectorContains(std::string(opt)));
  CHECK(out[3] == Strings{"always", "auto", "never"});
  CHECK(out[4] == Strings{"github", "json", "junit", "md", "text"});
  CHECK(out[5] == Strings{"churn", "customers"});
  CHECK(out[6] == Strings{"churn@1.0.0", "churn@1.1.0", "churn@dev"});
  CHECK(out[7] == Strings{"dev", "prod", "qa"});
  CHECK(out[8] == Strings{"compose", "edge", "kserve", "kubernetes", "seldon", "systemd"});
  CHECK(out[9] == Strings{"m.bin"});
  CHECK(out[10] == Strings{"churn", "customers"});
  CHECK(out[11] == Strings{"qa"});
  CHECK(out[12] == Strings{"deploy"});
}
