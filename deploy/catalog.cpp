#include "deploy/catalog.hpp"

#include <algorithm>

#include "deploy/embedded.hpp"
#include "registry/core/error.hpp"
#include "registry/core/files.hpp"

namespace lm::deploy {

namespace {

constexpr std::string_view k_prefix = "deploy/";

// The built-in deployment templates: embedded files under templates/deploy/.
std::vector<EmbeddedFile> builtin_files() {
  std::vector<EmbeddedFile> files;
  for (const auto& f : embedded_files()) {
    if (f.path.substr(0, k_prefix.size()) == k_prefix) files.push_back(f);
  }
  return files;
}

std::string file_name(const EmbeddedFile& f) { return std::string(f.path.substr(k_prefix.size())); }

}  // namespace

const Template& Catalog::find(const std::string& target) const {
  const auto it = targets.find(target);
  if (it != targets.end()) return it->second;
  std::string list;
  for (const auto& [name, t] : targets) list += (list.empty() ? "" : ", ") + name;
  throw Error(ExitCode::not_found, "no deployment target " + quote(target), "the targets are: " + list);
}

std::filesystem::path project_templates_dir(const std::filesystem::path& project_root) {
  return project_root / ".lastmile" / "templates";
}

Catalog load_catalog(const std::vector<std::filesystem::path>& dirs) {
  Catalog catalog;
  for (const auto& f : builtin_files()) {
    Template t = parse_template(file_name(f), f.bytes, "built-in " + file_name(f));
    catalog.targets[t.target] = std::move(t);
  }
  for (const auto& dir : dirs) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) continue;
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (entry.path().extension() == ".mustache") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());  // the same winner on every machine
    for (const auto& path : files) {
      Template t = parse_template(path.filename().string(), read_file(path), path.string());
      catalog.targets[t.target] = std::move(t);
    }
  }
  return catalog;
}

std::vector<ExportedFile> export_templates(const std::filesystem::path& dir, bool overwrite) {
  make_directories(dir);
  std::vector<ExportedFile> exported;
  for (const auto& f : builtin_files()) {
    const std::filesystem::path path = dir / file_name(f);
    ExportedFile out{path, true};
    if (lstat_path(path)) {
      if (read_file(path) == f.bytes) {
        out.written = false;
      } else if (!overwrite) {
        throw Error(ExitCode::check_failed, quote(path.string()) + " exists and differs from the built-in template",
                    "keep your changes, or pass --force to replace it");
      }
    }
    exported.push_back(out);
  }
  // Write only once nothing is refused, so an export is all or nothing.
  const auto files = builtin_files();
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (exported[i].written) write_file_atomic(exported[i].path, files[i].bytes);
  }
  return exported;
}

}  // namespace lm::deploy
