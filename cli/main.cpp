#include <unistd.h>

#include <cstdio>
#include <new>

#include "cli/app.hpp"
#include "registry/core/error.hpp"
#include "registry/core/git.hpp"
#include "registry/core/sha256.hpp"

namespace {

// Out of memory, lastmile stops at once with a message, as git does:
// unwinding needs memory too (JSON values allocate to destroy themselves),
// and libgit2 and OpenSSL do not survive every failed allocation. The
// registry is built to survive a process stopped at any instant: a write
// is one SQLite transaction, objects are renamed into place whole, and
// temporary files left behind are removed by the next write.
[[noreturn]] void out_of_memory() {
  static const char message[] = "lastmile: error: out of memory\n";
  [[maybe_unused]] const auto n = ::write(2, message, sizeof message - 1);
  ::_exit(static_cast<int>(lm::ExitCode::error));
}

}  // namespace

int main(int argc, char** argv) {
  std::set_new_handler(out_of_memory);
  lm::set_crypto_out_of_memory_handler(out_of_memory);
  lm::git::set_out_of_memory_handler(out_of_memory);
  // An allocation that fails without the handler (std::aligned_alloc) throws.
  try {
    return lm::cli::run(argc, argv);
  } catch (const std::bad_alloc&) {
    std::fputs("lastmile: error: out of memory\n", stderr);
    return static_cast<int>(lm::ExitCode::error);
  }
}
