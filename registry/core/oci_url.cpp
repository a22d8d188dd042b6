// oci:// URLs and the distribution spec's name rules.

#include <algorithm>
#include <cctype>

#include "registry/core/error.hpp"
#include "registry/core/oci.hpp"

namespace lm::oci {

namespace {

constexpr std::string_view k_scheme = "oci://";
constexpr std::string_view k_url_form = "oci://HOST[:PORT]/REPOSITORY";
constexpr std::string_view k_component_rule =
    "each '/'-separated component must match [a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*";
constexpr std::size_t k_max_repository = 255;

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// One run of separators between alphanumerics: ".", "_", "__" or "-"+.
bool valid_separator(std::string_view sep) {
  if (sep == "." || sep == "_" || sep == "__") return true;
  return std::all_of(sep.begin(), sep.end(), [](char c) { return c == '-'; });
}

bool valid_component(std::string_view part) {
  if (part.empty() || !lower_alnum(part.front()) || !lower_alnum(part.back())) return false;
  std::size_t i = 0;
  while (i < part.size()) {
    while (i < part.size() && lower_alnum(part[i])) ++i;
    const std::size_t start = i;
    while (i < part.size() && !lower_alnum(part[i])) ++i;
    if (i > start && !valid_separator(part.substr(start, i - start))) return false;
  }
  return true;
}

// The URL as a message may show it: any "user:password@" is left out.
std::string shown_url(std::string_view url) {
  const std::size_t start = url.find("://") == std::string_view::npos ? 0 : url.find("://") + 3;
  const std::size_t end = std::min(url.find('/', start), url.size());
  const std::size_t at = url.substr(0, end).rfind('@');
  if (at == std::string_view::npos || at < start) return quote(url);
  return quote(std::string(url.substr(0, start)) + "..." + std::string(url.substr(at)));
}

[[noreturn]] void bad_url(std::string_view url, const std::string& why) {
  throw Error(ExitCode::usage, "invalid OCI registry URL " + shown_url(url) + ": " + why,
              "write it as " + std::string(k_url_form) + ", e.g. oci://ghcr.io/acme/models");
}

bool valid_port(std::string_view port) {
  if (port.empty() || port.size() > 5) return false;
  if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  const int value = std::stoi(std::string(port));
  return value >= 1 && value <= 65535;
}

bool valid_host_name(std::string_view name) {
  return !name.empty() && name.front() != '.' && name.front() != '-' &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-';
         });
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

bool valid_host(std::string_view host) {
  std::string_view port;
  if (host.substr(0, 1) == "[") {
    const auto close = host.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    const std::string_view v6 = host.substr(1, close - 1);
    if (!std::all_of(v6.begin(), v6.end(), [](char c) {
          return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
        })) {
      return false;
    }
    const std::string_view rest = host.substr(close + 1);
    if (rest.empty()) return true;
    return rest.front() == ':' && valid_port(rest.substr(1));
  }
  const auto colon = host.find(':');
  if (colon != std::string_view::npos) port = host.substr(colon + 1);
  return valid_host_name(host.substr(0, colon)) &&
         (colon == std::string_view::npos || valid_port(port));
}

bool valid_repository(std::string_view repository) {
  if (repository.empty() || repository.size() > k_max_repository) return false;
  std::size_t start = 0;
  for (;;) {
    const auto slash = repository.find('/', start);
    if (!valid_component(repository.substr(
            start, slash == std::string_view::npos ? std::string_view::npos : slash - start))) {
      return false;
    }
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

bool valid_tag(std::string_view tag) {
  const auto allowed = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  };
  return !tag.empty() && tag.size() <= 128 && tag.front() != '.' && tag.front() != '-' &&
         std::all_of(tag.begin(), tag.end(), allowed);
}

bool is_loopback_host(std::string_view host) {
  std::string_view name = host;
  if (name.substr(0, 1) == "[") {
    name = name.substr(1, name.find(']') == std::string_view::npos ? 0 : name.find(']') - 1);
  } else if (const auto colon = name.find(':'); colon != std::string_view::npos) {
    name = name.substr(0, colon);
  }
  const std::string lower = lowercase(name);
  return lower == "localhost" || lower == "127.0.0.1" || lower == "::1";
}

Endpoint parse_url(std::string_view url) {
  if (url.substr(0, k_scheme.size()) != k_scheme) {
    bad_url(url, "it does not start with " + std::string(k_scheme));
  }
  std::string_view rest = url.substr(k_scheme.size());
  const auto slash = rest.find('/');
  const std::string_view host = rest.substr(0, slash);
  if (host.find('@') != std::string_view::npos) {
    bad_url(url,
            "credentials do not belong in the URL; lastmile reads them from "
            "LASTMILE_OCI_USERNAME and LASTMILE_OCI_PASSWORD or Docker's config.json");
  }
  if (!valid_host(host)) bad_url(url, "no valid HOST[:PORT] after " + std::string(k_scheme));
  std::string_view path =
      slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  if (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path.empty()) bad_url(url, "no repository path after the host");
  if (!valid_repository(path)) {
    bad_url(url, "the repository path " + quote(path) +
                     " is not valid: " + std::string(k_component_rule) + " (lowercase), at most " +
                     std::to_string(k_max_repository) + " bytes in all");
  }
  return Endpoint{lowercase(host), std::string(path), false};
}

}  // namespace lm::oci
