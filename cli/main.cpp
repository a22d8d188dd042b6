#include "cli/app.hpp"

int main(int argc, char** argv) { return lm::cli::run(argc, argv); }
