#include "cli/app.hpp"
#include "registry/core/git.hpp"

int main(int argc, char** argv) {
  lm::git::LibGit2 libgit2;
  return lm::cli::run(argc, argv);
}
