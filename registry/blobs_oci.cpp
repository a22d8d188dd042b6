// An OCI registry as a blob remote: each version is one ModelPack artifact
// at <REPO>/<model name>, tagged with the version, one layer per file.

#include <unistd.h>

#include <set>

#include "registry/blobs.hpp"
#include "registry/core/error.hpp"
#include "registry/core/git.hpp"
#include "registry/core/oci.hpp"
#include "registry/modelpack.hpp"

namespace lm {

namespace fs = std::filesystem;

namespace {

class OciStore : public BlobStore {
 public:
  explicit OciStore(const Remote& remote) : m_remote(remote), m_client(endpoint_of(remote)) {}

  // Repair re-sends what the registry lacks and the manifest; a blob the
  // registry has cannot be replaced through the API (it is the registry's
  // own storage that is damaged then).
  BlobUpload upload(const VersionRecord& v, const Manifest& manifest, const BytesOf& bytes_of,
                    Progress* progress, bool repair) override {
    const modelpack::Artifact artifact = modelpack::build_artifact(v, manifest);
    const std::string repo = modelpack::oci_repository(m_client.endpoint().repository, v.name);
    BlobUpload result;
    std::set<std::string> done;
    for (const ManifestEntry& e : manifest) {
      if (e.is_link() || !done.insert(e.sha256).second) continue;
      const auto counter = [progress](std::uint64_t bytes) { advance(progress, bytes); };
      const bool sent = m_client.put_blob_file(repo, "sha256:" + e.sha256, bytes_of(e), e.size, counter);
      if (sent) {
        ++result.files_sent;
        result.bytes_sent += e.size;
        if (repair) ++result.files_repaired;
      } else {
        ++result.files_present;
        advance(progress, e.size);
      }
    }
    m_client.put_blob_bytes(repo, artifact.config_digest, artifact.config);
    const std::string digest = m_client.put_manifest(repo, modelpack::oci_tag(v.version),
                                                     std::string(modelpack::k_manifest_media_type),
                                                     artifact.manifest);
    result.location = "oci://" + m_client.endpoint().host + "/" + repo + "@" + digest;
    return result;
  }

  bool download(const VersionRecord& v, const ManifestEntry& e, const fs::path& dest, Progress* progress) override {
    const std::string repo = modelpack::oci_repository(m_client.endpoint().repository, v.name);
    const std::string digest = "sha256:" + e.sha256;
    if (!m_client.has_blob(repo, digest)) return false;
    const auto counter = [progress](std::uint64_t bytes) { advance(progress, bytes); };
    try {
      m_client.get_blob(repo, digest, dest, counter);
    } catch (const Error& error) {
      if (error.code() != ExitCode::check_failed) throw;
      throw Error(ExitCode::check_failed,
                  "the blob remote " + quote(m_remote.name) + " (" + git::strip_credentials(m_remote.url) + ") holds bytes for " +
                      quote(e.path) + " of " + v.ref() + " that do not match its digest " + digest + "; refused",
                  "the registry's stored copy is damaged; once its administrator has deleted that blob, "
                  "'lastmile push --repair' from a machine that has the version uploads it again");
    }
    return true;
  }

 private:
  static oci::Endpoint endpoint_of(const Remote& remote) {
    oci::Endpoint endpoint = oci::parse_url(remote.url);
    endpoint.insecure = remote.insecure || endpoint.insecure;
    return endpoint;
  }

  Remote m_remote;
  oci::Client m_client;
};

}  // namespace

std::unique_ptr<BlobStore> open_oci_store(const Remote& remote) { return std::make_unique<OciStore>(remote); }

}  // namespace lm
