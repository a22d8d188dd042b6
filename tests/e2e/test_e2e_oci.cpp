// Sharing artifact bytes through an OCI registry: clones of one bare git
// remote push versions to a real registry (Debian's docker-registry on
// 127.0.0.1), which skopeo reads back as an independent client; fresh
// clones check the bytes out from there, with or without the remote
// configured; a damaged blob, credentials and an unreachable registry
// end with the documented exit statuses.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "tests/e2e/sandbox.hpp"
#include "tests/support/test_servers.hpp"

using lm::test::OciRegistryServer;
using lm::test::RunOptions;
using lm::test::RunResult;
using lm::test::Sandbox;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

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

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

// Whether a file holds exactly `bytes` (a bool, so a failure does not print them).
bool holds(const fs::path& path, const std::string& bytes) {
  return fs::is_regular_file(fs::symlink_status(path)) && slurp(path) == bytes;
}

bool owner_executable(const fs::path& path) {
  return (fs::status(path).permissions() & fs::perms::owner_exec) != fs::perms::none;
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// --- A team: one bare git remote, clones of it, each with its own actor ----

class Member {
 public:
  Member(const Sandbox& sb, std::string actor, fs::path dir)
      : m_sb(&sb), m_actor(std::move(actor)), m_dir(std::move(dir)) {}

  const fs::path& dir() const { return m_dir; }
  fs::path registry() const { return m_dir / ".lastmile"; }

  RunResult run(const std::vector<std::string>& args, std::map<std::string, std::string> env = {}) const {
    env["LASTMILE_ACTOR"] = m_actor;
    return m_sb->run(args, {.env = env, .cwd = m_dir});
  }
  // Runs and requires success.
  RunResult ok(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {}) const {
    const RunResult r = run(args, env);
    INFO(m_actor << ": lastmile " << args.front() << "\nstdout: " << r.out << "\nstderr: " << r.err);
    REQUIRE(r.rc == 0);
    return r;
  }
  json json_of(std::vector<std::string> args) const {
    args.push_back("--json");
    return ok(args).json();
  }
  fs::path write(const fs::path& rel, const std::string& content) const {
    spit(m_dir / rel, content);
    return m_dir / rel;
  }

  long events() const {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open_v2((registry() / "registry.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr) ==
            SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, "SELECT count(*) FROM events", -1, &stmt, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
    const long n = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return n;
  }
  // The events of `kind` in the log, as `history --json` gives them.
  std::vector<json> events_of(const std::string& kind) const {
    std::vector<json> out;
    const json history = json_of({"history"});
    for (const auto& e : history["events"]) {
      if (e["kind"] == kind) out.push_back(e);
    }
    return out;
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
  // Where the local store keeps the bytes of sha256 `hex`.
  fs::path object(const std::string& hex) const {
    return registry() / "objects" / "sha256" / hex.substr(0, 2) / hex.substr(2);
  }
  // The names in the clone's directory (to find leftovers of a checkout).
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(m_dir)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  const Sandbox* m_sb;
  std::string m_actor;
  fs::path m_dir;
};

class Team {
 public:
  Team() {
    const RunResult r = sb.exec({"git", "clone", "-q", "--bare", sb.repo().string(), remote().string()});
    INFO(r.err);
    REQUIRE(r.rc == 0);
  }

  fs::path remote() const { return sb.root() / "remote.git"; }

  // A `git clone` of the bare remote into ROOT/<actor>, then `lastmile init`.
  Member& join(const std::string& actor) {
    const fs::path dir = sb.root() / actor;
    const RunResult r = sb.exec({"git", "clone", "-q", remote().string(), dir.string()}, {.cwd = sb.root()});
    INFO("git clone: " << r.err);
    REQUIRE(r.rc == 0);
    Member& m = members.emplace_back(sb, actor, dir);
    m.ok({"init", "-q"});
    return m;
  }

  // The commit the bare remote's refs/lastmile/log names, or "" when it has none.
  std::string published_log() const {
    const RunResult r =
        sb.exec({"git", "--git-dir=" + remote().string(), "rev-parse", "--verify", "-q", "refs/lastmile/log"});
    return r.rc == 0 ? trimmed(r.out) : std::string();
  }

  Sandbox sb;
  std::deque<Member> members;
};

std::string sha256_of(const Sandbox& sb, const std::string& data) {
  const RunResult r = sb.exec({"sha256sum"}, {.stdin_text = data});
  REQUIRE(r.rc == 0);
  return r.out.substr(0, 64);
}

// --- The registry, seen from outside lastmile ---------------------------

// The digests of the blobs the registry stores (every repository's).
std::set<std::string> registry_blobs(const OciRegistryServer& server) {
  std::set<std::string> digests;
  const fs::path root = server.storage() / "docker/registry/v2/blobs/sha256";
  std::error_code ec;
  for (const auto& prefix : fs::directory_iterator(root, ec)) {
    for (const auto& blob : fs::directory_iterator(prefix.path())) {
      digests.insert("sha256:" + blob.path().filename().string());
    }
  }
  return digests;
}

// The registry's access log, once it stopped growing: a request is logged
// after it was answered, so its line may come a moment after the client is done.
std::string settled_log(const OciRegistryServer& server) {
  std::string log = server.log();
  for (int i = 0; i < 100; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    std::string again = server.log();
    if (again == log) break;
    log = std::move(again);
  }
  return log;
}

// The requests in the registry's access log that write something.
long writes_logged(const OciRegistryServer& server) {
  std::istringstream log(settled_log(server));
  long n = 0;
  for (std::string line; std::getline(log, line);) {
    for (const char* method : {"\"PUT ", "\"POST ", "\"PATCH ", "\"DELETE "}) {
      if (line.find(method) != std::string::npos) ++n;
    }
  }
  return n;
}

// `skopeo inspect --raw` of a reference in the registry: the manifest's bytes.
RunResult skopeo_raw(const Sandbox& sb, const std::string& reference, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv{"skopeo", "inspect", "--raw", "--tls-verify=false"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back("docker://" + reference);
  return sb.exec(argv);
}

// "oci://HOST/team/NAME@sha256:<64 hex>", split into its manifest digest.
std::string manifest_digest_of(const std::string& location, const std::string& host, const std::string& name) {
  const std::regex form("oci://" + std::regex_replace(host, std::regex("\\."), "\\.") + "/team/" + name +
                        "@(sha256:[0-9a-f]{64})");
  std::smatch m;
  INFO("location: " << location);
  REQUIRE(std::regex_match(location, m, form));
  return m[1];
}

// An annotation that holds JSON: OCI annotation values are strings.
json annotation_json(const json& value) {
  REQUIRE(value.is_string());
  return json::parse(value.get<std::string>());
}

// The project `ann` shares: a one-file model, a directory model with an
// executable, an empty file, a file twice (one blob, two layers) and a
// symlink, and a version with build metadata.
struct Project {
  std::string weights = std::string(300000, 'w') + "tail";
  std::string script = "#!/bin/sh\necho serving\n";
  std::string config = "{\"layers\": 3}\n";
  std::string shard = std::string(7000, 's');
  std::string nightly = "nightly weights\n";

  void create(const Member& ann) const {
    ann.write("clf/model.bin", weights);
    ann.write("bundle/config.json", config);
    ann.write("bundle/run.sh", script);
    fs::permissions(ann.dir() / "bundle/run.sh", fs::perms::owner_exec | fs::perms::group_exec |
                                                     fs::perms::others_exec,
                    fs::perm_options::add);
    ann.write("bundle/weights/w.bin", shard);
    ann.write("bundle/__init__.py", "");  // an empty layer
    ann.write("bundle/weights/copy.bin", shard);
    fs::create_symlink("weights/w.bin", ann.dir() / "bundle/current");
    ann.write("nightly.bin", nightly);
    ann.ok({"register", "clf", "clf/model.bin", "--version", "1.0.0"});
    ann.ok({"register", "bundle", "bundle", "--version", "1.0.0"});
    ann.ok({"register", "nightly", "nightly.bin", "--version", "1.0.0+build.7"});
  }
};

std::string oci_url(const OciRegistryServer& server) { return "oci://" + server.host() + "/team"; }

// ann's project registered, `models` added and pushed; returns the
// locations push --json reported, by ref.
std::map<std::string, std::string> share(Team& team, Member& ann, const OciRegistryServer& server) {
  Project{}.create(ann);
  ann.ok({"remote", "add", "models", oci_url(server), "--insecure"});
  const json pushed = ann.json_of({"push"});
  std::map<std::string, std::string> locations;
  REQUIRE(pushed["blobs"].size() == 1);
  for (const auto& v : pushed["blobs"][0]["versions"]) locations[v["ref"]] = v["location"];
  REQUIRE(locations.size() == 3);
  REQUIRE(!team.published_log().empty());
  return locations;
}

}  // namespace

TEST_CASE("oci: push stores each version as a ModelPack artifact that skopeo reads back, once", "[e2e][oci]") {
  OciRegistryServer server({.access_log = true});
  Team team;
  Member& ann = team.join("ann");
  const Project project;
  project.create(ann);
  const std::string url = oci_url(server);

  RunResult r = ann.run({"remote", "add", "models", url, "--insecure"});
  INFO(r.err);
  REQUIRE(r.rc == 0);
  CHECK(r.err.empty());
  CHECK(r.out == "added remote models (bytes (OCI registry, plain http)): " + url + "\n");
  const json remotes = ann.json_of({"remote", "list"});
  bool listed = false;
  for (const auto& remote : remotes["remotes"]) {
    if (remote["name"] != "models") continue;
    listed = true;
    CHECK(remote["kind"] == "oci");
    CHECK(remote["url"] == url);
    CHECK(remote["insecure"] == true);
  }
  CHECK(listed);
  CHECK(registry_blobs(server).empty());
  const long before = ann.events();

  r = ann.run({"push", "--json"});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.rc == 0);
  CHECK(r.err.empty());
  const json pushed = r.json();
  REQUIRE(pushed["blobs"].size() == 1);
  CHECK(pushed["blobs"][0]["remote"] == "models");
  CHECK(pushed["blobs"][0]["without_bytes"] == 0);
  std::map<std::string, json> by_ref;
  for (const auto& v : pushed["blobs"][0]["versions"]) by_ref[v["ref"]] = v;
  REQUIRE(by_ref.size() == 3);
  REQUIRE(by_ref.count("clf@1.0.0") == 1);
  REQUIRE(by_ref.count("bundle@1.0.0") == 1);
  REQUIRE(by_ref.count("nightly@1.0.0+build.7") == 1);
  // Five files, four blobs: the two identical files are one blob, sent once.
  CHECK(by_ref["bundle@1.0.0"]["files_sent"] == 4);
  CHECK(by_ref["bundle@1.0.0"]["files_present"] == 0);
  CHECK(by_ref["bundle@1.0.0"]["bytes_sent"] ==
        project.config.size() + project.script.size() + project.shard.size());
  CHECK(by_ref["clf@1.0.0"]["files_sent"] == 1);
  CHECK(by_ref["clf@1.0.0"]["bytes_sent"] == project.weights.size());
  // Three events recorded where the bytes went, then the whole log was published.
  CHECK(ann.events() == before + 3);
  CHECK(pushed["sent"] == before + 3);
  CHECK(!team.published_log().empty());

  // The log records each location, pinned to the manifest's digest.
  std::map<std::string, json> recorded;
  for (const auto& e : ann.events_of("artifact.pushed")) recorded[e["subject"]] = e;
  REQUIRE(recorded.size() == 3);

  const std::vector<std::tuple<std::string, std::string, std::string>> versions{
      {"clf", "1.0.0", "1.0.0"}, {"bundle", "1.0.0", "1.0.0"}, {"nightly", "1.0.0+build.7", "1.0.0_build.7"}};
  std::string raw_bundle_100;  // the bundle's manifest, as skopeo read it
  for (const auto& [name, version, tag] : versions) {
    const std::string ref = name + "@" + version;
    INFO(ref);
    const std::string location = by_ref[ref]["location"];
    const std::string digest = manifest_digest_of(location, server.host(), name);
    CHECK(recorded[ref]["payload"]["location"] == location);
    CHECK(recorded[ref]["payload"]["remote"] == url);
    CHECK(recorded[ref]["payload"]["digest"] == ann.json_of({"show", ref})["digest"]);
    CHECK_THAT(ann.ok({"history", name}).out, Catch::Contains("artifact.pushed") && Catch::Contains("to " + location));

    // skopeo reads the manifest by tag; its bytes hash to the recorded digest.
    const RunResult raw = skopeo_raw(team.sb, server.host() + "/team/" + name + ":" + tag);
    INFO("skopeo: " << raw.err);
    REQUIRE(raw.rc == 0);
    CHECK("sha256:" + sha256_of(team.sb, raw.out) == digest);
    // ... and by the digest the location names.
    const RunResult by_digest = skopeo_raw(team.sb, server.host() + "/team/" + name + "@" + digest);
    CHECK(by_digest.rc == 0);
    CHECK(by_digest.out == raw.out);

    if (name == "bundle") raw_bundle_100 = raw.out;
    const json m = json::parse(raw.out);
    CHECK(m["schemaVersion"] == 2);
    CHECK(m["mediaType"] == "application/vnd.oci.image.manifest.v1+json");
    CHECK(m["artifactType"] == "application/vnd.cncf.model.manifest.v1+json");
    CHECK(m["config"]["mediaType"] == "application/vnd.cncf.model.config.v1+json");
    const json shown = ann.json_of({"show", ref});
    CHECK(m["annotations"]["dev.lastmile.digest"] == shown["digest"]);
    CHECK(m["annotations"]["org.opencontainers.image.title"] == name);
    CHECK(m["annotations"]["org.opencontainers.image.version"] == version);

    // The config blob is there, and is what the manifest says.
    const RunResult config = skopeo_raw(team.sb, server.host() + "/team/" + name + ":" + tag, {"--config"});
    CHECK(config.rc == 0);
    CHECK("sha256:" + sha256_of(team.sb, config.out) == m["config"]["digest"]);
    CHECK(config.out.size() == m["config"]["size"].get<std::size_t>());

    // One layer per regular file: its path, its sha256, its size; the
    // executable bit in the file metadata; symlinks in lastmile's annotation.
    std::map<std::string, json> files;  // path → show's entry
    std::vector<json> links;
    for (const auto& e : shown["manifest"]) {
      if (e.contains("link")) {
        links.push_back(e);
      } else {
        files[e["path"]] = e;
      }
    }
    REQUIRE(m["layers"].is_array());
    CHECK(m["layers"].size() == files.size());
    std::set<std::string> seen;
    for (const auto& layer : m["layers"]) {
      const std::string path = layer["annotations"]["org.cncf.model.filepath"];
      INFO("layer " << path);
      REQUIRE(files.count(path) == 1);
      seen.insert(path);
      CHECK(layer["digest"] == "sha256:" + files[path]["sha256"].get<std::string>());
      CHECK(layer["size"] == files[path]["size"]);
      CHECK_THAT(layer["mediaType"].get<std::string>(),
                 Catch::StartsWith("application/vnd.cncf.model.") && Catch::EndsWith(".raw"));
      const json meta = annotation_json(layer["annotations"]["org.cncf.model.file.metadata+json"]);
      const bool exec = files[path].value("executable", false);
      CHECK(meta["mode"] == (exec ? 0755 : 0644));
      // Every layer's blob is in the registry (its repository scope).
      CHECK(registry_blobs(server).count(layer["digest"].get<std::string>()) == 1);
    }
    CHECK(seen.size() == files.size());
    if (links.empty()) {
      CHECK(!m["annotations"].contains("dev.lastmile.links"));
    } else {
      const json listed_links = annotation_json(m["annotations"]["dev.lastmile.links"]);
      REQUIRE(listed_links.size() == links.size());
      CHECK(listed_links[0]["path"] == links[0]["path"]);
      CHECK(listed_links[0]["link"] == links[0]["link"]);
    }
  }
  // skopeo copies the bundle out of the registry, checking every blob's
  // digest on the way: each layer is the registered file, byte for byte.
  const fs::path policy = team.sb.root() / "policy.json";
  spit(policy, R"({"default": [{"type": "insecureAcceptAnything"}]})");
  const fs::path copied = team.sb.root() / "skopeo-bundle";
  r = team.sb.exec({"skopeo", "--policy", policy.string(), "copy", "--src-tls-verify=false",
                    "docker://" + server.host() + "/team/bundle:1.0.0", "dir:" + copied.string()});
  INFO("skopeo copy: " << r.out << r.err);
  REQUIRE(r.rc == 0);
  const std::map<std::string, std::string> bundle_bytes{{"__init__.py", ""},
                                                        {"config.json", project.config},
                                                        {"run.sh", project.script},
                                                        {"weights/w.bin", project.shard},
                                                        {"weights/copy.bin", project.shard}};
  const json copied_manifest = json::parse(slurp(copied / "manifest.json"));
  REQUIRE(copied_manifest["layers"].size() == bundle_bytes.size());
  for (const auto& layer : copied_manifest["layers"]) {
    const std::string path = layer["annotations"]["org.cncf.model.filepath"];
    const std::string digest = layer["digest"];
    INFO(path);
    REQUIRE(bundle_bytes.count(path) == 1);
    CHECK(holds(copied / digest.substr(7), bundle_bytes.at(path)));
  }

  // What the bundle holds, as show says it (a check on the fixture itself).
  const json bundle = ann.json_of({"show", "bundle@1.0.0"});
  std::map<std::string, json> entries;
  for (const auto& e : bundle["manifest"]) entries[e["path"]] = e;
  REQUIRE(entries.size() == 6);
  CHECK(entries["__init__.py"]["size"] == 0);
  CHECK(entries["run.sh"].value("executable", false) == true);
  CHECK(entries["config.json"].value("executable", false) == false);
  CHECK(entries["current"]["link"] == "weights/w.bin");
  CHECK(entries["weights/copy.bin"]["sha256"] == entries["weights/w.bin"]["sha256"]);
  CHECK(entries["weights/w.bin"]["sha256"] == sha256_of(team.sb, project.shard));
  // The version's tag is the version, '+' turned into '_': there is no other.
  CHECK(skopeo_raw(team.sb, server.host() + "/team/nightly:1.0.0").rc != 0);

  // A second push uploads nothing and records nothing.
  const std::set<std::string> blobs = registry_blobs(server);
  const long writes = writes_logged(server);
  CHECK(writes > 0);
  const long after = ann.events();
  const std::string tip = team.published_log();
  r = ann.run({"push", "--json"});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.rc == 0);
  CHECK(r.err.empty());
  const json again = r.json();
  REQUIRE(again["blobs"].size() == 1);
  CHECK(again["blobs"][0]["remote"] == "models");
  CHECK(again["blobs"][0]["versions"] == json::array());
  CHECK(again["sent"] == 0);
  r = ann.run({"push"});
  CHECK(r.rc == 0);
  CHECK(r.err.empty());
  CHECK(r.out == "nothing to upload to models: it has every version whose bytes are here\n"
                 "nothing to push: origin has all " + std::to_string(after) + " events\n");
  CHECK(registry_blobs(server) == blobs);
  CHECK(writes_logged(server) == writes);
  CHECK(ann.events() == after);
  CHECK(team.published_log() == tip);

  // The bytes only, to the blob remote by name: still nothing to send.
  r = ann.run({"push", "models"});
  CHECK(r.rc == 0);
  CHECK(r.out == "nothing to upload to models: it has every version whose bytes are here\n");
  CHECK(writes_logged(server) == writes);

  // A new version sends only the file that changed; the registry gains
  // that blob, the new config and the new manifest, nothing else.
  ann.write("bundle/config.json", "{\"layers\": 4}\n");
  ann.ok({"register", "bundle", "bundle", "--version", "1.1.0"});
  const json next = ann.json_of({"push"});
  REQUIRE(next["blobs"][0]["versions"].size() == 1);
  const json& v110 = next["blobs"][0]["versions"][0];
  CHECK(v110["ref"] == "bundle@1.1.0");
  CHECK(v110["files_sent"] == 1);
  CHECK(v110["files_present"] == 3);
  CHECK(v110["bytes_sent"] == std::string("{\"layers\": 4}\n").size());
  const std::set<std::string> grown = registry_blobs(server);
  CHECK(grown.size() == blobs.size() + 3);
  CHECK(grown.count("sha256:" + sha256_of(team.sb, "{\"layers\": 4}\n")) == 1);
  const std::string digest110 = manifest_digest_of(v110["location"], server.host(), "bundle");
  CHECK(grown.count(digest110) == 1);
  const RunResult raw110 = skopeo_raw(team.sb, server.host() + "/team/bundle:1.1.0");
  REQUIRE(raw110.rc == 0);
  CHECK("sha256:" + sha256_of(team.sb, raw110.out) == digest110);
  CHECK(skopeo_raw(team.sb, server.host() + "/team/bundle:1.0.0").out == raw_bundle_100);
}

TEST_CASE("oci: a fresh clone checks out the pushed bytes from the registry, configured or recorded",
          "[e2e][oci]") {
  OciRegistryServer server({.access_log = true});
  Team team;
  Member& ann = team.join("ann");
  const auto locations = share(team, ann, server);
  const Project project;
  Member& ben = team.join("ben");  // adds the remote
  Member& cat = team.join("cat");  // relies on the locations the log records

  for (Member* m : {&ben, &cat}) {
    RunResult r = m->run({"pull"});
    INFO(r.err);
    REQUIRE(r.rc == 0);
    CHECK_THAT(r.out, Catch::StartsWith("received " + std::to_string(ann.events()) + " events from origin"));
    CHECK(m->stored_files().empty());  // the log came, the bytes did not
  }
  ben.ok({"remote", "add", "models", oci_url(server), "--insecure"});
  CHECK(cat.json_of({"remote", "list"})["remotes"].size() == 1);  // git's origin only

  for (Member* m : {&ben, &cat}) {
    const long events = m->events();
    const std::string reads = settled_log(server);
    RunResult r = m->run({"checkout", "bundle@1.0.0", "--to", "out"});
    INFO("stdout: " << r.out << "\nstderr: " << r.err);
    REQUIRE(r.rc == 0);
    CHECK_THAT(r.out, Catch::StartsWith("checked out bundle@1.0.0 into out  (") &&
                          Catch::EndsWith(" in 5 files, verified)\n"));
    CHECK(r.err.empty());
    const fs::path out = m->dir() / "out";
    CHECK(holds(out / "config.json", project.config));
    CHECK(holds(out / "run.sh", project.script));
    CHECK(holds(out / "weights/w.bin", project.shard));
    CHECK(holds(out / "weights/copy.bin", project.shard));
    CHECK(holds(out / "__init__.py", ""));
    CHECK(owner_executable(out / "run.sh"));
    CHECK(!owner_executable(out / "config.json"));
    CHECK(!owner_executable(out / "weights/w.bin"));
    REQUIRE(fs::is_symlink(out / "current"));
    CHECK(fs::read_symlink(out / "current") == "weights/w.bin");
    // The bytes came from the registry, and are kept, checked, in the store.
    const std::string log = settled_log(server);
    REQUIRE(log.size() > reads.size());
    CHECK_THAT(log.substr(reads.size()), Catch::Contains("\"GET /v2/team/bundle/blobs/sha256:"));
    CHECK(fs::exists(m->object(sha256_of(team.sb, project.shard))));
    CHECK(m->events() == events);  // a checkout records nothing

    r = m->run({"checkout", "clf@1.0.0", "--to", "out-clf"});
    INFO(r.err);
    REQUIRE(r.rc == 0);
    CHECK(holds(m->dir() / "out-clf/model.bin", project.weights));
    r = m->run({"checkout", "nightly@1.0.0+build.7", "--to", "out-nightly"});
    INFO(r.err);
    REQUIRE(r.rc == 0);
    CHECK(holds(m->dir() / "out-nightly/nightly.bin", project.nightly));
    // Once here, the bytes are read from the store.
    const std::string before_again = settled_log(server);
    r = m->run({"checkout", "bundle@1.0.0", "--to", "out-again"});
    CHECK(r.rc == 0);
    CHECK(holds(m->dir() / "out-again/weights/w.bin", project.shard));
    CHECK(settled_log(server) == before_again);

    // A KServe manifest reads the model from the registry, pinned by digest.
    r = m->run({"deploy", "render", "bundle@1.0.0", "-t", "kserve", "--set", "model_format=sklearn"});
    INFO(r.err);
    REQUIRE(r.rc == 0);
    CHECK(r.err.empty());
    const std::string location = locations.at("bundle@1.0.0");
    CHECK_THAT(location, Catch::StartsWith("oci://" + server.host() + "/team/bundle@sha256:"));
    CHECK_THAT(r.out, Catch::Contains("storageUri: \"" + location + "\"\n"));
    CHECK_THAT(r.out, Catch::Contains("name: \"sklearn\""));
    r = m->run({"deploy", "render", "clf@1.0.0", "-t", "kserve", "--set", "model_format=sklearn"});
    REQUIRE(r.rc == 0);
    CHECK_THAT(r.out, Catch::Contains("storageUri: \"" + locations.at("clf@1.0.0") + "\"\n"));
  }
}

TEST_CASE("oci: a blob altered in the registry's storage is refused on checkout, naming digest and remote",
          "[e2e][oci]") {
  OciRegistryServer server;
  Team team;
  Member& ann = team.join("ann");
  share(team, ann, server);
  const Project project;
  Member& ben = team.join("ben");  // with the remote configured
  Member& cat = team.join("cat");  // through the recorded location
  ben.ok({"pull"});
  ben.ok({"remote", "add", "models", oci_url(server), "--insecure"});
  cat.ok({"pull"});

  // Other bytes of the same size, behind the registry's back.
  const std::string hex = sha256_of(team.sb, project.weights);
  const fs::path blob = server.blob_data("sha256:" + hex);
  REQUIRE(holds(blob, project.weights));
  std::string altered = project.weights;
  altered[1000] = 'X';
  spit(blob, altered);
  REQUIRE(fs::file_size(blob) == project.weights.size());

  for (Member* m : {&ben, &cat}) {
    const std::vector<std::string> store = m->stored_files();
    const std::vector<std::string> entries = m->entries();
    const long events = m->events();
    const RunResult r = m->run({"checkout", "clf@1.0.0", "--to", "out"});
    INFO("stdout: " << r.out << "\nstderr: " << r.err);
    CHECK(r.rc == 1);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: "));
    CHECK_THAT(r.err, Catch::Contains("sha256:" + hex) && Catch::Contains("do not match its digest"));
    CHECK_THAT(r.err, Catch::Contains(oci_url(server)));
    if (m == &ben) CHECK_THAT(r.err, Catch::Contains("'models'"));
    CHECK(!fs::exists(fs::symlink_status(m->dir() / "out")));
    CHECK(m->entries() == entries);  // no half-written directory either
    CHECK(!fs::exists(m->object(hex)));
    CHECK(m->stored_files() == store);
    CHECK(m->events() == events);
  }

  // In a directory model, one damaged file fails the whole checkout: no
  // directory, not even a half-written one, and no object for that file.
  const std::string shard_hex = sha256_of(team.sb, project.shard);
  const fs::path shard_blob = server.blob_data("sha256:" + shard_hex);
  REQUIRE(holds(shard_blob, project.shard));
  std::string bad_shard = project.shard;
  bad_shard[0] = 'S';
  spit(shard_blob, bad_shard);
  const std::vector<std::string> entries = cat.entries();
  RunResult r = cat.run({"checkout", "bundle@1.0.0", "--to", "out-bundle"});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.rc == 1);
  CHECK(r.out.empty());
  CHECK_THAT(r.err, Catch::Contains("sha256:" + shard_hex) && Catch::Contains(oci_url(server)) &&
                        Catch::Contains("do not match its digest"));
  CHECK(!fs::exists(fs::symlink_status(cat.dir() / "out-bundle")));
  CHECK(cat.entries() == entries);
  CHECK(!fs::exists(cat.object(shard_hex)));

  // Once the registry holds the right bytes again, both check out.
  spit(blob, project.weights);
  spit(shard_blob, project.shard);
  r = cat.run({"checkout", "clf@1.0.0", "--to", "out"});
  INFO(r.err);
  CHECK(r.rc == 0);
  CHECK(holds(cat.dir() / "out/model.bin", project.weights));
  CHECK(fs::exists(cat.object(hex)));
  r = cat.run({"checkout", "bundle@1.0.0", "--to", "out-bundle"});
  INFO(r.err);
  CHECK(r.rc == 0);
  CHECK(holds(cat.dir() / "out-bundle/weights/w.bin", project.shard));
  CHECK(fs::exists(cat.object(shard_hex)));
}

TEST_CASE("oci: a registry that wants credentials gets them from the environment or Docker's config, never shown",
          "[e2e][oci]") {
  OciRegistryServer server({.basic_auth = true});
  Team team;
  Member& ann = team.join("ann");
  const std::string host = server.host();
  ann.write("m.bin", "secured weights");
  ann.ok({"register", "churn", "m.bin", "--version", "1.0.0"});
  ann.ok({"remote", "add", "models", oci_url(server), "--insecure"});
  const long events = ann.events();
  const std::string wrong = "not-the-pa55word-4711";

  const auto nothing_happened = [&] {
    CHECK(ann.events() == events);
    CHECK(ann.events_of("artifact.pushed").empty());
    CHECK(team.published_log().empty());
    CHECK(registry_blobs(server).empty());
  };

  // No credentials anywhere (HOME is the sandbox's: no ~/.docker).
  RunResult r = ann.run({"push"});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.rc == 77);
  CHECK(r.out.empty());
  CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: ") && Catch::Contains("the OCI registry " + host) &&
                        Catch::Contains("credentials"));
  nothing_happened();

  // Wrong ones: refused, and never echoed.
  r = ann.run({"push"}, {{"LASTMILE_OCI_USERNAME", OciRegistryServer::k_user}, {"LASTMILE_OCI_PASSWORD", wrong}});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.rc == 77);
  CHECK_THAT(r.err, Catch::Contains(host) && Catch::Contains("refused the credentials"));
  CHECK(r.out.find(wrong) == std::string::npos);
  CHECK(r.err.find(wrong) == std::string::npos);
  const RunResult wrong_b64 = team.sb.exec({"base64", "-w0"}, {.stdin_text = std::string(OciRegistryServer::k_user) +
                                                                                ":" + wrong});
  REQUIRE(wrong_b64.rc == 0);
  CHECK(r.err.find(wrong_b64.out) == std::string::npos);  // nor as the Authorization header carries it
  nothing_happened();
  // A password without a user name is a configuration error, also kept quiet.
  r = ann.run({"push"}, {{"LASTMILE_OCI_PASSWORD", wrong}});
  CHECK(r.rc == 78);
  CHECK_THAT(r.err, Catch::Contains("LASTMILE_OCI_PASSWORD is set but LASTMILE_OCI_USERNAME is not"));
  CHECK(r.out.find(wrong) == std::string::npos);
  CHECK(r.err.find(wrong) == std::string::npos);
  nothing_happened();

  // The right ones.
  r = ann.run({"push"}, {{"LASTMILE_OCI_USERNAME", OciRegistryServer::k_user},
                         {"LASTMILE_OCI_PASSWORD", OciRegistryServer::k_password}});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("pushed churn@1.0.0 to models: oci://" + host + "/team/churn@sha256:"));
  CHECK(r.out.find(OciRegistryServer::k_password) == std::string::npos);
  CHECK(r.err.find(OciRegistryServer::k_password) == std::string::npos);
  CHECK(ann.events_of("artifact.pushed").size() == 1);
  CHECK(!team.published_log().empty());
  const std::string creds = std::string("--creds=") + OciRegistryServer::k_user + ":" + OciRegistryServer::k_password;
  CHECK(skopeo_raw(team.sb, host + "/team/churn:1.0.0", {creds}).rc == 0);
  CHECK(skopeo_raw(team.sb, host + "/team/churn:1.0.0").rc != 0);  // the registry does want them

  // Docker's config.json, as `docker login` leaves it.
  const RunResult b64 = team.sb.exec({"base64", "-w0"}, {.stdin_text = std::string(OciRegistryServer::k_user) +
                                                                          ":" + OciRegistryServer::k_password});
  REQUIRE(b64.rc == 0);
  const fs::path docker = team.sb.root() / "docker-config";
  spit(docker / "config.json", json{{"auths", {{host, {{"auth", b64.out}}}}}}.dump());
  ann.write("m.bin", "secured weights, second version");
  ann.ok({"register", "churn", "m.bin", "--version", "1.1.0"});
  const long before_second = ann.events();
  r = ann.run({"push"}, {{"DOCKER_CONFIG", docker.string()}});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("pushed churn@1.1.0 to models: oci://" + host + "/team/churn@sha256:"));
  CHECK(r.out.find(b64.out) == std::string::npos);
  CHECK(r.err.find(OciRegistryServer::k_password) == std::string::npos);
  CHECK(ann.events() == before_second + 1);
  CHECK(skopeo_raw(team.sb, host + "/team/churn:1.1.0", {creds}).rc == 0);

  // A fresh clone reads with credentials too, and is refused without.
  Member& ben = team.join("ben");
  ben.ok({"pull"});
  r = ben.run({"checkout", "churn@1.1.0", "--to", "out"});
  CHECK(r.rc == 77);
  CHECK_THAT(r.err, Catch::Contains(host));
  CHECK(!fs::exists(ben.dir() / "out"));
  r = ben.run({"checkout", "churn@1.1.0", "--to", "out"}, {{"DOCKER_CONFIG", docker.string()}});
  INFO(r.err);
  CHECK(r.rc == 0);
  CHECK(holds(ben.dir() / "out/m.bin", "secured weights, second version"));
}

TEST_CASE("oci: an unreachable registry exits 69 and changes nothing, and bad OCI remotes are refused (64)",
          "[e2e][oci]") {
  std::optional<OciRegistryServer> server(std::in_place);  // stopped at the end
  Team team;
  Member& ann = team.join("ann");
  ann.write("m.bin", "weights");
  ann.ok({"register", "churn", "m.bin", "--version", "1.0.0"});
  const int closed = free_port();  // bound and released: nobody listens there
  const std::string down = "127.0.0.1:" + std::to_string(closed);
  ann.ok({"remote", "add", "down", "oci://" + down + "/team", "--insecure"});
  const long events = ann.events();
  const json history = ann.json_of({"history"});

  RunResult r = ann.run({"push"});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.rc == 69);
  CHECK(r.out.empty());
  CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: cannot reach the OCI registry " + down));
  CHECK(ann.events() == events);
  CHECK(ann.json_of({"history"}) == history);
  CHECK(team.published_log().empty());
  r = ann.run({"push", "down"});
  CHECK(r.rc == 69);
  CHECK_THAT(r.err, Catch::Contains(down));
  CHECK(ann.events() == events);

  // Bad OCI remotes: --insecure off this machine, no repository.
  const json remotes = ann.json_of({"remote", "list"});
  r = ann.run({"remote", "add", "x", "oci://example.com/team", "--insecure"});
  CHECK(r.rc == 64);
  CHECK(r.out.empty());
  CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: ") && Catch::Contains("example.com") &&
                        Catch::Contains("insecure"));
  r = ann.run({"remote", "add", "x", "oci://" + server->host()});
  CHECK(r.rc == 64);
  CHECK(r.out.empty());
  CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: ") && Catch::Contains("oci://" + server->host()) &&
                        Catch::Contains("repository"));
  r = ann.run({"remote", "add", "x", "oci://" + server->host() + "/", "--insecure"});
  CHECK(r.rc == 64);
  CHECK(ann.json_of({"remote", "list"}) == remotes);
  CHECK(ann.events() == events);
  // The same hosts with what they lacked are accepted.
  ann.ok({"remote", "add", "x", "oci://example.com/team"});
  ann.ok({"remote", "remove", "x"});
  ann.ok({"remote", "add", "x", "oci://" + server->host() + "/team", "--insecure"});

  // Once the unreachable remote is gone, the push goes through.
  ann.ok({"remote", "remove", "down"});
  r = ann.run({"push"});
  INFO(r.err);
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("pushed churn@1.0.0 to x: oci://" + server->host() + "/team/churn@sha256:"));
  CHECK(!team.published_log().empty());

  // A clone whose own remotes are down or lack the bytes still finds them
  // where the log says they were pushed.
  Member& ben = team.join("ben");
  ben.ok({"pull"});
  ben.ok({"remote", "add", "down", "oci://" + down + "/team", "--insecure"});
  ben.ok({"remote", "add", "elsewhere", "oci://" + server->host() + "/elsewhere", "--insecure"});
  r = ben.run({"checkout", "churn@1.0.0", "--to", "out"});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.rc == 0);
  CHECK(holds(ben.dir() / "out/m.bin", "weights"));

  // A clone that needs the bytes while the registry is down: 69, naming it.
  Member& cat = team.join("cat");
  cat.ok({"pull"});
  const std::string host = server->host();
  server.reset();
  const std::vector<std::string> entries = cat.entries();
  r = cat.run({"checkout", "churn@1.0.0", "--to", "out"});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.rc == 69);
  CHECK(r.out.empty());
  CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: cannot reach the OCI registry " + host));
  CHECK(cat.entries() == entries);
  CHECK(cat.stored_files().empty());
}
