#!/usr/bin/env bash
# Set up, build and run lastmile on a fresh Debian 12 machine.
#
#   ./build.sh demo    install what is missing, build, run the demo
#   ./build.sh test    install what is missing, build, run every test suite
#                      (the stress suites among them), then again under
#                      AddressSanitizer and UBSan (a clang build that also
#                      fuzzes the parsers for a while), and the unit tests
#                      under ThreadSanitizer
#   ./build.sh build [CMAKE_ARGS...]
#                      install what is missing and build only (CI jobs that
#                      'lastmile ci init' writes pass -DLASTMILE_TESTS=OFF)
#
# Packages are installed with apt-get (as root, or through sudo). The tests
# also need Node.js and npm (for action-validator, which checks the GitHub
# workflow 'lastmile ci init' writes); they are installed when missing.
set -euo pipefail

cd "$(dirname "$0")"
readonly jobs=$(nproc 2>/dev/null || echo 2)
readonly packages=(
  cmake ninja-build g++ pkg-config git groff-base graphviz libxml2-utils python3-yaml
  libcli11-dev libgit2-dev libsqlite3-dev libssl-dev nlohmann-json3-dev catch2 libyaml-cpp-dev
  libkainjow-mustache-dev zsh fish libcurl4-openssl-dev libcsv-dev docker-registry skopeo openssh-server
  clang-14 libclang-rt-14-dev llvm-14 chromium
)
# action-validator checks GitHub workflows against GitHub's schema; the
# tests find it in build/node-tools (see tests/CMakeLists.txt).
readonly action_validator_version=0.6.0
readonly node_tools=build/node-tools

say() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }

# install_missing_packages [PACKAGE...]: the packages named, or the build's.
install_missing_packages() {
  local wanted=("$@") missing=()
  [ ${#wanted[@]} -gt 0 ] || wanted=("${packages[@]}")
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]}"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# build DIR [cmake args...] [-- TARGET...]: every target, or those named.
build() {
  local dir=$1 args=() targets=()
  shift
  while [ $# -gt 0 ] && [ "$1" != -- ]; do args+=("$1"); shift; done
  [ $# -gt 0 ] && shift && targets=("$@")
  # A directory configured with other compilers is configured afresh.
  local arg
  for arg in "${args[@]}"; do
    case $arg in
      -DCMAKE_C_COMPILER=* | -DCMAKE_CXX_COMPILER=*)
        local variable=${arg#-D} && variable=${variable%%=*}
        if [ -f "$dir/CMakeCache.txt" ] &&
          ! grep -qx "$variable:[A-Z]*=$(command -v "${arg#*=}")" "$dir/CMakeCache.txt"; then
          rm -rf "$dir/CMakeCache.txt" "$dir/CMakeFiles"
        fi
        ;;
    esac
  done
  say "building in $dir"
  cmake -S . -B "$dir" -G Ninja "${args[@]}" >/dev/null
  ninja -C "$dir" -j "$jobs" "${targets[@]}"
}

install_test_tools() {
  # A machine may have Node.js from elsewhere than Debian; only a missing
  # node or npm is installed from Debian's packages.
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    install_missing_packages nodejs npm
  fi
  local installed=$node_tools/node_modules/@action-validator/cli/package.json
  if ! grep -qs "\"version\": \"$action_validator_version\"" "$installed"; then
    say "installing action-validator $action_validator_version into $node_tools"
    npm install --prefix "$node_tools" --no-audit --no-fund --loglevel=error \
      "@action-validator/cli@$action_validator_version"
  fi
}

# run_tests DIR [CTEST_ARGS...]
run_tests() {
  local dir=$1
  say "testing $dir"
  ctest --test-dir "$dir" -j "$jobs" --output-on-failure --timeout 900 "${@:2}"
}

case "${1:-}" in
  demo)
    install_missing_packages
    build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
    say "demo"
    scripts/demo.sh build/lastmile
    ;;
  test)
    install_missing_packages
    build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
    install_test_tools
    rm -rf build/stress-results
    run_tests build
    # The stress suites ran above against the optimised build; under the
    # sanitizers every other test runs again. clang builds it with libFuzzer's
    # coverage, so that the same build has the fuzz targets: ctest replays
    # their corpus and past crashes, then each fuzzes for a fixed time
    # (LASTMILE_FUZZ_SECONDS, see tests/fuzz/run_fuzzer.sh).
    # (Compilers by full path: CMake compares a cached one as text.)
    build build-sanitize -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER="$(command -v clang++-14)" \
      -DCMAKE_C_COMPILER="$(command -v clang-14)" -DLASTMILE_FUZZ=ON
    run_tests build-sanitize -LE stress
    say "fuzzing"
    LASTMILE_STRESS_RESULTS="$PWD/build/stress-results" tests/fuzz/run_fuzzer.sh build-sanitize
    # The code that hashes and copies on every core, under ThreadSanitizer:
    # the unit tests alone (they drive it), recorded for the reliability table.
    build build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLASTMILE_TSAN=ON -- lastmile_unit
    LASTMILE_STRESS_RESULTS="$PWD/build/stress-results" run_tests build-tsan -L tsan
    say "reliability figures (docs/reliability.md)"
    python3 tests/stress/report.py build/stress-results
    say "all tests passed"
    ;;
  build)
    install_missing_packages
    build build -DCMAKE_BUILD_TYPE=RelWithDebInfo "${@:2}"
    ;;
  *)
    echo "usage: $0 demo|test|build [CMAKE_ARGS...]" >&2
    exit 64
    ;;
esac
