#pragma once
// SHA-256 through OpenSSL EVP (which uses the CPU's SHA extensions).

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace lm {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  void update(const void* data, std::size_t size);
  void update(std::string_view data) { update(data.data(), data.size()); }
  // Returns the lowercase hex digest; the object cannot be updated after.
  std::string hex_final();

  // Returns the lowercase hex SHA-256 of `data`.
  static std::string hex_of(std::string_view data);

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

// True when `text` is 64 lowercase hex digits.
bool is_sha256_hex(std::string_view text);

// Calls `handler` (which must not return) when OpenSSL cannot allocate
// memory: OpenSSL does not survive every failed allocation (a failed
// initialisation can crash a later call). Call before anything uses OpenSSL.
void set_crypto_out_of_memory_handler(void (*handler)());

}  // namespace lm
