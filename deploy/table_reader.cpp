#include "deploy/table_reader.hpp"

#include <csv.h>
#include <fcntl.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <exception>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "registry/core/error.hpp"
#include "registry/core/files.hpp"
#include "registry/core/json.hpp"
#include "registry/core/sha256.hpp"

namespace lm::deploy {
namespace {

constexpr std::string_view utf8_bom = "\xEF\xBB\xBF";

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view trim_spaces(std::string_view value) {
  while (!value.empty() && is_space(value.front())) value.remove_prefix(1);
  while (!value.empty() && is_space(value.back())) value.remove_suffix(1);
  return value;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
  });
}

Error data_error(const std::filesystem::path& path, std::uint64_t line, const std::string& what) {
  return Error(ExitCode::data, quote(path.string()) + " line " + std::to_string(line) + ": " + what);
}

// The file in chunks of a fixed size: the only buffer that holds file data.
class ChunkedFile {
 public:
  ChunkedFile(const std::filesystem::path& path, std::size_t chunk_size, Sha256* hash)
      : m_path(path), m_fd(open_file(path, O_RDONLY)), m_buffer(std::max<std::size_t>(chunk_size, 4)), m_hash(hash) {}

  // The next chunk, empty at the end of the file. The first one has no
  // byte order mark. Each is filled fully unless the file ends, so that a
  // mark is never split across chunks.
  std::string_view next() {
    std::size_t filled = 0;
    while (filled < m_buffer.size()) {
      const std::size_t n = read_some(m_fd.get(), m_buffer.data() + filled, m_buffer.size() - filled, m_path);
      if (n == 0) break;
      filled += n;
    }
    std::string_view chunk(m_buffer.data(), filled);
    if (m_hash) m_hash->update(chunk);
    if (m_first && chunk.starts_with(utf8_bom)) chunk.remove_prefix(utf8_bom.size());
    m_first = false;
    return chunk;
  }

 private:
  std::filesystem::path m_path;
  UniqueFd m_fd;
  std::vector<char> m_buffer;
  Sha256* m_hash;
  bool m_first = true;
};

void check_unique_columns(const std::filesystem::path& path, std::uint64_t line,
                          const std::vector<std::string>& columns) {
  std::unordered_set<std::string_view> seen;
  for (const std::string& name : columns) {
    if (!seen.insert(name).second) throw data_error(path, line, "duplicate column " + quote(name) + " in the header");
  }
}

// CSV through libcsv. Its callbacks are C: exceptions must not cross them,
// so the first one is kept and rethrown once csv_parse returns.
class CsvReader {
 public:
  CsvReader(const std::filesystem::path& path, const TableCallbacks& callbacks)
      : m_path(path), m_callbacks(callbacks) {
    // Strict: a quote inside an unquoted field or after a closing quote is
    // an error, as is an unterminated quote at the end. REPALL_NL reports
    // every unquoted line break, which is what lets us count lines.
    if (csv_init(&m_parser, CSV_STRICT | CSV_STRICT_FINI | CSV_REPALL_NL) != 0) {
      throw Error(ExitCode::error, "cannot set up the CSV parser: out of memory");
    }
  }
  ~CsvReader() { csv_free(&m_parser); }
  CsvReader(const CsvReader&) = delete;
  CsvReader& operator=(const CsvReader&) = delete;

  void feed(std::string_view chunk) {
    const std::size_t used = csv_parse(&m_parser, chunk.data(), chunk.size(), on_field, on_record, this);
    rethrow();
    if (used != chunk.size()) throw parse_error();
  }

  void finish(TableSummary& summary) {
    if (csv_fini(&m_parser, on_field, on_record, this) != 0) {
      rethrow();
      throw data_error(m_path, m_record_line, "a quoted field is not closed");
    }
    rethrow();
    if (!m_have_header) throw Error(ExitCode::data, quote(m_path.string()) + " is empty");
    summary.rows = m_rows;
    summary.lines = m_line;
  }

 private:
  static void on_field(void* data, std::size_t size, void* self) {
    static_cast<CsvReader*>(self)->guard([&](CsvReader& r) { r.add_field(static_cast<const char*>(data), size); });
  }
  static void on_record(int terminator, void* self) {
    static_cast<CsvReader*>(self)->guard([&](CsvReader& r) { r.end_record(terminator); });
  }

  template <typename F>
  void guard(F&& f) {
    if (m_error) return;
    try {
      f(*this);
    } catch (...) {
      m_error = std::current_exception();
    }
  }

  void rethrow() {
    if (m_error) std::rethrow_exception(std::exchange(m_error, nullptr));
  }

  void add_field(const char* data, std::size_t size) {
    const std::string_view value(data ? data : "", data ? size : 0);
    m_text.append(value);
    m_ends.push_back(m_text.size());
    m_line += static_cast<std::uint64_t>(std::count(value.begin(), value.end(), '\n'));
  }

  void end_record(int terminator) {
    if (!m_ends.empty()) deliver();
    m_text.clear();
    m_ends.clear();
    // A CR LF pair comes as two calls; count the LF only.
    if (terminator == '\n') ++m_line;
    m_record_line = m_line;
  }

  std::string_view field(std::size_t i) const {
    const std::size_t begin = i == 0 ? 0 : m_ends[i - 1];
    return std::string_view(m_text).substr(begin, m_ends[i] - begin);
  }

  void deliver() {
    if (!m_have_header) {
      m_columns.clear();
      for (std::size_t i = 0; i < m_ends.size(); ++i) m_columns.emplace_back(field(i));
      check_unique_columns(m_path, m_record_line, m_columns);
      m_have_header = true;
      if (m_callbacks.on_header) m_callbacks.on_header(m_columns);
      return;
    }
    if (m_ends.size() != m_columns.size()) {
      throw data_error(m_path, m_record_line,
                       "the row has " + std::to_string(m_ends.size()) + " fields where the header has " +
                           std::to_string(m_columns.size()));
    }
    m_views.resize(m_ends.size());
    for (std::size_t i = 0; i < m_ends.size(); ++i) m_views[i] = field(i);
    ++m_rows;
    if (m_callbacks.on_row) m_callbacks.on_row(TableRow{m_views, m_record_line});
  }

  Error parse_error() const {
    // libcsv stops at the offending byte of the record in progress.
    return data_error(m_path, m_record_line, "malformed CSV quoting (a quote inside an unquoted field or after a closing quote)");
  }

  std::filesystem::path m_path;
  const TableCallbacks& m_callbacks;
  csv_parser m_parser{};
  std::string m_text;                // the record's fields, back to back
  std::vector<std::size_t> m_ends;   // where each field ends in m_text
  std::vector<std::string_view> m_views;
  std::vector<std::string> m_columns;
  bool m_have_header = false;
  std::uint64_t m_line = 1;          // the physical line the parser is on
  std::uint64_t m_record_line = 1;   // the line the current record began on
  std::uint64_t m_rows = 0;
  std::exception_ptr m_error;
};

// JSON Lines: lines are cut from the chunks; a line longer than a chunk
// is carried over, so memory follows the longest line.
class JsonLinesReader {
 public:
  JsonLinesReader(const std::filesystem::path& path, const TableCallbacks& callbacks)
      : m_path(path), m_callbacks(callbacks) {}

  void feed(std::string_view chunk) {
    while (!chunk.empty()) {
      const std::size_t newline = chunk.find('\n');
      if (newline == std::string_view::npos) {
        m_carry.append(chunk);
        return;
      }
      if (m_carry.empty()) {
        line(chunk.substr(0, newline));
      } else {
        m_carry.append(chunk.substr(0, newline));
        line(m_carry);
        m_carry.clear();
      }
      chunk.remove_prefix(newline + 1);
    }
  }

  void finish(TableSummary& summary) {
    if (!m_carry.empty()) {
      line(m_carry);
      m_carry.clear();
    }
    if (!m_have_header) throw Error(ExitCode::data, quote(m_path.string()) + " is empty");
    summary.rows = m_rows;
    summary.lines = m_line;
    summary.ignored_keys = m_ignored_keys;
  }

 private:
  void line(std::string_view text) {
    ++m_line;
    if (trim_spaces(text).empty()) return;
    const auto object = parse_object(text);
    if (!m_have_header) take_columns(object);
    fill_values(object);
    m_views.assign(m_values.begin(), m_values.end());
    ++m_rows;
    if (m_callbacks.on_row) m_callbacks.on_row(TableRow{m_views, m_line});
  }

  nlohmann::ordered_json parse_object(std::string_view text) const {
    nlohmann::ordered_json value = nlohmann::ordered_json::parse(text, nullptr, false);
    if (value.is_discarded()) throw data_error(m_path, m_line, "not valid JSON");
    if (!value.is_object()) throw data_error(m_path, m_line, "not a JSON object");
    return value;
  }

  // The first object's keys, in its order, are the columns.
  void take_columns(const nlohmann::ordered_json& object) {
    std::vector<std::string> columns;
    for (const auto& item : object.items()) {
      m_index.emplace(item.key(), columns.size());
      columns.push_back(item.key());
    }
    m_values.resize(columns.size());
    m_have_header = true;
    if (m_callbacks.on_header) m_callbacks.on_header(columns);
  }

  void fill_values(const nlohmann::ordered_json& object) {
    for (std::string& value : m_values) value.clear();
    for (const auto& item : object.items()) {
      const auto found = m_index.find(item.key());
      if (found == m_index.end()) {
        ++m_ignored_keys;
        continue;
      }
      set_value(m_values[found->second], item.value());
    }
  }

  static void set_value(std::string& out, const nlohmann::ordered_json& value) {
    if (value.is_string()) {
      out = value.get_ref<const std::string&>();
    } else if (!value.is_null()) {
      out = value.dump();
    }
  }

  std::filesystem::path m_path;
  const TableCallbacks& m_callbacks;
  std::string m_carry;
  std::unordered_map<std::string, std::size_t> m_index;
  std::vector<std::string> m_values;
  std::vector<std::string_view> m_views;
  bool m_have_header = false;
  std::uint64_t m_line = 0;
  std::uint64_t m_rows = 0;
  std::uint64_t m_ignored_keys = 0;
};

template <typename Reader>
TableSummary read_with(const std::filesystem::path& path, const TableCallbacks& callbacks,
                       const TableOptions& options, TableFormat format) {
  ChunkedFile file(path, options.chunk_size, options.hash);
  Reader reader(path, callbacks);
  for (std::string_view chunk = file.next(); !chunk.empty(); chunk = file.next()) reader.feed(chunk);
  TableSummary summary;
  summary.format = format;
  reader.finish(summary);
  return summary;
}

}  // namespace

TableFormat table_format_for(const std::filesystem::path& path) {
  const std::string ext = lowercase(path.extension().string());
  return ext == ".jsonl" || ext == ".ndjson" || ext == ".json" ? TableFormat::jsonl : TableFormat::csv;
}

std::string_view table_format_name(TableFormat format) {
  return format == TableFormat::jsonl ? "jsonl" : "csv";
}

TableSummary read_table(const std::filesystem::path& path, const TableCallbacks& callbacks,
                        const TableOptions& options) {
  const TableFormat format = options.format.value_or(table_format_for(path));
  if (format == TableFormat::jsonl) return read_with<JsonLinesReader>(path, callbacks, options, format);
  return read_with<CsvReader>(path, callbacks, options, format);
}

bool is_missing_value(std::string_view value) {
  value = trim_spaces(value);
  if (value.empty()) return true;
  // The fast path: numbers and most words are ruled out by one test.
  if (value.size() > 4 || !std::isalpha(static_cast<unsigned char>(value.front()))) return false;
  static constexpr std::array<std::string_view, 5> tokens = {"na", "n/a", "nan", "null", "none"};
  return std::any_of(tokens.begin(), tokens.end(), [&](std::string_view t) { return equals_ignoring_case(value, t); });
}

std::optional<double> parse_number(std::string_view value) {
  value = trim_spaces(value);
  // from_chars reads no '+', but "+1.5" is a number to anyone writing CSV.
  if (value.starts_with('+')) {
    value.remove_prefix(1);
    if (value.starts_with('-')) return std::nullopt;
  }
  if (value.empty()) return std::nullopt;
  double number = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
  if (ec != std::errc() || end != value.data() + value.size() || !std::isfinite(number)) return std::nullopt;
  return number;
}

}  // namespace lm::deploy
