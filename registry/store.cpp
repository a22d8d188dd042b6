#include "registry/store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <set>
#include <thread>

#include "registry/core/error.hpp"
#include "registry/core/files.hpp"
#include "registry/core/sha256.hpp"

namespace lm {

namespace {

constexpr std::size_t k_chunk = 1 << 20;  // 1 MiB
constexpr std::size_t k_buffers = 4;      // chunks in flight between reader and writer
constexpr std::uint64_t k_writeback_every = 16ull << 20;

// Writes chunks on its own thread so that writing overlaps hashing; keeps
// at most k_buffers chunks in memory whatever the file size.
class ChunkWriter {
 public:
  ChunkWriter(int fd, fs::path path) : m_fd(fd), m_path(std::move(path)) {
    for (auto& buffer : m_buffers) buffer.resize(k_chunk);
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
  char* data(std::size_t index) { return m_buffers[index].data(); }
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
  void run() {
    std::uint64_t written = 0, flushed = 0;
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
        if (!m_error) write_all(m_fd, m_buffers[job.first].data(), job.second, m_path);
        written += job.second;
        if (written - flushed >= k_writeback_every) {
          // Start writeback early so the final fsync has little left to do.
          ::sync_file_range(m_fd, static_cast<off_t>(flushed),
                            static_cast<off_t>(written - flushed), SYNC_FILE_RANGE_WRITE);
          flushed = written;
        }
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
  std::vector<char> m_buffers[k_buffers];
  std::deque<std::size_t> m_free;
  std::deque<std::pair<std::size_t, std::size_t>> m_full;
  std::mutex m_mutex;
  std::condition_variable m_cv;
  std::exception_ptr m_error;
  std::thread m_thread;
};

UniqueFd open_for_reading(const fs::path& path) {
  UniqueFd fd = open_file(path, O_RDONLY | O_NOFOLLOW);
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  return fd;
}

// Reads `in` to the end, hashing each chunk; with `out` >= 0 the chunks are
// also written to it, on a second thread for files larger than one chunk.
HashedFile pump(int in, const fs::path& in_path, int out, const fs::path& out_path,
                std::uint64_t size_hint, Progress* progress) {
  Sha256 hash;
  HashedFile result;
  if (out < 0 || size_hint <= k_chunk) {
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
    ChunkWriter writer(out, out_path);
    for (;;) {
      const std::size_t index = writer.acquire();
      const std::size_t n = read_some(in, writer.data(index), k_chunk, in_path);
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
  UniqueFd in = open_for_reading(source);
  const fs::path temp = m_temp / temp_name();
  UniqueFd out = open_file(temp, O_WRONLY | O_CREAT | O_EXCL, 0444);
  StagedObject staged;
  try {
    const HashedFile hashed = pump(in.get(), source, out.get(), temp, expected_size, progress);
    if (hashed.size != expected_size) {
      throw Error(ExitCode::error,
                  "cannot register " + quote(source.string()) + ": it changed while being read",
                  "register again once the file is completely written");
    }
    staged.sha256 = hashed.sha256;
    staged.size = hashed.size;
    if (contains(hashed.sha256)) {
      ::unlink(temp.c_str());  // never written twice: the store has these bytes
      return staged;
    }
    fsync_fd(out.get(), temp);
    out.close_checked(temp);
    staged.temp = temp;
    return staged;
  } catch (...) {
    ::unlink(temp.c_str());
    throw;
  }
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

void ObjectStore::discard(const std::vector<StagedObject>& staged) noexcept {
  for (const auto& object : staged) {
    if (!object.temp.empty()) ::unlink(object.temp.c_str());
  }
}

void ObjectStore::remove_stale_temps() const noexcept {
  std::error_code ec;
  for (fs::directory_iterator it(m_temp, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const long pid = std::strtol(name.c_str(), nullptr, 10);
    if (!process_alive(pid)) ::unlink(it->path().c_str());
  }
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
