#pragma once
// One registered version as an OCI artifact in the CNCF ModelPack form
// (modelpack/model-spec): a model config blob, one uncompressed layer per
// regular file, and an OCI 1.1 image manifest naming them. Tools that read
// ModelPack (modctl, KitOps, Dragonfly, the KServe storage initializer) see
// the model's files; lastmile reads back its own digest and symlinks too.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "registry/artifact.hpp"
#include "registry/query.hpp"

namespace lm::modelpack {

inline constexpr std::string_view k_manifest_media_type =
    "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view k_artifact_type = "application/vnd.cncf.model.manifest.v1+json";
inline constexpr std::string_view k_config_media_type = "application/vnd.cncf.model.config.v1+json";

// One file of the model, as one layer.
struct Layer {
  std::string path;    // relative, '/'-separated (org.cncf.model.filepath)
  std::string digest;  // "sha256:<hex>"
  std::uint64_t size = 0;
  bool executable = false;
  std::string media_type;  // application/vnd.cncf.model.weight.v1.raw, ...
};

// A symlink of the artifact; ModelPack has no form for one.
struct Link {
  std::string path;
  std::string target;
};

// The blobs and manifest to push for one version.
struct Artifact {
  std::string config;  // the model config JSON, pushed as a blob
  std::string config_digest;
  std::vector<Layer> layers;  // in manifest order; each layer's bytes are the file's
  std::vector<Link> links;
  std::string manifest;  // the image manifest, pushed under the version's tag
  std::string manifest_digest;
};

// Builds the artifact of `version`, whose files are `files` (its lastmile
// manifest). Deterministic: the same inputs give the same bytes.
// Error(check_failed) when `files` do not hash to the version's digest.
Artifact build_artifact(const VersionRecord& version, const Manifest& files);

// What a pulled manifest says.
struct Contents {
  std::vector<Layer> layers;  // as listed
  std::vector<Link> links;
  std::string config_digest;
  std::string title;    // org.opencontainers.image.title, or ""
  std::string version;  // org.opencontainers.image.version, or ""
  // dev.lastmile.digest, or "" for an artifact made by another tool.
  std::string lastmile_digest;
  // The lastmile manifest the layers and links stand for, sorted by path.
  Manifest files;
};

// Reads a ModelPack manifest (the cncf namespace, or the older cnai one).
// Throws Error(data) for anything else: another artifact type, a layer
// without a file path or with an unsafe one, a path given twice, an
// archive (tar) layer; Error(check_failed) when the files do not match the
// lastmile digest the manifest carries.
Contents read_manifest(std::string_view bytes);

// The layer media type for a file: weight by default; weight.config for
// config.json, generation_config.json, tokenizer*.json, *.yaml, *.yml and
// MLmodel; doc for README*, LICENSE*, *.md and *.txt; code for *.py, *.sh
// and *.ipynb. A dataset's weight-like files are dataset layers.
std::string layer_media_type(std::string_view path, bool dataset = false);

// The OCI tag of a SemVer version: '+' (not allowed in tags) becomes '_'.
// Throws Error(usage) for a version that is not SemVer or too long.
std::string oci_tag(std::string_view version);

// "<base>/<model name>", the repository a model's versions go to. Throws
// Error(usage) when the model name is not a valid OCI repository path
// (e.g. "a._b", or too long).
std::string oci_repository(std::string_view base, std::string_view model_name);

}  // namespace lm::modelpack
