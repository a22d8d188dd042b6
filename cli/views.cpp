#include "cli/views.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "cli/context.hpp"
#include "cli/output.hpp"

namespace lm::cli {

Json version_json(const VersionRecord& v) {
  Json git = nullptr;
  if (v.git) {
    git = {{"commit", v.git->commit},
           {"branch", v.git->branch},
           {"dirty", v.git->dirty},
           {"remote", v.git->remote}};
  }
  return {{"name", v.name},
          {"version", v.version},
          {"ref", v.ref()},
          {"kind", v.kind},
          {"digest", v.digest},
          {"size", v.size},
          {"files", v.file_count},
          {"single_file", v.single_file},
          {"format", v.format},
          {"store", v.store},
          {"source", v.source},
          {"owner", v.owner},
          {"description", v.description},
          {"git", git},
          {"registered_at", v.registered_at},
          {"registered_by", v.registered_by},
          {"event", v.event_seq}};
}

Json metadata_json(const VersionMetadata& meta) {
  Json metrics = Json::object();
  for (const auto& [k, value] : meta.metrics) metrics[k] = value;
  return {{"metrics", metrics}, {"params", meta.params}, {"labels", meta.labels}};
}

std::string format_seconds(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, seconds < 10 ? "%.2fs" : "%.1fs", seconds);
  return buf;
}

std::string size_summary(std::uint64_t bytes, std::uint64_t files) {
  return human_size(bytes) + " in " + std::to_string(files) + (files == 1 ? " file" : " files");
}

namespace {

// Whether `path` is a file that does not end with a newline.
bool ends_mid_line(const char* path) {
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  if (!file || file.tellg() <= 0) return false;
  file.seekg(-1, std::ios::end);
  char last = '\n';
  file.get(last);
  return last != '\n';
}

}  // namespace

void append_to_github_file(const Context& ctx, const char* variable, const std::string& text) {
  const char* path = std::getenv(variable);
  if (!path || !*path) return;
  // An earlier write may have left its last line open (printf without \n):
  // a heading or a name=value line must start a line of its own.
  const bool mid_line = ends_mid_line(path);
  std::ofstream file(path, std::ios::app | std::ios::binary);
  if (mid_line) file << "\n";
  file << text;
  file.flush();
  if (!file) ctx.out().warn("cannot append to $" + std::string(variable) + " " + quote(path));
}

std::string shallow_clone_warning(const git::CloneDepth& depth) {
  return std::string("this is a shallow clone") + (depth.has_tags ? "" : " without tags") +
         ": the commit is recorded, but the history and tags around it are not here; " +
         git::shallow_clone_fix();
}

std::string describe_annotation(const Json& changes) {
  std::string text;
  const auto add = [&](const std::string& part) { text += (text.empty() ? "" : ", ") + part; };
  const Json labels_set = changes.value("labels", Json::object());  // items() must not outlive it
  for (const auto& [key, value] : labels_set.items()) {
    add("label " + key + "=" + value.get<std::string>());
  }
  for (const auto& key : changes.value("remove_labels", Json::array())) {
    add("removed label " + key.get<std::string>());
  }
  if (changes.contains("owner")) add("owner " + changes.at("owner").get<std::string>());
  if (changes.contains("description")) add("description");
  return text;
}

}  // namespace lm::cli
