#include "tests/stress/stress.hpp"

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <stdexcept>

namespace lm::stress {

namespace fs = std::filesystem;

namespace {

const char* env(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  return v && *v ? v : nullptr;
}

bool large() {
  const char* v = env("LASTMILE_STRESS");
  return v && std::string(v) == "large";
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

long knob(const std::string& name, long ci_value, long large_value) {
  const std::string var = "LASTMILE_STRESS_" + name;
  if (const char* v = env(var)) {
    char* end = nullptr;
    const long n = std::strtol(v, &end, 10);
    if (*end != '\0' || n < 0) throw std::invalid_argument(var + " must be a whole number, not " + v);
    return n;
  }
  return large() ? large_value : ci_value;
}

std::uint64_t seed() {
  static const std::uint64_t value = [] {
    std::uint64_t s = 0;
    if (const char* v = env("LASTMILE_STRESS_SEED")) {
      s = std::strtoull(v, nullptr, 10);
    } else {
      s = std::random_device{}() ^
          static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    }
    std::cerr << "stress: seed " << s << " (replay with LASTMILE_STRESS_SEED=" << s << ")\n";
    return s;
  }();
  return value;
}

void report(const Row& row) {
  const fs::path dir = env("LASTMILE_STRESS_RESULTS") ? env("LASTMILE_STRESS_RESULTS")
                                                      : LASTMILE_STRESS_RESULTS_DIR;
  fs::create_directories(dir);
  const nlohmann::json doc = {
      {"suite", row.suite},         {"scale", row.scale},
      {"reached", row.reached},     {"failures", row.failures},
      {"details", row.details},     {"size", large() ? "large" : "ci"},
      {"finished", utc_now()},
  };
  const fs::path temp = dir / (row.id + ".json.tmp");
  std::ofstream(temp) << doc.dump(2) << '\n';
  fs::rename(temp, dir / (row.id + ".json"));
}

}  // namespace lm::stress
