#include "registry/core/sha256.hpp"

#include <openssl/err.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstdlib>

#include "registry/core/error.hpp"

namespace lm {

namespace {

struct EvpMdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }
};

// OpenSSL failing is the library or the system failing, not lastmile.
[[noreturn]] void throw_openssl(const char* what) {
  char buf[256];
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  throw Error(ExitCode::error, std::string(what) + ": " + buf);
}

void (*g_out_of_memory)() = nullptr;

void* checked(void* p, std::size_t size) {
  if (p == nullptr && size != 0 && g_out_of_memory) g_out_of_memory();
  return p;
}

}  // namespace

struct Sha256::Impl {
  std::unique_ptr<EVP_MD_CTX, EvpMdCtxFree> ctx{EVP_MD_CTX_new()};
};

Sha256::Sha256() : m_impl(std::make_unique<Impl>()) {
  if (!m_impl->ctx || EVP_DigestInit_ex(m_impl->ctx.get(), EVP_sha256(), nullptr) != 1) {
    throw_openssl("cannot start sha256");
  }
}

Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(const void* data, std::size_t size) {
  if (size != 0 && EVP_DigestUpdate(m_impl->ctx.get(), data, size) != 1) {
    throw_openssl("sha256 update failed");
  }
}

std::string Sha256::hex_final() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(m_impl->ctx.get(), digest, &length) != 1) {
    throw_openssl("sha256 final failed");
  }
  static const char k_hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out += k_hex[digest[i] >> 4];
    out += k_hex[digest[i] & 0xf];
  }
  return out;
}

std::string Sha256::hex_of(std::string_view data) {
  Sha256 hash;
  hash.update(data);
  return hash.hex_final();
}

void set_crypto_out_of_memory_handler(void (*handler)()) {
  g_out_of_memory = handler;
  // Refused (0) once OpenSSL has allocated: then its own allocator stays.
  CRYPTO_set_mem_functions(
      [](std::size_t n, const char*, int) { return checked(std::malloc(n), n); },
      [](void* p, std::size_t n, const char*, int) { return checked(std::realloc(p, n), n); },
      [](void* p, const char*, int) { std::free(p); });
}

bool is_sha256_hex(std::string_view text) {
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace lm
