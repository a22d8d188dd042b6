#pragma once
// Content-addressed object store: .lastmile/objects/sha256/ab/cdef...
// Files are read once; the same pass hashes them and writes a temporary
// copy, which becomes the object by rename once the registration commits.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "registry/progress.hpp"

namespace lm {

namespace fs = std::filesystem;

struct HashedFile {
  std::string sha256;
  std::uint64_t size = 0;
};

// A file copied into the store's temporary directory, not yet published.
struct StagedObject {
  std::string sha256;
  std::uint64_t size = 0;
  fs::path temp;  // empty when the store already held the object
};

class ObjectStore {
 public:
  explicit ObjectStore(fs::path registry_dir);

  fs::path object_path(std::string_view hex) const;
  bool contains(std::string_view hex) const;
  const fs::path& objects_dir() const { return m_objects; }
  const fs::path& temp_dir() const { return m_temp; }

  // Reads `source` once: hashes it and copies it into a read-only
  // temporary file (dropped again when the store holds the object already),
  // whose writeback has started. Throws when the file does not have
  // `expected_size` bytes, i.e. it changed after it was scanned.
  StagedObject stage(const fs::path& source, std::uint64_t expected_size,
                     Progress* progress) const;

  // Waits until staged files are on disk (fsync), on all cores. One batch
  // after all writes costs a fraction of a sync per file as it is written.
  static void sync_staged(const std::vector<StagedObject>& staged);

  // Renames staged files to their object names and syncs the directories.
  void publish(const std::vector<StagedObject>& staged) const;

  // Removes staged temporary files.
  static void discard(const std::vector<StagedObject>& staged) noexcept;

  // Removes temporary files left by processes that no longer run.
  void remove_stale_temps() const noexcept;

 private:
  fs::path m_objects;
  fs::path m_temp;
};

// Hashes a file in one streaming pass.
HashedFile hash_file(const fs::path& path, Progress* progress);

// Copies `source` to the open descriptor `out` while hashing it.
HashedFile copy_and_hash(const fs::path& source, int out, const fs::path& out_path,
                         Progress* progress);

}  // namespace lm
