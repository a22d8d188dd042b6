// registry/modelpack: one version as a ModelPack OCI artifact, and the
// artifact read back; pushed to a real registry at the end.

#include <catch2/catch.hpp>
#include <string>

#include "registry/core/error.hpp"
#include "registry/core/json.hpp"
#include "registry/core/sha256.hpp"
#include "registry/modelpack.hpp"
#include "tests/support/test_servers.hpp"
#include "tests/unit/oci_helpers.hpp"

using namespace lm;
using namespace lm::test;
using Catch::Matchers::Contains;

namespace {

VersionRecord fraud_version(const Manifest& files) {
  VersionRecord v;
  v.digest = manifest_digest(files);
  v.name = "team/fraud";
  v.kind = "model";
  v.version = "1.4.0+build.5";
  v.format = "onnx";
  v.owner = "ml-platform@example.com";
  v.description = "card-fraud classifier";
  v.registered_at = "2026-06-01T12:00:00.000000Z";
  v.git = GitInfo{"7fd1a60b01f91b314f59955a4e4d4e80d8edf11d", "main", false,
                  "https://github.com/acme/fraud"};
  return v;
}

ManifestEntry file(const std::string& path, const std::string& bytes, bool executable = false) {
  return {path, bytes.size(), Sha256::hex_of(bytes), executable, ""};
}

Manifest fraud_files() {
  return {file("README.md", "# fraud\n"), file("config.json", "{}"),
          ManifestEntry{"current.onnx", 0, "", false, "model.onnx"}, file("model.onnx", "weights"),
          file("serve.py", "print()", true)};
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (auto pos = text.find(from); pos != std::string::npos;
       pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
  return text;
}

}  // namespace

TEST_CASE("layer media types follow the file's name", "[modelpack]") {
  const std::vector<std::pair<std::string, std::string>> kinds = {
      {"model.onnx", "weight"},
      {"sub/model.safetensors", "weight"},
      {"config.json", "weight.config"},
      {"a/generation_config.json", "weight.config"},
      {"tokenizer_config.json", "weight.config"},
      {"params.yaml", "weight.config"},
      {"MLmodel", "weight.config"},
      {"README", "doc"},
      {"LICENSE.txt", "doc"},
      {"docs/card.md", "doc"},
      {"serve.py", "code"},
      {"run.sh", "code"},
      {"eval.ipynb", "code"}};
  for (const auto& [path, kind] : kinds) {
    CHECK(modelpack::layer_media_type(path) == "application/vnd.cncf.model." + kind + ".v1.raw");
  }
  CHECK(modelpack::layer_media_type("train.parquet", true) ==
        "application/vnd.cncf.model.dataset.v1.raw");
  CHECK(modelpack::layer_media_type("README.md", true) == "application/vnd.cncf.model.doc.v1.raw");
}

TEST_CASE("a version becomes a ModelPack artifact", "[modelpack]") {
  const Manifest files = fraud_files();
  const VersionRecord v = fraud_version(files);
  const modelpack::Artifact a = modelpack::build_artifact(v, files);
  CHECK(a.manifest == modelpack::build_artifact(v, files).manifest);  // deterministic
  CHECK(a.manifest_digest == digest_of(a.manifest));
  CHECK(a.config_digest == digest_of(a.config));

  const Json config = parse_json(a.config, "config");
  CHECK(config["descriptor"]["name"] == "team/fraud");
  CHECK(config["descriptor"]["version"] == "1.4.0+build.5");
  CHECK(config["descriptor"]["createdAt"] == "2026-06-01T12:00:00.000000Z");
  CHECK(config["descriptor"]["authors"] == Json::array({"ml-platform@example.com"}));
  CHECK(config["descriptor"]["revision"] == "7fd1a60b01f91b314f59955a4e4d4e80d8edf11d");
  CHECK(config["descriptor"]["sourceURL"] == "https://github.com/acme/fraud");
  CHECK(config["config"] == Json({{"format", "onnx"}}));
  CHECK(config["modelfs"]["type"] == "layers");
  CHECK(config["modelfs"]["diffIds"].size() == 4);

  const Json m = parse_json(a.manifest, "manifest");
  CHECK(m["schemaVersion"] == 2);
  CHECK(m["mediaType"] == "application/vnd.oci.image.manifest.v1+json");
  CHECK(m["artifactType"] == "application/vnd.cncf.model.manifest.v1+json");
  CHECK(m["config"] == Json({{"mediaType", "application/vnd.cncf.model.config.v1+json"},
                             {"digest", a.config_digest},
                             {"size", a.config.size()}}));
  REQUIRE(m["layers"].size() == 4);  // the symlink is no layer
  const Json& serve = m["layers"][3];
  CHECK(serve["mediaType"] == "application/vnd.cncf.model.code.v1.raw");
  CHECK(serve["digest"] == "sha256:" + Sha256::hex_of("print()"));
  CHECK(serve["size"] == 7);
  CHECK(serve["annotations"]["org.cncf.model.filepath"] == "serve.py");
  CHECK(serve["annotations"]["org.cncf.model.file.metadata+json"] ==
        "{\"gid\":0,\"mode\":493,\"mtime\":\"2026-06-01T12:00:00.000000Z\",\"name\":\"serve.py\","
        "\"size\":7,\"typeflag\":0,\"uid\":0}");
  const Json& annotations = m["annotations"];
  CHECK(annotations["org.opencontainers.image.title"] == "team/fraud");
  CHECK(annotations["org.opencontainers.image.version"] == "1.4.0+build.5");
  CHECK(annotations["org.opencontainers.image.created"] == "2026-06-01T12:00:00.000000Z");
  CHECK(annotations["org.opencontainers.image.description"] == "card-fraud classifier");
  CHECK(annotations["org.opencontainers.image.source"] == "https://github.com/acme/fraud");
  CHECK(annotations["dev.lastmile.digest"] == manifest_digest(files));
  CHECK(annotations["dev.lastmile.links"] ==
        "[{\"link\":\"model.onnx\",\"path\":\"current.onnx\"}]");
}

TEST_CASE("an artifact reads back as the files it was made of", "[modelpack]") {
  const Manifest files = fraud_files();
  const modelpack::Artifact a = modelpack::build_artifact(fraud_version(files), files);
  const modelpack::Contents c = modelpack::read_manifest(a.manifest);
  CHECK(manifest_to_json(c.files) == manifest_to_json(files));
  CHECK(c.lastmile_digest == manifest_digest(files));
  CHECK(c.config_digest == a.config_digest);
  CHECK(c.title == "team/fraud");
  REQUIRE(c.layers.size() == 4);
  CHECK(c.layers[3].executable);
  CHECK_FALSE(c.layers[2].executable);
  REQUIRE(c.links.size() == 1);
  CHECK(c.links[0].target == "model.onnx");

  // The older cnai namespace reads the same.
  const std::string cnai = replace_all(a.manifest, ".cncf.model.", ".cnai.model.");
  CHECK(manifest_to_json(modelpack::read_manifest(cnai).files) == manifest_to_json(files));
}

TEST_CASE("read_manifest refuses what lastmile cannot check out", "[modelpack]") {
  const Manifest files = fraud_files();
  const modelpack::Artifact a = modelpack::build_artifact(fraud_version(files), files);
  const auto refused = [](const std::string& bytes) {
    return error_of([&] { modelpack::read_manifest(bytes); });
  };
  CHECK(refused("[]").code() == ExitCode::data);
  CHECK_THAT(refused(replace_all(a.manifest, "model.manifest.v1", "other.v1")).what(),
             Contains("artifact type"));
  CHECK_THAT(refused(replace_all(a.manifest, "weight.v1.raw", "weight.v1.tar")).what(),
             Contains("not archives"));
  CHECK_THAT(refused(replace_all(a.manifest, "\"serve.py\"", "\"../serve.py\"")).what(),
             Contains("unsafe file path '../serve.py'"));
  CHECK_THAT(refused(replace_all(a.manifest, "\"serve.py\"", "\"model.onnx\"")).what(),
             Contains("names 'model.onnx' twice"));
  // A file swapped behind lastmile's back no longer matches its digest.
  const Error swapped =
      refused(replace_all(a.manifest, Sha256::hex_of("weights"), Sha256::hex_of("other")));
  CHECK(swapped.code() == ExitCode::check_failed);
  CHECK_THAT(swapped.what(), Contains("do not match its lastmile digest"));
}

TEST_CASE("an artifact is built only from files that match the version's digest", "[modelpack]") {
  Manifest files = fraud_files();
  const VersionRecord v = fraud_version(files);
  files[3].sha256 = Sha256::hex_of("other weights");
  const Error e = error_of([&] { modelpack::build_artifact(v, files); });
  CHECK(e.code() == ExitCode::check_failed);
  CHECK_THAT(e.what(), Contains("do not match its digest"));
}

TEST_CASE("versions and model names map onto OCI tags and repositories", "[modelpack]") {
  CHECK(modelpack::oci_tag("1.4.0") == "1.4.0");
  CHECK(modelpack::oci_tag("v2.0.0-rc.1+build.5") == "2.0.0-rc.1_build.5");
  CHECK(code_of([] { modelpack::oci_tag("latest"); }) == ExitCode::usage);
  CHECK(code_of([] { modelpack::oci_tag("1.0.0-" + std::string(130, 'a')); }) == ExitCode::usage);
  CHECK(modelpack::oci_repository("team/models", "fraud/v2.detector") ==
        "team/models/fraud/v2.detector");
  const Error e = error_of([] { modelpack::oci_repository("team/models", "fraud._x"); });
  CHECK(e.code() == ExitCode::usage);
  CHECK_THAT(e.what(), Contains("model 'fraud._x' cannot be stored in the OCI repository"));
}

TEST_CASE("a ModelPack artifact goes to a real registry and comes back", "[modelpack][registry]") {
  OciRegistryServer server;
  oci::Client client = local_client(server.host());
  TempDir dir;
  const Manifest files = {file("README.md", "# fraud\n"), file("model.onnx", "weights")};
  dir.write("README.md", "# fraud\n");
  dir.write("model.onnx", "weights");
  const modelpack::Artifact a = modelpack::build_artifact(fraud_version(files), files);
  const std::string repo = modelpack::oci_repository("unit", "team/fraud");
  for (const auto& layer : a.layers) {
    client.put_blob_file(repo, layer.digest, dir / layer.path, layer.size, {});
  }
  client.put_blob_bytes(repo, a.config_digest, a.config);
  const std::string tag = modelpack::oci_tag("1.4.0+build.5");
  CHECK(client.put_manifest(repo, tag, std::string(modelpack::k_manifest_media_type), a.manifest) ==
        a.manifest_digest);

  CHECK(skopeo_manifest(server.host(), repo, tag) == a.manifest);

  const auto pulled = client.get_manifest(repo, tag, std::string(modelpack::k_manifest_media_type));
  REQUIRE(pulled);
  const modelpack::Contents c = modelpack::read_manifest(*pulled);
  CHECK(c.lastmile_digest == manifest_digest(files));
  for (const auto& layer : c.layers) {
    client.get_blob(repo, layer.digest, dir / ("pulled-" + layer.path), {});
  }
  CHECK(lm::read_file(dir / "pulled-model.onnx") == "weights");
}
