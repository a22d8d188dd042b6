// registry/core/oci: the distribution client against a real registry
// (distribution 2.8, tests/support/test_servers) and, for the token
// flow, a stand-in token service.

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <string>

#include "registry/core/error.hpp"
#include "registry/core/files.hpp"
#include "registry/core/oci.hpp"
#include "registry/core/oci_auth.hpp"
#include "tests/support/test_servers.hpp"
#include "tests/unit/oci_helpers.hpp"

using namespace lm;
using namespace lm::test;
using Catch::Matchers::Contains;

namespace {

std::string pattern_bytes(std::size_t size) {
  std::string bytes(size, '\0');
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>((i * 7919 + i / 251) & 0xff);
  return bytes;
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1))
    ++n;
  return n;
}

OciRegistryServer::Options with_basic_auth() {
  OciRegistryServer::Options options;
  options.basic_auth = true;
  return options;
}

void write_docker_config(const NoCredentials& creds, const std::string& json) {
  std::ofstream(creds.docker_config / "config.json") << json;
}

}  // namespace

TEST_CASE("parse_url reads host, port and repository", "[oci]") {
  const oci::Endpoint e = oci::parse_url("oci://Registry.Example.com:5000/team/models/");
  CHECK(e.host == "registry.example.com:5000");
  CHECK(e.repository == "team/models");
  CHECK_FALSE(e.insecure);
  CHECK(oci::parse_url("oci://ghcr.io/acme").host == "ghcr.io");
  CHECK(oci::parse_url("oci://[::1]:5000/a.b/c__d/e--f").repository == "a.b/c__d/e--f");
}

TEST_CASE("parse_url refuses what is not an oci:// URL with a repository", "[oci]") {
  for (const char* url :
       {"https://ghcr.io/acme", "oci://ghcr.io", "oci://ghcr.io/", "oci:///acme",
        "oci://ghcr.io/Acme", "oci://ghcr.io/a._b", "oci://ghcr.io/a//b", "oci://ghcr.io:0/a",
        "oci://ghcr.io:99999/a", "oci://gh cr.io/a", "oci://ghcr.io/a?tag=1"}) {
    const Error e = error_of([&] { oci::parse_url(url); });
    CHECK(e.code() == ExitCode::usage);
    CHECK_THAT(e.what(), Contains("invalid OCI registry URL"));
    CHECK_THAT(e.hint(), Contains("oci://HOST[:PORT]/REPOSITORY"));
  }
  const Error e = error_of([] { oci::parse_url("oci://ghcr.io/A_b"); });
  CHECK_THAT(e.what(), Contains("[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*"));
}

TEST_CASE("parse_url never repeats a password written into the URL", "[oci]") {
  const Error e = error_of([] { oci::parse_url("oci://me:hunter2@ghcr.io/acme"); });
  CHECK(e.code() == ExitCode::usage);
  CHECK_THAT(e.what(), Contains("credentials do not belong in the URL"));
  CHECK_THAT(e.what(), !Contains("hunter2"));
  CHECK_THAT(e.what(), Contains("@ghcr.io/acme"));
}

TEST_CASE("OCI names follow the distribution spec", "[oci]") {
  CHECK(oci::valid_repository("a/b-c/d.e/f_g/h__i/j---k"));
  CHECK_FALSE(oci::valid_repository("a/b_.c"));
  CHECK_FALSE(oci::valid_repository("a/b___c"));
  CHECK_FALSE(oci::valid_repository("a/-b"));
  CHECK_FALSE(oci::valid_repository("a/B"));
  CHECK_FALSE(oci::valid_repository(std::string(256, 'a')));
  CHECK(oci::valid_tag("1.4.0-rc.1_build.5"));
  CHECK(oci::valid_tag(std::string(128, 'a')));
  CHECK_FALSE(oci::valid_tag(std::string(129, 'a')));
  CHECK_FALSE(oci::valid_tag("1.4.0+build"));
  CHECK_FALSE(oci::valid_tag(".hidden"));
  CHECK(oci::is_loopback_host("localhost:5000"));
  CHECK(oci::is_loopback_host("127.0.0.1"));
  CHECK(oci::is_loopback_host("[::1]:5000"));
  CHECK_FALSE(oci::is_loopback_host("127.0.0.1.example.com"));
}

TEST_CASE("a client refuses plain http to a registry that is not this machine", "[oci]") {
  const Error e = error_of([] {
    oci::Client(oci::Endpoint{"registry.example.com", "team", true});
  });
  CHECK(e.code() == ExitCode::usage);
  CHECK_THAT(e.what(), Contains("refusing plain http to the OCI registry registry.example.com"));
}

TEST_CASE("WWW-Authenticate challenges are parsed", "[oci]") {
  const auto challenges = oci::parse_challenges(
      {"Bearer realm=\"https://auth.example.com/token\",service=\"registry.example.com\","
       "scope=\"repository:a/b:pull,push\"",
       "Basic realm=lastmile, Other x=\"a\\\"b\""});
  REQUIRE(challenges.size() == 3);
  CHECK(challenges[0].scheme == "bearer");
  CHECK(challenges[0].params.at("realm") == "https://auth.example.com/token");
  CHECK(challenges[0].params.at("scope") == "repository:a/b:pull,push");
  CHECK(challenges[1].scheme == "basic");
  CHECK(challenges[1].params.at("realm") == "lastmile");
  CHECK(challenges[2].params.at("x") == "a\"b");
}

TEST_CASE("base64 round-trips", "[oci]") {
  for (const std::string& text :
       std::vector<std::string>{"", "a", "ab", "abc", "user:pa:ss", std::string("\0\xff", 2)}) {
    CHECK(oci::base64_decode(oci::base64_encode(text)) == text);
  }
  CHECK(oci::base64_encode("user:pass") == "dXNlcjpwYXNz");
  CHECK_FALSE(oci::base64_decode("not base64!"));
}

TEST_CASE("a blob is pushed once, found, and read back verified", "[oci][registry]") {
  OciRegistryServer server;
  oci::Client client = local_client(server.host());
  const std::string bytes = "small blob\n";
  const std::string digest = digest_of(bytes);
  CHECK_FALSE(client.has_blob("unit/a", digest));
  CHECK(client.put_blob_bytes("unit/a", digest, bytes));
  CHECK(client.has_blob("unit/a", digest));
  CHECK_FALSE(client.put_blob_bytes("unit/a", digest, bytes));  // already there: skipped
  CHECK(read_file(server.blob_data(digest)) == bytes);

  TempDir dir;
  std::uint64_t received = 0;
  client.get_blob("unit/a", digest, dir / "out", [&](std::uint64_t n) { received += n; });
  CHECK(read_file(dir / "out") == bytes);
  CHECK(received == bytes.size());
  CHECK(code_of([&] { client.get_blob("unit/a", digest, dir / "out", {}); }) == ExitCode::error);
  CHECK(read_file(dir / "out") == bytes);  // an existing file is never overwritten

  const auto empty = dir.write("empty", "");  // an empty __init__.py is a file too
  CHECK(client.put_blob_file("unit/a", digest_of(""), empty, 0, {}));
  client.get_blob("unit/a", digest_of(""), dir / "empty-back", {});
  CHECK(read_file(dir / "empty-back").empty());
}

TEST_CASE("a file larger than the chunk size goes up in chunks", "[oci][registry]") {
  OciRegistryServer::Options options;
  options.access_log = true;
  OciRegistryServer server(options);
  oci::Client client = local_client(server.host());
  client.set_chunk_size(4096);
  TempDir dir;
  const std::string bytes = pattern_bytes(4 * 4096 + 123);
  const auto file = dir.write("weights.bin", bytes);
  std::uint64_t sent = 0;
  const std::string digest = digest_of(bytes);
  CHECK(client.put_blob_file("unit/chunks", digest, file, bytes.size(),
                             [&](std::uint64_t n) { sent += n; }));
  CHECK(sent == bytes.size());
  CHECK(read_file(server.blob_data(digest)) == bytes);
  CHECK(count_of(server.log(), "\"PATCH /v2/unit/chunks/blobs/uploads/") == 5);
  CHECK_FALSE(client.put_blob_file("unit/chunks", digest, file, bytes.size(), {}));

  client.get_blob("unit/chunks", digest, dir / "back", {});
  CHECK(read_file(dir / "back") == bytes);
}

TEST_CASE("an upload of bytes other than the digest says is refused", "[oci][registry]") {
  OciRegistryServer server;
  oci::Client client = local_client(server.host());
  TempDir dir;
  const auto file = dir.write("model.bin", "the bytes");
  SECTION("other bytes: the registry says so") {
    const Error e =
        error_of([&] { client.put_blob_file("unit/bad", digest_of("other"), file, 9, {}); });
    CHECK(e.code() == ExitCode::check_failed);
    CHECK_THAT(e.what(), Contains(digest_of("other")));
    CHECK_THAT(e.what(), Contains("DIGEST_INVALID"));
  }
  SECTION("fewer bytes than announced: the file shrank") {
    const Error e =
        error_of([&] { client.put_blob_file("unit/bad", digest_of("x"), file, 100, {}); });
    CHECK(e.code() == ExitCode::io);
    CHECK_THAT(e.what(), Contains("became shorter"));
  }
}

TEST_CASE("a manifest pushed by tag reads back byte for byte, here and in skopeo",
          "[oci][registry]") {
  OciRegistryServer server;
  oci::Client client = local_client(server.host());
  const std::string config = "{}";
  const std::string layer = "layer bytes";
  client.put_blob_bytes("unit/m", digest_of(config), config);
  client.put_blob_bytes("unit/m", digest_of(layer), layer);
  const std::string manifest =
      "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
      "\"artifactType\":\"application/vnd.example+json\",\"config\":{\"mediaType\":"
      "\"application/vnd.oci.empty.v1+json\",\"digest\":\"" +
      digest_of(config) +
      "\",\"size\":2},"
      "\"layers\":[{\"mediaType\":\"application/octet-stream\",\"digest\":\"" +
      digest_of(layer) + "\",\"size\":" + std::to_string(layer.size()) + "}]}";
  const std::string media_type = "application/vnd.oci.image.manifest.v1+json";
  CHECK(client.put_manifest("unit/m", "1.0.0", media_type, manifest) == digest_of(manifest));
  CHECK(skopeo_manifest(server.host(), "unit/m", "1.0.0") == manifest);
  CHECK(client.get_manifest("unit/m", "1.0.0", media_type) == manifest);
  CHECK(client.get_manifest("unit/m", digest_of(manifest), media_type) == manifest);
  CHECK_FALSE(client.get_manifest("unit/m", "2.0.0", media_type));
  CHECK_FALSE(client.get_manifest("unit/nothing-here", "1.0.0", media_type));
}

TEST_CASE("a manifest naming a blob the registry lacks is refused", "[oci][registry]") {
  OciRegistryServer server;
  oci::Client client = local_client(server.host());
  const std::string manifest =
      "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
      "\"config\":{\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"digest\":\"" +
      digest_of("{}") + "\",\"size\":2},\"layers\":[]}";
  const Error e = error_of([&] {
    client.put_manifest("unit/m", "1.0.0", "application/vnd.oci.image.manifest.v1+json", manifest);
  });
  CHECK(e.code() == ExitCode::data);
  CHECK_THAT(e.what(), Contains("cannot store manifest '1.0.0'"));
  CHECK_THAT(e.what(), Contains("MANIFEST_BLOB_UNKNOWN"));
}

TEST_CASE("get_blob names the digest of bytes that changed in the registry", "[oci][registry]") {
  OciRegistryServer server;
  oci::Client client = local_client(server.host());
  const std::string bytes = "weights that will rot";
  const std::string digest = digest_of(bytes);
  client.put_blob_bytes("unit/rot", digest, bytes);
  std::string rotten = bytes;
  rotten[0] = 'W';
  std::ofstream(server.blob_data(digest), std::ios::binary | std::ios::trunc) << rotten;
  TempDir dir;
  const Error e = error_of([&] { client.get_blob("unit/rot", digest, dir / "out", {}); });
  CHECK(e.code() == ExitCode::check_failed);
  CHECK_THAT(e.what(), Contains("not " + digest));
  CHECK_THAT(e.what(), Contains(digest_of(rotten)));
  CHECK_FALSE(std::filesystem::exists(dir / "out"));
}

TEST_CASE("get_blob of a missing blob is not found and leaves no file", "[oci][registry]") {
  OciRegistryServer server;
  oci::Client client = local_client(server.host());
  TempDir dir;
  const Error e = error_of([&] { client.get_blob("unit/none", digest_of("x"), dir / "out", {}); });
  CHECK(e.code() == ExitCode::not_found);
  CHECK_THAT(e.what(), Contains("BLOB_UNKNOWN"));
  CHECK_FALSE(std::filesystem::exists(dir / "out"));
}

TEST_CASE("a registry that is not there is unavailable", "[oci]") {
  std::uint16_t port;
  {
    OciRegistryServer server;  // a port that was free, and is free again
    port = server.port();
  }
  const std::string host = "127.0.0.1:" + std::to_string(port);
  oci::Client client = local_client(host);
  const Error e = error_of([&] { client.has_blob("unit/a", digest_of("x")); });
  CHECK(e.code() == ExitCode::unavailable);
  CHECK(std::string(e.what()) == "cannot reach the OCI registry " + host + ": connection refused");
}

TEST_CASE("https to a registry that speaks plain http is unavailable, with a hint", "[oci]") {
  OciRegistryServer server;
  oci::Client client(oci::Endpoint{server.host(), "unit", false});
  const Error e = error_of([&] { client.has_blob("unit/a", digest_of("x")); });
  CHECK(e.code() == ExitCode::unavailable);
  CHECK_THAT(e.what(), Contains("cannot reach the OCI registry " + server.host() +
                                ": the TLS handshake failed"));
  CHECK_THAT(e.hint(), Contains("plain http"));
}

TEST_CASE("basic authentication: credentials from the environment", "[oci][registry][auth]") {
  OciRegistryServer server(with_basic_auth());
  NoCredentials none;
  const std::string digest = digest_of("b");

  SECTION("none at all") {
    const Error e = error_of([&] { local_client(server.host()).has_blob("unit/a", digest); });
    CHECK(e.code() == ExitCode::permission);
    CHECK_THAT(e.what(), Contains("the OCI registry " + server.host() + " requires credentials"));
    CHECK_THAT(e.what(), Contains("found none"));
    CHECK_THAT(e.hint(), Contains("LASTMILE_OCI_USERNAME"));
    CHECK_THAT(e.hint(), Contains(none.docker_config.path().string() + "/config.json"));
  }
  SECTION("the right ones") {
    none.env.set("LASTMILE_OCI_USERNAME", OciRegistryServer::k_user);
    none.env.set("LASTMILE_OCI_PASSWORD", OciRegistryServer::k_password);
    oci::Client client = local_client(server.host());
    CHECK(client.put_blob_bytes("unit/a", digest, "b"));
    CHECK(client.has_blob("unit/a", digest));
  }
  SECTION("a wrong password") {
    none.env.set("LASTMILE_OCI_USERNAME", OciRegistryServer::k_user);
    none.env.set("LASTMILE_OCI_PASSWORD", "wrong-pa55word");
    const Error e =
        error_of([&] { local_client(server.host()).put_blob_bytes("unit/a", digest, "b"); });
    CHECK(e.code() == ExitCode::permission);
    CHECK_THAT(e.what(), Contains("refused the credentials from LASTMILE_OCI_USERNAME"));
    CHECK_THAT(std::string(e.what()) + e.hint(), !Contains("wrong-pa55word"));
  }
  SECTION("a user name without a password") {
    none.env.set("LASTMILE_OCI_USERNAME", OciRegistryServer::k_user);
    const Error e = error_of([&] { local_client(server.host()).has_blob("unit/a", digest); });
    CHECK(e.code() == ExitCode::config);
    CHECK_THAT(e.what(), Contains("LASTMILE_OCI_USERNAME is set but LASTMILE_OCI_PASSWORD is not"));
  }
}

TEST_CASE("basic authentication: credentials from Docker's config.json", "[oci][registry][auth]") {
  OciRegistryServer server(with_basic_auth());
  NoCredentials none;
  const std::string digest = digest_of("d");
  const std::string right = oci::base64_encode(std::string(OciRegistryServer::k_user) + ":" +
                                               OciRegistryServer::k_password);

  SECTION("auths[host].auth") {
    write_docker_config(
        none, "{\"auths\":{\"http://" + server.host() + "\":{\"auth\":\"" + right + "\"}}}");
    CHECK(local_client(server.host()).put_blob_bytes("unit/d", digest, "d"));
  }
  SECTION("auths[host].username and password") {
    write_docker_config(none, "{\"auths\":{\"" + server.host() + "\":{\"username\":\"" +
                                  OciRegistryServer::k_user + "\",\"password\":\"" +
                                  OciRegistryServer::k_password + "\"}}}");
    CHECK(local_client(server.host()).put_blob_bytes("unit/d", digest, "d"));
  }
  SECTION("a wrong password, never shown") {
    const std::string wrong =
        oci::base64_encode(std::string(OciRegistryServer::k_user) + ":sekrit-wrong");
    write_docker_config(none,
                        "{\"auths\":{\"" + server.host() + "\":{\"auth\":\"" + wrong + "\"}}}");
    const Error e = error_of([&] { local_client(server.host()).has_blob("unit/d", digest); });
    CHECK(e.code() == ExitCode::permission);
    CHECK_THAT(e.what(), Contains("refused the credentials from " +
                                  none.docker_config.path().string() + "/config.json"));
    const std::string all = std::string(e.what()) + e.hint();
    CHECK_THAT(all, !Contains("sekrit-wrong"));
    CHECK_THAT(all, !Contains(wrong));
  }
  SECTION("credHelpers[host]") {
    TempDir bin;
    const auto helper = bin.write(
        "docker-credential-unit",
        "#!/bin/sh\nserver=$(cat)\n[ \"$1\" = get ] || exit 2\n"
        "if [ \"$server\" = '" +
            server.host() +
            "' ]; then\n"
            "  printf '{\"ServerURL\":\"%s\",\"Username\":\"" +
            OciRegistryServer::k_user + "\",\"Secret\":\"" + OciRegistryServer::k_password +
            "\"}' \"$server\"\n"
            "else echo 'credentials not found in native keychain'; exit 1; fi\n");
    REQUIRE(::chmod(helper.c_str(), 0755) == 0);
    none.env.set("PATH", bin.path().string() + ":" + std::getenv("PATH"));
    write_docker_config(none, "{\"credHelpers\":{\"" + server.host() + "\":\"unit\"}}");
    CHECK(local_client(server.host()).put_blob_bytes("unit/d", digest, "d"));
    write_docker_config(none, "{\"credsStore\":\"missing-helper\"}");
    const Error e = error_of([&] { local_client(server.host()).has_blob("unit/d", digest); });
    CHECK(e.code() == ExitCode::config);
    CHECK_THAT(e.what(), Contains("docker-credential-missing-helper"));
  }
  SECTION("a config.json that is not JSON") {
    write_docker_config(none, "{not json");
    CHECK(code_of([&] { local_client(server.host()).has_blob("unit/d", digest); }) ==
          ExitCode::config);
  }
}

TEST_CASE("token authentication: a token per scope, fetched once", "[oci][auth]") {
  FakeTokenRegistry fake;
  NoCredentials none;

  SECTION("with a user name and password") {
    none.env.set("LASTMILE_OCI_USERNAME", FakeTokenRegistry::k_user);
    none.env.set("LASTMILE_OCI_PASSWORD", FakeTokenRegistry::k_password);
    oci::Client client = local_client(fake.host());
    CHECK(client.get_manifest("unit/t", "1.0.0", "*/*") == "{\"fake\": true}");
    CHECK(client.get_manifest("unit/t", "1.0.1", "*/*") == "{\"fake\": true}");
    CHECK(fake.issued() == "repository:unit/t:pull\n");
    CHECK(client.put_blob_bytes("unit/t", digest_of("t"), "t"));  // HEAD (pull), POST + PUT (push)
    CHECK(fake.issued() == "repository:unit/t:pull\nrepository:unit/t:pull,push\n");
  }
  SECTION("a blob download follows the redirect to storage, without the token") {
    none.env.set("LASTMILE_OCI_USERNAME", FakeTokenRegistry::k_user);
    none.env.set("LASTMILE_OCI_PASSWORD", FakeTokenRegistry::k_password);
    TempDir dir;
    local_client(fake.host()).get_blob("unit/t", digest_of("stored bytes"), dir / "blob", {});
    CHECK(read_file(dir / "blob") == "stored bytes");
  }
  SECTION("with docker's identity token") {
    write_docker_config(none, "{\"auths\":{\"" + fake.host() + "\":{\"identitytoken\":\"" +
                                  FakeTokenRegistry::k_refresh_token + "\"}}}");
    CHECK(local_client(fake.host()).get_manifest("unit/t", "1.0.0", "*/*"));
    CHECK(fake.issued() == "repository:unit/t:pull\n");
  }
  SECTION("with LASTMILE_OCI_TOKEN, sent as it is") {
    none.env.set("LASTMILE_OCI_TOKEN", "tok|repository:unit/t:pull");
    CHECK(local_client(fake.host()).get_manifest("unit/t", "1.0.0", "*/*"));
    CHECK(fake.issued().empty());
    const Error e =
        error_of([&] { local_client(fake.host()).get_manifest("unit/other", "1", "*/*"); });
    CHECK_THAT(e.what(), Contains("refused the credentials from LASTMILE_OCI_TOKEN"));
    CHECK_THAT(std::string(e.what()) + e.hint(), !Contains("tok|"));
  }
  SECTION("with a wrong password") {
    none.env.set("LASTMILE_OCI_USERNAME", FakeTokenRegistry::k_user);
    none.env.set("LASTMILE_OCI_PASSWORD", "wrong-token-pa55");
    const Error e = error_of([&] { local_client(fake.host()).get_manifest("unit/t", "1", "*/*"); });
    CHECK(e.code() == ExitCode::permission);
    CHECK_THAT(
        e.what(),
        Contains("refused the credentials from LASTMILE_OCI_USERNAME to pull from 'unit/t'"));
    CHECK_THAT(std::string(e.what()) + e.hint(), !Contains("wrong-token-pa55"));
  }
  SECTION("with none") {
    const Error e = error_of([&] { local_client(fake.host()).get_manifest("unit/t", "1", "*/*"); });
    CHECK(e.code() == ExitCode::permission);
    CHECK_THAT(e.what(),
               Contains("requires credentials to pull from 'unit/t' and lastmile found none"));
  }
}

TEST_CASE("a registry answering 5xx is unavailable, with its own words", "[oci]") {
  FakeTokenRegistry fake;
  const Error e = error_of([&] { local_client(fake.host()).get_manifest("down/m", "1", "*/*"); });
  CHECK(e.code() == ExitCode::unavailable);
  CHECK(std::string(e.what()) == "cannot read manifest '1' of '" + fake.host() +
                                     "/down/m': the registry answered 503 Service Unavailable "
                                     "(UNAVAILABLE: down for upgrade)");
  CHECK(e.hint() == "try again later");
}

TEST_CASE("the client refuses names the distribution API does not allow", "[oci]") {
  CHECK(code_of([] {
          oci::Client(oci::Endpoint{"user:pw@ghcr.io", "x", false});
        }) == ExitCode::usage);
  oci::Client client(oci::Endpoint{"127.0.0.1:1", "unit", true});
  CHECK(code_of([&] { client.has_blob("Unit/A", digest_of("x")); }) == ExitCode::usage);
  CHECK(code_of([&] { client.has_blob("unit/a", "md5:abc"); }) == ExitCode::data);
  CHECK(code_of([&] { client.get_manifest("unit/a", "../../x", "*/*"); }) == ExitCode::usage);
  CHECK(code_of([&] { client.put_manifest("unit/a", "1.0+b", "x", "{}"); }) == ExitCode::usage);
}

// Not run by default: ./lastmile_unit "[oci-bench]" prints the rates.
TEST_CASE("throughput of a 256 MiB blob on loopback", "[.][oci-bench]") {
  OciRegistryServer server;
  oci::Client client = local_client(server.host());
  TempDir dir;
  const std::string block = pattern_bytes(1 << 20);
  Sha256 hash;
  {
    std::ofstream out(dir / "big.bin", std::ios::binary);
    for (int i = 0; i < 256; ++i) {
      out << block;
      hash.update(block);
    }
  }
  const std::string digest = "sha256:" + hash.hex_final();
  const std::uint64_t size = 256ull << 20;
  using Clock = std::chrono::steady_clock;
  const auto rate = [&](Clock::time_point start) {
    const double s = std::chrono::duration<double>(Clock::now() - start).count();
    return std::to_string(static_cast<int>(256 / s)) + " MiB/s (" + std::to_string(s) + " s)";
  };
  auto start = Clock::now();
  REQUIRE(client.put_blob_file("unit/big", digest, dir / "big.bin", size, {}));
  WARN("push: " + rate(start));
  start = Clock::now();
  client.get_blob("unit/big", digest, dir / "back.bin", {});
  WARN("get: " + rate(start));
}
