#include "registry/core/settings_file.hpp"

#include <git2.h>

#include <memory>

#include "registry/core/error.hpp"
#include "registry/core/git_repo.hpp"

namespace lm {

namespace {

struct ConfigFree {
  void operator()(git_config* p) const noexcept { git_config_free(p); }
};
using ConfigPtr = std::unique_ptr<git_config, ConfigFree>;
struct IteratorFree {
  void operator()(git_config_iterator* p) const noexcept { git_config_iterator_free(p); }
};

std::string last_git_error() {
  const git_error* e = git_error_last();
  return e != nullptr && e->message != nullptr ? e->message : "unknown error";
}

ConfigPtr open_settings(const std::filesystem::path& file) {
  git::detail::ensure_libgit2();
  git_config* raw = nullptr;
  if (git_config_open_ondisk(&raw, file.c_str()) < 0) {
    throw Error(ExitCode::config, "cannot read " + quote(file.string()) + ": " + last_git_error(),
                "it is in git's config format; 'git config -f " + file.string() + " -l' shows it");
  }
  return ConfigPtr(raw);
}

}  // namespace

std::vector<std::pair<std::string, std::string>> read_settings(const std::filesystem::path& file,
                                                               const std::string& prefix) {
  std::vector<std::pair<std::string, std::string>> entries;
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return entries;
  const ConfigPtr config = open_settings(file);
  git_config_iterator* raw = nullptr;
  if (git_config_iterator_new(&raw, config.get()) < 0) {
    throw Error(ExitCode::config, "cannot read " + quote(file.string()) + ": " + last_git_error());
  }
  std::unique_ptr<git_config_iterator, IteratorFree> iterator(raw);
  git_config_entry* entry = nullptr;
  while (git_config_next(&entry, iterator.get()) == 0) {
    const std::string name = entry->name;
    if (name.rfind(prefix, 0) == 0) entries.emplace_back(name, entry->value ? entry->value : "");
  }
  return entries;
}

void write_setting(const std::filesystem::path& file, const std::string& key, const std::string& value) {
  const ConfigPtr config = open_settings(file);
  if (git_config_set_string(config.get(), key.c_str(), value.c_str()) < 0) {
    throw Error(ExitCode::io, "cannot write " + quote(file.string()) + ": " + last_git_error());
  }
}

bool remove_settings_section(const std::filesystem::path& file, const std::string& section) {
  const auto entries = read_settings(file, section + ".");
  if (entries.empty()) return false;
  const ConfigPtr config = open_settings(file);
  for (const auto& [key, value] : entries) {
    if (git_config_delete_multivar(config.get(), key.c_str(), ".*") < 0) {
      throw Error(ExitCode::io, "cannot write " + quote(file.string()) + ": " + last_git_error());
    }
  }
  return true;
}

}  // namespace lm
