#pragma once
// The pieces of OCI registry authentication that need no HTTP: where
// credentials come from, and what a registry's WWW-Authenticate asks for.
// Used by oci.cpp; exposed for tests.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lm::oci {

// Credentials for one registry host. Never put any field but `source` in a
// message.
struct Credentials {
  // Where they came from, for messages: "LASTMILE_OCI_USERNAME",
  // "~/.docker/config.json", "docker-credential-pass (credHelpers in ...)".
  std::string source;
  std::string username;  // with password: basic credentials
  std::string password;
  std::string identity_token;  // an OAuth2 refresh token (docker's identitytoken)
  std::string bearer;          // LASTMILE_OCI_TOKEN: sent as it is
};

// The credentials for `host` ("registry.example.com:5000"), first match
// wins: LASTMILE_OCI_TOKEN; LASTMILE_OCI_USERNAME + LASTMILE_OCI_PASSWORD;
// in Docker's config.json ($DOCKER_CONFIG/config.json, else
// ~/.docker/config.json): credHelpers[host], then auths[host] (auth,
// username/password or identitytoken), then credsStore. A helper is run as
// "docker-credential-NAME get" with the server on stdin. nullopt when no
// source has any. Throws Error(config) for a broken source: one of the two
// variables set without the other, a config.json that does not parse, a
// helper that fails.
std::optional<Credentials> find_credentials(const std::string& host);

// The places find_credentials looks, for a hint.
std::string credential_sources();

// One challenge of a WWW-Authenticate header.
struct Challenge {
  std::string scheme;                         // lowercase: "bearer", "basic"
  std::map<std::string, std::string> params;  // lowercase names: realm, service, scope
};

// The challenges in the WWW-Authenticate header values `headers`
// (RFC 9110 §11.6.1: scheme, then name=token or name="quoted" pairs).
// Unparsable text ends the list.
std::vector<Challenge> parse_challenges(const std::vector<std::string>& headers);

std::string base64_encode(std::string_view bytes);
// nullopt when `text` is not base64.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace lm::oci
