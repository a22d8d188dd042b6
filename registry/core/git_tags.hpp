#pragma once
// Git tags through libgit2: reading, listing and creating annotated tags,
// and the checks that come first (is the name a valid ref, does the
// commit exist here, is this a shallow clone).

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "registry/core/files.hpp"

namespace lm::git {

// Whether refs/tags/<name> passes git's ref rules (git check-ref-format)
// and `git tag` would accept it (no leading '-').
bool valid_tag_name(std::string_view name);

// Why `name` is not a valid tag name, in words; empty when it is valid.
std::string tag_name_problem(std::string_view name);

struct TagRecord {
  std::string name;        // without refs/tags/
  std::string commit;      // full hex id of the commit it points at (peeled)
  bool annotated = false;  // a tag object, not a lightweight ref
  std::string message;     // the annotation (annotated tags)
  std::string tagger;      // "Name <email>" (annotated tags)
  std::int64_t time = 0;   // seconds since the epoch of the tagger (annotated tags)
};

// The tag, or nullopt when the repository has no such tag. Throws
// Error(not_found) outside a repository.
std::optional<TagRecord> find_tag(const std::filesystem::path& start, std::string_view name);

// Every tag whose name starts with `prefix`, names only, sorted.
std::vector<std::string> tag_names(const std::filesystem::path& start, std::string_view prefix);

// Whether the commit (full hex id) is in the repository.
bool commit_exists(const std::filesystem::path& start, const std::string& commit);

// Held while a process picks a tag number and creates the tag, so that two
// processes never take the same number for different tags: an flock on a
// file in the repository's git directory, released when it goes.
class TagLock {
 public:
  explicit TagLock(const std::filesystem::path& start);

 private:
  FileLock m_lock;
};

enum class TagCreated { created, exists };

// Creates the annotated tag `name` on `commit`, tagged by git's configured
// identity, else `fallback_tagger` ("Name <email>" or a bare name). An
// existing tag is never moved: returns exists. Throws Error for an invalid
// name (usage), a missing commit (not_found) or a failed write (io).
TagCreated create_annotated_tag(const std::filesystem::path& start, const std::string& name,
                                const std::string& commit, const std::string& message,
                                const std::string& fallback_tagger);

}  // namespace lm::git
