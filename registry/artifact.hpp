#pragma once
// An artifact is a file or a directory tree. Its manifest is the canonical
// JSON list of {path, size, sha256, executable} (symlinks: {path, link})
// sorted by path; its digest is the SHA-256 of those bytes.

#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "registry/core/json.hpp"

namespace lm {

namespace fs = std::filesystem;

struct ManifestEntry {
  std::string path;  // relative, '/'-separated
  std::uint64_t size = 0;
  std::string sha256;  // lowercase hex; empty for a symlink
  bool executable = false;
  std::string link;  // symlink target; empty for a regular file

  bool is_link() const { return !link.empty(); }
};

using Manifest = std::vector<ManifestEntry>;

Json manifest_to_json(const Manifest& manifest);
// Throws Error(data) when the JSON is not a manifest.
Manifest manifest_from_json(const Json& json);
// "sha256:<hex>" of the canonical manifest bytes.
std::string manifest_digest(const Manifest& manifest);

// One entry found by scan_artifact.
struct ScannedEntry {
  std::string path;  // relative path in the manifest
  fs::path source;   // where the bytes are now
  std::uint64_t size = 0;
  bool executable = false;
  std::string link;
  struct stat st {};             // as scanned, before the file was read
  std::int64_t scanned_at = 0;  // when, in ns since the epoch
};

struct Scan {
  fs::path root;  // absolute, symlinks in the given path resolved
  bool single_file = false;
  std::vector<ScannedEntry> entries;  // sorted by path
  std::uint64_t total_bytes = 0;
  std::size_t file_count = 0;  // regular files (entries minus symlinks)
};

// Lists the files of the artifact at `path` without reading them. Throws
// Error(not_found) when it does not exist and Error(data) for anything that
// cannot be registered: a FIFO, socket or device, a symlink that leaves the
// artifact, a name that is not UTF-8, an empty directory, or a tree that
// contains `registry_dir`.
Scan scan_artifact(const fs::path& path, const fs::path& registry_dir);

// Checks a manifest path before it is used to write files: relative, no
// empty, "." or ".." segments. Throws Error(data).
void validate_manifest_path(std::string_view path);

}  // namespace lm
