// The code that runs on several threads: parallel_for itself, and the
// registration, verification and checkout of a directory of many files,
// which hash and copy on every core and share one Progress. The
// ThreadSanitizer build (./build.sh test) runs these with the rest.

#include <catch2/catch.hpp>
#include <atomic>
#include <chrono>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "registry/checkout.hpp"
#include "registry/core/parallel.hpp"
#include "registry/core/sha256.hpp"
#include "registry/register.hpp"
#include "registry/registry.hpp"
#include "registry/verify.hpp"
#include "tests/unit/helpers.hpp"

using namespace lm;

TEST_CASE("parallel_for runs every index once, on several threads", "[parallel]") {
  constexpr std::size_t n = 10'000;
  std::vector<std::atomic<int>> seen(n);
  std::atomic<std::size_t> sum{0};
  parallel_for(n, 8, [&](std::size_t i) {
    seen[i].fetch_add(1);
    sum.fetch_add(i);
  });
  for (std::size_t i = 0; i < n; ++i) REQUIRE(seen[i].load() == 1);
  CHECK(sum.load() == n * (n - 1) / 2);
}

TEST_CASE("parallel_for rethrows the first failure and stops taking work", "[parallel]") {
  // Every other index takes a millisecond, so running them all would take
  // seconds of work: far longer than any build (ASan's slow throw included)
  // needs to see the failure and stop, and the bound does not hang on timing.
  constexpr std::size_t n = 20'000;
  std::atomic<std::size_t> ran{0};
  CHECK_THROWS_WITH(parallel_for(n, 4,
                                 [&](std::size_t i) {
                                   ran.fetch_add(1);
                                   if (i == 10) throw std::runtime_error("index 10 failed");
                                   std::this_thread::sleep_for(std::chrono::milliseconds(1));
                                 }),
                    "index 10 failed");
  CHECK(ran.load() < n);
}

TEST_CASE("a directory of many files registers, verifies and checks out on all cores", "[parallel]") {
  test::TempDir dir;
  // Sizes around the copy buffer and the direct-I/O threshold's smaller
  // neighbours, so both the hashing thread and the writer are busy.
  constexpr int files = 96;
  std::vector<std::string> contents;
  for (int i = 0; i < files; ++i) {
    const std::size_t size = (i % 7) * 65'537 + static_cast<std::size_t>(i) * 31 + 1;
    std::string bytes(size, '\0');
    for (std::size_t b = 0; b < size; ++b) bytes[b] = static_cast<char>((b * 131 + i * 7) & 0xff);
    contents.push_back(bytes);
    dir.write("model/part-" + std::to_string(i) + ".bin", bytes);
  }
  const RegistryLocation location{dir / ".lastmile", true, false};
  Registry::init(location, std::chrono::seconds(5));
  Registry registry = Registry::open(location, std::chrono::seconds(5));

  for (const StoreMode mode : {StoreMode::copy, StoreMode::reference}) {
    INFO((mode == StoreMode::copy ? "copy" : "reference"));
    RegisterRequest request;
    request.name = mode == StoreMode::copy ? "many" : "many-ref";
    request.path = dir / "model";
    request.store = mode;
    request.actor = "ada";
    request.cwd = dir.path();
    Progress progress;
    const RegisterResult result = register_version(registry, request, &progress);
    REQUIRE(result.created);
    CHECK(progress.done_files.load() == files);

    Progress verify_progress;
    const VerifyReport report = verify(registry, {parse_ref(request.name)}, true, &verify_progress);
    CHECK(report.ok());
    CHECK(report.files_hashed == files);
  }

  Progress checkout_progress;
  const CheckoutResult out = checkout(registry, parse_ref("many"), dir / "out", &checkout_progress);
  CHECK(out.files == files);
  for (int i = 0; i < files; ++i) {
    const fs::path p = dir / "out" / ("part-" + std::to_string(i) + ".bin");
    std::ifstream f(p, std::ios::binary);
    const std::string got((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    REQUIRE(got == contents[static_cast<std::size_t>(i)]);
  }
}
