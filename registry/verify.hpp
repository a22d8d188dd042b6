#pragma once
// Proving that the bytes are the ones registered.

#include <string>
#include <vector>

#include "registry/events.hpp"
#include "registry/names.hpp"
#include "registry/progress.hpp"
#include "registry/query.hpp"
#include "registry/registry.hpp"

namespace lm {

struct VerifyProblem {
  std::string subject;  // "churn@1.0.0", or "registry" / "audit log"
  std::string path;     // file in the artifact, when one is concerned
  std::string kind;     // missing, changed, size, type, link, mode, extra, unreadable,
                        // manifest, log, integrity, chain
  std::string expected;  // the property `kind` names as registered: a sha256 (changed,
  std::string actual;    // missing), a byte count (size), a link target (link), a file type
                         // (type), "executable" or "not executable" (mode); and as found,
                         // "" when nothing was found (for extra: "" and the file type)
  std::string message;  // one line a person can read
};

struct VersionCheck {
  VersionRecord version;
  std::size_t files = 0;
  bool ok = true;
};

struct VerifyReport {
  bool whole_registry = false;
  bool deep = false;
  std::vector<VersionCheck> versions;
  std::vector<VerifyProblem> problems;
  std::string integrity;  // "ok" or SQLite's report (whole registry only)
  ChainCheck chain;       // whole registry only
  std::size_t files_checked = 0;
  std::size_t files_hashed = 0;
  std::size_t files_from_cache = 0;
  std::uint64_t bytes_hashed = 0;

  bool ok() const { return problems.empty(); }
};

// With no refs: the database integrity, the event chain, and every version.
// With refs: those versions. Each version's files are compared with the
// manifest recorded at registration; files whose stat is unchanged since
// their hash was confirmed are trusted unless `deep`.
VerifyReport verify(Registry& registry, const std::vector<Ref>& refs, bool deep,
                    Progress* progress);

}  // namespace lm
