#include "registry/store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sys/file.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "registry/core/error.hpp"
#include "registry/core/files.hpp"
#include "registry/core/parallel.hpp"
#include "registry/core/sha256.hpp"

namespace lm {

namespace {

constexpr std::size_t k_chunk = 1 << 20;  // 1 MiB
constexpr std::size_t k_buffers = 4;      // chunks in flight between reader and writer
constexpr std::size_t k_direct_align = 4096;
constexpr std::uint64_t k_writeback_every = 16ull << 20;
// Files at least this large are written with O_DIRECT: copying a model of
// many GiB through the page cache costs more than the hash, evicts what
// other programs cache, and leaves a long fsync at the end.
constexpr std::uint64_t k_direct_min = 16ull << 20;

struct FreeDeleter {
  void operator()(char* p) const noexcept { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<char, FreeDeleter>;

AlignedBuffer aligned_buffer(std::size_t size) {
  void* p = std::aligned_alloc(k_direct_align, size);
  if (p == nullptr) throw std::bad_alloc();
  return AlignedBuffer(static_cast<char*>(p));
}

// Writes `size` bytes at the end of a file opened with O_DIRECT. Direct I/O
// needs whole blocks, so the tail of the last chunk goes through the page
// cache once O_DIRECT is switched off.
void write_direct(int fd, const char* data, std::size_t size, const fs::path& path) {
  const std::size_t whole = size - size % k_direct_align;
  if (whole > 0) write_all(fd, data, whole, path);
  if (whole == size) return;
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_DIRECT) != 0) {
    throw system_error(errno, "cannot write " + quote(path.string()));
  }
  write_all(fd, data + whole, size - whole, path);
}

// Writes chunks on its own thread so that writing overlaps hashing; keeps
// at most k_buffers chunks in memory whatever the file size.
class ChunkWriter {
 public:
  ChunkWriter(int fd, fs::path path, bool direct)
      : m_fd(fd), m_path(std::move(path)), m_direct(direct) {
    for (auto& buffer : m_buffers) buffer = aligned_buffer(k_chunk);
    for (std::size_t i = 0; i < k_buffers; ++i) m_free.push_back(i);
    m_thread = std::thread([this] { run(); });
  }
  ChunkWriter(const ChunkWriter&) = delete;
  ChunkWriter& operator=(const ChunkWriter&) = delete;
  ~ChunkWriter() {
    if (m_thread.joinable()) {
      push(0, 0);
      m_thread.join();
    }
  }

  // Waits for a free buffer and returns its index.
  std::size_t acquire() {
    std::unique_lock lock(m_mutex);
    m_cv.wait(lock, [&] { return !m_free.empty() || m_error; });
    if (m_error) rethrow_locked(lock);
    const std::size_t index = m_free.front();
    m_free.pop_front();
    return index;
  }
  char* data(std::size_t index) { return m_buffers[index].get(); }
  // Queues `size` bytes of buffer `index` for writing.
  void submit(std::size_t index, std::size_t size) { push(index, size); }
  // Waits until everything queued is written; rethrows a write error.
  void finish() {
    push(0, 0);
    m_thread.join();
    if (m_error) std::rethrow_exception(m_error);
  }

 private:
  void push(std::size_t index, std::size_t size) {
    {
      std::lock_guard lock(m_mutex);
      m_full.emplace_back(index, size);
    }
    m_cv.notify_all();
  }
  [[noreturn]] void rethrow_locked(std::unique_lock<std::mutex>& lock) {
    auto error = m_error;
    lock.unlock();
    std::rethrow_exception(error);
  }
  void write_chunk(const char* data, std::size_t size) {
    if (m_direct) return write_direct(m_fd, data, size, m_path);
    write_all(m_fd, data, size, m_path);
    m_written += size;
    if (m_written - m_flushed >= k_writeback_every) {
      // Start writeback early so the final fsync has little left to do.
      ::sync_file_range(m_fd, static_cast<off_t>(m_flushed),
                        static_cast<off_t>(m_written - m_flushed), SYNC_FILE_RANGE_WRITE);
      m_flushed = m_written;
    }
  }
  void run() {
    for (;;) {
      std::pair<std::size_t, std::size_t> job;
      {
        std::unique_lock lock(m_mutex);
        m_cv.wait(lock, [&] { return !m_full.empty(); });
        job = m_full.front();
        m_full.pop_front();
      }
      if (job.second == 0) return;
      try {
        if (!m_error) write_chunk(m_buffers[job.first].get(), job.second);
      } catch (...) {
        std::lock_guard lock(m_mutex);
        m_error = std::current_exception();
      }
      {
        std::lock_guard lock(m_mutex);
        m_free.push_back(job.first);
      }
      m_cv.notify_all();
    }
  }

  int m_fd;
  fs::path m_path;
  bool m_direct;
  std::uint64_t m_written = 0;
  std::uint64_t m_flushed = 0;
  AlignedBuffer m_buffers[k_buffers];
  std::deque<std::size_t> m_free;
  std::deque<std::pair<std::size_t, std::size_t>> m_full;
  std::mutex m_mutex;
  std::condition_variable m_cv;
  std::exception_ptr m_error;
  std::thread m_thread;
};

// Opens a regular file for reading. O_NONBLOCK keeps a FIFO swapped in
// after the scan from blocking the open; it is refused right after.
UniqueFd open_for_reading(const fs::path& path) {
  UniqueFd fd = open_file(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw system_error(errno, "cannot read " + quote(path.string()));
  if (!S_ISREG(st.st_mode)) {
    throw Error(ExitCode::data, "cannot read " + quote(path.string()) + ": it is not a regular file");
  }
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  return fd;
}

// Reads until `size` bytes or the end of the file, so that only the last
// chunk of a file is short (direct I/O writes whole blocks).
std::size_t read_full(int fd, char* data, std::size_t size, const fs::path& path) {
  std::size_t total = 0;
  while (total < size) {
    const std::size_t n = read_some(fd, data + total, size - total, path);
    if (n == 0) break;
    total += n;
  }
  return total;
}

// Reads `in` to the end, hashing each chunk; with `out` >= 0 the chunks are
// also written to it, on a second thread for files larger than one chunk.
// `direct`: `out` was opened with O_DIRECT.
HashedFile pump(int in, const fs::path& in_path, int out, const fs::path& out_path,
                std::uint64_t size_hint, Progress* progress, bool direct = false) {
  Sha256 hash;
  HashedFile result;
  if (out < 0 || (size_hint <= k_chunk && !direct)) {
    std::vector<char> buffer(std::min<std::uint64_t>(k_chunk, std::max<std::uint64_t>(size_hint, 4096)));
    for (;;) {
      const std::size_t n = read_some(in, buffer.data(), buffer.size(), in_path);
      if (n == 0) break;
      hash.update(buffer.data(), n);
      if (out >= 0) write_all(out, buffer.data(), n, out_path);
      result.size += n;
      advance(progress, n);
    }
  } else {
    ChunkWriter writer(out, out_path, direct);
    for (;;) {
      const std::size_t index = writer.acquire();
      const std::size_t n = read_full(in, writer.data(index), k_chunk, in_path);
      if (n == 0) {
        writer.finish();
        break;
      }
      hash.update(writer.data(index), n);
      writer.submit(index, n);
      result.size += n;
      advance(progress, n);
    }
  }
  result.sha256 = hash.hex_final();
  return result;
}

// Creates the temporary file for an object; large ones with O_DIRECT where
// the file system supports it. Returns whether O_DIRECT is on.
bool create_temp(const fs::path& temp, std::uint64_t size, UniqueFd& out) {
  if (size >= k_direct_min) {
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_DIRECT, 0444);
    if (fd >= 0) {
      out = UniqueFd(fd);
      return true;
    }
    if (errno != EINVAL) throw system_error(errno, "cannot open " + quote(temp.string()));
  }
  out = open_file(temp, O_WRONLY | O_CREAT | O_EXCL, 0444);
  return false;
}

}  // namespace

ObjectStore::ObjectStore(fs::path registry_dir)
    : m_objects(registry_dir / "objects" / "sha256"), m_temp(registry_dir / "tmp") {}

fs::path ObjectStore::object_path(std::string_view hex) const {
  return m_objects / std::string(hex.substr(0, 2)) / std::string(hex.substr(2));
}

bool ObjectStore::contains(std::string_view hex) const {
  return lstat_path(object_path(hex)).has_value();
}

StagedObject ObjectStore::stage(const fs::path& source, std::uint64_t expected_size,
                                Progress* progress) const {
  if (!m_session) throw Error(ExitCode::internal, "object staged outside a session");
  UniqueFd in = open_for_reading(source);
  const fs::path temp =
      m_temp / (m_session->name + "-" + std::to_string(m_session->next_temp.fetch_add(1)) + ".tmp");
  UniqueFd out;
  const bool direct = create_temp(temp, expected_size, out);
  StagedObject staged;
  try {
    const HashedFile hashed =
        pump(in.get(), source, out.get(), temp, expected_size, progress, direct);
    if (hashed.size != expected_size) {
      throw Error(ExitCode::error,
                  "cannot register " + quote(source.string()) + ": it changed while being read",
                  "register again once the file is completely written");
    }
    staged.sha256 = hashed.sha256;
    staged.size = hashed.size;
    staged.existing = contains(hashed.sha256);
    // Start writing back now; sync_staged() waits for it, all files at once.
    if (!direct && !staged.existing) ::sync_file_range(out.get(), 0, 0, SYNC_FILE_RANGE_WRITE);
    out.close_checked(temp);
    staged.temp = temp;
    return staged;
  } catch (...) {
    ::unlink(temp.c_str());
    throw;
  }
}

void ObjectStore::sync_staged(const std::vector<StagedObject>& staged) {
  parallel_for(staged.size(), worker_count(), [&](std::size_t i) {
    if (staged[i].temp.empty()) return;
    UniqueFd fd = open_file(staged[i].temp, O_RDONLY);
    fsync_fd(fd.get(), staged[i].temp);
  });
}

void ObjectStore::publish(const std::vector<StagedObject>& staged) const {
  std::set<fs::path> dirs;
  for (const auto& object : staged) {
    if (object.temp.empty()) continue;
    const fs::path target = object_path(object.sha256);
    const fs::path dir = target.parent_path();
    if (dirs.insert(dir).second) make_directories(dir);
    if (::rename(object.temp.c_str(), target.c_str()) != 0) {
      throw system_error(errno, "cannot store object " + quote(target.string()));
    }
  }
  for (const auto& dir : dirs) fsync_dir(dir);
  if (!dirs.empty()) fsync_dir(m_objects);
}

fs::path ObjectStore::temp_path() const {
  if (!m_session) throw Error(ExitCode::internal, "temporary file outside a session");
  return m_temp / (m_session->name + "-" + std::to_string(m_session->next_temp.fetch_add(1)) + ".tmp");
}

void ObjectStore::adopt(const fs::path& temp, const std::string& hex) const {
  if (::chmod(temp.c_str(), 0444) != 0) throw system_error(errno, "cannot make " + quote(temp.string()) + " read-only");
  UniqueFd fd = open_file(temp, O_RDONLY);
  fsync_fd(fd.get(), temp);
  StagedObject object;
  object.sha256 = hex;
  object.temp = temp;
  publish({object});
}

void ObjectStore::discard(const std::vector<StagedObject>& staged) noexcept {
  for (const auto& object : staged) {
    if (!object.temp.empty()) ::unlink(object.temp.c_str());
  }
}

ObjectStore::Session::~Session() {
  ::unlink(lock_path.c_str());  // unlocked when the descriptor closes
}

void ObjectStore::begin_session() {
  if (m_session) return;
  for (int attempt = 1;; ++attempt) {
    auto session = std::make_shared<Session>();
    session->name = temp_name();
    session->name.resize(session->name.size() - 4);  // drop ".tmp"
    session->lock_path = m_temp / (session->name + ".lock");
    // Locked under another name first: a cleaner that sees a .lock file must
    // never find it unlocked while its owner runs.
    const fs::path unready = m_temp / (session->name + ".lock-new");
    session->lock = open_file(unready, O_RDWR | O_CREAT | O_EXCL, 0644);
    if (::flock(session->lock.get(), LOCK_EX | LOCK_NB) == 0 &&
        ::rename(unready.c_str(), session->lock_path.c_str()) == 0) {
      m_session = std::move(session);
      return;
    }
    const int err = errno;
    ::unlink(unready.c_str());
    // A cleaner took the new file in the instant before it was locked (it
    // cannot tell that from a process killed there, and removes it): start
    // again under another name.
    const bool cleaned = err == EWOULDBLOCK || err == ENOENT;
    if (!cleaned || attempt == 5) throw system_error(err, "cannot lock " + quote(session->lock_path.string()));
  }
}

void ObjectStore::remove_stale_temps() const noexcept {
  constexpr auto k_stray_age = std::chrono::hours(1);
  std::error_code ec;
  std::vector<fs::path> locks, unready, temps;
  for (fs::directory_iterator it(m_temp, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path ext = it->path().extension();
    (ext == ".lock" ? locks : ext == ".lock-new" ? unready : temps).push_back(it->path());
  }
  // The owner holds an exclusive lock for as long as it runs.
  const auto unlocked = [](const fs::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::optional<bool>();
    const bool is_free = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
    ::close(fd);
    return std::optional<bool>(is_free);
  };
  std::set<std::string> live;
  std::vector<fs::path> ended;
  for (const auto& lock : locks) {
    const auto is_free = unlocked(lock);
    if (!is_free) continue;
    if (*is_free) ended.push_back(lock);
    else live.insert(lock.stem().string());
  }
  // A session that never got its lock: its process was killed between
  // creating the file and locking it (begin_session starts again when a
  // cleaner takes the file in that instant).
  for (const auto& lock : unready) {
    if (unlocked(lock).value_or(false)) ::unlink(lock.c_str());
  }
  const auto now = fs::file_time_type::clock::now();
  for (const auto& temp : temps) {
    const std::string name = temp.filename().string();
    const auto dash = name.rfind('-');
    const std::string session = dash == std::string::npos ? name : name.substr(0, dash);
    if (live.count(session)) continue;
    const bool had_lock = std::any_of(locks.begin(), locks.end(), [&](const fs::path& l) {
      return l.stem() == session;
    });
    const auto written = fs::last_write_time(temp, ec);
    if (had_lock || (!ec && now - written > k_stray_age)) ::unlink(temp.c_str());
  }
  // The lock files last: a cleaner killed halfway leaves the lock that
  // marks the remaining temporary files as stale for the next one.
  for (const auto& lock : ended) ::unlink(lock.c_str());
}

HashedFile hash_file(const fs::path& path, Progress* progress) {
  UniqueFd in = open_for_reading(path);
  struct stat st {};
  ::fstat(in.get(), &st);
  return pump(in.get(), path, -1, {}, static_cast<std::uint64_t>(st.st_size), progress);
}

HashedFile copy_and_hash(const fs::path& source, int out, const fs::path& out_path,
                         Progress* progress) {
  UniqueFd in = open_for_reading(source);
  struct stat st {};
  ::fstat(in.get(), &st);
  return pump(in.get(), source, out, out_path, static_cast<std::uint64_t>(st.st_size), progress);
}

}  // namespace lm
