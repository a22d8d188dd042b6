// The content-addressed object store.

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <atomic>
#include <random>
#include <thread>

#include "registry/core/error.hpp"
#include "registry/core/files.hpp"
#include "registry/core/sha256.hpp"
#include "registry/store.hpp"
#include "tests/unit/helpers.hpp"

using namespace lm;

namespace {

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

ObjectStore make_store(const test::TempDir& dir) {
  fs::create_directories(dir / "reg/objects/sha256");
  fs::create_directories(dir / "reg/tmp");
  ObjectStore store(dir / "reg");
  store.begin_session();
  return store;
}

// True when the store's temporary directory holds only session locks.
bool no_temp_files(const ObjectStore& store) {
  for (const auto& e : fs::directory_iterator(store.temp_dir())) {
    if (e.path().extension() != ".lock") return false;
  }
  return true;
}

}  // namespace

TEST_CASE("staging hashes and copies in one pass, publish names the object", "[store]") {
  test::TempDir dir;
  const ObjectStore store = make_store(dir);
  // Larger than one chunk, so the two-thread pipeline runs.
  const std::string content = random_bytes((5 << 20) + 123, 1);
  dir.write("big.bin", content);
  Progress progress;
  const StagedObject staged = store.stage(dir / "big.bin", content.size(), &progress);
  CHECK(staged.sha256 == Sha256::hex_of(content));
  CHECK(staged.size == content.size());
  CHECK(progress.done_bytes == content.size());
  REQUIRE_FALSE(staged.temp.empty());
  CHECK_FALSE(store.contains(staged.sha256));
  store.publish({staged});
  REQUIRE(store.contains(staged.sha256));
  const fs::path object = store.object_path(staged.sha256);
  CHECK(object.parent_path().filename() == staged.sha256.substr(0, 2));
  CHECK(read_file(object) == content);
  struct stat st {};
  REQUIRE(::stat(object.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0444);
  CHECK(no_temp_files(store));
}

TEST_CASE("large files go through direct I/O, partial last block included", "[store]") {
  for (const std::size_t size : {std::size_t{16} << 20, (std::size_t{17} << 20) + 123}) {
    INFO(size);
    test::TempDir dir;
    const ObjectStore store = make_store(dir);
    const std::string content = random_bytes(size, 3);
    dir.write("big.bin", content);
    const StagedObject staged = store.stage(dir / "big.bin", size, nullptr);
    ObjectStore::sync_staged({staged});
    store.publish({staged});
    CHECK(staged.sha256 == Sha256::hex_of(content));
    CHECK(read_file(store.object_path(staged.sha256)) == content);
  }
}

TEST_CASE("bytes the store holds are staged as existing, and can replace it", "[store]") {
  test::TempDir dir;
  const ObjectStore store = make_store(dir);
  dir.write("a", "same bytes");
  dir.write("b", "same bytes");
  const StagedObject first = store.stage(dir / "a", 10, nullptr);
  CHECK_FALSE(first.existing);
  store.publish({first});
  const StagedObject again = store.stage(dir / "b", 10, nullptr);
  CHECK(again.existing);
  REQUIRE_FALSE(again.temp.empty());
  // A damaged object is replaced by the fresh copy.
  const fs::path object = store.object_path(again.sha256);
  ::chmod(object.c_str(), 0644);
  std::ofstream(object) << "damaged!!!";
  store.publish({again});
  CHECK(read_file(object) == "same bytes");
}

TEST_CASE("a file that changed size since the scan is refused", "[store]") {
  test::TempDir dir;
  const ObjectStore store = make_store(dir);

  dir.write("a", "12345");
  try {
    store.stage(dir / "a", 4, nullptr);
    FAIL("accepted");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("changed while being read"));
  }
}

TEST_CASE("discard removes staged files", "[store]") {
  test::TempDir dir;
  const ObjectStore store = make_store(dir);
  dir.write("a", "abc");
  const StagedObject s = store.stage(dir / "a", 3, nullptr);
  CHECK(fs::exists(s.temp));
  ObjectStore::discard({s});
  CHECK_FALSE(fs::exists(s.temp));
}

TEST_CASE("temporary files of ended sessions are removed, live ones kept", "[store]") {
  test::TempDir dir;
  const ObjectStore store = make_store(dir);  // a live session of this process
  dir.write("a", "abc");
  const StagedObject mine = store.stage(dir / "a", 3, nullptr);
  // A session whose process ended: its lock file is there but unlocked.
  dir.write("reg/tmp/4242-deadbeef0.lock", "");
  dir.write("reg/tmp/4242-deadbeef0-0.tmp", "partial");
  // A stray temporary file without a session, written two hours ago.
  const fs::path stray = dir.write("reg/tmp/77-stray-0.tmp", "old");
  fs::last_write_time(stray, fs::file_time_type::clock::now() - std::chrono::hours(2));
  const fs::path fresh = dir.write("reg/tmp/78-fresh-0.tmp", "new");
  store.remove_stale_temps();
  CHECK(fs::exists(mine.temp));
  CHECK_FALSE(fs::exists(dir / "reg/tmp/4242-deadbeef0.lock"));
  CHECK_FALSE(fs::exists(dir / "reg/tmp/4242-deadbeef0-0.tmp"));
  CHECK_FALSE(fs::exists(stray));
  CHECK(fs::exists(fresh));
}

TEST_CASE("a lock file its process never locked is removed, one being locked is kept", "[store]") {
  test::TempDir dir;
  const ObjectStore store = make_store(dir);
  // Killed between creating its lock file and locking it: no temporary
  // file can exist yet, and nothing else would ever remove it.
  const fs::path dead = dir.write("reg/tmp/4243-cafef00d0.lock-new", "");
  const fs::path held = dir.write("reg/tmp/4244-cafef00d0.lock-new", "");
  UniqueFd holder = open_file(held, O_RDONLY);
  REQUIRE(::flock(holder.get(), LOCK_EX | LOCK_NB) == 0);
  store.remove_stale_temps();
  CHECK_FALSE(fs::exists(dead));
  CHECK(fs::exists(held));
}

TEST_CASE("a session whose new lock file a cleaner removed starts again", "[store]") {
  test::TempDir dir;
  fs::create_directories(dir / "reg/objects/sha256");
  fs::create_directories(dir / "reg/tmp");
  // A cleaner running all the time, as many processes might: the session
  // still starts (retrying under a new name) and its lock is never removed.
  std::atomic<bool> stop{false};
  std::thread cleaner([&] {
    const ObjectStore other(dir / "reg");
    while (!stop) other.remove_stale_temps();
  });
  for (int i = 0; i < 200; ++i) {
    ObjectStore store(dir / "reg");
    REQUIRE_NOTHROW(store.begin_session());
    dir.write("a", "abc");
    const StagedObject s = store.stage(dir / "a", 3, nullptr);
    CHECK(fs::exists(s.temp));
  }
  stop = true;
  cleaner.join();
}

TEST_CASE("hash_file and copy_and_hash agree with Sha256", "[store]") {
  test::TempDir dir;
  const std::string content = random_bytes(3 << 20, 2);
  dir.write("f", content);
  CHECK(hash_file(dir / "f", nullptr).sha256 == Sha256::hex_of(content));
  UniqueFd out = open_file(dir / "copy", O_WRONLY | O_CREAT | O_EXCL, 0644);
  const HashedFile copied = copy_and_hash(dir / "f", out.get(), dir / "copy", nullptr);
  out.close_checked(dir / "copy");
  CHECK(copied.sha256 == Sha256::hex_of(content));
  CHECK(read_file(dir / "copy") == content);
}
