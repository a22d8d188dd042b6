#pragma once

namespace lm::cli {

// Parses the command line, runs the command, and maps every error to its
// exit status. The only place that decides how lastmile exits.
int run(int argc, char** argv);

}  // namespace lm::cli
