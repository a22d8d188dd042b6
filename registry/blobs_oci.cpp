#include "registry/blobs.hpp"
#include "registry/core/error.hpp"

namespace lm {

std::unique_ptr<BlobStore> open_oci_store(const Remote& remote) {
  throw Error(ExitCode::config, "OCI remotes are not available in this build: " + quote(remote.url));
}

}  // namespace lm
