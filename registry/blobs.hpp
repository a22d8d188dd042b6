#pragma once
// The bytes of versions on a blob remote: a shared directory
// (file:///PATH: objects/sha256/ab/<hex>, as in the local store) or an OCI
// registry (oci://HOST/REPO: one ModelPack artifact per version, tagged
// with the version, at REPO/<model name>). Every byte that arrives is
// checked against the registry's SHA-256 before it is used.
//
// push_blobs records where each version went as an artifact.pushed event,
// so that every clone that pulls the log knows where to find the bytes and
// what to put in a manifest's storageUri.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "registry/artifact.hpp"
#include "registry/progress.hpp"
#include "registry/query.hpp"
#include "registry/registry.hpp"
#include "registry/remotes.hpp"

namespace lm {

struct BlobUpload {
  std::uint64_t files_sent = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t files_present = 0;  // the remote had them already
  std::uint64_t files_repaired = 0; // the remote's copy was missing or damaged (repair)
  std::string location;  // "oci://host/repo/name@sha256:<manifest>" or "file:///dir"
};

// Where the bytes of a manifest entry can be read here.
using BytesOf = std::function<std::filesystem::path(const ManifestEntry&)>;

class BlobStore {
 public:
  virtual ~BlobStore() = default;
  // Uploads the version's regular files the remote lacks, and whatever
  // describes the version there (an OCI manifest). With `repair`, files the
  // remote has are checked too (a directory's are rehashed) and damaged
  // ones replaced.
  virtual BlobUpload upload(const VersionRecord& v, const Manifest& manifest, const BytesOf& bytes_of,
                            Progress* progress, bool repair) = 0;
  // Writes one file's bytes to `dest` (a new file) and checks them against
  // its SHA-256. false when the remote does not have them;
  // Error(check_failed) naming the digest and the remote when they differ.
  virtual bool download(const VersionRecord& v, const ManifestEntry& entry, const std::filesystem::path& dest,
                        Progress* progress) = 0;
};

// Throws Error(usage) for a log remote.
std::unique_ptr<BlobStore> open_blob_store(const Remote& remote);

struct PushedVersion {
  std::string ref;
  BlobUpload upload;
};

struct BlobPushResult {
  Remote remote;
  std::vector<PushedVersion> pushed;
  std::uint64_t without_bytes = 0;  // versions whose bytes are not on this machine
  std::uint64_t repaired = 0;       // files replaced or put back (repair)
};

// Uploads every version whose bytes are here and that the log does not
// already place on `remote`, recording an artifact.pushed event for each.
// With `repair`, also every version the log places there: missing or
// damaged copies are put back (no new event for those).
BlobPushResult push_blobs(Registry& registry, const Remote& remote, const std::string& actor,
                          Progress* progress, bool repair = false);

// The bytes of `entry` on this machine: the stored object, or the
// registered source file of a version stored by reference; a blob remote's
// copy when neither is here. Downloads into the store (checked) from
// `remotes` in order, then from the locations the log records for `v`.
// Error(not_found) when no remote has them.
std::filesystem::path ensure_bytes(Registry& registry, const VersionRecord& v, const ManifestEntry& entry,
                                   const std::vector<Remote>& remotes, Progress* progress);

// Where the log says versions were pushed: artifact.pushed locations,
// newest first.
std::vector<std::string> pushed_locations(sql::Db& db, std::int64_t version_id);

}  // namespace lm
