#pragma once
// Local settings (.lastmile/config) in git's configuration format, read and
// written through libgit2: `git config -f .lastmile/config -l` shows them,
// and writes are atomic (lock file, rename).

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace lm {

// Every "key value" pair whose key starts with `prefix` ("remote."), in file
// order; keys as git writes them (section and name lowercase). An absent
// file has none.
std::vector<std::pair<std::string, std::string>> read_settings(const std::filesystem::path& file,
                                                               const std::string& prefix);

// Sets `key` ("remote.team.url") to `value`, creating the file.
void write_setting(const std::filesystem::path& file, const std::string& key, const std::string& value);

// Removes every key of `section` ("remote.team"). Returns whether any existed.
bool remove_settings_section(const std::filesystem::path& file, const std::string& section);

}  // namespace lm
