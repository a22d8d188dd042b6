#pragma once
// The JSON shapes commands print (a stable contract: add keys, never
// rename) and the text lines shared by several commands.

#include <string>

#include "registry/core/git.hpp"
#include "registry/core/json.hpp"
#include "registry/events.hpp"
#include "registry/query.hpp"

namespace lm::cli {

class Output;
class Context;

// {"name", "version", "ref", "kind", "digest", "size", "files", "store",
//  "source", "owner", "description", "git", "registered_at", "registered_by",
//  "event"}
Json version_json(const VersionRecord& v);

// {"metrics": {...}, "params": {...}, "labels": {...}}
Json metadata_json(const VersionMetadata& meta);

// "0.42s", "3.1s"
std::string format_seconds(double seconds);

// "1.2 MiB in 3 files"
std::string size_summary(std::uint64_t bytes, std::uint64_t files);

// What an annotation changed, from its event payload:
// "label eval=passed, removed label wip, owner grace, description".
std::string describe_annotation(const Json& changes);

// Appends `text` to the file GitHub Actions names in the environment
// variable `variable` (GITHUB_STEP_SUMMARY, GITHUB_OUTPUT), when it is set;
// on a line of its own even when an earlier write left the last one open.
// A failure is a warning: the command's own work is done.
void append_to_github_file(const Context& ctx, const char* variable, const std::string& text);

// The warning for a shallow clone: what it lacks and how to fetch it, on
// a machine and in CI.
std::string shallow_clone_warning(const git::CloneDepth& depth);

}  // namespace lm::cli
