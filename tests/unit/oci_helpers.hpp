#pragma once
// Shared by the OCI tests: a hermetic credential environment and small
// helpers around a test registry.

#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "registry/core/oci.hpp"
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

}  // namespace lm::test
