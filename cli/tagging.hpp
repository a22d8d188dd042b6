#pragma once
// --tag / --no-tag on register, promote and rollback: whether to mirror the
// change as a git tag (registry/tags.hpp), and how it is reported.

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "registry/core/error.hpp"
#include "registry/core/json.hpp"
#include "registry/registry.hpp"
#include "registry/tags.hpp"

namespace lm::cli {

class Context;

struct TagFlags {
  bool tag = false;
  bool no_tag = false;
};

void add_tag_flags(CLI::App& sub, TagFlags& flags, const std::string& what);

// --tag or --no-tag when given, else `git: {tags: true}` in lastmile.yaml
// (a broken policy does not turn tags on).
bool tags_wanted(Context& ctx, const TagFlags& flags);

// For tag_promotion: whether `stage` still holds `v`, read when asked.
std::function<bool()> stage_still_holds(Registry& registry, const VersionRecord& v, const std::string& stage);

// {"name", "commit", "created"}, or {"superseded": true}
Json tag_json(const TagOutcome& tag);

// "tagged churn@v1.4.0 at 1a2b3c4d5e6f", and a warning when GTO cannot
// read the name.
void print_tag(const Context& ctx, const TagOutcome& tag);

// The error of a tag that failed after the change itself was made: the
// message says what was done, so a retry is not mistaken for a no-op.
Error tag_failed_after(const Error& e, const std::string& done);

}  // namespace lm::cli
