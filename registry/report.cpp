#include "registry/report.hpp"

#include <cstdio>

#include "registry/core/error.hpp"

namespace lm {

namespace {

std::string seconds_text(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", seconds);
  return buf;
}

std::string verdict_summary(const Evaluation& e) {
  const std::size_t failed = e.failures();
  if (e.gates.empty()) return "passed (the stage has no gates)";
  if (failed == 0) {
    return "passed (" + std::to_string(e.gates.size()) + " of " + std::to_string(e.gates.size()) +
           " gates)";
  }
  return "FAILED (" + std::to_string(failed) + " of " + std::to_string(e.gates.size()) +
         " gates failed)";
}

std::string title(const Evaluation& e) { return e.version.ref() + " → " + e.stage; }

// The last `count` lines of `text`: what follows the count-th newline from
// the end (a final newline ends the last line and does not count).
std::string last_lines(const std::string& text, std::size_t count) {
  std::size_t cut = text.size();
  if (cut > 0 && text[cut - 1] == '\n') --cut;
  for (std::size_t n = 0; n < count; ++n) {
    const std::size_t newline = cut == 0 ? std::string::npos : text.rfind('\n', cut - 1);
    if (newline == std::string::npos) return text;  // fewer lines than that
    cut = newline;
  }
  return text.substr(cut + 1);
}

// GitHub workflow command escaping (actions/toolkit command.ts).
std::string escape_data(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '%') {
      out += "%25";
    } else if (c == '\r') {
      out += "%0D";
    } else if (c == '\n') {
      out += "%0A";
    } else {
      out += c;
    }
  }
  return out;
}

std::string escape_property(std::string_view text) {
  std::string out;
  for (char c : escape_data(text)) {
    if (c == ':') {
      out += "%3A";
    } else if (c == ',') {
      out += "%2C";
    } else {
      out += c;
    }
  }
  return out;
}

// A gate's message (a command's output) may span lines: in a job summary
// it reads better joined into one than with markdown_cell's \n escapes.
std::string one_line_markdown_cell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n' || c == '\r') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

// U+FFFE and U+FFFF (EF BF BE, EF BF BF) are valid UTF-8 but not XML 1.0
// characters: a command gate's output may hold them, and one would make the
// whole report unreadable to a JUnit consumer.
bool xml_noncharacter_at(std::string_view text, std::size_t i) {
  return i + 2 < text.size() && text[i] == '\xEF' && text[i + 1] == '\xBF' &&
         (text[i + 2] == '\xBE' || text[i + 2] == '\xBF');
}

}  // namespace

ReportFormat parse_report_format(std::string_view name) {
  if (name == "text") return ReportFormat::text;
  if (name == "json") return ReportFormat::json;
  if (name == "junit") return ReportFormat::junit;
  if (name == "github") return ReportFormat::github;
  if (name == "md") return ReportFormat::md;
  throw Error(ExitCode::usage, "invalid report format " + quote(name),
              "use text, json, junit, github or md");
}

std::string report_text(const Evaluation& e) {
  // Pad the names as printed: escaping makes a name with a newline longer.
  std::size_t width = 0;
  for (const auto& g : e.gates) width = std::max(width, printable(g.gate).size());
  std::string out = title(e) + ": " + verdict_summary(e) + "\n";
  for (const auto& g : e.gates) {
    const std::string name = printable(g.gate);
    out += std::string(g.passed ? "  ok    " : "  FAIL  ") + name +
           std::string(width - name.size() + 2, ' ') + printable(g.message);
    if (g.kind == "command") out += " (" + seconds_text(g.seconds) + " s)";
    out += "\n";
    if (!g.passed && !g.output.empty()) {
      const std::string tail = last_lines(g.output, 20);
      std::size_t start = 0;
      while (start < tail.size()) {
        std::size_t end = tail.find('\n', start);
        if (end == std::string::npos) end = tail.size();
        out += "        | " + printable(tail.substr(start, end - start)) + "\n";
        start = end + 1;
      }
    }
  }
  if (!out.empty()) out.pop_back();
  return out;
}

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const auto u = static_cast<unsigned char>(c);
    if (xml_noncharacter_at(text, i)) {
      out += "\xEF\xBF\xBD";
      i += 2;
      continue;
    }
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // XML 1.0 allows no control characters but tab, newline and return.
        if (u < 0x20 && c != '\t' && c != '\n' && c != '\r') {
          out += "\xEF\xBF\xBD";
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string report_junit(const Evaluation& e) {
  const std::string counts = "tests=\"" + std::to_string(e.gates.size()) + "\" failures=\"" +
                             std::to_string(e.failures()) + "\" errors=\"0\" skipped=\"0\" time=\"" +
                             seconds_text(e.seconds()) + "\"";
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += "<testsuites name=\"lastmile gates\" " + counts + ">\n";
  out += "  <testsuite name=\"" + xml_escape(e.version.ref() + " -> " + e.stage) + "\" " + counts +
         " timestamp=\"" + xml_escape(e.time) + "\">\n";
  for (const auto& g : e.gates) {
    out += "    <testcase classname=\"" + xml_escape("lastmile.gates." + g.kind) + "\" name=\"" +
           xml_escape(g.gate) + "\"";
    if (g.line > 0) out += " file=\"lastmile.yaml\" line=\"" + std::to_string(g.line) + "\"";
    out += " time=\"" + seconds_text(g.seconds) + "\"";
    if (g.passed && g.output.empty()) {
      out += "/>\n";
      continue;
    }
    out += ">\n";
    if (!g.passed) {
      out += "      <failure message=\"" + xml_escape(g.message) + "\" type=\"" + xml_escape(g.kind) +
             "\">measured=" + xml_escape(g.measured.dump()) +
             " threshold=" + xml_escape(g.threshold.dump()) + "</failure>\n";
    }
    if (!g.output.empty()) out += "      <system-out>" + xml_escape(g.output) + "</system-out>\n";
    out += "    </testcase>\n";
  }
  out += "  </testsuite>\n</testsuites>";
  return out;
}

std::string report_github(const Evaluation& e) {
  std::string out;
  for (const auto& g : e.gates) {
    std::string properties;
    if (g.line > 0) properties = "file=lastmile.yaml,line=" + std::to_string(g.line) + ",";
    properties += "title=" + escape_property("lastmile gate " + g.gate);
    out += std::string(g.passed ? "::notice " : "::error ") + properties +
           "::" + escape_data(title(e) + ": " + g.message) + "\n";
  }
  out += title(e) + ": " + verdict_summary(e);
  return out;
}

std::string report_markdown(const Evaluation& e) {
  std::string out = "### lastmile gate: " + one_line_markdown_cell(title(e)) + " " +
                    (e.passed() ? "✅" : "❌") + "\n\n";
  out += one_line_markdown_cell(e.version.digest) + " · " + verdict_summary(e) + "\n\n";
  if (e.gates.empty()) return out + "The stage has no gates.";
  out += "| gate | result | detail |\n|---|---|---|\n";
  for (const auto& g : e.gates) {
    out += "| " + one_line_markdown_cell(g.gate) + " | " + (g.passed ? "✅ pass" : "❌ fail") + " | " +
           one_line_markdown_cell(g.message) + " |\n";
  }
  out.pop_back();
  return out;
}

}  // namespace lm
