#include "tests/stress/fault_harness.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <regex>
#include <sstream>

namespace lm::stress::faults {

namespace {

const std::map<std::string, std::string> k_actor = {{"LASTMILE_ACTOR", "ada"}};

lm::test::RunOptions plain_options() { return {.env = k_actor}; }

std::string slurp(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

ShimReport parse_report(const fs::path& path) {
  ShimReport report;
  std::ifstream f(path);
  if (!f) return report;
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream words(line);
    std::string key;
    words >> key;
    if (key == "injected") {
      report.injected = line.substr(key.size() + 1);
    } else if (key == "failed_calls") {
      words >> report.failed_calls;
    } else if (std::find(k_families.begin(), k_families.end(), key) != k_families.end()) {
      words >> report.calls[key];
      report.written = true;
    }
  }
  return report;
}

std::string column(sqlite3_stmt* stmt, int i) {
  const auto* text = sqlite3_column_text(stmt, i);
  return text ? reinterpret_cast<const char*>(text) : "";
}

// A payload without what differs between two runs of the same operation:
// the ids of the events it refers to (they hash the time) and how long a
// gate took.
std::string normalized(std::string payload, const std::map<std::string, std::string>& seq_of_id) {
  for (const auto& [id, seq] : seq_of_id) {
    for (auto at = payload.find(id); at != std::string::npos; at = payload.find(id, at)) {
      payload.replace(at, id.size(), seq);
    }
  }
  static const std::regex seconds("\"seconds\":[-+.0-9eE]+");
  return std::regex_replace(payload, seconds, "\"seconds\":_");
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// libgit2 and strerror capitalise ("Input/output error"); lastmile does not.
bool contains_nocase(std::string text, const std::string& part) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return contains(text, part);
}

bool stopped_out_of_memory(const RunResult& r) {
  return r.rc == 2 && first_line(r.err) == "lastmile: error: out of memory";
}

// Every file in `now` is as it was before the operation or as the
// operation leaves it, and nothing that was there before is gone. With
// `scratch_allowed`, files in tmp/ are let be: a process that stops at
// once (out of memory) leaves them, and the next write removes them.
void check_files_between(const RegistryState& now, const RegistryState& before,
                         const RegistryState& after, std::vector<std::string>& problems,
                         bool scratch_allowed = false) {
  for (const auto& [path, bytes] : now.files) {
    if (scratch_allowed && path.rfind("tmp/", 0) == 0) continue;
    const auto b = before.files.find(path);
    const auto a = after.files.find(path);
    const bool as_before = b != before.files.end() && b->second == bytes;
    const bool as_after = a != after.files.end() && a->second == bytes;
    if (!as_before && !as_after) {
      problems.push_back(".lastmile/" + path +
                         (b == before.files.end() && a == after.files.end()
                              ? " is left behind (a successful run never leaves it)"
                              : " holds bytes no successful run writes"));
    }
  }
  for (const auto& [path, bytes] : before.files) {
    if (!now.files.count(path)) problems.push_back(".lastmile/" + path + " is gone");
  }
}

// What a failed run must print: lastmile's error format, the system's
// reason, the subject, and nothing of the implementation.
// `git_object`: the fault hit an object file of the git repository, which
// libgit2 reports as a missing object, with errno lost; then exit 2 ("no
// better code") and libgit2's words are accepted.
void check_message(const Fault& fault, const RunResult& r, bool git_object,
                   std::vector<std::string>& problems) {
  const std::string line = first_line(r.err);
  if (line.rfind("lastmile: error: ", 0) != 0) {
    problems.push_back("stderr does not start with 'lastmile: error: '");
  }
  const auto words = errno_words(fault.error);
  if (!git_object &&
      std::none_of(words.begin(), words.end(), [&](const std::string& w) { return contains_nocase(r.err, w); })) {
    problems.push_back("the message does not say '" + words.front() + "'");
  }
  const bool out_of_memory = contains(line, "out of memory");
  if (!out_of_memory && !contains(line, "'")) {
    problems.push_back("the message names no file or subject");
  }
  for (const char* banned : {"internal error", "std::", "basic_", "what()", "terminate called", "bad_alloc"}) {
    if (contains(r.err, banned)) problems.push_back(std::string("stderr shows '") + banned + "'");
  }
}

void check_exit(const Fault& fault, const RunResult& r, bool git_object, std::vector<std::string>& problems) {
  if (r.rc == 0) return;
  if (r.rc >= 128) {
    problems.push_back("killed by signal " + std::to_string(r.rc - 128));
    return;
  }
  const auto allowed = allowed_exit_codes(fault.error);
  if (std::find(allowed.begin(), allowed.end(), r.rc) == allowed.end() && !(git_object && r.rc == 2)) {
    problems.push_back("exit status " + std::to_string(r.rc) + " does not fit " + fault.error);
  }
  check_message(fault, r, git_object, problems);
}

// The state a run left: all or nothing, and whole files only. Returns
// whether the log is as it was before.
bool check_state(const Sandbox& sb, const RunResult& r, const RegistryState& before,
                 const RegistryState& after, std::vector<std::string>& problems) {
  const RegistryState now = capture(sb);
  if (r.rc == 0 && now.events != after.events) {
    problems.push_back("succeeded, but the log differs from a run without faults");
  } else if (now.events != before.events && now.events != after.events) {
    problems.push_back("the log holds part of the operation (" + std::to_string(now.events.size()) +
                       " events; " + std::to_string(before.events.size()) + " before, " +
                       std::to_string(after.events.size()) + " after a clean run)");
  }
  check_files_between(now, before, after, problems, stopped_out_of_memory(r));
  return now.events == before.events;
}

void check_clean(const Sandbox& sb, std::vector<std::string>& problems) {
  const RunResult verify = sb.run({"verify", "--deep"}, plain_options());
  if (verify.rc != 0) {
    problems.push_back("verify --deep exits " + std::to_string(verify.rc) + ": " + first_line(verify.err));
  }
  const RunResult fsck = sb.run({"fsck"}, plain_options());
  if (fsck.rc != 0) problems.push_back("fsck exits " + std::to_string(fsck.rc) + ": " + first_line(fsck.err));
}

// Run again: it must succeed. When the failed run changed nothing, the
// rerun must leave what a clean run does; when it had committed (it failed
// after, e.g. writing its output), a second registration is a new version,
// so only the scratch files are compared.
void check_rerun(const Sandbox& sb, const Operation& op, const RegistryState& after, bool from_before,
                 std::vector<std::string>& problems) {
  const RunResult again = sb.run(op.args, plain_options());
  if (again.rc != 0) {
    problems.push_back("run again without the fault, it exits " + std::to_string(again.rc) + ": " +
                       first_line(again.err));
    return;
  }
  const RegistryState now = capture(sb);
  if (from_before && now.events != after.events) {
    problems.push_back("run again without the fault, the log differs from a run without faults");
  }
  std::vector<std::string> left;
  if (from_before) {
    check_files_between(now, after, after, left);
  } else {
    for (const auto& [path, bytes] : now.files) {
      if (path.rfind("tmp/", 0) == 0 && !after.files.count(path)) left.push_back(".lastmile/" + path + " is left behind");
    }
  }
  for (const auto& p : left) problems.push_back("run again without the fault: " + p);
}

}  // namespace

std::string Fault::spec() const {
  return family + ":" + std::to_string(n) + ":" + error + (persistent ? ":persistent" : "");
}

std::vector<int> allowed_exit_codes(const std::string& error) {
  if (error == "ENOMEM") return {2, 74};  // 2: no better code; 74 when SQLite calls it an I/O error
  if (error == "EACCES") return {77};
  return {74};
}

std::vector<std::string> errno_words(const std::string& error) {
  if (error == "ENOSPC") return {"no space left on device"};
  if (error == "ENOMEM") return {"out of memory", "cannot allocate memory"};
  if (error == "EACCES") return {"permission denied"};
  // SQLite keeps no errno for a failed write or sync: "disk I/O error".
  return {"input/output error", "disk i/o error"};
}

ShimRun run_under_shim(const Sandbox& sb, const Operation& op, const Fault* fault) {
  const fs::path report = sb.root() / "shim-report";
  fs::remove(report);
  lm::test::RunOptions opts = plain_options();
  opts.env["LD_PRELOAD"] = LASTMILE_FAULTSHIM;
  opts.env["LASTMILE_FAULT_REPORT"] = report.string();
  if (fault) opts.env["LASTMILE_FAULT"] = fault->spec();
  ShimRun run;
  run.result = sb.run(op.args, opts);
  run.shim = parse_report(report);
  return run;
}

RegistryState capture(const Sandbox& sb) {
  RegistryState state;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2((sb.registry() / "registry.db").c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) ==
      SQLITE_OK) {
    sqlite3_busy_timeout(db, 10000);
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db, "SELECT seq, id, kind, subject, actor, payload FROM events ORDER BY seq", -1,
                       &stmt, nullptr);
    std::map<std::string, std::string> seq_of_id;
    while (stmt && sqlite3_step(stmt) == SQLITE_ROW) {
      seq_of_id[column(stmt, 1)] = "event " + column(stmt, 0);
      state.events.push_back(column(stmt, 2) + " " + column(stmt, 3) + " " + column(stmt, 4) + " " +
                             normalized(column(stmt, 5), seq_of_id));
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(sb.registry(), ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string rel = it->path().lexically_relative(sb.registry()).string();
    if (it->is_directory() || rel.rfind("registry.db", 0) == 0) continue;
    state.files[rel] = slurp(it->path());
  }
  return state;
}

void restore(const Sandbox& sb, const fs::path& pristine) {
  fs::remove_all(sb.registry());
  fs::copy(pristine, sb.registry(), fs::copy_options::recursive);
}

Verdict run_and_judge(const Sandbox& sb, const fs::path& pristine, const Operation& op,
                      const Fault& fault, const RegistryState& before, const RegistryState& after) {
  restore(sb, pristine);
  const ShimRun run = run_under_shim(sb, op, &fault);
  Verdict v;
  v.rc = run.result.rc;
  // A process stopped out of memory may end before the shim's report is
  // written (another thread's allocation fails first); its message says
  // that the fault fired.
  const bool stopped = stopped_out_of_memory(run.result);
  v.reached = !run.shim.injected.empty() || stopped;
  v.injected = run.shim.injected;
  v.first_error_line = first_line(run.result.err);
  if (!run.shim.written && run.result.rc < 128 && !stopped) v.problems.push_back("ended before main returned");
  v.git_object = contains(run.shim.injected, "/.git/objects/");
  check_exit(fault, run.result, v.git_object, v.problems);
  const bool unchanged = check_state(sb, run.result, before, after, v.problems);
  check_clean(sb, v.problems);
  if (run.result.rc != 0) check_rerun(sb, op, after, unchanged, v.problems);
  for (auto& p : v.problems) {
    p = op.name + ", " + fault.spec() + " (" + (v.reached ? run.shim.injected : "not reached") +
        "), exit " + std::to_string(v.rc) + ": " + p + " | stderr: " + v.first_error_line;
  }
  return v;
}

}  // namespace lm::stress::faults
