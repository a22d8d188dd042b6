#pragma once
// Shared by the OCI tests: a hermetic credential environment and small
// helpers around a test registry.

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "registry/core/error.hpp"
#include "registry/core/oci.hpp"
#include "registry/core/process.hpp"
#include "registry/core/sha256.hpp"
#include "tests/unit/helpers.hpp"

namespace lm::test {

// Sets (or, with nullopt, unsets) environment variables for one scope and
// puts the old values back after.
class ScopedEnv {
 public:
  ScopedEnv() = default;
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  ~ScopedEnv() {
    for (auto it = m_saved.rbegin(); it != m_saved.rend(); ++it) apply(it->first, it->second);
  }
  void set(const std::string& name, std::optional<std::string> value) {
    const char* old = std::getenv(name.c_str());
    m_saved.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
    apply(name, value);
  }

 private:
  static void apply(const std::string& name, const std::optional<std::string>& value) {
    if (value) {
      ::setenv(name.c_str(), value->c_str(), 1);
    } else {
      ::unsetenv(name.c_str());
    }
  }
  std::vector<std::pair<std::string, std::optional<std::string>>> m_saved;
};

// No credentials anywhere: no LASTMILE_OCI_* variables, and DOCKER_CONFIG
// naming an empty directory where a test may write a config.json.
struct NoCredentials {
  TempDir docker_config;
  ScopedEnv env;
  NoCredentials() {
    for (const char* name :
         {"LASTMILE_OCI_TOKEN", "LASTMILE_OCI_USERNAME", "LASTMILE_OCI_PASSWORD"}) {
      env.set(name, std::nullopt);
    }
    env.set("DOCKER_CONFIG", docker_config.path().string());
  }
};

inline std::string digest_of(std::string_view bytes) { return "sha256:" + Sha256::hex_of(bytes); }

// A client of the plain-http registry at `host` (127.0.0.1:PORT).
inline oci::Client local_client(const std::string& host) {
  return oci::Client(oci::Endpoint{host, "unit", true});
}

// The error `fn` throws; fails the test when it throws none.
inline Error error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e;
  }
  FAIL("no lm::Error was thrown");
  throw std::logic_error("unreachable");
}

// What skopeo, a client independent of lastmile's, reads as the manifest of
// REPO:TAG in the plain-http registry at `host`.
inline std::string skopeo_manifest(const std::string& host, const std::string& repo,
                                   const std::string& tag) {
  ProcessRequest request;
  request.argv = {"skopeo", "inspect", "--raw", "--tls-verify=false",
                  "docker://" + host + "/" + repo + ":" + tag};
  request.discard_stderr = true;
  request.timeout = std::chrono::seconds(30);
  request.output_limit = 1 << 20;
  const ProcessResult r = run_process(request);
  REQUIRE(r.succeeded());
  return r.output;
}

}  // namespace lm::test
