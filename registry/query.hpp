#pragma once
// Read-side queries over the registry tables: resolving references,
// listing models and versions, loading manifests and metadata.

#include <cstdint>
#include <limits>
#include <string_view>
#include <optional>
#include <string>
#include <vector>

#include "registry/artifact.hpp"
#include "registry/core/sqlite.hpp"
#include "registry/metadata.hpp"
#include "registry/names.hpp"
#include "registry/store.hpp"

namespace lm {

struct GitInfo {
  std::string commit;
  std::string branch;
  bool dirty = false;
  std::string remote;
};

struct VersionRecord {
  std::int64_t id = 0;
  std::string name;
  std::string kind;  // "model" or "dataset"
  std::string version;
  std::string digest;  // "sha256:<hex>"
  std::uint64_t size = 0;
  std::uint64_t file_count = 0;
  bool single_file = false;  // registered from a file, not a directory
  std::string format;        // onnx, pytorch, mlflow, ... or "" when unknown
  std::string store;   // "copy" or "reference"
  std::string source;  // absolute path at registration
  std::string owner;
  std::string description;
  std::optional<GitInfo> git;
  std::string registered_at;
  std::string registered_by;
  std::int64_t event_seq = 0;

  std::string ref() const { return name + "@" + version; }
};

struct VersionMetadata {
  Metrics metrics;
  StringMap params;
  StringMap labels;
};

struct ModelSummary {
  std::string name;
  std::string kind;
  std::string latest;  // highest release, or "" when there is none
  std::int64_t version_count = 0;
  std::string updated_at;
};

// A moment in the registry's past: the log up to and including event `seq`.
// Queries given one answer as the registry stood then.
struct AsOf {
  std::int64_t seq = std::numeric_limits<std::int64_t>::max();
  std::string time;  // RFC 3339 as the user's moment, "" for now

  bool past() const { return !time.empty(); }
};

// The registry as it stood at `when` (RFC 3339, or a date meaning its
// midnight UTC). Throws Error(usage) for a time that does not parse.
AsOf as_of(sql::Db& db, std::string_view when);

// Resolves a reference to one version, as the registry stood at `at`.
// Throws Error(not_found) naming what is missing. A digest held by several
// versions resolves to the highest of them; a prefix matching different
// digests is Error(usage).
VersionRecord resolve(sql::Db& db, const Ref& ref, const AsOf& at = {});

std::optional<VersionRecord> find_version(sql::Db& db, const std::string& name,
                                          const std::string& version_key);

// The highest version of `name` (pre-releases included), if any.
std::optional<Semver> highest_version(sql::Db& db, const std::string& name);

// The kind of the model called `name`, or nullopt when there is none.
std::optional<std::string> model_kind(sql::Db& db, const std::string& name);

// Throws Error(not_found) unless a model or dataset called `name` exists.
void require_model(sql::Db& db, const std::string& name);

// Where the bytes of one manifest entry are: the store object for a copy,
// the original file for a reference.
std::filesystem::path bytes_location(const ObjectStore& store, const VersionRecord& v,
                                     const ManifestEntry& e);

Manifest load_manifest(sql::Db& db, std::int64_t version_id);
VersionMetadata load_metadata(sql::Db& db, std::int64_t version_id);

std::vector<ModelSummary> list_models(sql::Db& db);
// Versions of one model, highest precedence first. Throws Error(not_found).
std::vector<VersionRecord> list_versions(sql::Db& db, const std::string& name);
// The versions with these ids, in the order given (missing ids skipped).
std::vector<VersionRecord> versions_by_ids(sql::Db& db, const std::vector<std::int64_t>& ids);

// Every reference that names a version now, sorted: NAME@VERSION for each
// version, NAME@STAGE for each stage holding one.
std::vector<std::string> list_refs(sql::Db& db, const std::string& name = "");

// Every version in the registry, in registration order.
std::vector<VersionRecord> all_versions(sql::Db& db);

}  // namespace lm
