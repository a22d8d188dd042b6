#pragma once
// A progress bar on stderr for work that takes more than a second; only
// when stderr is a terminal.

#include <atomic>
#include <string>
#include <thread>

#include "registry/progress.hpp"

namespace lm::cli {

class Output;

class ProgressBar {
 public:
  ProgressBar(Progress& progress, std::string label, const Output& out);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

 private:
  void run();
  void draw(double seconds);

  Progress& m_progress;
  std::string m_label;
  std::atomic<bool> m_stop{false};
  bool m_drawn = false;
  std::thread m_thread;
};

}  // namespace lm::cli
