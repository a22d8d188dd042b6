// An LD_PRELOAD library that makes the N-th call of one family of system
// calls fail, SQLite-style, so that the faults suite can check what lastmile
// does for every call an operation makes.
//
//   LASTMILE_FAULT=FAMILY:N:ERRNO[:persistent]
//       fail the N-th call of FAMILY (write, fsync, rename, open, malloc)
//       with ERRNO (EIO, ENOSPC, ENOMEM, EDQUOT, EACCES); with
//       "persistent", every later call of the family fails too, as on a
//       full disk.
//   LASTMILE_FAULT_REPORT=PATH
//       write how many calls of each family the program made, and which
//       call failed, to PATH: when the fault fires (the program may stop at
//       once after it) and again when main returns or exit is called.
//   LASTMILE_FAULT_TRAP=1
//       raise SIGTRAP when the fault fires, to see where under a debugger.
//
// Only lastmile's own work is counted: the counters are armed when main
// starts (after dynamic loading and static constructors) and disarmed when
// it returns. Both variables and LD_PRELOAD are removed from the
// environment before main, so that programs lastmile starts run unharmed.
//
// Families: write (write, pwrite, pwrite64, writev), fsync (fsync,
// fdatasync), rename (rename, renameat, renameat2), open (open, open64,
// openat, openat64 and their _FORTIFY_SOURCE forms, fopen, fopen64),
// malloc (malloc, calloc, realloc, aligned_alloc, posix_memalign).

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum family { F_WRITE, F_FSYNC, F_RENAME, F_OPEN, F_MALLOC, F_COUNT };
static const char* const family_names[F_COUNT] = {"write", "fsync", "rename", "open", "malloc"};

static int armed;
static long counts[F_COUNT];
static int target_family = -1;
static long target_n;
static int target_errno;
static int persistent;
static long failed_calls;
static long injected_at;  // the call number that failed first, 0 when none did
static const char* injected_function = "";
static char injected_subject[256];  // the path or descriptor of the failed call
static char report_path[4096];
static int reported;
static int trap;

static void save_report(void);

// True when this call is the one to fail; sets errno then. `path` (or else
// `fd`) says what the call was about, for the report.
static int should_fail_on(enum family f, const char* function, const char* path, int fd) {
  if (!__atomic_load_n(&armed, __ATOMIC_RELAXED)) return 0;
  const long n = __atomic_add_fetch(&counts[f], 1, __ATOMIC_RELAXED);
  if ((int)f != target_family || n < target_n || (n > target_n && !persistent)) return 0;
  if (__atomic_add_fetch(&failed_calls, 1, __ATOMIC_RELAXED) == 1) {
    injected_at = n;
    injected_function = function;
    if (path) {
      snprintf(injected_subject, sizeof injected_subject, "%s", path);
    } else if (fd >= 0) {
      snprintf(injected_subject, sizeof injected_subject, "fd:%d", fd);
    }
    save_report();
    if (trap) raise(SIGTRAP);
  }
  errno = target_errno;
  return 1;
}

static int should_fail(enum family f, const char* function) { return should_fail_on(f, function, NULL, -1); }

// ---------------------------------------------------------------- malloc
// dlsym may itself call calloc before the real one is known: those early
// requests are served from a static buffer that is never freed.

static void* (*real_malloc)(size_t);
static void* (*real_calloc)(size_t, size_t);
static void* (*real_realloc)(void*, size_t);
static void (*real_free)(void*);
static void* (*real_aligned_alloc)(size_t, size_t);
static int (*real_posix_memalign)(void**, size_t, size_t);
static int resolving;
static _Alignas(16) char boot_buffer[16384];
static size_t boot_used;

static void* boot_alloc(size_t size) {
  size = (size + 15) & ~(size_t)15;
  if (size > sizeof boot_buffer - boot_used) return NULL;
  void* p = boot_buffer + boot_used;
  boot_used += size;
  return p;  // zeroed: the buffer is static and never reused
}

static int is_boot(const void* p) {
  return (const char*)p >= boot_buffer && (const char*)p < boot_buffer + sizeof boot_buffer;
}

static void resolve_allocator(void) {
  resolving = 1;
  *(void**)(&real_malloc) = dlsym(RTLD_NEXT, "malloc");
  *(void**)(&real_calloc) = dlsym(RTLD_NEXT, "calloc");
  *(void**)(&real_realloc) = dlsym(RTLD_NEXT, "realloc");
  *(void**)(&real_free) = dlsym(RTLD_NEXT, "free");
  *(void**)(&real_aligned_alloc) = dlsym(RTLD_NEXT, "aligned_alloc");
  *(void**)(&real_posix_memalign) = dlsym(RTLD_NEXT, "posix_memalign");
  resolving = 0;
}

// Resolves the allocator unless this call comes from inside dlsym.
static int allocator_ready(void) {
  if (real_free) return 1;
  if (resolving) return 0;
  resolve_allocator();
  return real_free != NULL;
}

void* malloc(size_t size) {
  if (!allocator_ready()) return boot_alloc(size);
  if (should_fail(F_MALLOC, "malloc")) return NULL;
  return real_malloc(size);
}

void* calloc(size_t n, size_t size) {
  if (!allocator_ready()) return size && n > SIZE_MAX / size ? NULL : boot_alloc(n * size);
  if (should_fail(F_MALLOC, "calloc")) return NULL;
  return real_calloc(n, size);
}

void* realloc(void* p, size_t size) {
  if (!allocator_ready()) return boot_alloc(size);
  if (should_fail(F_MALLOC, "realloc")) return NULL;
  if (p && is_boot(p)) {
    void* moved = real_malloc(size);
    const size_t available = (size_t)(boot_buffer + sizeof boot_buffer - (char*)p);
    if (moved) memcpy(moved, p, size < available ? size : available);
    return moved;
  }
  return real_realloc(p, size);
}

void free(void* p) {
  if (p == NULL || is_boot(p)) return;
  if (allocator_ready()) real_free(p);
}

void* aligned_alloc(size_t alignment, size_t size) {
  if (!allocator_ready()) return NULL;
  if (should_fail(F_MALLOC, "aligned_alloc")) return NULL;
  return real_aligned_alloc(alignment, size);
}

int posix_memalign(void** out, size_t alignment, size_t size) {
  if (!allocator_ready()) return ENOMEM;
  if (should_fail(F_MALLOC, "posix_memalign")) return ENOMEM;
  return real_posix_memalign(out, alignment, size);
}

// ------------------------------------------------------- everything else
// The real functions are looked up before main is armed: dlsym allocates,
// and an allocation failed inside it would leave a wrapper with nothing to
// call.

typedef int (*open_function)(const char*, int, ...);
typedef int (*openat_function)(int, const char*, int, ...);
typedef int (*open_2_function)(const char*, int);
typedef int (*openat_2_function)(int, const char*, int);

static ssize_t (*real_write)(int, const void*, size_t);
static ssize_t (*real_pwrite)(int, const void*, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void*, size_t, off64_t);
static ssize_t (*real_writev)(int, const struct iovec*, int);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_rename)(const char*, const char*);
static int (*real_renameat)(int, const char*, int, const char*);
static int (*real_renameat2)(int, const char*, int, const char*, unsigned);
static open_function real_open, real_open64;
static openat_function real_openat, real_openat64;
static open_2_function real___open_2, real___open64_2;
static openat_2_function real___openat_2, real___openat64_2;
static FILE* (*real_fopen)(const char*, const char*);
static FILE* (*real_fopen64)(const char*, const char*);

#define RESOLVE(name) *(void**)(&real_##name) = dlsym(RTLD_NEXT, #name)

static void resolve_all(void) {
  RESOLVE(write);
  RESOLVE(pwrite);
  RESOLVE(pwrite64);
  RESOLVE(writev);
  RESOLVE(fsync);
  RESOLVE(fdatasync);
  RESOLVE(rename);
  RESOLVE(renameat);
  RESOLVE(renameat2);
  RESOLVE(open);
  RESOLVE(open64);
  RESOLVE(openat);
  RESOLVE(openat64);
  RESOLVE(__open_2);
  RESOLVE(__open64_2);
  RESOLVE(__openat_2);
  RESOLVE(__openat64_2);
  RESOLVE(fopen);
  RESOLVE(fopen64);
}

#define REAL(name) (real_##name ? real_##name : (resolve_all(), real_##name))

// Writes to standard error are neither counted nor failed: that is where
// lastmile must report the fault, and a test cannot read a lost message.
ssize_t write(int fd, const void* data, size_t size) {
  if (fd != 2 && should_fail_on(F_WRITE, "write", NULL, fd)) return -1;
  return REAL(write)(fd, data, size);
}

ssize_t pwrite(int fd, const void* data, size_t size, off_t offset) {
  if (fd != 2 && should_fail_on(F_WRITE, "pwrite", NULL, fd)) return -1;
  return REAL(pwrite)(fd, data, size, offset);
}

ssize_t pwrite64(int fd, const void* data, size_t size, off64_t offset) {
  if (fd != 2 && should_fail_on(F_WRITE, "pwrite64", NULL, fd)) return -1;
  return REAL(pwrite64)(fd, data, size, offset);
}

ssize_t writev(int fd, const struct iovec* iov, int count) {
  if (fd != 2 && should_fail_on(F_WRITE, "writev", NULL, fd)) return -1;
  return REAL(writev)(fd, iov, count);
}

int fsync(int fd) {
  if (should_fail_on(F_FSYNC, "fsync", NULL, fd)) return -1;
  return REAL(fsync)(fd);
}

int fdatasync(int fd) {
  if (should_fail_on(F_FSYNC, "fdatasync", NULL, fd)) return -1;
  return REAL(fdatasync)(fd);
}

int rename(const char* from, const char* to) {
  if (should_fail_on(F_RENAME, "rename", to, -1)) return -1;
  return REAL(rename)(from, to);
}

int renameat(int from_dir, const char* from, int to_dir, const char* to) {
  if (should_fail_on(F_RENAME, "renameat", to, -1)) return -1;
  return REAL(renameat)(from_dir, from, to_dir, to);
}

int renameat2(int from_dir, const char* from, int to_dir, const char* to, unsigned flags) {
  if (should_fail_on(F_RENAME, "renameat2", to, -1)) return -1;
  return REAL(renameat2)(from_dir, from, to_dir, to, flags);
}

// The mode argument exists only when the flags create a file.
static mode_t mode_arg(int flags, va_list args) {
  return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(args, int) : 0;
}

#define OPEN_WRAPPER(name)                     \
  int name(const char* path, int flags, ...) { \
    va_list args;                              \
    va_start(args, flags);                     \
    const mode_t mode = mode_arg(flags, args); \
    va_end(args);                              \
    if (should_fail_on(F_OPEN, #name, path, -1)) return -1; \
    return REAL(name)(path, flags, mode);      \
  }
OPEN_WRAPPER(open)
OPEN_WRAPPER(open64)

#define OPENAT_WRAPPER(name)                            \
  int name(int dir, const char* path, int flags, ...) { \
    va_list args;                                       \
    va_start(args, flags);                              \
    const mode_t mode = mode_arg(flags, args);          \
    va_end(args);                                       \
    if (should_fail_on(F_OPEN, #name, path, -1)) return -1;          \
    return REAL(name)(dir, path, flags, mode);          \
  }
OPENAT_WRAPPER(openat)
OPENAT_WRAPPER(openat64)

// What libraries built with _FORTIFY_SOURCE call instead of open.
#define OPEN_2_WRAPPER(name)                   \
  int name(const char* path, int flags) {      \
    if (should_fail_on(F_OPEN, #name, path, -1)) return -1; \
    return REAL(name)(path, flags);            \
  }
OPEN_2_WRAPPER(__open_2)
OPEN_2_WRAPPER(__open64_2)

#define OPENAT_2_WRAPPER(name)                          \
  int name(int dir, const char* path, int flags) {      \
    if (should_fail_on(F_OPEN, #name, path, -1)) return -1;          \
    return REAL(name)(dir, path, flags);                \
  }
OPENAT_2_WRAPPER(__openat_2)
OPENAT_2_WRAPPER(__openat64_2)

FILE* fopen(const char* path, const char* mode) {
  if (should_fail_on(F_OPEN, "fopen", path, -1)) return NULL;
  return REAL(fopen)(path, mode);
}

FILE* fopen64(const char* path, const char* mode) {
  if (should_fail_on(F_OPEN, "fopen64", path, -1)) return NULL;
  return REAL(fopen64)(path, mode);
}

// ------------------------------------------------- arming around main()

static int parse_errno(const char* name) {
  static const struct {
    const char* name;
    int value;
  } known[] = {{"EIO", EIO}, {"ENOSPC", ENOSPC}, {"ENOMEM", ENOMEM}, {"EDQUOT", EDQUOT},
               {"EACCES", EACCES}};
  for (size_t i = 0; i < sizeof known / sizeof known[0]; ++i) {
    if (strcmp(name, known[i].name) == 0) return known[i].value;
  }
  return EIO;
}

// Reads LASTMILE_FAULT ("write:7:ENOSPC:persistent") and the report path.
static void configure(void) {
  resolve_all();
  allocator_ready();
  const char* report = getenv("LASTMILE_FAULT_REPORT");
  if (report) snprintf(report_path, sizeof report_path, "%s", report);
  const char* spec = getenv("LASTMILE_FAULT");
  char copy[128];
  if (spec && snprintf(copy, sizeof copy, "%s", spec) < (int)sizeof copy) {
    char* save = NULL;
    const char* family = strtok_r(copy, ":", &save);
    const char* n = strtok_r(NULL, ":", &save);
    const char* err = strtok_r(NULL, ":", &save);
    const char* mode = strtok_r(NULL, ":", &save);
    for (int f = 0; family && f < F_COUNT; ++f) {
      if (strcmp(family, family_names[f]) == 0) target_family = f;
    }
    target_n = n ? strtol(n, NULL, 10) : 0;
    target_errno = err ? parse_errno(err) : EIO;
    persistent = mode && strcmp(mode, "persistent") == 0;
  }
  const char* trap_value = getenv("LASTMILE_FAULT_TRAP");
  trap = trap_value && strcmp(trap_value, "1") == 0;
  unsetenv("LASTMILE_FAULT_TRAP");
  unsetenv("LASTMILE_FAULT");
  unsetenv("LASTMILE_FAULT_REPORT");
  unsetenv("LD_PRELOAD");
}

// Writes the report; called when the fault fires (a program may stop at
// once after it) and again when main returns.
static void save_report(void) {
  if (report_path[0] == '\0') return;
  char text[1024];
  int length = 0;
  for (int f = 0; f < F_COUNT; ++f) {
    length += snprintf(text + length, sizeof text - (size_t)length, "%s %ld\n", family_names[f],
                       __atomic_load_n(&counts[f], __ATOMIC_RELAXED));
  }
  if (injected_at > 0) {
    length += snprintf(text + length, sizeof text - (size_t)length,
                       "failed_calls %ld\ninjected %s %ld %s %s\n", failed_calls,
                       family_names[target_family], injected_at, injected_function,
                       injected_subject[0] ? injected_subject : "-");
  }
  const int fd = REAL(open)(report_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  // A short report is read as a failure by the suite; nothing else to do.
  const ssize_t written = REAL(write)(fd, text, (size_t)length);
  (void)written;
  close(fd);
}

static void write_report(void) {
  __atomic_store_n(&armed, 0, __ATOMIC_SEQ_CST);
  if (reported) return;
  reported = 1;
  save_report();
}

typedef int (*main_function)(int, char**, char**);
static main_function real_main;

static int armed_main(int argc, char** argv, char** envp) {
  configure();
  atexit(write_report);  // for a program that leaves through exit()
  __atomic_store_n(&armed, 1, __ATOMIC_SEQ_CST);
  const int status = real_main(argc, argv, envp);
  write_report();
  return status;
}

int __libc_start_main(main_function main_fn, int argc, char** argv, void (*init)(void),
                      void (*fini)(void), void (*rtld_fini)(void), void* stack_end) {
  typedef int (*start_function)(main_function, int, char**, void (*)(void), void (*)(void),
                                void (*)(void), void*);
  start_function real_start;
  *(void**)(&real_start) = dlsym(RTLD_NEXT, "__libc_start_main");
  real_main = main_fn;
  return real_start(armed_main, argc, argv, init, fini, rtld_fini, stack_end);
}
