#pragma once
// A temporary directory for library tests, removed afterwards.

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "registry/core/error.hpp"

namespace lm::test {

// The exit code an Error thrown by `fn` carries, or ok when none is thrown.
template <class Fn>
ExitCode code_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.code();
  }
  return ExitCode::ok;
}

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string pattern = "/tmp/lastmile-unit.XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    m_path = fs::canonical(pattern);
  }
  ~TempDir() {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(m_path, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_directory(ec) && !it->is_symlink(ec)) ::chmod(it->path().c_str(), 0755);
    }
    fs::remove_all(m_path, ec);
  }
  const fs::path& path() const { return m_path; }
  fs::path operator/(const fs::path& rel) const { return m_path / rel; }

  fs::path write(const fs::path& rel, const std::string& content) const {
    const fs::path p = m_path / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary | std::ios::trunc) << content;
    return p;
  }

 private:
  fs::path m_path;
};

}  // namespace lm::test
