#pragma once
// The values part of the hostile-input suite (stress_hostile.cpp): text
// that tries to break out of SQL, a shell or a YAML manifest is accepted as
// a description, owner, label, parameter or reason, comes back byte for
// byte and never runs; and promotions that skip a stage or repeat.

#include <string>
#include <vector>

#include "tests/stress/hostile_support.hpp"

namespace lm::hostile {

// Stored verbatim and read back from show and the log; the tables are all
// still there afterwards.
inline void sql_values(const Sandbox& sb, Tally& tally) {
  const std::vector<std::string> values = {
      "x'); DROP TABLE models;--",         "'; DELETE FROM events; --",
      "\" OR 1=1; --",                     "Robert'); DROP TABLE versions;--\n",
      "%' OR name LIKE '%",                "'); SELECT load_extension('/tmp/x'); --",
  };
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::string& v = values[i];
    const std::string name = "sql-" + std::to_string(i), file = name + ".bin";
    put_file(sb.repo() / file, "sql weights " + std::to_string(i));
    ok(sb, tally, {"register", name, file, "--version", "1.0.0", "--description", v, "--owner", v, "--label",
                   "note=" + v, "--param", "p=" + v, "-q"});
    const Json j = json_of(sb.run({"show", name + "@1.0.0", "--json"}));
    if (!tally.expect(j.is_object(), "show " + name + " --json")) continue;
    verbatim(tally, j["description"], v, name + " description");
    verbatim(tally, j["owner"], v, name + " owner");
    verbatim(tally, j["labels"]["note"], v, name + " label");
    verbatim(tally, j["params"]["p"], v, name + " param");
  }
  // Reasons, kept in the log.
  put_file(sb.repo() / "sql-0b.bin", "sql weights 0b");
  ok(sb, tally, {"register", "sql-0", "sql-0b.bin", "--version", "1.1.0", "-q"});
  ok(sb, tally, {"promote", "sql-0@1.0.0", "--to", "staging", "--reason", values[1], "-q"});
  ok(sb, tally, {"promote", "sql-0@1.1.0", "--to", "staging", "--reason", values[2], "-q"});
  ok(sb, tally, {"rollback", "sql-0", "--stage", "staging", "--reason", values[3], "-q"});
  const Json history = json_of(sb.run({"history", "sql-0", "--json"}));
  std::vector<std::string> reasons;
  for (const auto& e : history.value("events", Json::array())) {
    if (e["payload"].contains("reason")) reasons.insert(reasons.begin(), e["payload"]["reason"].get<std::string>());
  }
  tally.expect(reasons.size() == 3, "history of sql-0 has " + std::to_string(reasons.size()) + " reasons");
  for (std::size_t i = 0; i < reasons.size() && i < 3; ++i) verbatim(tally, reasons[i], values[i + 1], "reason");
  const RunResult verify = sb.run({"verify", "-q"});
  tally.expect(verify.rc == 0, "verify after the SQL values: " + verify.err);
  const RunResult fsck = sb.run({"fsck"});
  tally.expect(fsck.rc == 0 && fsck.out == "tables match the log\n", "fsck after the SQL values: " + fsck.err);
  const Json list = json_of(sb.run({"list", "--json"}));
  tally.expect(list.is_object() && list["models"].size() == 1 + values.size(), "list after the SQL values: " + list.dump());
}

// Shell syntax in an owner, description and label reaches a command
// gate's environment, the manifests, a deployment record and a git hook as
// text; nothing named PWNED is ever created.
inline void shell_values(const Sandbox& sb, Tally& tally) {
  const std::string mark = (sb.root() / "PWNED").string();
  const std::string owner = "$(touch " + mark + "-owner) `touch " + mark + "-tick` ; touch PWNED-semi";
  const std::string description = "$(touch PWNED-desc) && touch PWNED-and | touch PWNED-pipe\n`touch PWNED-nl`";
  const std::string label = "${IFS}$(touch PWNED-label)";
  put_file(sb.repo() / "shell.bin", "shell weights");
  ok(sb, tally, {"register", "churn", "shell.bin", "--version", "1.1.0", "--metric", "auc=0.91", "--owner", owner,
                 "--description", description, "--label", "note=" + label, "-q"});
  ok(sb, tally, {"promote", "churn@1.1.0", "--to", "staging", "-q"});  // runs the command gate
  const Json env = Json::parse(sb.read(sb.root() / "home/gate-env.json"), nullptr, false);
  if (tally.expect(env.is_object(), "the command gate wrote no environment")) {
    verbatim(tally, env.value("LASTMILE_OWNER", Json()), owner, "LASTMILE_OWNER");
    tally.expect(env.value("LASTMILE_REF", "") == "churn@1.1.0", "LASTMILE_REF: " + env.dump());
    tally.expect(Json::parse(env.value("LASTMILE_METRICS", "null"), nullptr, false) == Json{{"auc", 0.91}},
                 "LASTMILE_METRICS: " + env.dump());
  }
  ok(sb, tally, {"deploy", "render", "churn@1.1.0", "-t", "kubernetes", "-t", "compose", "-t", "systemd", "--out",
                 "deploy-shell", "-q"});
  ok(sb, tally, {"deploy", "record", "churn@staging", "--env", "staging-eu", "--manifest", "deploy-shell/kubernetes.yaml",
                 "-q"});
  ok(sb, tally, {"hooks", "install", "-q"});
  const RunResult add = sb.exec({"git", "add", "-A"});
  const RunResult commit = sb.exec({"git", "commit", "-q", "-m", "$(touch PWNED-commit) " + description});
  tally.expect(add.rc == 0 && commit.rc == 0, "git commit through the hooks: " + add.err + commit.err);
  const Json show = json_of(sb.run({"show", "churn@1.1.0", "--json"}));
  verbatim(tally, show.value("description", Json()), description, "description");
  verbatim(tally, show.value("labels", Json::object()).value("note", Json()), label, "label");
  const auto pwned = paths_containing(sb.root(), "PWNED");
  tally.expect(pwned.empty(), "a command ran: " + (pwned.empty() ? std::string() : pwned.front()));
}

const char* const k_load_all = R"py(
import json, sys, yaml
print(json.dumps([list(yaml.safe_load_all(open(p, encoding="utf-8"))) for p in sys.argv[1:]], default=str))
)py";

// Each value as description, owner and (through a --set pattern) the
// image of a Kubernetes manifest: an independent YAML parser reads the same
// two documents, and the value byte for byte.
inline void yaml_values(const Sandbox& sb, Tally& tally) {
  const std::vector<std::string> values = {
      "line one\n---\nkind: Secret\nmetadata: {name: stolen}",
      "key: value",
      "# not a comment",
      "{{deploy.image}} {{{name}}} {{#x}}",
      "$(touch PWNED-yaml) `id`",
      "\"double\" 'single' \\back\\slash\\n",
      "- item\n- item2",
      "&anchor *alias !!python/object/apply:os.system ['id']",
      "...\n%YAML 1.2\n---",
      "  leading and trailing  ",
      "tab\there\r\nCRLF",
      "true",
      "null",
      "0x1F",
      "~",
      "[1, 2]",
      "emoji \xf0\x9f\x9a\x80, bidi \xe2\x80\xae, zero width \xe2\x80\x8b",
      "escape \x1b[2J and bell \x07",
  };
  const std::string prefix = "registry.example.com/serve:";
  std::vector<std::string> files;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::string dir = "yaml-" + std::to_string(i);
    ok(sb, tally, {"annotate", "churn@1.0.0", "--description", values[i], "--owner", values[i], "--label",
                   "note=" + values[i], "-q"});
    ok(sb, tally, {"deploy", "render", "churn@1.0.0", "-t", "kubernetes", "--set", "image=" + prefix + "{{labels.note}}",
                   "--out", dir, "-q"});
    files.push_back((sb.repo() / dir / "kubernetes.yaml").string());
  }
  std::vector<std::string> argv{lm::test::python_with_yaml(sb), "-c", k_load_all};
  argv.insert(argv.end(), files.begin(), files.end());
  const RunResult parsed = sb.exec(argv);
  const Json all = json_of(parsed);
  if (!tally.expect(all.is_array() && all.size() == values.size(), "yaml.safe_load_all: " + parsed.err)) return;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const Json& docs = all[i];
    const std::string what = "value " + Json(values[i]).dump();
    const bool two = docs.size() == 2 && docs[0].value("kind", "") == "Deployment" && docs[1].value("kind", "") == "Service";
    if (!tally.expect(two, what + " gives other documents: " + docs.dump())) {
      continue;
    }
    const Json annotations = docs[0]["metadata"].value("annotations", Json::object());
    verbatim(tally, annotations.value("lastmile.dev/description", Json()), values[i], what + " as description");
    verbatim(tally, annotations.value("lastmile.dev/owner", Json()), values[i], what + " as owner");
    verbatim(tally, docs[0]["spec"]["template"]["spec"]["containers"][0].value("image", Json()), prefix + values[i],
             what + " in the image");
  }
  tally.expect(paths_containing(sb.root(), "PWNED").empty(), "a YAML value ran a command");
}

// Terminal control sequences in every text a user can give (clear screen,
// set the window title, bell, carriage return, a C1 CSI) never reach the
// terminal raw: each command that echoes or shows them prints escapes.
inline void terminal_values(const Sandbox& sb, Tally& tally, long& clean) {
  const std::string e = "\x1b[2J\x1b]0;pwned\x07\r\xc2\x9b" "31m\nnext line";
  const auto raw = [](const std::string& text) {
    for (const std::string seq : {"\x1b", "\x07", "\r", "\xc2\x9b"}) {
      if (text.find(seq) != std::string::npos) return true;
    }
    return false;
  };
  const auto shown = [&](const std::vector<std::string>& args) {
    const RunResult r = sb.run(args);
    tally.expect(r.rc == 0, args_text(args) + ": exit " + std::to_string(r.rc) + " " + r.err);
    if (tally.expect(!raw(r.out) && !raw(r.err), "terminal control printed raw by " + args_text(args) + ": " +
                                                     Json(r.out + r.err).dump())) {
      ++clean;
    }
  };
  put_file(sb.repo() / "term-1.bin", "term 1");
  put_file(sb.repo() / "term-2.bin", "term 2");
  shown({"register", "term", "term-1.bin", "--version", "1.0.0", "--description", e, "--owner", e, "--label", "k=" + e,
         "--param", "p=" + e});
  shown({"register", "term", "term-2.bin", "--version", "1.1.0"});
  shown({"promote", "term@1.0.0", "--to", "staging", "--reason", e});
  shown({"promote", "term@1.1.0", "--to", "staging"});
  shown({"rollback", "term", "--stage", "staging", "--reason", e});
  shown({"annotate", "term@1.1.0", "--owner", e, "--label", "k=" + e, "--description", e});
  for (const std::vector<std::string>& read : std::vector<std::vector<std::string>>{
           {"show", "term@1.0.0"}, {"show", "term@1.1.0"}, {"history", "term"}, {"audit", "term"}, {"status"},
           {"list", "term"}, {"diff", "term@1.0.0", "term@1.1.0"}, {"lineage", "term@1.0.0"},
           {"gate", "term@1.1.0", "--stage", "staging"}, {"verify"}}) {
    shown(read);
  }
}

// A stage cannot be skipped, an unknown one is not found, and promoting a
// version where it already is changes nothing and records nothing.
inline void stages(const Sandbox& sb, Tally& tally, long& repeats) {
  refused(sb, tally, {"promote", "churn@1.0.0", "--to", "production"}, 1,
          {"cannot promote 'churn@1.0.0' to 'production'",
           "the path to 'production' is sandbox → staging → production"});
  refused(sb, tally, {"promote", "churn@1.0.0", "--to", "nosuch"}, 66, {"no stage 'nosuch' in lastmile.yaml"});
  refused(sb, tally, {"promote", "churn@1.0.0", "--to", "Production"}, 64, {"invalid stage name 'Production'"});
  refused(sb, tally, {"rollback", "churn", "--stage", "staging"}, 64, {"--reason is required"});
  const long events = sb.event_count();
  const auto stored = sb.stored_files();
  const RunResult dry = sb.run({"promote", "churn@1.0.0", "--to", "staging", "--dry-run"});
  tally.expect(dry.rc == 0 && sb.event_count() == events && sb.stored_files() == stored,
               "promote --dry-run changed something: " + dry.err);
  ok(sb, tally, {"promote", "churn@1.0.0", "--to", "staging", "-q"});
  const long promoted = sb.event_count();
  const auto assignments = [&] {
    long n = 0;
    const Json audit = json_of(sb.run({"audit", "churn", "--json"}));
    for (const auto& e : audit.value("events", Json::array())) {
      n += e["kind"] == "stage.assigned" && e["subject"] == "churn@1.0.0" && e["payload"].value("stage", "") == "staging";
    }
    return n;
  };
  tally.expect(assignments() == 1, "churn@1.0.0 assigned to staging " + std::to_string(assignments()) + " times");
  for (int again = 0; again < 3; ++again) {
    const RunResult r = sb.run({"promote", "churn@1.0.0", "--to", "staging"});
    if (tally.expect(r.rc == 0 && r.out.find("nothing to do") != std::string::npos && sb.event_count() == promoted &&
                         assignments() == 1,
                     "promoting again: exit " + std::to_string(r.rc) + " " + r.out + r.err)) {
      ++repeats;
    }
  }
}

}  // namespace lm::hostile
