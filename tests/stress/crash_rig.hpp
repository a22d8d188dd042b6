#pragma once
// What the crash suite does around each kill: a registry to work in,
// artifacts no registration has seen, a lastmile run killed with SIGKILL
// after a chosen delay, and the checks that the killed operation left all
// of itself or nothing.

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/sandbox.hpp"
#include "tests/stress/registry_probe.hpp"

namespace lm::stress::crash {

namespace fs = std::filesystem;
using lm::test::RunResult;
using lm::test::Sandbox;

enum class Target { small, large, promote };

inline const char* target_name(Target t) {
  return t == Target::small ? "register small" : t == Target::large ? "register large" : "promote";
}

// Everything counted across the kills; failures() is what the suite found wrong.
struct Tally {
  long attempts = 0, kills = 0, finished_first = 0;
  std::map<std::string, long> kills_by;  // target name -> kills that landed
  long present = 0, absent = 0;          // the killed operation, after the kill
  long half_states = 0, unexpected_exits = 0;
  long verify_failures = 0, fsck_failures = 0, rerun_failures = 0;
  long misnamed_objects = 0, writable_objects = 0, objects_hashed = 0;
  long orphan_objects = 0;     // published by a registration killed before its commit
  long orphans_not_adopted = 0;  // of those, still unreferenced once the next run registered the same bytes
  long killed_whole = 0;       // kills that landed after the commit
  long kills_leaving_temps = 0, temps_left = 0, temps_not_cleaned = 0;
  std::vector<std::string> problems;

  void problem(long& counter, const std::string& what) {
    ++counter;
    if (problems.size() < 20) problems.push_back(what);
  }
  long failures() const {
    return half_states + unexpected_exits + verify_failures + fsck_failures + rerun_failures +
           misnamed_objects + writable_objects + temps_not_cleaned + orphans_not_adopted;
  }
};

inline const char* k_policy = R"(stages:
  - name: sandbox
  - name: staging
    from: [sandbox]
  - name: production
    from: [staging]
)";

// Starts lastmile and sends it SIGKILL after `delay`; rc is 137 when the
// kill landed before it exited.
inline RunResult run_and_kill(const Sandbox& sb, const std::vector<std::string>& args,
                              std::chrono::microseconds delay) {
  auto child = sb.start(args);
  std::this_thread::sleep_for(delay);
  child->kill(SIGKILL);
  return child->wait();
}

inline bool lstat_exists(const fs::path& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// The file names under objects/ (to tell which objects a kill added).
inline std::set<std::string> object_names(const Sandbox& sb) {
  std::set<std::string> out;
  std::error_code ec;
  const fs::path root = sb.registry() / "objects" / "sha256";
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_directory()) out.insert(it->path().parent_path().filename().string() + it->path().filename().string());
  }
  return out;
}

// Unique bytes: a seeded random block, with the block number and a nonce
// written over its start, so no two artifacts share an object.
inline void write_random_file(const fs::path& path, std::uint64_t bytes, std::mt19937_64& rng) {
  constexpr std::size_t k_block = 1 << 20;
  std::vector<std::uint64_t> block(std::min<std::uint64_t>(bytes, k_block) / 8 + 1);
  for (auto& word : block) word = rng();
  const std::uint64_t nonce = rng();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  for (std::uint64_t done = 0, n = 0; done < bytes; ++n) {
    block[0] = n;
    block[1 % block.size()] = nonce;
    const auto size = static_cast<std::streamsize>(std::min<std::uint64_t>(bytes - done, k_block));
    out.write(reinterpret_cast<const char*>(block.data()), size);
    done += static_cast<std::uint64_t>(size);
  }
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

// A registry, the object auditor that knows which of its objects were
// already found right, and a counter for fresh artifact names.
struct Rig {
  std::unique_ptr<Sandbox> sb;
  ObjectAuditor objects;
  long next = 0;

  Rig() : sb(std::make_unique<Sandbox>()) {
    const auto r = sb->run({"init"});
    if (r.rc != 0) throw std::runtime_error("init failed: " + r.err);
    sb->write("lastmile.yaml", k_policy);
    fs::create_directories(sb->repo() / "art");
  }

  // A directory of a few small files, or one file of `large_mib` MiB.
  std::string artifact(bool large, long large_mib, std::mt19937_64& rng) {
    const std::string rel = "art/" + std::to_string(next++);
    if (large) {
      write_random_file(sb->repo() / (rel + ".bin"), static_cast<std::uint64_t>(large_mib) << 20, rng);
      return rel + ".bin";
    }
    fs::create_directories(sb->repo() / rel);
    const int files = 1 + static_cast<int>(rng() % 6);
    for (int f = 0; f < files; ++f) {
      write_random_file(sb->repo() / rel / ("part-" + std::to_string(f) + ".bin"), 1 + rng() % 65536, rng);
    }
    return rel;
  }

  // The artifact's files by path inside it, with their SHA-256.
  std::map<std::string, std::string> source_hashes(const std::string& rel) {
    const fs::path root = sb->repo() / rel;
    std::vector<std::string> paths;
    if (fs::is_directory(root)) {
      for (const auto& e : fs::recursive_directory_iterator(root)) {
        if (e.is_regular_file()) paths.push_back(e.path().string());
      }
    } else {
      paths.push_back(root.string());
    }
    std::map<std::string, std::string> out;
    for (const auto& [path, hash] : sha256sum(*sb, paths)) {
      out[fs::is_directory(root) ? fs::path(path).lexically_relative(root).string()
                                 : fs::path(path).filename().string()] = hash;
    }
    return out;
  }

  // After a kill: verify, fsck and the independent look at every object.
  void check_registry(Tally& t, const std::string& where) {
    const auto verify = sb->run({"verify"});
    if (verify.rc != 0) t.problem(t.verify_failures, where + ": verify exited " + std::to_string(verify.rc) +
                                                         ": " + verify.out.substr(0, 300) + verify.err.substr(0, 300));
    const auto fsck = sb->run({"fsck"});
    if (fsck.rc != 0) t.problem(t.fsck_failures, where + ": fsck exited " + std::to_string(fsck.rc) + ": " +
                                                     fsck.err.substr(0, 300));
    const StoreScan scan = objects.scan(*sb);
    t.objects_hashed += scan.hashed;
    for (const auto& w : scan.wrong) t.problem(t.misnamed_objects, where + ": object " + w);
    for (const auto& w : scan.writable) t.problem(t.writable_objects, where + ": object is writable: " + w);
  }

  // Temporary files a kill left: counted now, and each must be gone once
  // the next registration has run (checked by temps_cleaned).
  void count_temps(Tally& t) {
    const auto temps = temp_files(*sb);
    if (temps.empty()) return;
    ++t.kills_leaving_temps;
    t.temps_left += static_cast<long>(temps.size());
  }
  void temps_cleaned(Tally& t, const std::string& where) {
    for (const auto& name : temp_files(*sb)) {
      t.problem(t.temps_not_cleaned, where + ": " + name + " is still in .lastmile/tmp after the next run");
    }
  }
};

}  // namespace lm::stress::crash
