#pragma once
// The deployment targets: the built-in templates, then a project's own in
// .lastmile/templates/, then --template-dir; a later template replaces an
// earlier one for the same target, and a new name adds a target.

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "deploy/template.hpp"

namespace lm::deploy {

struct Catalog {
  std::map<std::string, Template> targets;

  // Throws Error(not_found) naming the targets there are.
  const Template& find(const std::string& target) const;
};

// Where a project keeps its own templates: .lastmile/templates at its top.
std::filesystem::path project_templates_dir(const std::filesystem::path& project_root);

// Built-in templates, then every *.mustache file in each directory in
// `dirs` that exists. Throws Error(data) for a malformed template.
Catalog load_catalog(const std::vector<std::filesystem::path>& dirs);

struct ExportedFile {
  std::filesystem::path path;
  bool written = false;  // false: an identical file was there already
};

// Writes the built-in templates into `dir` (created if needed) for a team
// to customise. A file that exists with other content is left alone and
// is Error(check_failed) unless `overwrite`.
std::vector<ExportedFile> export_templates(const std::filesystem::path& dir, bool overwrite);

}  // namespace lm::deploy
