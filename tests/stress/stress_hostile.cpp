// Hostile input (reliability plan E), end to end: names and versions built
// to traverse paths, inject SQL or shell, spoof a terminal or look like
// another name; artifact paths that leave the repository through a symlink
// or are devices; values that try to break out of SQL, a shell, a YAML
// manifest; and promotions that skip a stage or repeat. Each refusal must
// exit with its code, say why and write nothing; each value that is
// accepted must come back byte for byte and never run.
//
// No knobs: the cases are a fixed table (NUL cannot be passed in argv, so
// it is not one of them).

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cmath>

#include "tests/stress/hostile_support.hpp"
#include "tests/stress/hostile_values.hpp"
#include "tests/stress/stress.hpp"

using namespace lm::hostile;

namespace {

const std::string k_policy = R"(stages:
  - name: sandbox
  - name: staging
    from: [sandbox]
    gates:
      - {command: ["./dump-env.py"], timeout: 60}
  - name: production
    from: [staging]
deploy:
  image: registry.example.com/serve@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
  command: [/usr/bin/model-server, --model, "{{name}}", --port, "8080"]
)";

// The command gate: what it was given in LASTMILE_*, as JSON, in the
// sandbox's home (outside the repository, whose files the refusals watch).
const std::string k_dump_env = R"(#!/usr/bin/env python3
import json, os
env = {k: v for k, v in os.environ.items() if k.startswith("LASTMILE_")}
with open(os.path.join(os.environ["HOME"], "gate-env.json"), "w", encoding="utf-8", errors="surrogateescape") as f:
    json.dump(env, f)
)";

void setup(Sandbox& sb, Tally& tally) {
  ok(sb, tally, {"init", "-q"});
  put_file(sb.repo() / "lastmile.yaml", k_policy);
  put_file(sb.repo() / "dump-env.py", k_dump_env, true);
  put_file(sb.repo() / "model.bin", "weights");
  put_file(sb.repo() / "data.csv", "a,b\n1,2\n");
  ok(sb, tally, {"register", "churn", "model.bin", "--version", "1.0.0", "--metric", "auc=0.9", "-q"});
}

struct Name {
  std::string name, quoted, rule;
};

// Names of every kind the rule refuses, with how a message must quote them.
std::vector<Name> hostile_names() {
  return {
      {"../../etc/passwd", "'../../etc/passwd'", "it contains '..'"},
      {"/a", "'/a'", "it has an empty segment"},
      {"a//b", "'a//b'", "it has an empty segment"},
      {"a/", "'a/'", "it has an empty segment"},
      {"a\\b", "'a\\b'", "breaks the rule"},
      {".hidden", "'.hidden'", "breaks the rule"},
      {"..", "'..'", "it contains '..'"},
      {"a/..", "'a/..'", "it contains '..'"},
      {"churn.lock", "'churn.lock'", "may not end in '.lock'"},
      {"a@{1}", "'a@{1}'", "breaks the rule"},
      {"a\x01" "b", "'a\\x01b'", "breaks the rule"},
      {"a\x1b[31mb", "'a\\x1b[31mb'", "breaks the rule"},
      {"churn\r", "'churn\\r'", "breaks the rule"},
      {"churn\n", "'churn\\n'", "breaks the rule"},
      {"a\tb", "'a\\tb'", "breaks the rule"},
      {std::string(129, 'a'), "", "it is 129 bytes long (at most 128)"},
      {"caf\xc3\xa9", "'caf\xc3\xa9'", "breaks the rule"},
      {"\xd0\xb0" "bc", "'\xd0\xb0" "bc'", "breaks the rule"},          // Cyrillic a
      {"\xef\xbd\x83hurn", "'\xef\xbd\x83hurn'", "breaks the rule"},   // fullwidth c
      {"cafe\xcc\x81", "'cafe\xcc\x81'", "breaks the rule"},           // combining accent
      {"ch\xe2\x80\x8burn", "'ch\\u{200b}urn'", "breaks the rule"},    // zero-width space
      {"churn\xe2\x80\xae" "lmx", "'churn\\u{202e}lmx'", "breaks the rule"},  // right-to-left override
      {"a\xff" "b", "'a\\xffb'", "breaks the rule"},                    // not UTF-8
      {"x'); DROP TABLE models;--", "'x'); DROP TABLE models;--'", "breaks the rule"},
      {"$(touch PWNED)", "'$(touch PWNED)'", "breaks the rule"},
      {"`touch PWNED`", "'`touch PWNED`'", "breaks the rule"},
      {"churn;rm -rf /", "'churn;rm -rf /'", "breaks the rule"},
      {"", "''", "it is empty"},
      {"CHURN", "'CHURN'", "breaks the rule"},
      {"a b", "'a b'", "breaks the rule"},
  };
}

// Every command that takes a name or a reference refuses each name.
void names(const Sandbox& sb, Tally& tally) {
  const std::string hint = "hint: names are '/'-separated segments";
  for (const Name& n : hostile_names()) {
    const std::string q = n.quoted.empty() ? "" : n.quoted + ": ";
    refused(sb, tally, {"register", n.name, "model.bin"}, 64, {"invalid model name " + q, n.rule, hint});
    refused(sb, tally, {"dataset", "register", n.name, "data.csv"}, 64, {"invalid dataset name " + q, n.rule});
    refused(sb, tally, {"rollback", n.name, "--stage", "staging", "--reason", "r"}, 64, {"invalid model name " + q});
    const bool ref_syntax = n.name.find('@') != std::string::npos;
    refused(sb, tally, {"show", n.name}, 64, {ref_syntax ? "invalid reference " : "invalid model or dataset name " + q});
    refused(sb, tally, {"promote", n.name + "@1.0.0", "--to", "staging"}, 64, {"invalid "});
  }
}

void versions(const Sandbox& sb, Tally& tally) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"1.2.3; rm -rf /", "'1.2.3; rm -rf /'"}, {"$(touch PWNED)", "'$(touch PWNED)'"},
      {"`touch PWNED`", "'`touch PWNED`'"},     {"1.2.3\n", "'1.2.3\\n'"},
      {"../../1.0.0", "'../../1.0.0'"},         {"1.0.0/../../x", "'1.0.0/../../x'"},
      {"x'); DROP TABLE versions;--", "'x'); DROP TABLE versions;--'"},
      {"1.0", "'1.0'"},                         {"01.0.0", "'01.0.0'"},
      {"1.0.0-", "'1.0.0-'"},                   {"1.0.0-01", "'1.0.0-01'"},
      {"latest", "'latest'"},                   {"1.0.0\xe2\x80\x8b", "'1.0.0\\u{200b}'"},
  };
  for (const auto& [v, q] : cases) {
    refused(sb, tally, {"register", "churn", "model.bin", "--version", v}, 64,
            {"invalid version " + q + " (SemVer 2.0.0 required)"});
    if (v != "latest") refused(sb, tally, {"show", "churn@" + v}, 64, {"invalid "});
  }
  refused(sb, tally, {"register", "churn", "model.bin", "--metric", "$(touch PWNED)=1"}, 64,
          {"invalid key '$(touch PWNED)' for --metric"});
  refused(sb, tally, {"register", "churn", "model.bin", "--label", "a b=1"}, 64, {"invalid key 'a b' for --label"});
  refused(sb, tally, {"deploy", "record", "churn@1.0.0", "--env", "x'); DROP TABLE deployments;--"}, 64,
          {"invalid environment name 'x'); DROP TABLE deployments;--'"});
}

// A unix socket at `path`, left behind (its process is gone).
void make_socket(const fs::path& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  ::close(fd);
}

void artifact_paths(const Sandbox& sb, Tally& tally) {
  const fs::path repo = sb.repo(), outside = sb.root() / "outside";
  put_file(outside / "model/w.bin", "secret weights");
  put_file(repo / "secret.txt", "do not ship");
  put_file(repo / "leaky/w.bin", "w");
  fs::create_symlink("../secret.txt", repo / "leaky/extra");
  put_file(repo / "absolute/w.bin", "w");
  fs::create_symlink("/etc/passwd", repo / "absolute/passwd");
  fs::create_directory_symlink(outside, repo / "linkdir");  // DVC #11101
  fs::create_symlink(outside / "model/w.bin", repo / "w-link.bin");
  fs::create_directory_symlink("/etc", repo / "etc-link");
  ::mkfifo((repo / "pipe").c_str(), 0644);
  put_file(repo / "with-pipe/w.bin", "w");
  ::mkfifo((repo / "with-pipe/pipe").c_str(), 0644);
  fs::create_symlink("/dev/zero", repo / "zero-link");
  put_file(repo / "with-zero/w.bin", "w");
  fs::create_symlink("/dev/zero", repo / "with-zero/zero");
  make_socket(repo / "sock");
  const std::string leaves = "outside the repository '" + repo.string() + "'";
  const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> cases = {
      {{"leaky"}, {"refusing symlink '" + (repo / "leaky/extra").string() + "' -> '../secret.txt'",
                   "it resolves outside the artifact"}},
      {{"absolute"}, {"-> '/etc/passwd': it is absolute"}},
      {{"linkdir/model"}, {"refusing 'linkdir/model': it resolves to '" + (outside / "model").string() + "'", leaves}},
      {{"w-link.bin"}, {"refusing 'w-link.bin': it resolves to '" + (outside / "model/w.bin").string() + "'", leaves}},
      {{"etc-link"}, {"refusing 'etc-link': it resolves to '/etc'", leaves}},
      {{"pipe"}, {"cannot register 'pipe': it is a FIFO"}},
      {{"with-pipe"}, {"with-pipe/pipe': it is a FIFO"}},
      {{"/dev/null"}, {"cannot register '/dev/null': it is a character device"}},
      {{"/dev/zero"}, {"cannot register '/dev/zero': it is a character device"}},
      {{"zero-link"}, {"refusing 'zero-link': it resolves to '/dev/zero'"}},
      {{"with-zero"}, {"-> '/dev/zero': it is absolute"}},
      {{"sock"}, {"cannot register 'sock': it is a socket"}},
      {{"."}, {"it contains the registry"}},
  };
  for (const auto& [path, messages] : cases) {
    refused(sb, tally, {"register", "churn", path[0]}, 65, messages, 20);  // /dev/zero must not be read
  }
  refused(sb, tally, {"register", "churn", "model.bin", "--input", "data=linkdir/model/w.bin"}, 65,
          {"refusing 'linkdir/model/w.bin'", leaves});
}

}  // namespace

TEST_CASE("hostile input is refused with its exit code and nothing written, and values stay text", "[stress][hostile]") {
  const auto start = std::chrono::steady_clock::now();
  Tally tally;
  Sandbox sb;
  setup(sb, tally);
  names(sb, tally);
  versions(sb, tally);
  artifact_paths(sb, tally);
  sql_values(sb, tally);
  shell_values(sb, tally);
  yaml_values(sb, tally);
  long clean = 0;
  terminal_values(sb, tally, clean);
  long repeats = 0;
  stages(sb, tally, repeats);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  lm::stress::report({
      .id = "5-hostile",
      .suite = "Hostile input",
      .scale = std::to_string(hostile_names().size()) +
               " names × 5 commands, versions, artifact paths, SQL/shell/YAML/terminal values, stage skipping",
      .reached = std::to_string(tally.refused) + " hostile inputs refused with the expected code, nothing written; " +
                 std::to_string(tally.verbatim) + " values stored verbatim, none run; " + std::to_string(clean) +
                 " outputs free of raw terminal controls; " + std::to_string(repeats) + " repeated promotions recorded once",
      .failures = tally.failures,
      .details = {{"seconds", std::round(seconds * 10) / 10}, {"failed", tally.failed}},
  });
  CHECK(tally.refused > 0);
  CHECK(tally.failures == 0);
}
