#pragma once
// Quantities as people read them.

#include <cstdint>
#include <string>

namespace lm {

// "1.2 MiB", "512 B".
std::string human_size(std::uint64_t bytes);

}  // namespace lm
