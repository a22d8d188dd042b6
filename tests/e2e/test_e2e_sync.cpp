// Sharing a registry through git: clones of one bare remote push and pull
// the event log (refs/lastmile/log), race for stages, meet rewritten or
// unreachable remotes, and move artifact bytes through a file:// blob
// remote. Every clone is a real `git clone` running the real binary, each
// with an actor of its own.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <deque>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "tests/e2e/sandbox.hpp"

using lm::test::RunOptions;
using lm::test::RunResult;
using lm::test::Sandbox;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

std::string slurp(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void spit(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << content;
  f.close();
  REQUIRE(f.good());
}

// --- SQLite on a clone's registry (the sandbox's helpers read its own repo) ---

struct Db {
  sqlite3* db = nullptr;
  explicit Db(const fs::path& path) {
    REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
  }
  ~Db() { sqlite3_close(db); }

  void exec(const std::string& statement) {
    char* error = nullptr;
    const int rc = sqlite3_exec(db, statement.c_str(), nullptr, nullptr, &error);
    INFO("sql: " << statement << ": " << (error ? error : ""));
    sqlite3_free(error);
    REQUIRE(rc == SQLITE_OK);
  }

  // Every row of a query, each column as text.
  std::vector<std::vector<std::string>> rows(const std::string& query) {
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, query.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
    std::vector<std::vector<std::string>> out;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, i));
        row.emplace_back(text ? text : "");
      }
      out.push_back(std::move(row));
    }
    sqlite3_finalize(stmt);
    return out;
  }
};

// --- Networking: a free port, and a git daemon that always goes away --------

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool accepts_connections(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// `git daemon` serving the sandbox root on 127.0.0.1 (push enabled), in a
// process group of its own so that it and its connection handlers are
// stopped when the guard goes, whatever the test did.
class GitDaemon {
 public:
  explicit GitDaemon(const Sandbox& sb) : m_port(free_port()) {
    const std::string root = sb.root().string();
    std::vector<std::string> argv{"git",
                                  "daemon",
                                  "--reuseaddr",
                                  "--base-path=" + root,
                                  "--export-all",
                                  "--enable=receive-pack",
                                  "--listen=127.0.0.1",
                                  "--port=" + std::to_string(m_port),
                                  root};
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    std::vector<std::string> env_strings;
    for (const auto& [k, v] : sb.base_env()) env_strings.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    const std::string log = (sb.root() / "daemon.log").string();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    const int rc = posix_spawnp(&m_pid, "git", &actions, &attr, args.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    REQUIRE(rc == 0);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!accepts_connections(m_port) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    INFO("git daemon log: " << slurp(log));
    REQUIRE(accepts_connections(m_port));
  }
  ~GitDaemon() {
    if (m_pid <= 0) return;
    ::kill(-m_pid, SIGTERM);
    for (int i = 0; i < 250; ++i) {
      if (::waitpid(m_pid, nullptr, WNOHANG) == m_pid) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(-m_pid, SIGKILL);
    ::waitpid(m_pid, nullptr, 0);
  }
  GitDaemon(const GitDaemon&) = delete;
  GitDaemon& operator=(const GitDaemon&) = delete;

  std::string url(const std::string& repo) const {
    return "git://127.0.0.1:" + std::to_string(m_port) + "/" + repo;
  }

 private:
  int m_port = 0;
  pid_t m_pid = -1;
};

// --- A team: one bare remote, clones of it, each with its own actor ----------

class Member {
 public:
  Member(const Sandbox& sb, std::string actor, fs::path dir)
      : m_sb(&sb), m_actor(std::move(actor)), m_dir(std::move(dir)) {}

  const std::string& actor() const { return m_actor; }
  const fs::path& dir() const { return m_dir; }
  fs::path registry() const { return m_dir / ".lastmile"; }

  RunResult run(const std::vector<std::string>& args) const {
    return m_sb->run(args, {.env = {{"LASTMILE_ACTOR", m_actor}}, .cwd = m_dir});
  }
  // Runs and requires success.
  RunResult ok(const std::vector<std::string>& args) const {
    const RunResult r = run(args);
    INFO(m_actor << ": lastmile " << args.front() << "\nstdout: " << r.out << "\nstderr: " << r.err);
    REQUIRE(r.rc == 0);
    return r;
  }
  json json_of(std::vector<std::string> args) const {
    args.push_back("--json");
    return ok(args).json();
  }
  RunResult git(std::vector<std::string> args) const {
    args.insert(args.begin(), "git");
    return m_sb->exec(args, {.cwd = m_dir});
  }

  fs::path write(const fs::path& rel, const std::string& content) const {
    spit(m_dir / rel, content);
    return m_dir / rel;
  }

  long events() const {
    Db db(registry() / "registry.db");
    return std::stol(db.rows("SELECT count(*) FROM events").at(0).at(0));
  }
  void sql(const std::string& statement) const {
    Db db(registry() / "registry.db");
    db.exec(statement);
  }
  // The ids of the log, oldest first, as `history --json` gives them.
  std::vector<std::string> history_ids() const {
    std::vector<std::string> ids;
    const json history = json_of({"history"});
    for (const auto& e : history["events"]) ids.push_back(e["id"]);
    std::reverse(ids.begin(), ids.end());
    return ids;
  }
  // Every file under .lastmile/objects and .lastmile/tmp.
  std::vector<std::string> stored_files() const {
    std::vector<std::string> files;
    for (const char* sub : {"objects", "tmp"}) {
      std::error_code ec;
      for (auto it = fs::recursive_directory_iterator(registry() / sub, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (!it->is_directory()) files.push_back(it->path().lexically_relative(registry()).string());
      }
    }
    std::sort(files.begin(), files.end());
    return files;
  }

 private:
  const Sandbox* m_sb;
  std::string m_actor;
  fs::path m_dir;
};

class Team {
 public:
  Team() {
    // The project's bare remote, holding the sandbox repository's history.
    const RunResult r = sb.exec({"git", "clone", "-q", "--bare", sb.repo().string(), remote().string()});
    INFO(r.err);
    REQUIRE(r.rc == 0);
    url = remote().string();
  }

  fs::path remote() const { return sb.root() / "remote.git"; }

  // A `git clone` of `url` into ROOT/<actor>, with a registry of its own.
  Member& join(const std::string& actor) {
    const fs::path dir = sb.root() / actor;
    const RunResult r = sb.exec({"git", "clone", "-q", url, dir.string()}, {.cwd = sb.root()});
    INFO("git clone " << url << ": " << r.err);
    REQUIRE(r.rc == 0);
    Member& m = members.emplace_back(sb, actor, dir);
    m.ok({"init", "-q"});
    return m;
  }

  // git on the bare remote.
  RunResult remote_git(std::vector<std::string> args) const {
    args.insert(args.begin(), {"git", "--git-dir=" + remote().string()});
    return sb.exec(args);
  }

  Sandbox sb;
  std::string url;
  std::deque<Member> members;
};

std::string sha256_of(const Sandbox& sb, const std::string& data) {
  const RunResult r = sb.exec({"sha256sum"}, {.stdin_text = data});
  REQUIRE(r.rc == 0);
  return r.out.substr(0, 64);
}

// Where a blob remote directory (or the local store) keeps a file's bytes.
fs::path object_in(const fs::path& dir, const std::string& hex) {
  return dir / "objects" / "sha256" / hex.substr(0, 2) / hex.substr(2);
}

std::multiset<std::string> registrations(const json& history) {
  std::multiset<std::string> subjects;
  for (const auto& e : history["events"]) {
    if (e["kind"] == "version.registered") subjects.insert(e["subject"].get<std::string>());
  }
  return subjects;
}

// "kind subject actor" of every event: what an event is, whatever its seq.
std::multiset<std::string> meanings(const json& history) {
  std::multiset<std::string> out;
  for (const auto& e : history["events"]) {
    out.insert(e["kind"].get<std::string>() + " " + e["subject"].get<std::string>() + " " +
               e["actor"].get<std::string>());
  }
  return out;
}

// Whether a file holds exactly `bytes` (a bool, so a failure does not print them).
bool holds(const fs::path& path, const std::string& bytes) { return fs::exists(path) && slurp(path) == bytes; }

bool all_distinct(const std::vector<std::string>& ids) {
  return std::set<std::string>(ids.begin(), ids.end()).size() == ids.size();
}

}  // namespace

TEST_CASE("sync: a pushed registry pulled into another clone is the same registry", "[e2e][sync]") {
  Team team;
  Member& ann = team.join("ann");
  Member& ben = team.join("ben");
  ann.write("m.bin", "weights one");
  ann.ok({"register", "churn", "m.bin", "--version", "1.0.0", "--metric", "auc=0.91"});
  ann.write("m.bin", "weights two");
  ann.ok({"register", "churn", "m.bin", "--version", "1.1.0"});
  ann.ok({"promote", "churn@1.0.0", "--to", "staging"});
  const long events = ann.events();
  REQUIRE(events == 4);  // two registrations, a gate verdict and a move

  RunResult r = ann.run({"push"});
  INFO(r.err);
  REQUIRE(r.rc == 0);
  CHECK_THAT(r.out, Catch::StartsWith("pushed 4 events to origin (refs/lastmile/log ") &&
                        Catch::EndsWith(", head event 4)\n"));
  CHECK(r.err.empty());
  // Pushing again sends nothing.
  r = ann.run({"push"});
  CHECK(r.rc == 0);
  CHECK(r.out == "nothing to push: origin has all 4 events\n");

  r = ben.run({"pull"});
  INFO(r.err);
  REQUIRE(r.rc == 0);
  CHECK(r.out == "received 4 events from origin\n");
  CHECK(r.err.empty());
  CHECK(ben.events() == events);
  r = ben.run({"pull"});
  CHECK(r.rc == 0);
  CHECK(r.out == "up to date with origin\n");

  // The same registry on both sides.
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"status"}, {"history"}, {"list"}, {"show", "churn@1.0.0"}, {"status", "churn"}}) {
    INFO("lastmile " << args.front());
    CHECK(ann.json_of(args) == ben.json_of(args));
  }
  CHECK(ben.ok({"status"}).out == ann.ok({"status"}).out);
  const json status = ben.json_of({"status"});
  REQUIRE(status["models"].size() == 1);
  CHECK(status["models"][0]["stages"][1]["stage"] == "staging");
  CHECK(status["models"][0]["stages"][1]["version"] == "1.0.0");
  CHECK(status["models"][0]["stages"][1]["by"] == "ann");

  // Both chains verify, and match what the remote was last seen holding.
  const json ann_audit = ann.json_of({"audit", "verify"});
  const json ben_audit = ben.json_of({"audit", "verify"});
  CHECK(ann_audit["ok"] == true);
  CHECK(ann_audit["events"] == events);
  CHECK(ben_audit["head"] == ann_audit["head"]);
  REQUIRE(ben_audit["anchors"].size() == 1);
  CHECK(ben_audit["anchors"][0]["remote"] == "origin");
  CHECK(ben_audit["anchors"][0]["ok"] == true);
  CHECK(ben_audit["anchors"][0]["seq"] == events);
  CHECK(ben_audit["anchors"][0]["id"] == ann_audit["head"]);
  CHECK_THAT(ben.ok({"audit", "verify"}).out,
             Catch::Contains("matches what origin was last seen holding (event 4)"));

  // The tables are what the log says, also after a rebuild.
  CHECK(ben.ok({"fsck"}).out == "tables match the log\n");
  CHECK(ann.ok({"fsck"}).out == "tables match the log\n");
  const std::string before = ben.ok({"status"}).out;
  const json before_json = ben.json_of({"status"});
  // A table damaged behind lastmile's back is found, and rebuilt from the log.
  ben.sql("DELETE FROM stage_assignments WHERE stage = 'staging'");
  r = ben.run({"fsck"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.err, Catch::Contains("table rows differ from what the log says") &&
                        Catch::Contains("hint: 'lastmile fsck --rebuild' rebuilds the tables from the log"));
  CHECK(ben.ok({"fsck", "--rebuild"}).out == "rebuilt the tables from 4 events\n");
  CHECK(ben.ok({"status"}).out == before);
  CHECK(ben.json_of({"status"}) == before_json);
  CHECK(ben.json_of({"list"}) == ann.json_of({"list"}));
  CHECK(ben.ok({"fsck"}).out == "tables match the log\n");

  // The remote's log is plain git: readable without lastmile.
  r = team.remote_git({"show", "refs/lastmile/log:FORMAT"});
  CHECK(r.rc == 0);
  CHECK(r.out == "lastmile-log 1\n");
  r = team.remote_git({"log", "-1", "--format=%B", "refs/lastmile/log"});
  REQUIRE(r.rc == 0);
  CHECK_THAT(r.out, Catch::StartsWith("lastmile: events 1-4\n"));
  CHECK_THAT(r.out, Catch::Contains("\nLastmile-Seq: 4\n"));
  CHECK_THAT(r.out, Catch::Contains("\nLastmile-Head: " + ann_audit["head"].get<std::string>() + "\n"));
  r = team.remote_git({"log", "-1", "--format=%(trailers:key=Lastmile-Head,valueonly)", "refs/lastmile/log"});
  CHECK(trimmed(r.out) == ann_audit["head"].get<std::string>());
  r = team.remote_git({"log", "-1", "--format=%an", "refs/lastmile/log"});
  CHECK(trimmed(r.out) == "ann");
  // Each event is a file of canonical JSON carrying its id.
  const json history = ben.json_of({"history"});
  r = team.remote_git({"show", "refs/lastmile/log:events/000000/000000001.json"});
  REQUIRE(r.rc == 0);
  const json first = json::parse(r.out);
  CHECK(first["id"] == history["events"].back()["id"]);
  CHECK(first["kind"] == "version.registered");
  CHECK(team.remote_git({"cat-file", "-e", "refs/lastmile/log:events/000000/000000005.json"}).rc != 0);
  // The project's own branches are untouched.
  CHECK(trimmed(team.remote_git({"for-each-ref", "--format=%(refname)"}).out) ==
        "refs/heads/main\nrefs/lastmile/log");
}

TEST_CASE("sync: profiles, drift measurements and feedback travel with the log", "[e2e][sync][drift]") {
  Team team;
  Member& ada = team.join("ada");
  Member& bob = team.join("bob");
  std::string train = "age,city\n", shifted = "age,city\n";
  for (int i = 0; i < 400; ++i) {
    train += std::to_string(20 + i % 40) + "," + (i % 2 ? "paris" : "lyon") + "\n";
    shifted += std::to_string(50 + i % 40) + ",nice\n";
  }
  ada.write("train.csv", train);
  ada.ok({"dataset", "register", "customers", "train.csv", "-q"});
  ada.ok({"profile", "customers@0.1.0", "-q"});
  ada.write("model.bin", "weights");
  ada.ok({"register", "churn", "model.bin", "--input", "customers@0.1.0", "-q"});
  ada.write("today.csv", shifted);
  CHECK(ada.run({"drift", "churn@0.1.0", "--current", "today.csv", "--env", "production"}).rc == 1);
  ada.ok({"feedback", "churn@0.1.0", "--metric", "accuracy=0.8", "--time", "2026-12-01"});
  ada.ok({"push"});

  bob.ok({"pull"});
  CHECK(bob.history_ids() == ada.history_ids());
  CHECK(bob.ok({"fsck"}).out == "tables match the log\n");
  CHECK(bob.json_of({"report", "churn"}) == ada.json_of({"report", "churn"}));
  // The profile came through the log: bob measures drift without the
  // training data, which he never fetched.
  bob.write("today.csv", shifted);
  CHECK(bob.run({"drift", "churn@0.1.0", "--current", "today.csv"}).rc == 1);
  bob.ok({"push"});
  ada.ok({"pull"});
  CHECK(ada.history_ids() == bob.history_ids());
  ada.ok({"audit", "verify"});
}

TEST_CASE("sync: divergent clones both publish, and end with one log", "[e2e][sync]") {
  Team team;
  Member& ann = team.join("ann");
  Member& ben = team.join("ben");
  Member& cat = team.join("cat");
  // Offline, each does its own work.
  ann.write("a.bin", "alpha weights");
  ann.ok({"register", "alpha", "a.bin", "--version", "1.0.0"});
  ann.ok({"promote", "alpha@1.0.0", "--to", "staging"});
  ben.write("b.bin", "beta weights one");
  ben.ok({"register", "beta", "b.bin", "--version", "1.0.0"});
  ben.write("b.bin", "beta weights two");
  ben.ok({"register", "beta", "b.bin"});  // the next minor: 1.1.0
  cat.write("c.bin", "gamma weights");
  cat.ok({"register", "gamma", "c.bin", "--version", "2.0.0"});
  cat.ok({"approve", "gamma@2.0.0", "--stage", "staging", "--comment", "looks right"});
  const json ann_before = ann.json_of({"history"});
  const json ben_before = ben.json_of({"history"});
  const json cat_before = cat.json_of({"history"});
  const std::vector<std::string> ann_ids = ann.history_ids();
  REQUIRE(ann_ids.size() == 3);

  // ann first: nothing to receive.
  json doc = ann.json_of({"push"});
  CHECK(doc["sent"] == 3);
  CHECK(doc["received"] == 0);
  CHECK(doc["head"]["seq"] == 3);
  // ben's push receives ann's events, replays its own after them, pushes.
  RunResult r = ben.run({"push", "--json"});
  INFO(r.err);
  REQUIRE(r.rc == 0);
  doc = r.json();
  CHECK(doc["received"] == 3);
  CHECK(doc["replayed"] == 2);
  CHECK(doc["sent"] == 2);
  CHECK(doc["merged"] == json::array());
  CHECK(doc["refused"] == json::array());
  CHECK(doc["head"]["seq"] == 5);
  CHECK(doc["attempts"] == 1);
  // cat pulls first: the replay happens in the pull, the push only sends.
  r = cat.run({"pull"});
  REQUIRE(r.rc == 0);
  CHECK(r.out == "received 5 events from origin\nreplayed 2 local events after them\n");
  CHECK(r.err == "2 local events not yet on origin; 'lastmile push' publishes them\n");
  r = cat.run({"push"});
  REQUIRE(r.rc == 0);
  CHECK_THAT(r.out, Catch::StartsWith("pushed 2 events to origin (") && Catch::EndsWith("head event 7)\n"));
  // Everyone catches up.
  CHECK(ann.ok({"pull"}).out == "received 4 events from origin\n");
  CHECK(ben.ok({"pull"}).out == "received 2 events from origin\n");
  CHECK(cat.ok({"pull"}).out == "up to date with origin\n");

  const json history = ann.json_of({"history"});
  const std::vector<std::string> ids = ann.history_ids();
  CHECK(ids.size() == 7);
  CHECK(all_distinct(ids));
  for (const Member* m : {&ben, &cat}) {
    CHECK(m->history_ids() == ids);
    CHECK(m->json_of({"history"}) == history);
    CHECK(m->json_of({"status"}) == ann.json_of({"status"}));
    CHECK(m->events() == 7);
  }
  // Published first, ann's events kept their ids and places.
  CHECK(std::vector<std::string>(ids.begin(), ids.begin() + 3) == ann_ids);
  // Nothing lost, nothing twice.
  std::multiset<std::string> expected = meanings(ann_before);
  for (const json* h : {&ben_before, &cat_before}) {
    const auto m = meanings(*h);
    expected.insert(m.begin(), m.end());
  }
  CHECK(meanings(history) == expected);
  CHECK(registrations(history) ==
        std::multiset<std::string>{"alpha@1.0.0", "beta@1.0.0", "beta@1.1.0", "gamma@2.0.0"});
  for (const Member* m : {&ann, &ben, &cat}) {
    INFO(m->actor());
    const RunResult v = m->run({"audit", "verify"});
    CHECK(v.rc == 0);
    CHECK_THAT(v.out, Catch::StartsWith("audit chain ok: 7 events"));
    CHECK(m->ok({"fsck"}).out == "tables match the log\n");
  }
}

TEST_CASE("sync: a stage moved by another clone refuses the later promotion, and publishes the rest",
          "[e2e][sync]") {
  Team team;
  Member& ann = team.join("ann");
  Member& ben = team.join("ben");
  ann.write("m.bin", "weights one");
  ann.ok({"register", "churn", "m.bin", "--version", "1.0.0"});
  ann.write("m.bin", "weights two");
  ann.ok({"register", "churn", "m.bin", "--version", "1.1.0"});
  ann.ok({"push"});
  ben.ok({"pull"});

  // Both promote a different version to staging; ben also does other work.
  ann.ok({"promote", "churn@1.0.0", "--to", "staging"});
  ben.ok({"promote", "churn@1.1.0", "--to", "staging"});
  ben.write("f.bin", "fraud weights");
  ben.ok({"register", "fraud", "f.bin", "--version", "0.3.0"});
  ben.ok({"approve", "churn@1.1.0", "--stage", "production"});
  const long ben_events = ben.events();
  REQUIRE(ben_events == 6);  // 2 pulled, then a verdict, a move, a registration and an approval
  ann.ok({"push"});

  const RunResult r = ben.run({"push"});
  INFO(r.out << r.err);
  CHECK(r.rc == 1);
  CHECK_THAT(r.err, Catch::StartsWith("lastmile: warning: the promotion of churn@1.1.0 to staging was not "
                                      "published: staging moved to churn@1.0.0 (by ann at "));
  CHECK_THAT(r.err, Catch::Contains(") on the remote since\n  hint: promote again if you still want it: "
                                    "lastmile promote churn@1.1.0 --to staging\n"));
  CHECK_THAT(r.err, Catch::EndsWith("lastmile: error: 1 local event could not be published and was dropped here, "
                                    "as said above; the registry now matches 'origin'\n"));
  // Its other events went out: the gate verdict, the registration, the approval.
  CHECK_THAT(r.out, Catch::Contains("received 2 events from origin\nreplayed 3 local events after them\n"
                                    "pushed 3 events to origin ("));
  // ben now sees ann's promotion.
  json status = ben.json_of({"status", "churn"});
  CHECK(status["models"][0]["stages"][1]["stage"] == "staging");
  CHECK(status["models"][0]["stages"][1]["version"] == "1.0.0");
  CHECK(status["models"][0]["stages"][1]["by"] == "ann");
  CHECK(ben.events() == ben_events + 2 - 1);
  CHECK(ben.ok({"fsck"}).out == "tables match the log\n");
  CHECK(ben.run({"audit", "verify"}).rc == 0);

  // ann receives ben's registration and approval, not the promotion.
  CHECK(ann.ok({"pull"}).out == "received 3 events from origin\n");
  CHECK(ann.json_of({"history"}) == ben.json_of({"history"}));
  const json fraud = ann.json_of({"show", "fraud@0.3.0"});
  CHECK(fraud["registered_by"] == "ben");
  std::set<std::string> kinds_by_ben;
  const json merged_history = ann.json_of({"history"});
  for (const auto& e : merged_history["events"]) {
    if (e["actor"] == "ben") kinds_by_ben.insert(e["kind"].get<std::string>() + " " + e["subject"].get<std::string>());
  }
  CHECK(kinds_by_ben == std::set<std::string>{"gate.evaluated churn@1.1.0", "version.registered fraud@0.3.0",
                                               "approval.granted churn@1.1.0"});
  // Following the hint works.
  ben.ok({"promote", "churn@1.1.0", "--to", "staging"});
  CHECK(ben.ok({"push"}).rc == 0);
  CHECK(ann.ok({"pull"}).out == "received 2 events from origin\n");
  status = ann.json_of({"status", "churn"});
  CHECK(status["models"][0]["stages"][1]["version"] == "1.1.0");
  CHECK(status["models"][0]["stages"][1]["by"] == "ben");
}

TEST_CASE("sync: the same registration on two clones merges, the same version with other bytes is refused",
          "[e2e][sync]") {
  Team team;
  Member& ann = team.join("ann");
  Member& ben = team.join("ben");
  // The same file, registered as the same version on both sides.
  for (const Member* m : {&ann, &ben}) {
    m->write("shared.bin", "the same weights");
    m->ok({"register", "dup", "shared.bin", "--version", "1.0.0"});
  }
  ann.ok({"push"});
  RunResult r = ben.run({"push"});
  INFO(r.out << r.err);
  CHECK(r.rc == 0);
  CHECK(r.out == "received 1 event from origin\nnothing to push: origin has all 1 event\n");
  CHECK(r.err == "merged version.registered dup@1.0.0 sandbox: the remote has the same registration\n");
  CHECK(ben.history_ids() == ann.history_ids());
  CHECK(ben.json_of({"show", "dup@1.0.0"})["registered_by"] == "ann");
  CHECK(ben.run({"audit", "verify"}).rc == 0);

  // Same version, other bytes: refused, and ann's bytes win.
  ann.write("other.bin", "ann's weights");
  ann.ok({"register", "clash", "other.bin", "--version", "1.0.0"});
  ben.write("other.bin", "ben's weights");
  ben.ok({"register", "clash", "other.bin", "--version", "1.0.0"});
  const std::string ann_digest = ann.json_of({"show", "clash@1.0.0"})["digest"];
  const std::string ben_digest = ben.json_of({"show", "clash@1.0.0"})["digest"];
  REQUIRE(ann_digest != ben_digest);
  ann.ok({"push"});
  r = ben.run({"push", "--json"});
  CHECK(r.rc == 1);
  const json doc = r.json();
  REQUIRE(doc["refused"].size() == 1);
  CHECK(doc["refused"][0]["kind"] == "version.registered");
  CHECK(doc["refused"][0]["subject"] == "clash@1.0.0");
  CHECK_THAT(r.err, Catch::StartsWith("lastmile: warning: the remote has clash@1.0.0 with other content (" +
                                      ann_digest.substr(0, 19) + "…, registered by ann at "));
  CHECK_THAT(r.err, Catch::Contains("hint: register your files as another version: lastmile register clash PATH"));
  CHECK_THAT(r.err, Catch::EndsWith("lastmile: error: 1 local event could not be published and was dropped here, "
                                    "as said above; the registry now matches 'origin'\n"));
  CHECK(ben.json_of({"show", "clash@1.0.0"})["digest"] == ann_digest);
  ann.ok({"pull"});
  CHECK(ben.history_ids() == ann.history_ids());
  CHECK(ben.ok({"fsck"}).out == "tables match the log\n");
  // ben's bytes are still registrable, as a new version.
  r = ben.run({"register", "clash", "other.bin"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::StartsWith("registered clash@1.1.0  " + ben_digest));
}

TEST_CASE("sync: the same annotation on two clones merges, and removing a label the remote removed is refused",
          "[e2e][sync][annotate]") {
  Team team;
  Member& ann = team.join("ann");
  Member& ben = team.join("ben");
  ann.write("m.bin", "weights");
  ann.ok({"register", "tagged", "m.bin", "--label", "wip=yes", "--label", "team=growth"});
  ann.ok({"push"});
  ben.ok({"pull"});
  // Both mark the review as passed and drop the wip label.
  for (const Member* m : {&ann, &ben}) m->ok({"annotate", "tagged@0.1.0", "--label", "review=passed"});
  ann.ok({"annotate", "tagged@0.1.0", "--remove-label", "wip"});
  ben.ok({"annotate", "tagged@0.1.0", "--remove-label", "wip", "--owner", "ben"});
  ann.ok({"push"});
  RunResult r = ben.run({"push", "--json"});
  INFO(r.out << r.err);
  CHECK(r.rc == 1);
  const json doc = r.json();
  REQUIRE(doc["refused"].size() == 1);
  CHECK(doc["refused"][0]["kind"] == "version.annotated");
  REQUIRE(doc["merged"].size() == 1);
  CHECK(doc["merged"][0] == "version.annotated tagged@0.1.0: the remote has the same annotation");
  CHECK_THAT(r.err, Catch::Contains("removes label 'wip', which tagged@0.1.0 does not have"));
  ann.ok({"pull"});
  CHECK(ben.history_ids() == ann.history_ids());
  const json shown = ben.json_of({"show", "tagged@0.1.0"});
  CHECK(shown["labels"] == json({{"review", "passed"}, {"team", "growth"}}));
  CHECK(shown["owner"] == ann.json_of({"show", "tagged@0.1.0"})["owner"]);
  CHECK(ben.ok({"fsck"}).out == "tables match the log\n");
  CHECK(ben.run({"audit", "verify"}).rc == 0);
}

namespace {

// Four clones of one remote each register a model of their own and a
// version of 'race', promote it to staging, then all push at once.
//
// On a path, the loser of the compare-and-swap must see a lost race (0 or 1
// below), never an error: the objects go straight into the remote's object
// database and no temporary reference is ever listed by another pusher.
void four_clone_race(Team& team) {
  const std::vector<std::string> actors{"ann", "ben", "cat", "dan"};
  std::vector<Member*> clones;
  for (const auto& actor : actors) clones.push_back(&team.join(actor));
  std::map<std::string, std::string> version_of;
  long made = 0;
  for (std::size_t i = 0; i < clones.size(); ++i) {
    Member& c = *clones[i];
    const std::string version = "1." + std::to_string(i) + ".0";
    version_of[c.actor()] = version;
    c.write("own.bin", "own weights of " + c.actor());
    c.ok({"register", "own-" + c.actor(), "own.bin", "--version", "1.0.0", "-q"});
    c.write("race.bin", "race weights " + std::to_string(i));
    c.ok({"register", "race", "race.bin", "--version", version, "-q"});
    c.ok({"promote", "race@" + version, "--to", "staging", "-q"});
    REQUIRE(c.events() == 4);
    made += c.events();
  }

  // All at once: each thread waits for the same go.
  std::promise<void> go;
  std::shared_future<void> started = go.get_future().share();
  std::vector<std::future<RunResult>> pushes;
  for (Member* c : clones) {
    pushes.push_back(std::async(std::launch::async, [c, started] {
      started.wait();
      return c->run({"push"});
    }));
  }
  go.set_value();
  std::vector<RunResult> results;
  for (auto& p : pushes) results.push_back(p.get());

  std::vector<std::string> winners;
  for (std::size_t i = 0; i < clones.size(); ++i) {
    INFO(clones[i]->actor() << ": rc " << results[i].rc << "\nstdout: " << results[i].out
                            << "stderr: " << results[i].err);
    CHECK((results[i].rc == 0 || results[i].rc == 1));
    if (results[i].rc == 0) {
      winners.push_back(clones[i]->actor());
      CHECK(results[i].err.empty());
      CHECK_THAT(results[i].out, Catch::Contains("pushed 4 events to origin ("));
    }
  }
  REQUIRE(winners.size() == 1);
  const std::string winner = winners.front();
  const std::string held = version_of[winner];
  for (std::size_t i = 0; i < clones.size(); ++i) {
    const std::string actor = clones[i]->actor();
    if (actor == winner) continue;
    INFO(actor << ": stdout: " << results[i].out << "stderr: " << results[i].err);
    const std::string mine = "race@" + version_of[actor];
    // Told so, with who moved the stage and how to try again.
    CHECK_THAT(results[i].err,
               Catch::StartsWith("lastmile: warning: the promotion of " + mine +
                                 " to staging was not published: staging moved to race@" + held + " (by " +
                                 winner + " at "));
    CHECK_THAT(results[i].err, Catch::Contains("hint: promote again if you still want it: lastmile promote " +
                                               mine + " --to staging\n"));
    CHECK_THAT(results[i].err, Catch::EndsWith("lastmile: error: 1 local event could not be published and was "
                                               "dropped here, as said above; the registry now matches 'origin'\n"));
    // Its registrations and verdict went out all the same.
    CHECK_THAT(results[i].out, Catch::Contains("pushed 3 events to origin ("));
  }

  for (Member* c : clones) c->ok({"pull"});
  const long accepted = made - 3;  // the three refused promotions
  const json history = clones[0]->json_of({"history"});
  const std::vector<std::string> ids = clones[0]->history_ids();
  CHECK(static_cast<long>(ids.size()) == accepted);
  CHECK(all_distinct(ids));
  std::multiset<std::string> expected_registrations;
  for (const auto& [actor, version] : version_of) {
    expected_registrations.insert("own-" + actor + "@1.0.0");
    expected_registrations.insert("race@" + version);
  }
  CHECK(registrations(history) == expected_registrations);
  long moves = 0;
  long verdicts = 0;
  for (const auto& e : history["events"]) {
    if (e["kind"] == "stage.assigned") {
      ++moves;
      CHECK(e["actor"] == winner);
    }
    if (e["kind"] == "gate.evaluated") ++verdicts;
  }
  CHECK(moves == 1);
  CHECK(verdicts == 4);
  const json status = clones[0]->json_of({"status", "race"});
  CHECK(status["models"][0]["stages"][1]["version"] == held);
  for (Member* c : clones) {
    INFO(c->actor());
    CHECK(c->events() == accepted);
    CHECK(c->history_ids() == ids);
    CHECK(c->json_of({"status"}) == clones[0]->json_of({"status"}));
    const json audit = c->json_of({"audit", "verify"});
    CHECK(audit["ok"] == true);
    CHECK(audit["anchors"][0]["ok"] == true);
    CHECK(c->ok({"fsck"}).out == "tables match the log\n");
  }
  const RunResult tip = team.remote_git({"log", "-1", "--format=%B", "refs/lastmile/log"});
  CHECK_THAT(tip.out, Catch::Contains("Lastmile-Seq: " + std::to_string(accepted) + "\n"));
}

}  // namespace

TEST_CASE("sync: four clones pushing at once to a bare repository lose nothing", "[e2e][sync][race]") {
  Team team;
  four_clone_race(team);
}

TEST_CASE("sync: four clones pushing at once through git daemon lose nothing", "[e2e][sync][race]") {
  Team team;
  GitDaemon daemon(team.sb);
  team.url = daemon.url("remote.git");
  four_clone_race(team);
  // The clones did talk to the daemon.
  CHECK(trimmed(team.members.front().git({"remote", "get-url", "origin"}).out) == team.url);
}

TEST_CASE("sync: an unreachable remote changes nothing and exits 69", "[e2e][sync]") {
  Team team;
  Member& ann = team.join("ann");
  ann.write("m.bin", "weights");
  ann.ok({"register", "churn", "m.bin", "--version", "1.0.0"});
  ann.ok({"push"});
  ann.write("m.bin", "weights two");
  ann.ok({"register", "churn", "m.bin", "--version", "1.1.0"});  // not yet published
  const fs::path missing = team.sb.root() / "no-such-remote.git";
  ann.ok({"remote", "add", "gone", missing.string()});
  const int closed_port = free_port();  // bound and released: nobody listens there
  const std::string closed = "git://127.0.0.1:" + std::to_string(closed_port) + "/remote.git";
  ann.ok({"remote", "add", "down", closed});

  const long events = ann.events();
  const json history = ann.json_of({"history"});
  const json status = ann.json_of({"status"});
  const json list = ann.json_of({"list"});
  for (const auto& [name, url] : std::vector<std::pair<std::string, std::string>>{{"gone", missing.string()},
                                                                                  {"down", closed}}) {
    for (const char* verb : {"push", "pull"}) {
      INFO(verb << " " << name);
      const RunResult r = ann.run({verb, name});
      CHECK(r.rc == 69);
      CHECK(r.out.empty());
      CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: cannot reach the log remote '" + name + "' (" + url +
                                          ") while connecting: "));
      CHECK_THAT(r.err, Catch::Contains("hint: check the URL with 'lastmile remote list'"));
      CHECK(ann.events() == events);
      CHECK(ann.json_of({"history"}) == history);
      CHECK(ann.json_of({"status"}) == status);
      CHECK(ann.json_of({"list"}) == list);
    }
  }
  CHECK(!fs::exists(missing));
  // A blob remote that is not there: nothing uploaded, no log published.
  const std::string tip = trimmed(team.remote_git({"rev-parse", "refs/lastmile/log"}).out);
  const fs::path unmounted = team.sb.root() / "not-mounted";
  ann.ok({"remote", "add", "nas", "file://" + unmounted.string()});
  RunResult blob = ann.run({"push"});
  CHECK(blob.rc == 69);
  CHECK_THAT(blob.err, Catch::StartsWith("lastmile: error: cannot reach the blob remote 'nas' (file://" +
                                         unmounted.string() + "): "));
  CHECK_THAT(blob.err, Catch::Contains("hint: mount the shared directory, or create it: mkdir -p " +
                                       unmounted.string()));
  CHECK(ann.events() == events);
  CHECK(ann.json_of({"history"}) == history);
  CHECK(trimmed(team.remote_git({"rev-parse", "refs/lastmile/log"}).out) == tip);
  CHECK(!fs::exists(unmounted));
  ann.ok({"remote", "remove", "nas"});
  // A blob remote that works and a log remote that does not: the bytes wait
  // for the log remote, so no upload is recorded in a log that cannot go out.
  const fs::path shared = team.sb.root() / "shared-bytes";
  fs::create_directories(shared);
  ann.ok({"remote", "add", "nas", "file://" + shared.string()});
  for (const std::string name : {"down", "gone"}) {
    INFO("push " << name << " with a blob remote");
    const RunResult r = ann.run({"push", name});
    CHECK(r.rc == 69);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: cannot reach the log remote '" + name + "'"));
    CHECK(ann.events() == events);
    CHECK(ann.json_of({"history"}) == history);
    CHECK(fs::is_empty(shared));
  }
  ann.ok({"remote", "remove", "nas"});
  // The reachable remote still has one event; the second is still to publish.
  const RunResult r = ann.run({"pull"});
  CHECK(r.rc == 0);
  CHECK(r.err == "1 local event not yet on origin; 'lastmile push' publishes them\n");
  CHECK(ann.ok({"push"}).out.find("pushed 1 event to origin") == 0);
}

TEST_CASE("sync: a remote log that was reset or rewritten is refused and changes nothing", "[e2e][sync]") {
  Team team;
  Member& ann = team.join("ann");
  Member& ben = team.join("ben");
  Member& cat = team.join("cat");
  ann.write("m.bin", "weights one");
  ann.ok({"register", "churn", "m.bin", "--version", "1.0.0"});
  ann.ok({"push"});
  const std::string first_commit = trimmed(team.remote_git({"rev-parse", "refs/lastmile/log"}).out);
  ann.write("m.bin", "weights two");
  ann.ok({"register", "churn", "m.bin", "--version", "1.1.0"});
  ann.ok({"promote", "churn@1.1.0", "--to", "staging"});
  ann.ok({"push"});
  ben.ok({"pull"});
  ben.write("b.bin", "ben's model");
  ben.ok({"register", "beta", "b.bin", "--version", "1.0.0"});  // unpublished

  const auto unchanged = [&, events = ben.events(), history = ben.json_of({"history"}),
                          status = ben.json_of({"status"})] {
    CHECK(ben.events() == events);
    CHECK(ben.json_of({"history"}) == history);
    CHECK(ben.json_of({"status"}) == status);
    CHECK(ben.ok({"fsck"}).out == "tables match the log\n");
    // The audit anchor (what origin last held, outside the database) only
    // moves to a log that was applied: a refused pull leaves it at event 4.
    const RunResult audit = ben.run({"audit", "verify", "--json"});
    INFO(audit.out << audit.err);
    CHECK(audit.rc == 0);
    const json doc = audit.json();
    CHECK(doc["ok"] == true);
    CHECK(doc["anchors"].size() == 1);
    if (doc["anchors"].size() != 1) return;
    CHECK(doc["anchors"][0]["seq"] == 4);
    CHECK(doc["anchors"][0]["ok"] == true);
  };
  const auto refused = [&](const RunResult& r, const std::string& why) {
    INFO(r.out << r.err);
    CHECK(r.rc == 1);
    CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: the log remote 'origin' no longer extends this "
                                        "registry's log: " + why));
    CHECK_THAT(r.err, Catch::Contains("; nothing was changed here\n"));
    CHECK_THAT(r.err, Catch::Contains("Inspect it with: git fetch " + team.url +
                                      " refs/lastmile/log && git log --stat FETCH_HEAD"));
  };

  // Reset to an older commit.
  REQUIRE(team.remote_git({"update-ref", "refs/lastmile/log", first_commit}).rc == 0);
  refused(ben.run({"pull"}), "it holds 1 events where it held 4 (event 1)");
  unchanged();
  refused(ben.run({"push"}), "it holds 1 events where it held 4 (event 1)");
  unchanged();
  CHECK(trimmed(team.remote_git({"rev-parse", "refs/lastmile/log"}).out) == first_commit);
  // ann, who published it, is refused too.
  refused(ann.run({"pull"}), "it holds 1 events where it held 4 (event 1)");

  // Deleted.
  REQUIRE(team.remote_git({"update-ref", "-d", "refs/lastmile/log"}).rc == 0);
  refused(ben.run({"pull"}), "it holds 0 events where it held 4 (event 0)");
  unchanged();

  // Replaced by another registry's log, at least as long as this one's.
  const fs::path other = team.sb.root() / "other.git";
  REQUIRE(team.sb.exec({"git", "init", "-q", "--bare", other.string()}).rc == 0);
  for (int i = 1; i <= 5; ++i) {
    cat.write("c.bin", "cat's weights " + std::to_string(i));
    cat.ok({"register", "churn", "c.bin", "--version", std::to_string(i) + ".0.0", "-q"});
  }
  cat.ok({"remote", "add", "other", other.string()});
  cat.ok({"push", "other"});
  REQUIRE(team.remote_git({"fetch", "-q", other.string(), "+refs/lastmile/log:refs/lastmile/log"}).rc == 0);
  CHECK(team.remote_git({"show", "refs/lastmile/log:FORMAT"}).out == "lastmile-log 1\n");
  refused(ben.run({"pull"}), "the event it held there has changed (event 4)");
  unchanged();
  refused(ben.run({"push"}), "the event it held there has changed (event 4)");
  unchanged();
  // ben's own log is intact (see the bug noted in unchanged()).
  const RunResult audit = ben.run({"audit", "verify"});
  CHECK(audit.rc == 0);
}

TEST_CASE("sync: a remote ref that is no lastmile log, or holds an edited event, is refused (65)", "[e2e][sync]") {
  Team team;
  Member& ann = team.join("ann");
  Member& dan = team.join("dan");
  ann.write("m.bin", "weights");
  ann.ok({"register", "churn", "m.bin", "--version", "1.0.0"});
  ann.ok({"promote", "churn@1.0.0", "--to", "staging"});
  ann.ok({"push"});
  const std::string good = trimmed(team.remote_git({"rev-parse", "refs/lastmile/log"}).out);

  // An event edited on the remote with plain git, its id left as it was:
  // a new commit on top, so the log still looks like it moved forward.
  const fs::path index = team.sb.root() / "forge.index";
  const RunOptions with_index{.env = {{"GIT_INDEX_FILE", index.string()}}};
  const auto remote_git = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"git", "--git-dir=" + team.remote().string()});
    const RunResult r = team.sb.exec(args, with_index);
    INFO("git " << args[2] << ": " << r.err);
    REQUIRE(r.rc == 0);
    return trimmed(r.out);
  };
  const std::string path = "events/000000/000000003.json";
  std::string event = remote_git({"show", "refs/lastmile/log:" + path});
  const auto at = event.find("\"actor\":\"ann\"");
  REQUIRE(at != std::string::npos);
  event.replace(at, 13, "\"actor\":\"eve\"");
  const fs::path forged_file = team.sb.root() / "forged.json";
  spit(forged_file, event + "\n");
  const std::string blob = remote_git({"hash-object", "-w", forged_file.string()});
  remote_git({"read-tree", "refs/lastmile/log"});
  remote_git({"update-index", "--cacheinfo", "100644," + blob + "," + path});
  const std::string tree = remote_git({"write-tree"});
  const std::string message = remote_git({"log", "-1", "--format=%B", "refs/lastmile/log"});
  const std::string forged = remote_git({"commit-tree", tree, "-p", "refs/lastmile/log", "-m", message});
  remote_git({"update-ref", "refs/lastmile/log", forged});

  RunResult r = dan.run({"pull"});
  CHECK(r.rc == 65);
  CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: the log remote 'origin': " + path +
                                      ": its content does not match its id "));
  CHECK(dan.events() == 0);
  // The refused pull left dan's anchor alone: dan's own audit still passes.
  CHECK(dan.run({"audit", "verify"}).rc == 0);

  // A reference that is not a lastmile log at all: the project's branch.
  REQUIRE(team.remote_git({"update-ref", "refs/lastmile/log", "refs/heads/main"}).rc == 0);
  for (const Member* m : {&ann, &dan}) {
    INFO(m->actor());
    const long events = m->events();
    r = m->run({"pull"});
    CHECK(r.rc == 65);
    CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: the log remote 'origin' has a refs/lastmile/log that is "
                                        "not a lastmile log (commit ") &&
                          Catch::Contains("its FORMAT file is missing or names another format"));
    CHECK_THAT(r.err, Catch::Contains("hint: inspect it with: git fetch " + team.url +
                                      " refs/lastmile/log && git log -p FETCH_HEAD"));
    CHECK(m->events() == events);
    r = m->run({"push"});
    CHECK(r.rc == 65);
    CHECK(m->events() == events);
  }
  // Put back, all is well.
  REQUIRE(team.remote_git({"update-ref", "refs/lastmile/log", good}).rc == 0);
  CHECK(dan.ok({"pull"}).out == "received 3 events from origin\n");
  CHECK(dan.history_ids() == ann.history_ids());
}

TEST_CASE("sync: credentials in a remote URL never appear in output", "[e2e][sync]") {
  Team team;
  GitDaemon daemon(team.sb);
  Member& ann = team.join("ann");
  const std::string url = daemon.url("remote.git");
  const std::string with_secret = "git://ann:s3cret@" + url.substr(6);
  ann.ok({"remote", "add", "tok", with_secret});
  const auto no_secret = [](const RunResult& r) {
    INFO(r.out << r.err);
    CHECK(r.out.find("s3cret") == std::string::npos);
    CHECK(r.err.find("s3cret") == std::string::npos);
  };
  RunResult r = ann.run({"remote", "list"});
  no_secret(r);
  CHECK_THAT(r.out, Catch::Contains("tok     log"));
  ann.write("m.bin", "weights");
  ann.ok({"register", "churn", "m.bin", "--version", "1.0.0"});
  r = ann.run({"push", "tok", "--json"});
  CHECK(r.rc == 0);
  no_secret(r);
  CHECK(r.json()["url"] == url);
  const std::string first = trimmed(team.remote_git({"rev-parse", "refs/lastmile/log"}).out);
  ann.write("m.bin", "weights two");
  ann.ok({"register", "churn", "m.bin", "--version", "1.1.0"});
  r = ann.run({"push", "tok"});
  CHECK(r.rc == 0);
  no_secret(r);

  // Unreachable: the message names the remote by its URL without them.
  const int closed = free_port();
  ann.ok({"remote", "add", "down", "git://ann:s3cret@127.0.0.1:" + std::to_string(closed) + "/remote.git"});
  r = ann.run({"push", "down"});
  CHECK(r.rc == 69);
  no_secret(r);
  CHECK_THAT(r.err, Catch::Contains("(git://127.0.0.1:" + std::to_string(closed) + "/remote.git)"));

  // The inspection hints name the URL without its credentials.
  REQUIRE(team.remote_git({"update-ref", "refs/lastmile/log", first}).rc == 0);
  r = ann.run({"pull", "tok"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.err, Catch::Contains("no longer extends this registry's log"));
  no_secret(r);
  CHECK_THAT(r.err, Catch::Contains("git fetch " + url + " refs/lastmile/log"));
  REQUIRE(team.remote_git({"update-ref", "refs/lastmile/log", "refs/heads/main"}).rc == 0);
  r = ann.run({"pull", "tok"});
  CHECK(r.rc == 65);
  no_secret(r);
}

TEST_CASE("sync: a local log edited after publishing fails audit verify, ids recomputed or not", "[e2e][sync]") {
  Team team;
  Member& ann = team.join("ann");
  ann.write("m.bin", "weights");
  ann.ok({"register", "churn", "m.bin", "--version", "1.0.0"});
  ann.ok({"promote", "churn@1.0.0", "--to", "staging"});
  ann.ok({"push"});
  REQUIRE(ann.run({"audit", "verify"}).rc == 0);

  // Edited in place: the chain breaks at the event.
  ann.sql("UPDATE events SET actor = 'mallory' WHERE seq = 3");
  RunResult r = ann.run({"audit", "verify"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: the audit chain is broken at event 3: "));
  ann.sql("UPDATE events SET actor = 'ann' WHERE seq = 3");
  REQUIRE(ann.run({"audit", "verify"}).rc == 0);

  // Edited with every id recomputed (the registration now by mallory, so
  // every id after it changes): the chain holds, the published anchor
  // does not.
  {
    Db db(ann.registry() / "registry.db");
    const auto rows = db.rows("SELECT seq, prev, time, actor, kind, subject, payload FROM events ORDER BY seq");
    REQUIRE(rows.size() == 3);
    std::string prev = rows[0][1];
    for (const auto& row : rows) {
      const std::string actor = row[0] == "1" ? "mallory" : row[3];
      const std::string body = "{\"actor\":" + json(actor).dump() + ",\"kind\":" + json(row[4]).dump() +
                               ",\"payload\":" + row[6] + ",\"prev\":" + json(prev).dump() + ",\"seq\":" + row[0] +
                               ",\"subject\":" + json(row[5]).dump() + ",\"time\":" + json(row[2]).dump() + "}";
      const std::string id = sha256_of(team.sb, prev + body);
      db.exec("UPDATE events SET actor = '" + actor + "', prev = '" + prev + "', id = '" + id +
              "' WHERE seq = " + row[0]);
      prev = id;
    }
  }
  r = ann.run({"audit", "verify", "--json"});
  CHECK(r.rc == 1);
  const json doc = r.json();
  CHECK(doc["ok"] == true);  // the recomputed chain is consistent in itself
  REQUIRE(doc["anchors"].size() == 1);
  CHECK(doc["anchors"][0]["ok"] == false);
  CHECK(doc["anchors"][0]["seq"] == 3);
  r = ann.run({"audit", "verify"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.out, Catch::StartsWith("audit chain ok: 3 events"));
  CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: the log was rewritten after it was published: event 3 is "
                                      "not the one published to 'origin' (commit "));
  CHECK_THAT(r.err, Catch::Contains("hint: the remote still has the published log"));
  // The history now says mallory, the remote still says ann.
  CHECK(ann.json_of({"history"})["events"].back()["actor"] == "mallory");
  CHECK_THAT(team.remote_git({"show", "refs/lastmile/log:events/000000/000000001.json"}).out,
             Catch::Contains("\"actor\":\"ann\""));
}

TEST_CASE("sync: remote add, remove, push and pull refuse bad input with the documented codes", "[e2e][sync]") {
  Team team;
  Member& ann = team.join("ann");
  const fs::path dir = team.sb.root() / "blobs";
  fs::create_directories(dir);

  RunResult r = ann.run({"remote", "add", "Shared", "file://" + dir.string()});
  CHECK(r.rc == 64);
  CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: invalid remote name 'Shared'"));
  r = ann.run({"remote", "add", "-bad", "file://" + dir.string()});
  CHECK(r.rc != 0);
  r = ann.run({"remote", "add", "x/y", "file://" + dir.string()});
  CHECK(r.rc == 64);

  r = ann.run({"remote", "add", "shared", "file://" + dir.string()});
  CHECK(r.rc == 0);
  CHECK(r.out == "added remote shared (bytes (directory)): file://" + dir.string() + "\n");
  r = ann.run({"remote", "add", "shared", "file://" + dir.string()});
  CHECK(r.rc == 1);
  CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: remote 'shared' already exists"));

  r = ann.run({"remote", "add", "rel", "file://relative/dir"});
  CHECK(r.rc == 64);
  CHECK_THAT(r.err, Catch::Contains("a file URL names an absolute path") &&
                        Catch::Contains("hint: write file:///srv/models (three slashes)"));
  // A git repository named by a file:// URL: the hint says how to share the log through it.
  for (const fs::path& repo : {team.remote(), ann.dir()}) {
    INFO(repo);
    r = ann.run({"remote", "add", "repo", "file://" + repo.string()});
    CHECK(r.rc == 64);
    CHECK_THAT(r.err, Catch::Contains("is a git repository, and a file:// remote holds artifact bytes") &&
                          Catch::Contains("hint: to share the log through it, give its path: lastmile remote "
                                          "add NAME " + repo.string()));
  }
  r = ann.run({"remote", "add", "--insecure", "plain", team.remote().string()});
  CHECK(r.rc == 64);
  CHECK_THAT(r.err, Catch::Contains("--insecure applies to oci:// remotes only"));
  r = ann.run({"remote", "add", "--insecure", "dir", "file://" + dir.string()});
  CHECK(r.rc == 64);
  // OCI: only the URL's shape is checked here.
  r = ann.run({"remote", "add", "hub", "oci://registry.example.com"});
  CHECK(r.rc == 64);
  CHECK_THAT(r.err, Catch::Contains("oci://HOST[:PORT]/REPOSITORY"));
  r = ann.run({"remote", "add", "hub", "oci:///models"});
  CHECK(r.rc == 64);

  r = ann.run({"remote", "remove", "nope"});
  CHECK(r.rc == 66);
  CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: no remote 'nope'") &&
                        Catch::Contains("remotes configured: 'shared'"));
  // git's origin is listed, but it is git's to remove, and stays.
  r = ann.run({"remote", "remove", "origin"});
  CHECK(r.rc == 1);
  CHECK(r.out.empty());
  CHECK(r.err ==
        "lastmile: error: 'origin' is the git repository's own remote, which lastmile uses for the log when none "
        "of its remotes is called origin; lastmile has no remote of that name to remove\n"
        "hint: to share the log elsewhere, 'lastmile remote add origin URL'; to stop, 'git remote remove origin'\n");

  // What stayed configured: shared, and git's origin.
  const json remotes = ann.json_of({"remote", "list"})["remotes"];
  REQUIRE(remotes.size() == 2);
  CHECK(remotes[0]["name"] == "shared");
  CHECK(remotes[0]["kind"] == "directory");
  CHECK(remotes[1]["name"] == "origin");
  CHECK(remotes[1]["git_origin"] == true);
  CHECK(remotes[1]["url"] == team.url);

  // A blob remote carries no log.
  r = ann.run({"pull", "shared"});
  CHECK(r.rc == 64);
  CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: remote 'shared' (file://" + dir.string() +
                                      ") holds artifact bytes, not the log"));
  // Pushing to it alone uploads bytes and publishes no log.
  ann.write("m.bin", "weights");
  ann.ok({"register", "churn", "m.bin", "--version", "1.0.0"});
  r = ann.run({"push", "shared"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::StartsWith("pushed churn@1.0.0 to shared: file://" + dir.string()));
  CHECK(team.remote_git({"rev-parse", "--verify", "-q", "refs/lastmile/log"}).rc != 0);
  r = ann.run({"push", "nope"});
  CHECK(r.rc == 66);

  // Without any remote, in a repository with no origin.
  REQUIRE(team.sb.run({"init", "-q"}).rc == 0);
  for (const char* verb : {"push", "pull"}) {
    r = team.sb.run({verb});
    INFO(verb);
    CHECK(r.rc == 78);
    CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: no remote to share the log through") &&
                          Catch::Contains("hint: add one: lastmile remote add origin URL"));
  }
  CHECK(team.sb.event_count() == 0);
}

TEST_CASE("sync: artifact bytes travel through a file:// blob remote, checked on arrival", "[e2e][sync]") {
  Team team;
  Member& ann = team.join("ann");
  Member& ben = team.join("ben");
  Member& cat = team.join("cat");
  const fs::path dir = team.sb.root() / "blobs";
  fs::create_directories(dir);
  const std::string blob_url = "file://" + dir.string();

  const std::string weights(200000, 'w');
  ann.write("model.bin", weights + "tail");
  ann.write("bundle/config.json", "{\"layers\": 3}\n");
  ann.write("bundle/weights/w.bin", std::string(5000, 'b'));
  fs::create_symlink("weights/w.bin", ann.dir() / "bundle/current");
  ann.ok({"register", "clf", "model.bin", "--version", "1.0.0"});
  ann.ok({"register", "bundle", "bundle", "--version", "1.0.0"});
  ann.ok({"remote", "add", "shared", blob_url});
  const long before_push = ann.events();

  RunResult r = ann.run({"push"});
  REQUIRE(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("pushed clf@1.0.0 to shared: " + blob_url + "  (") &&
                        Catch::Contains("pushed bundle@1.0.0 to shared: " + blob_url + "  (") &&
                        Catch::Contains(" sent, 0 of 2 files there already)"));
  CHECK_THAT(r.out, Catch::Contains("pushed 4 events to origin ("));
  // The objects are there, read-only, where the layout says.
  std::map<std::string, std::string> content_of;  // sha256 → bytes
  for (const auto& [ref, root] : std::vector<std::pair<std::string, fs::path>>{{"clf@1.0.0", ann.dir()},
                                                                               {"bundle@1.0.0", ann.dir() / "bundle"}}) {
    const json shown = ann.json_of({"show", ref});
    for (const auto& e : shown["manifest"]) {
      if (e.contains("link")) continue;
      const std::string hex = e["sha256"];
      const std::string bytes = slurp(root / e["path"].get<std::string>());
      content_of[hex] = bytes;
      const fs::path object = object_in(dir, hex);
      INFO(object);
      REQUIRE(fs::exists(object));
      CHECK(holds(object, bytes));
      CHECK((fs::status(object).permissions() & fs::perms::owner_write) == fs::perms::none);
    }
  }
  CHECK(content_of.size() == 3);
  // The log says where the bytes went.
  CHECK(ann.events() == before_push + 2);
  std::set<std::string> pushed;
  const json history = ann.json_of({"history"});
  for (const auto& e : history["events"]) {
    if (e["kind"] != "artifact.pushed") continue;
    pushed.insert(e["subject"].get<std::string>());
    CHECK(e["payload"]["location"] == blob_url);
    CHECK(e["payload"]["remote"] == blob_url);
  }
  CHECK(pushed == std::set<std::string>{"clf@1.0.0", "bundle@1.0.0"});
  CHECK_THAT(ann.ok({"history", "clf"}).out, Catch::Contains("artifact.pushed") && Catch::Contains("to " + blob_url));
  // Pushing again uploads nothing.
  const json again = ann.json_of({"push"});
  CHECK(again["sent"] == 0);
  REQUIRE(again["blobs"].size() == 1);
  CHECK(again["blobs"][0]["remote"] == "shared");
  CHECK(again["blobs"][0]["versions"] == json::array());
  r = ann.run({"push"});
  CHECK(r.out == "nothing to upload to shared: it has every version whose bytes are here\nnothing to push: origin has all 4 events\n");

  // ben pulls the log and fetches the bytes through the same remote.
  ben.ok({"pull"});
  ben.ok({"remote", "add", "shared", blob_url});
  r = ben.run({"checkout", "bundle@1.0.0", "--to", "out"});
  INFO(r.err);
  REQUIRE(r.rc == 0);
  CHECK_THAT(r.out, Catch::StartsWith("checked out bundle@1.0.0 into out"));
  CHECK(slurp(ben.dir() / "out/config.json") == "{\"layers\": 3}\n");
  CHECK(holds(ben.dir() / "out/weights/w.bin", std::string(5000, 'b')));
  CHECK(fs::is_symlink(ben.dir() / "out/current"));
  CHECK(fs::read_symlink(ben.dir() / "out/current") == "weights/w.bin");

  // A blob altered on the remote is refused, naming its digest and the remote.
  const std::string clf_hex = ann.json_of({"show", "clf@1.0.0"})["manifest"][0]["sha256"];
  const fs::path clf_object = object_in(dir, clf_hex);
  fs::permissions(clf_object, fs::perms::owner_write, fs::perm_options::add);
  spit(clf_object, weights + "TAIL");  // same size, other bytes
  const auto ben_store = ben.stored_files();
  r = ben.run({"checkout", "clf@1.0.0", "--to", "out-clf"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.err, Catch::Contains("sha256:" + clf_hex) && Catch::Contains("'shared'") &&
                        Catch::Contains("do not match its digest"));
  CHECK(!fs::exists(ben.dir() / "out-clf"));
  CHECK(ben.stored_files() == ben_store);
  CHECK(!fs::exists(object_in(ben.registry(), clf_hex)));
  for (const auto& entry : fs::directory_iterator(ben.dir())) {
    CHECK(entry.path().filename().string().find("out-clf") == std::string::npos);
  }
  CHECK_THAT(r.err, Catch::Contains("hint: the copy there is damaged or was replaced; from a machine that has "
                                    "the version, 'lastmile push --repair' puts it back"));
  // A plain push trusts what the log records: the damaged copy stays.
  CHECK_THAT(ann.ok({"push"}).out, Catch::Contains("nothing to upload to shared"));
  CHECK(!holds(clf_object, weights + "tail"));
  // Following the hint: ann, who has the bytes, rehashes the remote's
  // copies and replaces the damaged one, without a new event.
  const long before_repair = ann.events();
  r = ann.run({"push", "--repair"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("repaired 1 file on shared"));
  CHECK(ann.events() == before_repair);
  r = ben.run({"checkout", "clf@1.0.0", "--to", "out-clf-repaired"});
  CHECK(r.rc == 0);
  CHECK(holds(clf_object, weights + "tail"));
  // Put right by hand, it checks out byte for byte.
  fs::permissions(clf_object, fs::perms::owner_write, fs::perm_options::add);
  spit(clf_object, weights + "tail");
  r = ben.run({"checkout", "clf@1.0.0", "--to", "out-clf"});
  CHECK(r.rc == 0);
  CHECK(holds(ben.dir() / "out-clf/model.bin", weights + "tail"));
  CHECK(fs::exists(object_in(ben.registry(), clf_hex)));

  // A clone without the remote configured finds the bytes where the log
  // says they were pushed.
  cat.ok({"pull"});
  CHECK(cat.json_of({"remote", "list"})["remotes"].size() == 1);  // git's origin only
  r = cat.run({"checkout", "bundle@1.0.0", "--to", "out"});
  INFO(r.err);
  CHECK(r.rc == 0);
  CHECK(holds(cat.dir() / "out/weights/w.bin", std::string(5000, 'b')));
  CHECK(fs::read_symlink(cat.dir() / "out/current") == "weights/w.bin");
  // The recorded locations are tables like any other: rebuilt from the log.
  CHECK(cat.ok({"fsck"}).out == "tables match the log\n");
  CHECK(cat.ok({"fsck", "--rebuild"}).out == "rebuilt the tables from " + std::to_string(cat.events()) + " events\n");
  CHECK(cat.ok({"checkout", "bundle@1.0.0", "--to", "out-again"}).rc == 0);

  // Bytes that are nowhere: exit 66 with a hint.
  fs::remove(clf_object);
  r = cat.run({"checkout", "clf@1.0.0", "--to", "out-clf"});
  CHECK(r.rc == 66);
  CHECK_THAT(r.err, Catch::Contains("(sha256:" + clf_hex + ") are not on this machine") &&
                        Catch::Contains("hint: from the machine that registered clf@1.0.0, 'lastmile push' "
                                        "uploads them ('lastmile push --repair' when the log says they were "
                                        "pushed already)"));
  CHECK(!fs::exists(cat.dir() / "out-clf"));
  // Following that hint: ann puts them back.
  ann.ok({"push", "--repair"});
  CHECK(fs::exists(clf_object));
  r = cat.run({"checkout", "clf@1.0.0", "--to", "out-clf"});
  CHECK(r.rc == 0);
  if (r.rc == 0) fs::remove_all(cat.dir() / "out-clf");
  // A version never pushed to any blob remote.
  ann.ok({"remote", "remove", "shared"});
  ann.write("lonely.bin", "only on ann's disk");
  ann.ok({"register", "lonely", "lonely.bin", "--version", "1.0.0"});
  ann.ok({"push"});
  cat.ok({"pull"});
  r = cat.run({"checkout", "lonely@1.0.0", "--to", "out-lonely"});
  CHECK(r.rc == 66);
  CHECK_THAT(r.err, Catch::Contains("the bytes of 'lonely.bin' of lonely@1.0.0 (sha256:") &&
                        Catch::Contains("are not on this machine") &&
                        Catch::Contains("hint: add the blob remote they were pushed to: lastmile remote add NAME"));
  CHECK(!fs::exists(cat.dir() / "out-lonely"));
}
