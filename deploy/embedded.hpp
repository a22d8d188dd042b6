#pragma once
// The files under templates/, compiled into the binary (see
// cmake/embed_files.cmake) so one executable is all a machine needs.

#include <string_view>
#include <vector>

namespace lm::deploy {

struct EmbeddedFile {
  std::string_view path;  // relative to templates/, e.g. "deploy/kubernetes.yaml.mustache"
  std::string_view bytes;
};

// Every embedded file, sorted by path.
const std::vector<EmbeddedFile>& embedded_files();

}  // namespace lm::deploy
