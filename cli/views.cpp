#include "cli/views.hpp"

#include <cstdio>

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

Json event_json(const Event& e) {
  return {{"seq", e.seq},     {"id", e.id},           {"prev", e.prev},
          {"time", e.time},   {"actor", e.actor},     {"kind", e.kind},
          {"subject", e.subject}, {"payload", e.payload}};
}

std::string format_seconds(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, seconds < 10 ? "%.2fs" : "%.1fs", seconds);
  return buf;
}

std::string size_summary(std::uint64_t bytes, std::uint64_t files) {
  return human_size(bytes) + " in " + std::to_string(files) + (files == 1 ? " file" : " files");
}

std::string shallow_clone_warning(const git::CloneDepth& depth) {
  return std::string("this is a shallow clone") + (depth.has_tags ? "" : " without tags") +
         ": the commit is recorded, but the history and tags around it are not here; " +
         git::shallow_clone_fix();
}

}  // namespace lm::cli
