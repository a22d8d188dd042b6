// Builds a large registry for the scale benchmark through the library's own
// register_version(), so every version has its event, chain link, files,
// metadata and lineage edges exactly as the command line would write them.
//
//   generate_registry DIR [MODELS] [VERSIONS_PER_MODEL] [DATASETS]
//
// Model m's versions form a parent chain (each fine-tuned from the one
// before), and each takes one dataset version as input. Every version lands
// in sandbox; every 10th is promoted to staging and every 20th on to
// production (default policy, no gates), so stages have long histories. Files are stored by
// reference (hashing only) and the generator's connection skips fsync:
// this is a fixture, not a durability test.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "registry/core/error.hpp"
#include "registry/promote.hpp"
#include "registry/register.hpp"
#include "registry/registry.hpp"

using namespace lm;
namespace fs = std::filesystem;

namespace {

fs::path write_file(const fs::path& dir, const std::string& name, const std::string& content) {
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << content;
  return dir / name;
}

RegisterRequest request(const std::string& kind, const std::string& name, const fs::path& path,
                        const fs::path& cwd) {
  RegisterRequest r;
  r.kind = kind;
  r.name = name;
  r.path = path;
  r.store = StoreMode::reference;
  r.actor = "generator";
  r.cwd = cwd;
  if (kind == "model") r.stage = "sandbox";
  return r;
}

void promote_to(Registry& registry, const Policy& policy, const std::string& ref,
                const std::string& stage, const fs::path& cwd) {
  PromoteRequest p;
  p.ref = parse_ref(ref);
  p.stage = stage;
  p.actor = "generator";
  p.setting.project_root = cwd;
  promote(registry, policy, p);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [MODELS] [VERSIONS_PER_MODEL] [DATASETS]\n", argv[0]);
    return 64;
  }
  const fs::path dir = fs::absolute(argv[1]);
  const int models = argc > 2 ? std::atoi(argv[2]) : 1000;
  const int versions = argc > 3 ? std::atoi(argv[3]) : 100;
  const int datasets = argc > 4 ? std::atoi(argv[4]) : 100;
  try {
    const RegistryLocation location{dir / ".lastmile", true, false};
    Registry::init(location, std::chrono::seconds(30));
    Registry registry = Registry::open(location, std::chrono::seconds(30));
    registry.db().exec("PRAGMA synchronous = OFF");
    const Policy policy = default_policy();
    const auto start = std::chrono::steady_clock::now();
    for (int d = 0; d < datasets; ++d) {
      const std::string name = "data/set-" + std::to_string(d);
      for (int v = 0; v < 10; ++v) {
        const auto path = write_file(dir / "files" / name, "v" + std::to_string(v) + ".csv",
                                     name + " version " + std::to_string(v) + "\n");
        register_version(registry, request("dataset", name, path, dir), nullptr);
      }
    }
    long done = 0;
    for (int m = 0; m < models; ++m) {
      const std::string name = "team-" + std::to_string(m % 20) + "/model-" + std::to_string(m);
      for (int v = 0; v < versions; ++v) {
        const auto path = write_file(dir / "files" / name, "w" + std::to_string(v) + ".bin",
                                     name + " weights " + std::to_string(v) + "\n");
        RegisterRequest r = request("model", name, path, dir);
        r.metrics = {{"auc", 0.7 + v * 0.001}, {"loss", 1.0 / (v + 1)}};
        r.params = {{"lr", "0.01"}, {"epochs", std::to_string(v)}};
        r.inputs.push_back(parse_ref("data/set-" + std::to_string(m % datasets) + "@0." +
                                     std::to_string(1 + v % 10) + ".0"));
        if (v > 0) r.parents.push_back(parse_ref(name + "@0." + std::to_string(v) + ".0"));
        register_version(registry, r, nullptr);
        const std::string ref = name + "@0." + std::to_string(v + 1) + ".0";
        if (v % 10 == 9) promote_to(registry, policy, ref, "staging", dir);
        if (v % 20 == 19) promote_to(registry, policy, ref, "production", dir);
        if (++done % 10000 == 0) {
          const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
          std::fprintf(stderr, "%ld versions in %.0fs\n", done, s);
        }
      }
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "generate_registry: %s\n", e.what());
    return static_cast<int>(e.code());
  }
  return 0;
}
