// Scanning artifacts and their manifests.

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "registry/artifact.hpp"
#include "registry/core/error.hpp"
#include "tests/unit/helpers.hpp"

using namespace lm;

namespace {

ExitCode scan_error(const fs::path& path, const fs::path& registry, std::string& message) {
  try {
    scan_artifact(path, registry);
  } catch (const Error& e) {
    message = e.what();
    return e.code();
  }
  return ExitCode::ok;
}

}  // namespace

TEST_CASE("a directory scan lists files sorted by path, links as links", "[artifact]") {
  test::TempDir dir;
  dir.write("m/b.bin", "bb");
  dir.write("m/a/c.json", "{}");
  dir.write("m/run.sh", "#!/bin/sh\n");
  ::chmod((dir / "m/run.sh").c_str(), 0755);
  fs::create_symlink("b.bin", dir / "m/latest");
  const Scan scan = scan_artifact(dir / "m", dir / ".lastmile");
  REQUIRE(scan.entries.size() == 4);
  CHECK(scan.entries[0].path == "a/c.json");
  CHECK(scan.entries[1].path == "b.bin");
  CHECK(scan.entries[2].path == "latest");
  CHECK(scan.entries[2].link == "b.bin");
  CHECK(scan.entries[3].path == "run.sh");
  CHECK(scan.entries[3].executable);
  CHECK_FALSE(scan.entries[1].executable);
  CHECK(scan.file_count == 3);
  CHECK(scan.total_bytes == 2 + 2 + 10);
  CHECK_FALSE(scan.single_file);
}

TEST_CASE("a single file is an artifact named by its file name", "[artifact]") {
  test::TempDir dir;
  dir.write("model.onnx", "onnx");
  const Scan scan = scan_artifact(dir / "model.onnx", dir / ".lastmile");
  REQUIRE(scan.entries.size() == 1);
  CHECK(scan.entries[0].path == "model.onnx");
  CHECK(scan.single_file);
}

TEST_CASE("symlinks that leave the artifact are refused", "[artifact]") {
  test::TempDir dir;
  dir.write("secret", "s");
  dir.write("m/w.bin", "w");
  fs::create_symlink("../secret", dir / "m/escape");
  std::string message;
  CHECK(scan_error(dir / "m", dir / ".lastmile", message) == ExitCode::data);
  CHECK_THAT(message, Catch::Contains("refusing symlink") && Catch::Contains("escape") &&
                          Catch::Contains("outside the artifact"));

  test::TempDir abs;
  abs.write("m/w.bin", "w");
  fs::create_symlink("/etc/passwd", abs / "m/passwd");
  CHECK(scan_error(abs / "m", abs / ".lastmile", message) == ExitCode::data);

  // A link through a symlinked directory that resolves outside.
  test::TempDir via;
  via.write("outside/x", "x");
  via.write("m/w.bin", "w");
  fs::create_directory_symlink("../outside", via / "m/dirlink");
  CHECK(scan_error(via / "m", via / ".lastmile", message) == ExitCode::data);
}

TEST_CASE("FIFOs and other special files are refused", "[artifact]") {
  test::TempDir dir;
  REQUIRE(::mkfifo((dir / "pipe").c_str(), 0644) == 0);
  std::string message;
  CHECK(scan_error(dir / "pipe", dir / ".lastmile", message) == ExitCode::data);
  CHECK_THAT(message, Catch::Contains("FIFO") && Catch::Contains("pipe"));
  dir.write("m/w.bin", "w");
  REQUIRE(::mkfifo((dir / "m/pipe").c_str(), 0644) == 0);
  CHECK(scan_error(dir / "m", dir / ".lastmile", message) == ExitCode::data);
  CHECK_THAT(message, Catch::Contains("FIFO"));
}

TEST_CASE("missing paths, empty directories and the registry itself are refused", "[artifact]") {
  test::TempDir dir;
  std::string message;
  CHECK(scan_error(dir / "nope", dir / ".lastmile", message) == ExitCode::not_found);
  CHECK_THAT(message, Catch::Contains("nope"));
  fs::create_directories(dir / "empty/sub");
  CHECK(scan_error(dir / "empty", dir / ".lastmile", message) == ExitCode::data);
  CHECK_THAT(message, Catch::Contains("no files"));
  dir.write(".lastmile/registry.db", "");
  dir.write("w.bin", "w");
  CHECK(scan_error(dir.path(), dir / ".lastmile", message) == ExitCode::data);
  CHECK_THAT(message, Catch::Contains("contains the registry"));
}

TEST_CASE("the manifest digest depends on content and names only", "[artifact]") {
  Manifest a{{"a.bin", 3, std::string(64, 'a'), false, ""}, {"b", 0, "", false, "a.bin"}};
  Manifest b = a;
  CHECK(manifest_digest(a) == manifest_digest(b));
  b[0].executable = true;
  CHECK(manifest_digest(a) != manifest_digest(b));
  CHECK(manifest_digest(a).rfind("sha256:", 0) == 0);
  CHECK(canonical_json(manifest_to_json(a)) ==
        R"([{"executable":false,"path":"a.bin","sha256":")" + std::string(64, 'a') +
            R"(","size":3},{"link":"a.bin","path":"b"}])");
  const Manifest back = manifest_from_json(manifest_to_json(a));
  CHECK(manifest_digest(back) == manifest_digest(a));
}

TEST_CASE("manifest paths that could escape are refused", "[artifact]") {
  CHECK_NOTHROW(validate_manifest_path("a/b.bin"));
  for (const char* bad : {"", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a/."}) {
    INFO(bad);
    CHECK_THROWS_AS(validate_manifest_path(bad), Error);
  }
}
