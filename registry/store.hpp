#pragma once
// Content-addressed object store: .lastmile/objects/sha256/ab/cdef...
// Files are read once; the same pass hashes them and writes a temporary
// copy, which becomes the object by rename once the registration commits.

#include <atomic>
#include <cstdint>
#include <memory>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "registry/core/files.hpp"
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
  fs::path temp;          // empty once dropped in favour of the stored object
  bool existing = false;  // the store held an object of this name when staged
};

class ObjectStore {
 public:
  explicit ObjectStore(fs::path registry_dir);

  fs::path object_path(std::string_view hex) const;
  bool contains(std::string_view hex) const;
  const fs::path& objects_dir() const { return m_objects; }
  const fs::path& temp_dir() const { return m_temp; }

  // Starts a staging session: temporary files are named after it, and a
  // lock held on it for the life of this object tells other processes
  // (in any PID namespace) that the files are in use.
  void begin_session();

  // Reads `source` once: hashes it and copies it into a read-only
  // temporary file. When the store already holds an object of that name the
  // copy is kept too (`existing`), so that the caller can replace an object
  // it cannot trust; otherwise its writeback has started. Throws when the
  // file does not have `expected_size` bytes, i.e. it changed after it was
  // scanned. Needs begin_session().
  StagedObject stage(const fs::path& source, std::uint64_t expected_size,
                     Progress* progress) const;

  // Waits until staged files are on disk (fsync), on all cores. One batch
  // after all writes costs a fraction of a sync per file as it is written.
  static void sync_staged(const std::vector<StagedObject>& staged);

  // Renames staged files to their object names and syncs the directories.
  void publish(const std::vector<StagedObject>& staged) const;

  // A new path in the temporary directory for bytes arriving from elsewhere
  // (a blob remote); needs begin_session(). The caller writes and checks
  // the file, then adopt()s it.
  fs::path temp_path() const;
  // Makes a checked temporary file the object `hex`: read-only, synced,
  // renamed into place, its directory synced.
  void adopt(const fs::path& temp, const std::string& hex) const;

  // Removes staged temporary files.
  static void discard(const std::vector<StagedObject>& staged) noexcept;

  // Removes temporary files of sessions whose process has ended, and stray
  // temporary files older than an hour.
  void remove_stale_temps() const noexcept;

 private:
  struct Session {
    std::string name;  // "<pid>-<random>"
    UniqueFd lock;     // flock(LOCK_EX) held while the session lives
    fs::path lock_path;
    std::atomic<unsigned> next_temp{0};
    ~Session();
  };
  fs::path m_objects;
  fs::path m_temp;
  std::shared_ptr<Session> m_session;
};

// Hashes a file in one streaming pass.
HashedFile hash_file(const fs::path& path, Progress* progress);

// Copies `source` to the open descriptor `out` while hashing it.
HashedFile copy_and_hash(const fs::path& source, int out, const fs::path& out_path,
                         Progress* progress);

}  // namespace lm
