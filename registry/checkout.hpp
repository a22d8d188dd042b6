#pragma once
// Materialising a registered version's files in a directory.

#include <filesystem>

#include "registry/names.hpp"
#include "registry/progress.hpp"
#include "registry/query.hpp"
#include "registry/registry.hpp"
#include "registry/remotes.hpp"

namespace lm {

struct CheckoutResult {
  VersionRecord version;
  std::filesystem::path dir;
  std::size_t files = 0;
  std::uint64_t bytes = 0;
};

// Writes the files of `ref` into `to` (created; must be empty if it exists),
// hashing each as it is copied. Bytes not on this machine are downloaded
// into the store first, checked, from `blob_remotes` or where the log says
// the version was pushed. A file whose bytes no longer match the manifest
// is Error(check_failed) and nothing is left behind.
CheckoutResult checkout(Registry& registry, const Ref& ref, const std::filesystem::path& to,
                        Progress* progress, const std::vector<Remote>& blob_remotes = {});

}  // namespace lm
