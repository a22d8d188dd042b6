// A registry whose database file is anything at all (as SQLite's dbfuzz2
// feeds it mutated database files): the input becomes .lastmile/registry.db
// and is opened and read the way 'list', 'show', 'status', 'history' and
// 'verify' read it. A damaged registry must end in lm::Error (corrupt
// data, or SQLite's own error), never in a crash, a hang or another
// exception.

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>

#include "registry/registry.hpp"
#include "registry/verify.hpp"
#include "tests/fuzz/read_registry.hpp"

namespace {

namespace fs = std::filesystem;
using lm::fuzz::attempt;
using lm::fuzz::k_damaged;

// One registry directory per process, emptied before each input.
const fs::path& registry_dir() {
  static const fs::path dir = [] {
    std::string pattern = (fs::temp_directory_path() / "lastmile-fuzz-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) lm::fuzz::fail("cannot create a temporary directory");
    static const fs::path top = pattern;
    std::atexit([] {
      std::error_code ignored;
      fs::remove_all(top, ignored);
    });
    fs::create_directories(top / ".lastmile" / "objects" / "sha256");
    fs::create_directories(top / ".lastmile" / "tmp");
    return top / ".lastmile";
  }();
  return dir;
}

void write_database(const unsigned char* data, std::size_t size) {
  const fs::path& dir = registry_dir();
  for (const char* stale : {"registry.db-wal", "registry.db-shm", "registry.db-journal"}) {
    std::error_code ignored;
    fs::remove(dir / stale, ignored);
  }
  std::ofstream out(dir / "registry.db", std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out) lm::fuzz::fail("cannot write the database file");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, std::size_t size) {
  write_database(data, size);
  const lm::RegistryLocation location{registry_dir(), true, false};
  std::optional<lm::Registry> registry;
  if (!attempt([&] { registry.emplace(lm::Registry::open(location, std::chrono::milliseconds(0))); },
               k_damaged)) {
    return 0;
  }
  const std::vector<lm::Ref> resolved = lm::fuzz::read_models(registry->db());
  // 'verify' and 'verify REF': integrity, the hash chain, the tables against
  // the log, and the versions' files (none are in the store here).
  attempt([&] { (void)lm::verify(*registry, {}, false, nullptr); }, k_damaged);
  if (!resolved.empty()) {
    attempt([&] { (void)lm::verify(*registry, {resolved.front()}, false, nullptr); }, lm::fuzz::k_lookup);
  }
  return 0;
}
