// lastmile verify: bytes, the manifest and the audit chain.

#include <fcntl.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <thread>

#include "tests/e2e/sandbox.hpp"

using lm::test::Sandbox;
namespace fs = std::filesystem;

namespace {

std::string object_of(const Sandbox& sb, const std::string& ref, std::size_t index = 0) {
  const auto j = sb.run({"show", ref, "--json"}).json();
  const std::string sha = j["manifest"][index]["sha256"];
  return (sb.registry() / "objects/sha256" / sha.substr(0, 2) / sha.substr(2)).string();
}

// Overwrites one byte in place, keeping the size.
void flip_byte(const std::string& path, long offset) {
  ::chmod(path.c_str(), 0644);
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(offset);
  char c = 0;
  f.get(c);
  f.seekp(offset);
  f.put(static_cast<char>(c ^ 0x01));
}

void populate(Sandbox& sb) {
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("m/config.json", "{\"layers\": 3}");
  sb.write("m/weights.bin", std::string(70000, 'w'));
  REQUIRE(sb.run({"register", "churn", "m", "--version", "1.0.0"}).rc == 0);
  sb.write("other.bin", "other");
  REQUIRE(sb.run({"register", "fraud", "other.bin"}).rc == 0);
}

}  // namespace

TEST_CASE("verify of an intact registry passes", "[e2e][verify]") {
  Sandbox sb;
  populate(sb);
  const auto r = sb.run({"verify"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("ok      churn@1.0.0  2 files") &&
                        Catch::Contains("ok      fraud@0.1.0  1 file") &&
                        Catch::Contains("registry: integrity ok, audit chain ok (2 events)"));
  const auto j = sb.run({"verify", "--json"}).json();
  CHECK(j["ok"] == true);
  CHECK(j["integrity"] == "ok");
  CHECK(j["chain"]["ok"] == true);
  CHECK(j["chain"]["events"] == 2);
  CHECK(j["problems"].empty());
  CHECK(sb.run({"verify", "churn@1.0.0", "fraud"}).rc == 0);
}

TEST_CASE("every flipped byte in an object is detected and named", "[e2e][verify]") {
  Sandbox sb;
  populate(sb);
  const std::string object = object_of(sb, "churn@1.0.0", 0);  // config.json, 13 bytes
  for (long offset : {0L, 6L, 12L}) {
    INFO("offset " << offset);
    flip_byte(object, offset);
    const auto r = sb.run({"verify", "--json"});
    CHECK(r.rc == 1);
    const auto j = r.json();
    REQUIRE(j["problems"].size() == 1);
    CHECK(j["problems"][0]["subject"] == "churn@1.0.0");
    CHECK(j["problems"][0]["path"] == "config.json");
    CHECK(j["problems"][0]["kind"] == "changed");
    CHECK(j["problems"][0]["expected"] != j["problems"][0]["actual"]);
    CHECK_THAT(r.err, Catch::Contains("verification failed: 1 problem found"));
    flip_byte(object, offset);  // restore
    CHECK(sb.run({"verify"}).rc == 0);
  }
}

TEST_CASE("a change that keeps size and mtime is still caught without --deep", "[e2e][verify]") {
  Sandbox sb;
  populate(sb);
  const std::string object = object_of(sb, "churn@1.0.0", 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  REQUIRE(sb.run({"verify"}).rc == 0);  // records the stat cache
  REQUIRE(sb.run({"verify", "--json"}).json()["files_from_cache"] == 3);
  struct stat before {};
  ::stat(object.c_str(), &before);
  flip_byte(object, 100);
  const timespec times[2] = {before.st_atim, before.st_mtim};
  ::utimensat(AT_FDCWD, object.c_str(), times, 0);  // put the mtime back
  const auto r = sb.run({"verify", "churn@1.0.0"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.out, Catch::Contains("FAILED  churn@1.0.0") &&
                        Catch::Contains("weights.bin: content changed: expected sha256 "));
}

TEST_CASE("unchanged files are answered from the stat cache, and --deep rehashes", "[e2e][verify]") {
  Sandbox sb;
  populate(sb);
  // A stat taken within 20 ms of a file's last change is not trusted; wait
  // that out, then let one verify confirm the hashes.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  sb.run({"verify"});
  const auto quick = sb.run({"verify", "--json"}).json();
  CHECK(quick["files_checked"] == 3);
  CHECK(quick["files_from_cache"] == 3);
  CHECK(quick["files_hashed"] == 0);
  const auto deep = sb.run({"verify", "--deep", "--json"}).json();
  CHECK(deep["files_hashed"] == 3);
  CHECK(deep["deep"] == true);
}

TEST_CASE("a truncated file reports sizes as expected and actual", "[e2e][verify]") {
  Sandbox sb;
  populate(sb);
  const std::string object = object_of(sb, "churn@1.0.0", 1);
  ::chmod(object.c_str(), 0644);
  fs::resize_file(object, 69999);
  const auto r = sb.run({"verify", "churn@1.0.0", "--json"});
  CHECK(r.rc == 1);
  const auto p = r.json()["problems"][0];
  CHECK(p["kind"] == "size");
  CHECK(p["expected"] == "70000");
  CHECK(p["actual"] == "69999");
  CHECK(p["message"] == "weights.bin: size changed: 70000 bytes expected, 69999 found");
}

TEST_CASE("a missing or replaced object is detected", "[e2e][verify]") {
  Sandbox sb;
  populate(sb);
  const std::string object = object_of(sb, "fraud");
  fs::remove(object);
  auto r = sb.run({"verify", "--json"});
  CHECK(r.rc == 1);
  CHECK(r.json()["problems"][0]["kind"] == "missing");
  fs::create_symlink("/etc/hostname", object);
  r = sb.run({"verify", "--json"});
  CHECK(r.rc == 1);
  CHECK(r.json()["problems"][0]["kind"] == "type");
  CHECK(r.json()["problems"][0]["actual"] == "symlink");
}

TEST_CASE("an edited, deleted or forged event breaks the audit chain", "[e2e][verify]") {
  for (const char* edit : {"UPDATE events SET actor = 'mallory' WHERE seq = 1",
                           "UPDATE events SET time = '2020-01-01T00:00:00.000000Z' WHERE seq = 2",
                           "DELETE FROM events WHERE seq = 1"}) {
    INFO(edit);
    Sandbox sb;
    populate(sb);
    sb.sql(std::string("PRAGMA foreign_keys = OFF; ") + edit);
    const auto r = sb.run({"verify", "--json"});
    CHECK(r.rc == 1);
    const auto j = r.json();
    CHECK(j["chain"]["ok"] == false);
    CHECK(j["chain"]["first_bad_seq"] == (std::string(edit).find("seq = 2") != std::string::npos ? 2 : 1));
    const auto text = sb.run({"verify"}).out;
    CHECK_THAT(text, Catch::Contains("breaks the hash chain") &&
                         Catch::Contains("audit chain BROKEN at event "));
  }
}

TEST_CASE("tables edited behind the log's back are detected", "[e2e][verify]") {
  Sandbox sb;
  populate(sb);
  // Point the manifest at other bytes that really are in the store.
  const auto other = sb.run({"show", "fraud", "--json"}).json()["manifest"][0];
  sb.sql("UPDATE files SET sha256 = '" + other["sha256"].get<std::string>() +
         "', size = 5 WHERE path = 'config.json'");
  const auto r = sb.run({"verify", "--json"});
  CHECK(r.rc == 1);
  CHECK(r.json()["problems"][0]["kind"] == "manifest");
  CHECK(r.json()["problems"][0]["subject"] == "churn@1.0.0");
}

TEST_CASE("metadata, owner or actor edited in the tables is detected", "[e2e][verify]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("m.bin", "m");
  REQUIRE(sb.run({"register", "churn", "m.bin", "--metric", "auc=0.7", "--owner", "ada"}).rc == 0);
  sb.sql("UPDATE metadata SET number = 0.99; UPDATE versions SET owner = 'mallory', registered_by = 'Boss'");
  const auto r = sb.run({"verify"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.out, Catch::Contains("FAILED  churn@0.1.0") &&
                        Catch::Contains("differs from the log in owner, registered_by") &&
                        Catch::Contains("metadata row for 'churn@0.1.0 metric auc' differs"));
  CHECK(sb.run({"verify", "churn"}).rc == 1);  // also when the version is named
}

TEST_CASE("a version deleted from the tables and registered again is detected", "[e2e][verify]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("a.bin", "a");
  sb.write("b.bin", "b");
  REQUIRE(sb.run({"register", "churn", "a.bin", "--version", "0.1.0"}).rc == 0);
  sb.sql("PRAGMA foreign_keys = OFF; DELETE FROM files; DELETE FROM metadata; DELETE FROM versions; "
         "UPDATE models SET version_count = 0, latest = NULL");
  REQUIRE(sb.run({"register", "churn", "b.bin", "--version", "0.1.0"}).rc == 0);
  const auto r = sb.run({"verify", "--json"});
  CHECK(r.rc == 1);
  CHECK(r.json()["chain"]["ok"] == true);  // the chain alone cannot tell
  CHECK_THAT(r.out, Catch::Contains("registers 'churn@0.1.0' a second time"));
}

TEST_CASE("an edited name column is caught by the chain check", "[e2e][verify]") {
  Sandbox sb;
  populate(sb);
  sb.sql("UPDATE events SET name = 'other' WHERE seq = 2");
  const auto r = sb.run({"verify", "--json"});
  CHECK(r.rc == 1);
  CHECK(r.json()["chain"]["first_bad_seq"] == 2);
}

TEST_CASE("a corrupt database file is a data error", "[e2e][verify]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  {
    std::ofstream f(sb.registry() / "registry.db", std::ios::binary | std::ios::trunc);
    f << std::string(4096, 'x');
  }
  const auto r = sb.run({"verify"});
  CHECK(r.rc == 65);
  CHECK_THAT(r.err, Catch::Contains("registry corrupt"));
}

TEST_CASE("a referenced directory is compared whole: added files, executable bits, links made files", "[e2e][verify]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("m/w.bin", "weights");
  sb.write("m/run.sh", "#!/bin/sh\n");
  fs::permissions(sb.repo() / "m/run.sh", fs::perms::owner_exec, fs::perm_options::add);
  fs::create_symlink("w.bin", sb.repo() / "m/current");
  REQUIRE(sb.run({"register", "churn", "m", "--store", "reference"}).rc == 0);
  REQUIRE(sb.run({"verify"}).rc == 0);
  sb.write("m/sub/planted.bin", "x");
  fs::permissions(sb.repo() / "m/run.sh", fs::perms::owner_exec, fs::perm_options::remove);
  fs::remove(sb.repo() / "m/current");
  sb.write("m/current", "weights");
  const auto r = sb.run({"verify", "churn", "--json"});
  CHECK(r.rc == 1);
  const auto j = r.json();
  std::map<std::string, nlohmann::json> by_path;
  for (const auto& p : j["problems"]) by_path[p["path"].get<std::string>()] = p;
  REQUIRE(by_path.size() == 3);
  CHECK(by_path["sub/planted.bin"]["kind"] == "extra");
  CHECK(by_path["sub/planted.bin"]["actual"] == "file");
  CHECK(by_path["run.sh"]["kind"] == "mode");
  CHECK(by_path["run.sh"]["expected"] == "executable");
  CHECK(by_path["run.sh"]["actual"] == "not executable");
  CHECK(by_path["current"]["kind"] == "type");
  CHECK(by_path["current"]["expected"] == "symlink");
  CHECK_THAT(sb.run({"verify"}).out, Catch::Contains("sub/planted.bin: a file the manifest does not list"));
}

TEST_CASE("an event edited into malformed JSON is named by both checks", "[e2e][verify]") {
  Sandbox sb;
  populate(sb);
  sb.sql("UPDATE events SET payload = substr(payload, 2) WHERE seq = 1");
  const auto r = sb.run({"verify", "--json"});
  CHECK(r.rc == 1);
  CHECK(r.json()["chain"]["first_bad_seq"] == 1);
  const auto audit = sb.run({"audit", "verify"});
  CHECK(audit.rc == 1);
  CHECK_THAT(audit.err, Catch::Contains("the audit chain is broken at event 1: its payload is not valid JSON"));
}
