// The command line as a whole: help, version, usage errors, exit codes.

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <map>
#include <fstream>
#include <regex>
#include <sstream>

#include "tests/e2e/sandbox.hpp"

using lm::test::Sandbox;

namespace {

const std::vector<std::string> k_commands = {
    "init",    "register", "dataset", "annotate", "list", "show",     "lineage", "diff",  "history",
    "verify",  "policy",   "gate",    "promote", "approve", "rollback", "status", "audit",
    "deploy",  "hooks",    "check-ref", "ci", "checkout", "completion", "remote", "push", "pull", "fsck",
    "profile", "drift", "feedback", "report"};

// The words that run a command: dataset's one verb is "dataset register".
std::vector<std::string> command_words(const std::string& cmd) {
  if (cmd == "dataset") return {"dataset", "register"};
  if (cmd == "policy") return {"policy", "check"};
  if (cmd == "deploy") return {"deploy", "render"};
  if (cmd == "hooks") return {"hooks", "install"};
  if (cmd == "ci") return {"ci", "init"};
  if (cmd == "remote") return {"remote", "add"};
  return {cmd};
}

// One line of roff with the markup removed.
std::string one_line(std::string body) {
  body = std::regex_replace(body, std::regex(R"(\\f[BIRP])"), "");
  body = std::regex_replace(body, std::regex(R"(^\.[A-Z]+ ?)", std::regex::multiline), "");
  body = std::regex_replace(body, std::regex(R"(\\-)"), "-");
  body = std::regex_replace(body, std::regex(R"(\s+)"), " ");
  while (!body.empty() && body.back() == ' ') body.pop_back();
  while (!body.empty() && body.front() == ' ') body.erase(0, 1);
  return body;
}

// The forms in the SYNOPSIS of a man page (separated by .br), each with
// roff markup removed, on one line.
std::vector<std::string> man_synopsis(const std::string& page) {
  std::ifstream f(std::string(LASTMILE_SOURCE_DIR) + "/man/" + page);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string text = ss.str();
  const auto start = text.find(".SH SYNOPSIS\n");
  if (start == std::string::npos) return {};
  const auto end = text.find("\n.SH", start + 1);
  std::vector<std::string> forms;
  std::string all = text.substr(start + 13, end - start - 13);
  for (std::size_t from = 0; from <= all.size();) {
    std::size_t br = all.find("\n.br\n", from);
    if (br == std::string::npos) br = all.size();
    forms.push_back(one_line(all.substr(from, br - from)));
    from = br + 5;
  }
  return forms;
}


}  // namespace

TEST_CASE("lastmile --version prints the version", "[e2e][cli]") {
  Sandbox sb;
  const auto r = sb.run({"--version"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::Matches("lastmile \\d+\\.\\d+\\.\\d+\n"));
  CHECK(r.err.empty());
}

TEST_CASE("no command prints the overview and is a usage error", "[e2e][cli]") {
  Sandbox sb;
  const auto r = sb.run({});
  CHECK(r.rc == 64);
  CHECK(r.out.empty());
  for (const auto& cmd : k_commands) CHECK_THAT(r.err, Catch::Contains(cmd));
}

TEST_CASE("every command answers -h and --help on stdout", "[e2e][cli]") {
  Sandbox sb;
  for (const auto& cmd : k_commands) {
    for (const char* flag : {"-h", "--help"}) {
      INFO(cmd << " " << flag);
      auto args = command_words(cmd);
      args.push_back(flag);
      const auto r = sb.run(args);
      CHECK(r.rc == 0);
      CHECK_THAT(r.out, Catch::StartsWith("Usage: lastmile " + cmd));
      CHECK(r.err.empty());
    }
  }
}

TEST_CASE("help ends with the command's examples where it has them", "[e2e][cli]") {
  Sandbox sb;
  for (const std::vector<std::string>& args : {std::vector<std::string>{"deploy", "--help"}, {"check-ref", "--help"}}) {
    INFO(args.front());
    const auto r = sb.run(args);
    CHECK(r.rc == 0);
    CHECK_THAT(r.out, Catch::Contains("\nExamples:\n  lastmile " + args.front()));
  }
}

TEST_CASE("every command refuses an unknown flag with exit 64", "[e2e][cli]") {
  Sandbox sb;
  const std::map<std::string, std::vector<std::string>> valid_args = {
      {"register", {"churn", "m.bin"}}, {"dataset", {"data", "d"}},
      {"annotate", {"churn"}}, {"show", {"churn"}}, {"lineage", {"churn"}},
      {"diff", {"churn", "churn"}}, {"checkout", {"churn", "--to", "out"}},
      {"gate", {"churn", "--stage", "staging"}}, {"promote", {"churn", "--to", "staging"}},
      {"approve", {"churn", "--stage", "production"}},
      {"rollback", {"churn", "--stage", "production", "--reason", "r"}},
      {"deploy", {"churn", "-t", "kubernetes"}}, {"check-ref", {"churn@v1.0.0"}}, {"completion", {"bash"}},
      {"ci", {"github"}}, {"remote", {"origin", "/tmp/x.git"}}, {"profile", {"churn"}},
      {"drift", {"churn", "--current", "c.csv"}}, {"feedback", {"churn", "--metric", "a=1"}},
      {"report", {"churn"}}};
  for (const auto& cmd : k_commands) {
    INFO(cmd);
    std::vector<std::string> args = command_words(cmd);
    std::string words;
    for (const auto& w : args) words += (words.empty() ? "" : " ") + w;
    if (auto it = valid_args.find(cmd); it != valid_args.end()) {
      args.insert(args.end(), it->second.begin(), it->second.end());
    }
    args.push_back("--no-such-flag");
    const auto r = sb.run(args);
    CHECK(r.rc == 64);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: ") && Catch::Contains("--no-such-flag") &&
                          Catch::Contains("hint: see 'lastmile " + words + " --help'"));
  }
  const auto r = sb.run({"frobnicate"});
  CHECK(r.rc == 64);
  CHECK_THAT(r.err, Catch::Contains("frobnicate"));
}

TEST_CASE("every usage line matches its man page SYNOPSIS", "[e2e][cli][man]") {
  Sandbox sb;
  for (const auto& cmd : k_commands) {
    INFO(cmd);
    auto args = command_words(cmd);
    args.push_back("--help");
    const auto r = sb.run(args);
    std::string usage = r.out.substr(0, r.out.find('\n'));
    usage = usage.substr(std::string("Usage: ").size());
    const auto forms = man_synopsis("lastmile-" + cmd + ".1");
    CHECK_THAT(forms, Catch::VectorContains(usage));
  }
}

TEST_CASE("a missing required argument is a usage error naming it", "[e2e][cli]") {
  Sandbox sb;
  auto r = sb.run({"register", "churn"});
  CHECK(r.rc == 64);
  CHECK_THAT(r.err, Catch::Contains("PATH is required"));
  r = sb.run({"checkout", "churn"});
  CHECK(r.rc == 64);
  CHECK_THAT(r.err, Catch::Contains("--to is required"));
  r = sb.run({"history", "-n", "-1"});
  CHECK(r.rc == 64);
  CHECK_THAT(r.err, Catch::Contains("--limit"));
}

TEST_CASE("commands that need a registry say how to create one", "[e2e][cli]") {
  Sandbox sb;
  sb.write("m.bin", "w");
  const std::vector<std::vector<std::string>> calls = {
      {"list"}, {"show", "churn"}, {"history"}, {"verify"},
      {"checkout", "churn", "--to", "out"}, {"register", "churn", "m.bin"}};
  for (const auto& args : calls) {
    INFO(args.front());
    const auto r = sb.run(args);
    CHECK(r.rc == 66);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, Catch::Contains("lastmile: error: no registry at '" + sb.registry().string() + "'") &&
                          Catch::Contains("hint: create one with 'lastmile init'"));
  }
  CHECK_FALSE(std::filesystem::exists(sb.registry()));
}

TEST_CASE("global options work before and after the command", "[e2e][cli]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  CHECK(sb.run({"--json", "list"}).json().contains("models"));
  CHECK(sb.run({"list", "--json"}).json().contains("models"));
  const auto bad = sb.run({"--color", "sometimes", "list"});
  CHECK(bad.rc == 64);
  CHECK_THAT(bad.err, Catch::Contains("invalid --color 'sometimes'"));
}

TEST_CASE("colour: --color always colours and NO_COLOR is honoured", "[e2e][cli]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("m.bin", "w");
  REQUIRE(sb.run({"register", "churn", "m.bin"}).rc == 0);
  CHECK_THAT(sb.run({"--color", "always", "list"}).out, Catch::Contains("\033["));
  CHECK_THAT(sb.run({"list"}).out, !Catch::Contains("\033["));
  CHECK_THAT(sb.run({"list"}, {.env = {{"CLICOLOR_FORCE", "1"}}, .unset = {"NO_COLOR"}}).out,
             Catch::Contains("\033["));
  CHECK_THAT(sb.run({"list"}, {.env = {{"CLICOLOR_FORCE", "1"}, {"NO_COLOR", "1"}}}).out,
             !Catch::Contains("\033["));
}

// Runs lastmile on a pseudo-terminal (stdin, stdout and stderr) and returns
// everything it wrote there.
lm::test::RunResult run_on_tty(const Sandbox& sb, const std::vector<std::string>& args,
                     const std::map<std::string, std::string>& env, const std::vector<std::string>& unset) {
  std::vector<std::string> argv = {"python3", "-c", R"(
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out = b""
while True:
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode("utf-8", "replace"))
sys.exit(os.waitstatus_to_exitcode(status))
)", LASTMILE_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  return sb.exec(argv, {.env = env, .unset = unset});
}

TEST_CASE("colour: auto colours a terminal only, unless NO_COLOR or TERM=dumb", "[e2e][cli]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("m.bin", "w");
  REQUIRE(sb.run({"register", "churn", "m.bin"}).rc == 0);
  const std::map<std::string, std::string> term = {{"TERM", "xterm-256color"}};
  lm::test::RunResult r = run_on_tty(sb, {"list"}, term, {"NO_COLOR"});
  REQUIRE(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("churn") && Catch::Contains("\033["));
  // Errors are coloured on a terminal too.
  r = run_on_tty(sb, {"show", "nope"}, term, {"NO_COLOR"});
  CHECK(r.rc == 66);
  CHECK_THAT(r.out, Catch::Contains("\033[31merror:\033[0m"));
  CHECK_THAT(run_on_tty(sb, {"list"}, {{"TERM", "xterm"}, {"NO_COLOR", "1"}}, {}).out, !Catch::Contains("\033["));
  CHECK_THAT(run_on_tty(sb, {"list"}, {{"TERM", "dumb"}}, {"NO_COLOR"}).out, !Catch::Contains("\033["));
  CHECK_THAT(run_on_tty(sb, {"--color", "never", "list"}, term, {"NO_COLOR"}).out, !Catch::Contains("\033["));
  // The same command into a pipe: no colour.
  r = sb.run({"list"}, {.env = term, .unset = {"NO_COLOR"}});
  CHECK_THAT(r.out, Catch::Contains("churn") && !Catch::Contains("\033["));
}

TEST_CASE("nothing waits for input when stdin is not a terminal", "[e2e][cli]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("m.bin", "w");
  // stdin is a pipe that stays open: a command that asked a question would
  // wait here until the timeout kills it.
  const std::string script = R"(
import subprocess, sys
p = subprocess.Popen(sys.argv[1:], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    sys.exit(p.wait(timeout=20))
except subprocess.TimeoutExpired:
    p.kill()
    sys.exit(124)
)";
  const std::vector<std::vector<std::string>> calls = {
      {"register", "churn", "m.bin", "--version", "1.0.0"},
      {"promote", "churn@1.0.0", "--to", "staging"},
      {"approve", "churn@1.0.0", "--stage", "production"},
      {"rollback", "churn", "--stage", "staging", "--reason", "r"},
      {"hooks", "install", "--force"},
      {"init"}};
  for (const auto& args : calls) {
    INFO(args.front());
    std::vector<std::string> argv = {"python3", "-c", script, LASTMILE_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    CHECK(sb.exec(argv).rc != 124);
  }
}

TEST_CASE("option -C runs as if started in another directory", "[e2e][cli]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("m.bin", "w");
  REQUIRE(sb.run({"register", "churn", "m.bin"}).rc == 0);
  const auto r = sb.run({"-C", sb.repo().string(), "list"}, {.cwd = sb.root()});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("churn"));
  const auto bad = sb.run({"-C", "/no/such/dir", "list"});
  CHECK(bad.rc == 66);
  CHECK_THAT(bad.err, Catch::Contains("cannot change to directory '/no/such/dir': no such file or directory"));
  std::filesystem::create_directories(sb.root() / "closed");
  ::chmod((sb.root() / "closed").c_str(), 0700);
  const auto denied = sb.run({"-C", (sb.root() / "closed").string(), "list"}, {.as_unprivileged_user = true});
  CHECK(denied.rc == 77);
  CHECK_THAT(denied.err, Catch::Contains("permission denied"));
}

TEST_CASE("a closed stdout is an I/O error, not a crash", "[e2e][cli]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  // /dev/full accepts the open and fails every write with ENOSPC.
  const auto r = sb.exec({"sh", "-c", std::string(LASTMILE_BIN) + " list --json > /dev/full"});
  CHECK(r.rc == 74);
  CHECK_THAT(r.err, Catch::Contains("cannot write to standard output"));
}
