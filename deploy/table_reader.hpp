#pragma once
// Streaming reader of tabular input for drift: CSV (RFC 4180, a header row,
// parsed by libcsv) and JSON Lines (one object per line). The file is read
// in fixed-size chunks and each row is handed to a callback, so memory
// depends on the widest row, never on the number of rows.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lm {
class Sha256;
}

namespace lm::deploy {

enum class TableFormat { csv, jsonl };

// JSON Lines for the extensions .jsonl, .ndjson and .json (any case), CSV
// for everything else.
TableFormat table_format_for(const std::filesystem::path& path);

// "csv" or "jsonl".
std::string_view table_format_name(TableFormat format);

// One data row. `fields` lines up with the header's columns and is valid
// only during the callback. `line` is the physical line (1-based) the row
// starts on, counting newlines inside quoted CSV fields.
struct TableRow {
  std::span<const std::string_view> fields;
  std::uint64_t line = 0;
};

struct TableCallbacks {
  // Called once, before any row, with the column names in file order.
  std::function<void(const std::vector<std::string>& columns)> on_header;
  std::function<void(const TableRow& row)> on_row;
};

struct TableOptions {
  std::optional<TableFormat> format;    // else by the file's extension
  std::size_t chunk_size = 1u << 20;    // bytes read at a time
  // When set, every byte of the file is hashed as it is read: the digest
  // recorded with a profile or a measurement costs no second read.
  Sha256* hash = nullptr;
};

struct TableSummary {
  TableFormat format = TableFormat::csv;
  std::uint64_t rows = 0;        // data rows, blank lines not counted
  std::uint64_t lines = 0;       // physical lines read
  // JSON Lines only: keys met after the first line that it did not have;
  // the first object fixes the columns, these values are not read.
  std::uint64_t ignored_keys = 0;
};

// Reads `path`, calling on_header once and then on_row for each data row.
// CSV: the first record is the header; spaces around unquoted fields are
// trimmed; blank lines are skipped; a UTF-8 byte order mark is ignored.
// JSON Lines: the keys of the first object are the columns, in its order; a
// key a later object lacks, and a null, read as "" (missing); numbers and
// booleans read as their JSON text, arrays and objects as compact JSON.
// Throws Error(not_found / permission / io) when the file cannot be read,
// Error(data) for an empty file, a duplicate column name, a CSV row whose
// field count differs from the header's, malformed CSV quoting or a line
// that is not a JSON object; data errors name the file and the line.
// Exceptions thrown by the callbacks pass through.
TableSummary read_table(const std::filesystem::path& path, const TableCallbacks& callbacks,
                        const TableOptions& options = {});

// Cell values shared by profile and drift.

// True for a value that stands for "no value": empty (after trimming
// spaces) or, in any case, "na", "n/a", "nan", "null" or "none".
bool is_missing_value(std::string_view value);

// The value as a finite number, or nullopt. Accepts what std::from_chars
// reads in general format (decimal and exponent forms) with an optional
// leading '+' and surrounding spaces; "inf" and "nan" are not finite.
std::optional<double> parse_number(std::string_view value);

}  // namespace lm::deploy
