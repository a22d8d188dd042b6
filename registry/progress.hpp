#pragma once
// Counters that long operations advance and a front end may display. The
// library only counts; it never prints.

#include <atomic>
#include <cstdint>

namespace lm {

struct Progress {
  std::atomic<std::uint64_t> total_bytes{0};
  std::atomic<std::uint64_t> done_bytes{0};
  std::atomic<std::uint64_t> total_files{0};
  std::atomic<std::uint64_t> done_files{0};
};

inline void advance(Progress* p, std::uint64_t bytes) {
  if (p) p->done_bytes.fetch_add(bytes, std::memory_order_relaxed);
}

inline void file_done(Progress* p) {
  if (p) p->done_files.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace lm
