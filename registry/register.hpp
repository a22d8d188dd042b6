#pragma once
// Registering a model (or dataset) version.

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "registry/core/git.hpp"
#include "registry/metadata.hpp"
#include "registry/names.hpp"
#include "registry/progress.hpp"
#include "registry/query.hpp"
#include "registry/registry.hpp"

namespace lm {

enum class StoreMode { copy, reference };
StoreMode parse_store_mode(std::string_view text);

struct RegisterRequest {
  std::string name;
  std::string kind = "model";  // or "dataset"
  std::filesystem::path path;
  std::optional<Semver> version;  // explicit version, else bump from the highest
  BumpKind bump = BumpKind::minor;
  Metrics metrics;
  StringMap params;
  StringMap labels;
  std::string owner;
  std::string description;
  StoreMode store = StoreMode::copy;
  std::optional<std::string> format;  // given with --format; else detected for models
  std::vector<Ref> inputs;   // datasets the version was made from
  std::vector<Ref> parents;  // versions of the same kind it derives from
  // Without an explicit version, bytes the name already holds under some
  // version are that version, not a new one (for --input name=PATH).
  bool reuse_same_digest = false;
  // The policy's first stage, where a new model version lands ("" for none).
  std::string stage;
  std::string actor;
  std::filesystem::path cwd;  // where git provenance is read
  // A check the caller adds, run under the write lock once the version is
  // decided and before anything is written: given the version and the git
  // commit it is (or would be) registered from; throws to refuse.
  std::function<void(const std::string& version, const std::string& commit)> before_write;
};

struct RegisterResult {
  VersionRecord version;
  bool created = false;           // false: the same bytes were already there
  bool metadata_differs = false;  // with created == false: metadata was given, and it differs
  std::size_t new_objects = 0;    // objects the store did not hold before
  std::uint64_t new_bytes = 0;
  // The clone the provenance was read from (with created == true): a
  // shallow one has lost the history and tags around the commit recorded.
  git::CloneDepth clone;
};

// Hashes (and for StoreMode::copy stores) the artifact, then records the
// version in one transaction. Registering the same bytes under an existing
// version is a no-op; other bytes under it are Error(check_failed).
RegisterResult register_version(Registry& registry, const RegisterRequest& request,
                                Progress* progress);

}  // namespace lm
