// Sanitizer defaults compiled into every executable of a sanitizer build,
// so that the binary behaves the same however it is started (by ctest, by
// a test sandbox with a clean environment, or by hand).

extern "C" {

const char* __asan_default_options() { return "detect_leaks=1:abort_on_error=1"; }

// A data race fails the run, as a UBSan finding does.
const char* __tsan_default_options() { return "halt_on_error=1:second_deadlock_stack=1"; }

const char* __ubsan_default_options() { return "print_stacktrace=1:halt_on_error=1"; }

// libgit2 1.5 (Debian 12) leaves PCRE2 match data behind after matching
// attribute and ignore patterns; the leak is in the library, not lastmile.
const char* __lsan_default_options() { return "print_suppressions=0"; }

const char* __lsan_default_suppressions() { return "leak:libpcre2-8.so\n"; }
}
