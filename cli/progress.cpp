#include "cli/progress.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "cli/output.hpp"

namespace lm::cli {

namespace {

constexpr auto k_delay = std::chrono::seconds(1);
constexpr auto k_tick = std::chrono::milliseconds(100);
constexpr int k_bar_width = 24;

}  // namespace

ProgressBar::ProgressBar(Progress& progress, std::string label, const Output& out)
    : m_progress(progress), m_label(std::move(label)) {
  if (out.quiet() || ::isatty(STDERR_FILENO) != 1) return;
  m_thread = std::thread([this] { run(); });
}

ProgressBar::~ProgressBar() {
  m_stop = true;
  if (m_thread.joinable()) m_thread.join();
  if (m_drawn) std::fputs("\r\033[K", stderr);
}

void ProgressBar::run() {
  const auto start = std::chrono::steady_clock::now();
  while (!m_stop) {
    std::this_thread::sleep_for(k_tick);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    if (elapsed >= k_delay && !m_stop) {
      draw(std::chrono::duration<double>(elapsed).count());
    }
  }
}

void ProgressBar::draw(double seconds) {
  const auto total = m_progress.total_bytes.load();
  const auto done = std::min(m_progress.done_bytes.load(), total);
  const double fraction = total ? static_cast<double>(done) / static_cast<double>(total) : 0;
  const int filled = static_cast<int>(fraction * k_bar_width);
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.append(static_cast<std::size_t>(k_bar_width - filled), ' ');
  const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
  std::fprintf(stderr, "\r\033[K%s [%s] %3d%%  %s / %s  %s/s  %llu/%llu files", m_label.c_str(),
               bar.c_str(), static_cast<int>(fraction * 100), human_size(done).c_str(),
               human_size(total).c_str(), human_size(static_cast<std::uint64_t>(rate)).c_str(),
               static_cast<unsigned long long>(m_progress.done_files.load()),
               static_cast<unsigned long long>(m_progress.total_files.load()));
  std::fflush(stderr);
  m_drawn = true;
}

}  // namespace lm::cli
