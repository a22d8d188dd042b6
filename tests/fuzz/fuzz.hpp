#pragma once
// What the fuzz targets share. Bad input is expected to end in lm::Error
// with the exit code DESIGN.md §9 gives it and a message on one line; any
// other exception, a wrong code or a broken invariant is a bug, reported by
// aborting so that libFuzzer keeps the input as a reproducer.

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <initializer_list>
#include <string>
#include <string_view>

#include "registry/core/error.hpp"

namespace lm::fuzz {

[[noreturn]] inline void fail(std::string_view what) {
  std::fprintf(stderr, "fuzz: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

inline void expect(bool ok, std::string_view what) {
  if (!ok) fail(what);
}

// A message is one printable line: user input in it is quoted through
// lm::quote, which escapes control characters.
inline void expect_clean_message(const Error& e) {
  const std::string_view message = e.what();
  if (message.empty()) fail("lm::Error with an empty message");
  for (const char c : message) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      fail("lm::Error message with a control character: " + std::string(message));
    }
  }
}

// Runs `body`; returns true when it finished, false when it threw lm::Error
// with one of `codes`. Anything else aborts.
template <class Body>
bool attempt(Body&& body, std::initializer_list<ExitCode> codes) {
  try {
    body();
    return true;
  } catch (const Error& e) {
    expect_clean_message(e);
    for (const ExitCode code : codes) {
      if (e.code() == code) return false;
    }
    fail("lm::Error with exit code " + std::to_string(static_cast<int>(e.code())) + ": " +
         e.what());
  } catch (const std::exception& e) {
    fail(std::string("exception other than lm::Error: ") + e.what());
  } catch (...) {
    fail("exception of unknown type");
  }
}

inline std::string_view as_text(const unsigned char* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace lm::fuzz
