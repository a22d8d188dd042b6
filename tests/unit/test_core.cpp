// registry/core: hashing, canonical JSON, time, errors, files.

#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "registry/core/clock.hpp"
#include "registry/core/error.hpp"
#include "registry/core/files.hpp"
#include "registry/core/json.hpp"
#include "registry/core/parallel.hpp"
#include "registry/core/sha256.hpp"
#include "tests/unit/helpers.hpp"

using namespace lm;

TEST_CASE("sha256 matches the FIPS 180-2 test vectors", "[core][sha256]") {
  CHECK(Sha256::hex_of("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(Sha256::hex_of("abc") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(Sha256::hex_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST_CASE("sha256 gives the same digest fed in pieces", "[core][sha256]") {
  const std::string text(100000, 'x');
  Sha256 pieces;
  for (std::size_t i = 0; i < text.size(); i += 777) pieces.update(text.substr(i, 777));
  CHECK(pieces.hex_final() == Sha256::hex_of(text));
  CHECK(is_sha256_hex(Sha256::hex_of(text)));
  CHECK_FALSE(is_sha256_hex("ABC"));
}

TEST_CASE("canonical JSON sorts keys and has no whitespace", "[core][json]") {
  const Json doc = Json::parse(R"({"b": 1, "a": {"d": [1, 2], "c": "x"}})");
  CHECK(canonical_json(doc) == R"({"a":{"c":"x","d":[1,2]},"b":1})");
}

TEST_CASE("canonical JSON refuses invalid UTF-8", "[core][json]") {
  CHECK_THROWS_AS(canonical_json(Json("\xff\xfe")), Error);
  CHECK(valid_utf8("h\xc3\xa9llo"));
  CHECK_FALSE(valid_utf8("\xc0\xaf"));          // overlong '/'
  CHECK_FALSE(valid_utf8("\xed\xa0\x80"));      // surrogate
  CHECK_FALSE(valid_utf8("\xe2\x82"));          // truncated
}

TEST_CASE("parse_json names the source and position", "[core][json]") {
  try {
    parse_json("{\"a\": ", "metrics.json");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::data);
    CHECK_THAT(e.what(), Catch::Contains("'metrics.json'") && Catch::Contains("line 1"));
  }
}

TEST_CASE("RFC 3339 times format and parse back", "[core][clock]") {
  const std::int64_t ns = 1'795'000'000'123'456'000;
  const std::string text = format_rfc3339(ns);
  CHECK(text.size() == 27);
  CHECK(text.back() == 'Z');
  CHECK(parse_rfc3339(text) == ns);
  CHECK(parse_rfc3339("2026-11-24T18:38:00+01:00") == parse_rfc3339("2026-11-24T17:38:00Z"));
  CHECK(parse_rfc3339("2026-11-24") == parse_rfc3339("2026-11-24T00:00:00Z"));
  CHECK_FALSE(parse_rfc3339("2026-02-30T00:00:00Z"));
  CHECK_FALSE(parse_rfc3339("yesterday"));
  CHECK_FALSE(parse_rfc3339("2026-11-24T18:38:00"));  // a zone is required
}

TEST_CASE("errno values map to exit codes", "[core][error]") {
  CHECK(exit_code_for_errno(ENOENT) == ExitCode::not_found);
  CHECK(exit_code_for_errno(EACCES) == ExitCode::permission);
  CHECK(exit_code_for_errno(EROFS) == ExitCode::permission);
  CHECK(exit_code_for_errno(ENOSPC) == ExitCode::io);
  CHECK(errno_text(ENOENT) == "no such file or directory");
  CHECK(quote("a\nb\r") == "'a\\nb\\r'");
}

TEST_CASE("quote escapes what would make one name look like another", "[core][error]") {
  CHECK(quote("caf\xc3\xa9 \xe8\x80\x81") == "'caf\xc3\xa9 \xe8\x80\x81'");  // readable text stays
  CHECK(quote("a\x1b[31mb") == "'a\\x1b[31mb'");
  CHECK(quote("a\xff" "b\xc3") == "'a\\xffb\\xc3'");  // not UTF-8
  CHECK(quote("ch\xe2\x80\x8burn") == "'ch\\u{200b}urn'");  // zero-width space
  CHECK(quote("a\xe2\x80\xae" "cba") == "'a\\u{202e}cba'");  // right-to-left override
  CHECK(quote("\xc2\x9b" "1m") == "'\\u{9b}1m'");  // C1 control (CSI)
  CHECK(printable("x\xe2\x80\x8by") == "x\\u{200b}y");
}

TEST_CASE("network file systems are recognised by their magic", "[core][files]") {
  CHECK(network_filesystem_name(0x6969) == "nfs");
  CHECK(network_filesystem_name(static_cast<std::int64_t>(0xFF534D42)) == "cifs");
  CHECK(network_filesystem_name(0x517B) == "smb");
  CHECK_FALSE(network_filesystem_name(0xEF53));  // ext4
  CHECK_FALSE(network_filesystem("/tmp"));
}

TEST_CASE("write_file_atomic replaces the whole file", "[core][files]") {
  test::TempDir dir;
  write_file_atomic(dir / "f", "first");
  write_file_atomic(dir / "f", "second");
  CHECK(read_file(dir / "f") == "second");
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++entries;
  CHECK(entries == 1);  // no temporary left behind
}

TEST_CASE("read_file of a missing file is not_found", "[core][files]") {
  test::TempDir dir;
  try {
    read_file(dir / "missing");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::not_found);
    CHECK_THAT(e.what(), Catch::Contains("missing"));
  }
}

TEST_CASE("parallel_for runs every index once and rethrows the first error", "[core][parallel]") {
  std::vector<std::atomic<int>> seen(1000);
  parallel_for(seen.size(), 4, [&](std::size_t i) { seen[i]++; });
  for (const auto& s : seen) CHECK(s == 1);
  CHECK_THROWS_WITH(parallel_for(100, 4,
                                 [](std::size_t i) {
                                   if (i == 50) throw Error(ExitCode::io, "boom");
                                 }),
                    "boom");
}

TEST_CASE("temp names are unique and carry the pid", "[core][files]") {
  const std::string a = temp_name();
  const std::string b = temp_name();
  CHECK(a != b);
  CHECK(a.rfind(std::to_string(::getpid()) + "-", 0) == 0);
  CHECK(process_alive(::getpid()));
  CHECK_FALSE(process_alive(0));
}
