// lastmile checkout

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "tests/e2e/sandbox.hpp"

using lm::test::Sandbox;
namespace fs = std::filesystem;

namespace {

void populate(Sandbox& sb) {
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("m/config.json", "{}");
  sb.write("m/weights/w.bin", std::string(3 << 20, 'w'));
  sb.write("m/run.sh", "#!/bin/sh\necho hi\n");
  ::chmod((sb.repo() / "m/run.sh").c_str(), 0755);
  fs::create_symlink("weights/w.bin", sb.repo() / "m/current");
  REQUIRE(sb.run({"register", "churn", "m", "--version", "1.0.0"}).rc == 0);
}

}  // namespace

TEST_CASE("checkout writes the exact files, modes and links", "[e2e][checkout]") {
  Sandbox sb;
  populate(sb);
  const auto r = sb.run({"checkout", "churn@1.0.0", "--to", "out"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("checked out churn@1.0.0 into out") && Catch::Contains("verified"));
  CHECK(sb.read("out/config.json") == "{}");
  CHECK(sb.read("out/weights/w.bin") == sb.read("m/weights/w.bin"));
  CHECK(sb.read("out/run.sh") == sb.read("m/run.sh"));
  struct stat st {};
  ::stat((sb.repo() / "out/run.sh").c_str(), &st);
  CHECK((st.st_mode & S_IXUSR) != 0);
  ::stat((sb.repo() / "out/config.json").c_str(), &st);
  CHECK((st.st_mode & S_IXUSR) == 0);
  CHECK(fs::read_symlink(sb.repo() / "out/current") == "weights/w.bin");
  // What was checked out registers to the same digest.
  const auto again = sb.run({"register", "copy", "out", "--json"}).json();
  CHECK(again["digest"] == sb.run({"show", "churn", "--json"}).json()["digest"]);
}

TEST_CASE("checkout refuses a directory that is not empty", "[e2e][checkout]") {
  Sandbox sb;
  populate(sb);
  sb.write("busy/keep.txt", "mine");
  const auto r = sb.run({"checkout", "churn", "--to", "busy"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.err, Catch::Contains("refusing to check out into") && Catch::Contains("it is not empty"));
  CHECK(sb.read("busy/keep.txt") == "mine");
  CHECK(sb.run({"checkout", "churn", "--to", "busy/keep.txt"}).rc == 1);
  fs::create_directories(sb.repo() / "empty");
  CHECK(sb.run({"checkout", "churn", "--to", "empty"}).rc == 0);
}

TEST_CASE("checkout of damaged bytes fails and leaves nothing behind", "[e2e][checkout]") {
  Sandbox sb;
  populate(sb);
  const auto j = sb.run({"show", "churn", "--json"}).json();
  std::string sha;
  for (const auto& e : j["manifest"]) {
    if (e["path"] == "weights/w.bin") sha = e["sha256"];
  }
  const fs::path object = sb.registry() / "objects/sha256" / sha.substr(0, 2) / sha.substr(2);
  ::chmod(object.c_str(), 0644);
  {
    std::fstream f(object, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(12345);
    f.put('X');
  }
  const auto r = sb.run({"checkout", "churn", "--to", "out"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.err, Catch::Contains("'weights/w.bin' does not match its registered hash"));
  CHECK_FALSE(fs::exists(sb.repo() / "out"));
}

TEST_CASE("checkout of a reference-store version reads the original files", "[e2e][checkout]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("big.bin", "big weights");
  REQUIRE(sb.run({"register", "churn", "big.bin", "--store", "reference"}).rc == 0);
  REQUIRE(sb.run({"checkout", "churn", "--to", "out", "--json"}).rc == 0);
  CHECK(sb.read("out/big.bin") == "big weights");
  sb.write("big.bin", "new weights");
  const auto r = sb.run({"checkout", "churn", "--to", "out2"});
  CHECK(r.rc == 1);
  CHECK_FALSE(fs::exists(sb.repo() / "out2"));
}

TEST_CASE("checkout --json reports what was written", "[e2e][checkout]") {
  Sandbox sb;
  populate(sb);
  const auto j = sb.run({"checkout", "churn", "--to", "out", "--json"}).json();
  CHECK(j["ref"] == "churn@1.0.0");
  CHECK(j["to"] == (sb.repo() / "out").string());
  CHECK(j["files_written"] == 3);
  CHECK(j["bytes_written"] == (3 << 20) + 2 + 18);
}

TEST_CASE("checkout writes names that look like temporary files faithfully", "[e2e][checkout]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("m/x", std::string(3 << 20, 'x'));
  sb.write("m/.x.lastmile-tmp", "small");
  REQUIRE(sb.run({"register", "m", "m"}).rc == 0);
  REQUIRE(sb.run({"checkout", "m", "--to", "out"}).rc == 0);
  CHECK(sb.read("out/x") == std::string(3 << 20, 'x'));
  CHECK(sb.read("out/.x.lastmile-tmp") == "small");
  // Nothing is left next to the target.
  for (const auto& e : fs::directory_iterator(sb.repo())) {
    CHECK_THAT(e.path().filename().string(), !Catch::Contains("lastmile-checkout"));
  }
}

TEST_CASE("checkout refuses a version whose file list does not match its digest", "[e2e][checkout]") {
  Sandbox sb;
  populate(sb);
  sb.write("other.bin", "other bytes");
  REQUIRE(sb.run({"register", "other", "other.bin"}).rc == 0);
  const std::string sha = sb.run({"show", "other", "--json"}).json()["manifest"][0]["sha256"];
  sb.sql("UPDATE files SET sha256 = '" + sha + "', size = 11 WHERE path = 'config.json'");
  const auto r = sb.run({"checkout", "churn", "--to", "out"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.err, Catch::Contains("its recorded files do not match its digest"));
  CHECK_FALSE(fs::exists(sb.repo() / "out"));
}

TEST_CASE("a directory holding one file of its own name stays a directory", "[e2e][checkout]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("weights/weights", "d");
  REQUIRE(sb.run({"register", "w", "weights", "--store", "reference"}).rc == 0);
  CHECK(sb.run({"verify", "w"}).rc == 0);
  REQUIRE(sb.run({"checkout", "w", "--to", "out"}).rc == 0);
  CHECK(sb.read("out/weights") == "d");
  CHECK(sb.run({"show", "w", "--json"}).json()["single_file"] == false);
}
