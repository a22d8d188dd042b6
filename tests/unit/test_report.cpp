// Gate evaluations as reports: text, JUnit XML, GitHub workflow commands
// and Markdown, from Evaluation objects built by hand.

#include <catch2/catch.hpp>

#include <cctype>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "registry/core/error.hpp"
#include "registry/gates.hpp"
#include "registry/report.hpp"
#include "tests/unit/helpers.hpp"

using namespace lm;
using lm::test::code_of;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = text.find('\n', start);
    if (end == std::string::npos) {
      out.push_back(text.substr(start));
      break;
    }
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t pos = text.find(needle); pos != std::string::npos;
       pos = text.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

// A small XML 1.0 well-formedness check, enough for what report_junit
// writes: an optional declaration, then one root element; balanced tags;
// quoted attributes, unique per element; only the five predefined entities
// and character references; no raw '<' or '&' in text or attribute values;
// no control characters but tab, newline and return; valid UTF-8.
// Returns "" when well-formed, else what is wrong.
std::string xml_problem(const std::string& xml) {
  // Characters: valid UTF-8, allowed code points.
  for (std::size_t i = 0; i < xml.size();) {
    const auto c = static_cast<unsigned char>(xml[i]);
    if (c < 0x80) {
      if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
        return "control byte " + std::to_string(c) + " at " + std::to_string(i);
      }
      ++i;
      continue;
    }
    const int extra = c >= 0xF0 && c <= 0xF4   ? 3
                      : c >= 0xE0 && c < 0xF0 ? 2
                      : c >= 0xC2 && c < 0xE0 ? 1
                                              : -1;
    if (extra < 0) return "invalid UTF-8 lead byte at " + std::to_string(i);
    if (i + static_cast<std::size_t>(extra) >= xml.size()) return "truncated UTF-8 at end";
    std::uint32_t cp = c & (extra == 1 ? 0x1F : extra == 2 ? 0x0F : 0x07);
    for (int k = 1; k <= extra; ++k) {
      const auto cc = static_cast<unsigned char>(xml[i + k]);
      if ((cc & 0xC0) != 0x80) return "invalid UTF-8 continuation at " + std::to_string(i + k);
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF) {
      return "code point not allowed in XML at " + std::to_string(i);
    }
    i += static_cast<std::size_t>(extra) + 1;
  }
  const auto check_text = [](std::string_view text, bool attribute) -> std::string {
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '<') return "raw '<' in " + std::string(attribute ? "an attribute" : "text");
      if (attribute && text[i] == '"') return "raw '\"' in an attribute";
      if (text[i] != '&') continue;
      const std::size_t semi = text.find(';', i);
      if (semi == std::string_view::npos) return "unterminated entity";
      const std::string_view name = text.substr(i + 1, semi - i - 1);
      static const std::set<std::string_view> known = {"amp", "lt", "gt", "quot", "apos"};
      const bool charref = name.size() >= 2 && name[0] == '#';
      if (!known.count(name) && !charref) return "unknown entity &" + std::string(name) + ";";
      i = semi;
    }
    return "";
  };
  const auto is_name_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == ':';
  };
  std::size_t pos = 0;
  if (xml.compare(0, 5, "<?xml") == 0) {
    pos = xml.find("?>");
    if (pos == std::string::npos) return "unterminated declaration";
    pos += 2;
  }
  std::vector<std::string> open;
  int roots = 0;
  while (pos < xml.size()) {
    const std::size_t lt = xml.find('<', pos);
    const std::string text = xml.substr(pos, lt == std::string::npos ? std::string::npos : lt - pos);
    if (open.empty()) {
      if (text.find_first_not_of(" \t\r\n") != std::string::npos) return "text outside the root";
    } else if (auto p = check_text(text, false); !p.empty()) {
      return p;
    }
    if (lt == std::string::npos) break;
    pos = lt + 1;
    if (pos < xml.size() && xml[pos] == '/') {
      ++pos;
      std::size_t end = pos;
      while (end < xml.size() && is_name_char(xml[end])) ++end;
      const std::string name = xml.substr(pos, end - pos);
      if (open.empty() || open.back() != name) return "mismatched end tag </" + name + ">";
      open.pop_back();
      while (end < xml.size() && std::isspace(static_cast<unsigned char>(xml[end]))) ++end;
      if (end >= xml.size() || xml[end] != '>') return "malformed end tag </" + name;
      pos = end + 1;
      continue;
    }
    std::size_t end = pos;
    while (end < xml.size() && is_name_char(xml[end])) ++end;
    const std::string name = xml.substr(pos, end - pos);
    if (name.empty()) return "empty element name at " + std::to_string(pos);
    if (open.empty() && ++roots > 1) return "more than one root element";
    pos = end;
    std::set<std::string> attributes;
    for (;;) {
      const std::size_t before = pos;
      while (pos < xml.size() && std::isspace(static_cast<unsigned char>(xml[pos]))) ++pos;
      if (pos >= xml.size()) return "unterminated start tag <" + name;
      if (xml[pos] == '>') {
        open.push_back(name);
        ++pos;
        break;
      }
      if (xml.compare(pos, 2, "/>") == 0) {
        pos += 2;
        break;
      }
      if (before == pos) return "attributes of <" + name + "> not separated by space";
      std::size_t attr_end = pos;
      while (attr_end < xml.size() && is_name_char(xml[attr_end])) ++attr_end;
      const std::string attr = xml.substr(pos, attr_end - pos);
      if (attr.empty()) return "malformed attribute in <" + name + ">";
      if (!attributes.insert(attr).second) return "duplicate attribute " + attr;
      if (xml.compare(attr_end, 2, "=\"") != 0) return "attribute " + attr + " is not quoted";
      const std::size_t close = xml.find('"', attr_end + 2);
      if (close == std::string::npos) return "unterminated attribute " + attr;
      if (auto p = check_text(std::string_view(xml).substr(attr_end + 2, close - attr_end - 2), true);
          !p.empty()) {
        return p;
      }
      pos = close + 1;
    }
  }
  if (!open.empty()) return "unclosed element <" + open.back() + ">";
  if (roots != 1) return "no root element";
  return "";
}

// The value of attribute `name` on the first element whose start tag
// contains `marker`.
std::string attribute(const std::string& xml, const std::string& marker, const std::string& name) {
  const std::size_t at = xml.find(marker);
  if (at == std::string::npos) return "<no " + marker + ">";
  const std::size_t tag_start = xml.rfind('<', at);
  const std::size_t tag_end = xml.find('>', at);
  const std::string tag = xml.substr(tag_start, tag_end - tag_start);
  const std::size_t a = tag.find(" " + name + "=\"");
  if (a == std::string::npos) return "<no attribute " + name + ">";
  const std::size_t v = a + name.size() + 3;
  return tag.substr(v, tag.find('"', v) - v);
}

GateOutcome outcome(std::string gate, std::string kind, bool passed, std::string message,
                    int line = 0) {
  GateOutcome o;
  o.gate = std::move(gate);
  o.kind = std::move(kind);
  o.passed = passed;
  o.message = std::move(message);
  o.line = line;
  return o;
}

VersionRecord version_record() {
  VersionRecord v;
  v.id = 1;
  v.name = "churn";
  v.kind = "model";
  v.version = "1.2.0";
  v.digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  return v;
}

// Three gates: a passed metric gate, a failed require gate on line 7, a
// failed command gate with output, and a passed command gate with output.
Evaluation sample_evaluation() {
  Evaluation e;
  e.version = version_record();
  e.stage = "staging";
  e.time = "2026-11-24T18:38:00.000000Z";
  GateOutcome auc = outcome("auc >= 0.8", "metric", true, "auc 0.91 >= 0.8", 6);
  auc.measured = 0.91;
  auc.threshold = 0.8;
  GateOutcome req = outcome("require owner, description", "require", false,
                            "missing owner, description", 7);
  req.measured = Json::array({"owner", "description"});
  req.threshold = Json::array({"owner", "description"});
  GateOutcome smoke = outcome("command ./smoke.sh", "command", false, "exit status 3", 8);
  smoke.measured = 3;
  smoke.threshold = 0;
  smoke.output = "starting\nloss < 1 & acc > 0 \"ok\" 'yes'\nFAILED\n";
  smoke.seconds = 1.5;
  GateOutcome lint = outcome("command ./lint.sh", "command", true, "exit status 0", 9);
  lint.measured = 0;
  lint.output = "all clean\n";
  lint.seconds = 0.25;
  e.gates = {auc, req, smoke, lint};
  return e;
}

}  // namespace

TEST_CASE("xml_escape escapes the five markup characters", "[report]") {
  CHECK(xml_escape("a & b < c > d \"e\" 'f'") ==
        "a &amp; b &lt; c &gt; d &quot;e&quot; &apos;f&apos;");
  CHECK(xml_escape("") == "");
  CHECK(xml_escape("&amp;") == "&amp;amp;");  // already-escaped text is escaped again
  CHECK(xml_escape("ünïcødé → ✓") == "ünïcødé → ✓");
}

TEST_CASE("xml_escape keeps tab, newline and return and replaces other control bytes", "[report]") {
  CHECK(xml_escape("a\tb\nc\rd") == "a\tb\nc\rd");
  std::string controls;
  for (int c = 0; c < 0x20; ++c) controls += static_cast<char>(c);
  controls += "\x7f";
  const std::string escaped = xml_escape(controls);
  for (char c : escaped) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20) CHECK((c == '\t' || c == '\n' || c == '\r'));
  }
  CHECK(escaped.find('\t') != std::string::npos);
  CHECK(escaped.find('\n') != std::string::npos);
  CHECK(escaped.find('\r') != std::string::npos);
  // Inside an element, the escaped text is well-formed XML.
  CHECK(xml_problem("<a x=\"" + xml_escape(controls + "<&\"'>") + "\">" +
                    xml_escape(controls + "<&\"'>") + "</a>") == "");
  // Something stands in for each replaced byte: the text keeps its shape.
  CHECK(xml_escape("a\x01" "b") != "ab");
  CHECK(xml_escape(std::string("a\0b", 3)).find('\0') == std::string::npos);
}

TEST_CASE("xml_escape replaces U+FFFE and U+FFFF, which XML 1.0 does not allow", "[report]") {
  const std::string text = "a\xEF\xBF\xBE" "b\xEF\xBF\xBF" "c \xEF\xBF\xBD ok";
  const std::string escaped = xml_escape(text);
  CHECK(escaped.find("\xEF\xBF\xBE") == std::string::npos);
  CHECK(escaped.find("\xEF\xBF\xBF") == std::string::npos);
  CHECK(escaped.find("c \xEF\xBF\xBD ok") != std::string::npos);  // U+FFFD itself is kept
  CHECK(xml_problem("<a>" + escaped + "</a>") == "");
}

TEST_CASE("the XML checker used by these tests rejects what is not well-formed", "[report]") {
  CHECK(xml_problem("<a><b/></a>") == "");
  CHECK(xml_problem("<?xml version=\"1.0\"?>\n<a x=\"1\" y=\"&amp;\">t &lt; u</a>") == "");
  CHECK(xml_problem("<a><b></a>") != "");
  CHECK(xml_problem("<a>x & y</a>") != "");
  CHECK(xml_problem("<a>x < y</a>") != "");
  CHECK(xml_problem("<a x=\"1\" x=\"2\"/>") != "");
  CHECK(xml_problem("<a>\x01</a>") != "");
  CHECK(xml_problem("<a/><b/>") != "");
  CHECK(xml_problem("<a x=1/>") != "");
}

TEST_CASE("report_junit is well-formed with one testcase per gate and the counts", "[report]") {
  const Evaluation e = sample_evaluation();
  const std::string xml = report_junit(e);
  INFO(xml);
  CHECK(xml_problem(xml) == "");
  CHECK(xml.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", 0) == 0);
  CHECK(count_of(xml, "<testsuites ") == 1);
  CHECK(count_of(xml, "<testsuite ") == 1);
  CHECK(count_of(xml, "<testcase ") == 4);
  CHECK(attribute(xml, "<testsuites ", "tests") == "4");
  CHECK(attribute(xml, "<testsuites ", "failures") == "2");
  CHECK(attribute(xml, "<testsuite ", "tests") == "4");
  CHECK(attribute(xml, "<testsuite ", "failures") == "2");
  CHECK(attribute(xml, "<testsuite ", "errors") == "0");
  CHECK(attribute(xml, "<testsuite ", "name") == "churn@1.2.0 -&gt; staging");
  CHECK(attribute(xml, "<testsuite ", "timestamp") == "2026-11-24T18:38:00.000000Z");
  CHECK(attribute(xml, "<testsuite ", "time") == "1.750");  // the sum of the gates' times
}

TEST_CASE("report_junit: a failure element with the message only for failed gates", "[report]") {
  const std::string xml = report_junit(sample_evaluation());
  INFO(xml);
  CHECK(count_of(xml, "<failure ") == 2);
  // The passed metric gate is an empty testcase.
  CHECK(xml.find("name=\"auc &gt;= 0.8\" file=\"lastmile.yaml\" line=\"6\" time=\"") !=
        std::string::npos);
  const std::size_t auc = xml.find("name=\"auc &gt;= 0.8\"");
  CHECK(xml.substr(auc, xml.find('\n', auc) - auc).find("/>") != std::string::npos);
  // The failed require gate carries its message and kind.
  CHECK(attribute(xml, "<failure message=\"missing owner", "message") ==
        "missing owner, description");
  CHECK(attribute(xml, "<failure message=\"missing owner", "type") == "require");
  CHECK(attribute(xml, "<failure message=\"exit status 3", "type") == "command");
  // The passed command gate has no failure, but its output.
  const std::size_t lint = xml.find("name=\"command ./lint.sh\"");
  REQUIRE(lint != std::string::npos);
  const std::string lint_case = xml.substr(lint, xml.find("</testcase>", lint) - lint);
  CHECK(lint_case.find("<failure") == std::string::npos);
  CHECK(lint_case.find("<system-out>all clean\n</system-out>") != std::string::npos);
}

TEST_CASE("report_junit: command output in system-out, escaped", "[report]") {
  const std::string xml = report_junit(sample_evaluation());
  CHECK(xml.find("<system-out>starting\nloss &lt; 1 &amp; acc &gt; 0 &quot;ok&quot; &apos;yes&apos;\n"
                 "FAILED\n</system-out>") != std::string::npos);
  CHECK(count_of(xml, "<system-out>") == 2);
}

TEST_CASE("report_junit: file and line attributes only for a gate with a line", "[report]") {
  Evaluation e;
  e.version = version_record();
  e.stage = "production";
  e.time = "2026-11-24T18:38:00.000000Z";
  e.gates = {outcome("from staging", "from", true, "has been in 'staging'", 12),
             outcome("built in", "metric", false, "no <line> & \x01 here", 0)};
  const std::string xml = report_junit(e);
  INFO(xml);
  CHECK(xml_problem(xml) == "");
  CHECK(attribute(xml, "name=\"from staging\"", "line") == "12");
  CHECK(attribute(xml, "name=\"from staging\"", "file") == "lastmile.yaml");
  CHECK(attribute(xml, "name=\"built in\"", "line") == "<no attribute line>");
  CHECK(attribute(xml, "name=\"built in\"", "file") == "<no attribute file>");
  CHECK(attribute(xml, "name=\"built in\"", "classname") == "lastmile.gates.metric");
}

TEST_CASE("report_junit of a stage without gates has zero tests", "[report]") {
  Evaluation e;
  e.version = version_record();
  e.stage = "sandbox";
  e.time = "2026-11-24T18:38:00.000000Z";
  const std::string xml = report_junit(e);
  CHECK(xml_problem(xml) == "");
  CHECK(attribute(xml, "<testsuites ", "tests") == "0");
  CHECK(attribute(xml, "<testsuites ", "failures") == "0");
  CHECK(count_of(xml, "<testcase") == 0);
}

TEST_CASE("report_junit stays well-formed whatever the gates say", "[report]") {
  Evaluation e;
  e.version = version_record();
  e.stage = "staging";
  e.time = "t<&>";
  GateOutcome o = outcome("file <x>.json /a&b", "file", false, "\"quoted\" 'and' <tagged> & \x02\x1b[31m");
  o.measured = "<&>\x01";
  o.threshold = Json::object({{"min", 1}});
  o.output = "]]> <![CDATA[ \x07 bell\r\n";
  e.gates = {o};
  const std::string xml = report_junit(e);
  INFO(xml);
  CHECK(xml_problem(xml) == "");
}

TEST_CASE("report_github: ::error for failed gates, ::notice for passed, with file and line", "[report]") {
  const std::string out = report_github(sample_evaluation());
  const auto lines = lines_of(out);
  REQUIRE(lines.size() == 5);
  CHECK(lines[0] ==
        "::notice file=lastmile.yaml,line=6,title=lastmile gate auc >= 0.8::"
        "churn@1.2.0 → staging: auc 0.91 >= 0.8");
  CHECK(lines[1] ==
        "::error file=lastmile.yaml,line=7,title=lastmile gate require owner%2C description::"
        "churn@1.2.0 → staging: missing owner, description");
  CHECK(lines[2].rfind("::error file=lastmile.yaml,line=8,title=lastmile gate command ./smoke.sh::", 0) == 0);
  CHECK(lines[3].rfind("::notice file=lastmile.yaml,line=9,", 0) == 0);
  CHECK(lines[4] == "churn@1.2.0 → staging: FAILED (2 of 4 gates failed)");
}

TEST_CASE("report_github escapes data and properties as the GitHub toolkit does", "[report]") {
  Evaluation e;
  e.version = version_record();
  e.stage = "staging";
  e.gates = {outcome("require label:team, metric:auc 100%", "require", false,
                     "missing label:team,\r\nmetric:auc at 100%", 0),
             outcome("built in", "metric", true, "ok: 50%\n", 0)};
  const auto lines = lines_of(report_github(e));
  REQUIRE(lines.size() == 3);
  // No file or line for a gate at line 0.
  CHECK(lines[0] ==
        "::error title=lastmile gate require label%3Ateam%2C metric%3Aauc 100%25::"
        "churn@1.2.0 → staging: missing label:team,%0D%0Ametric:auc at 100%25");
  CHECK(lines[1] == "::notice title=lastmile gate built in::churn@1.2.0 → staging: ok: 50%25%0A");
  CHECK(lines[2] == "churn@1.2.0 → staging: FAILED (1 of 2 gates failed)");
}

TEST_CASE("report_github of a passing evaluation ends with the verdict", "[report]") {
  Evaluation e;
  e.version = version_record();
  e.stage = "sandbox";
  CHECK(report_github(e) == "churn@1.2.0 → sandbox: passed (the stage has no gates)");
  e.gates = {outcome("auc >= 0.8", "metric", true, "auc 0.9 >= 0.8", 3)};
  const auto lines = lines_of(report_github(e));
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].rfind("::notice file=lastmile.yaml,line=3,title=", 0) == 0);
  CHECK(lines[1] == "churn@1.2.0 → sandbox: passed (1 of 1 gates)");
}

TEST_CASE("report_markdown: a heading and one table row per gate", "[report]") {
  const std::string md = report_markdown(sample_evaluation());
  const auto lines = lines_of(md);
  INFO(md);
  REQUIRE(lines.size() == 10);
  CHECK(lines[0] == "### lastmile gate: churn@1.2.0 → staging ❌");
  CHECK(lines[2].rfind("sha256:0123456789abcdef", 0) == 0);
  CHECK(lines[2].find("FAILED (2 of 4 gates failed)") != std::string::npos);
  CHECK(lines[4] == "| gate | result | detail |");
  CHECK(lines[5] == "|---|---|---|");
  CHECK(lines[6] == "| auc >= 0.8 | ✅ pass | auc 0.91 >= 0.8 |");
  CHECK(lines[7] == "| require owner, description | ❌ fail | missing owner, description |");
  CHECK(lines[9] == "| command ./lint.sh | ✅ pass | exit status 0 |");
}

TEST_CASE("report_markdown escapes | in a cell and flattens newlines", "[report]") {
  Evaluation e;
  e.version = version_record();
  e.stage = "staging";
  e.gates = {outcome("a|b", "metric", false, "line one\nline two | three\r\nfour", 0)};
  const std::string md = report_markdown(e);
  INFO(md);
  const auto lines = lines_of(md);
  REQUIRE(lines.size() == 7);
  CHECK(lines[6] == "| a\\|b | ❌ fail | line one line two \\| three  four |");
  // Every row of the table has exactly its four unescaped separators.
  for (std::size_t i = 4; i < lines.size(); ++i) {
    std::size_t bars = 0;
    for (std::size_t k = 0; k < lines[i].size(); ++k) {
      if (lines[i][k] == '|' && (k == 0 || lines[i][k - 1] != '\\')) ++bars;
    }
    CHECK(bars == 4);
  }
}

TEST_CASE("report_markdown of a stage without gates says so", "[report]") {
  Evaluation e;
  e.version = version_record();
  e.stage = "sandbox";
  const std::string md = report_markdown(e);
  CHECK(md.find("### lastmile gate: churn@1.2.0 → sandbox ✅") == 0);
  CHECK(md.find("The stage has no gates.") != std::string::npos);
  CHECK(md.find("| gate |") == std::string::npos);
}

TEST_CASE("report_text: one line per gate, and a failed command's output indented", "[report]") {
  const std::string text = report_text(sample_evaluation());
  INFO(text);
  const auto lines = lines_of(text);
  REQUIRE(lines.size() == 8);
  CHECK(lines[0] == "churn@1.2.0 → staging: FAILED (2 of 4 gates failed)");
  CHECK(lines[1].rfind("  ok    auc >= 0.8", 0) == 0);
  CHECK(lines[1].find("auc 0.91 >= 0.8") != std::string::npos);
  CHECK(lines[2].rfind("  FAIL  require owner, description", 0) == 0);
  CHECK(lines[3].rfind("  FAIL  command ./smoke.sh", 0) == 0);
  CHECK(lines[3].find("exit status 3 (1.500 s)") != std::string::npos);
  CHECK(lines[4] == "        | starting");
  CHECK(lines[5] == "        | loss < 1 & acc > 0 \"ok\" 'yes'");
  CHECK(lines[6] == "        | FAILED");
  // The passed command gate's output is not shown.
  CHECK(lines[7].rfind("  ok    command ./lint.sh", 0) == 0);
  CHECK(text.find("all clean") == std::string::npos);
  // The messages line up in one column.
  CHECK(lines[1].find("auc 0.91") == lines[2].find("missing owner"));
}

TEST_CASE("report_text shows only the last 20 lines of a failed command's output", "[report]") {
  Evaluation e;
  e.version = version_record();
  e.stage = "staging";
  GateOutcome o = outcome("command ./smoke.sh", "command", false, "exit status 1");
  for (int i = 1; i <= 25; ++i) o.output += "line " + std::to_string(i) + "\n";
  e.gates = {o};
  const auto lines = lines_of(report_text(e));
  REQUIRE(lines.size() == 22);
  CHECK(lines[2] == "        | line 6");
  CHECK(lines[21] == "        | line 25");
  // Without a final newline, the same.
  e.gates[0].output.pop_back();
  const auto again = lines_of(report_text(e));
  REQUIRE(again.size() == 22);
  CHECK(again[2] == "        | line 6");
  // Exactly 20 lines: all of them.
  e.gates[0].output.clear();
  for (int i = 1; i <= 20; ++i) e.gates[0].output += "line " + std::to_string(i) + "\n";
  const auto twenty = lines_of(report_text(e));
  REQUIRE(twenty.size() == 22);
  CHECK(twenty[2] == "        | line 1");
}

TEST_CASE("report_text: output starting with a blank line still shows at most 20 lines",
          "[report]") {
  // last_lines() in registry/report.cpp stops at a newline at offset 0 and
  // returns the whole text: 21 lines here instead of the last 20.
  Evaluation e;
  e.version = version_record();
  e.stage = "staging";
  GateOutcome o = outcome("command ./smoke.sh", "command", false, "exit status 1");
  o.output = "\n";
  for (int i = 1; i <= 20; ++i) o.output += "line " + std::to_string(i) + "\n";
  e.gates = {o};
  const auto lines = lines_of(report_text(e));
  CHECK(lines.size() == 22);
  CHECK(lines[2] == "        | line 1");
}

TEST_CASE("report_text shows control characters in output as escapes", "[report]") {
  Evaluation e;
  e.version = version_record();
  e.stage = "staging";
  GateOutcome o = outcome("command ./smoke.sh", "command", false, "exit status 1");
  o.output = "\x1b[31mred\x1b[0m\ttab\n";
  e.gates = {o};
  const std::string text = report_text(e);
  CHECK(text.find('\x1b') == std::string::npos);
  CHECK(text.find("        | \\x1b[31mred\\x1b[0m\\ttab") != std::string::npos);
}

TEST_CASE("report_text of a passing evaluation and of one without gates", "[report]") {
  Evaluation e;
  e.version = version_record();
  e.stage = "sandbox";
  CHECK(report_text(e) == "churn@1.2.0 → sandbox: passed (the stage has no gates)");
  e.gates = {outcome("auc >= 0.8", "metric", true, "auc 0.9 >= 0.8")};
  CHECK(report_text(e) == "churn@1.2.0 → sandbox: passed (1 of 1 gates)\n  ok    auc >= 0.8  auc 0.9 >= 0.8");
}

TEST_CASE("parse_report_format knows the five formats and refuses others", "[report]") {
  CHECK(parse_report_format("text") == ReportFormat::text);
  CHECK(parse_report_format("json") == ReportFormat::json);
  CHECK(parse_report_format("junit") == ReportFormat::junit);
  CHECK(parse_report_format("github") == ReportFormat::github);
  CHECK(parse_report_format("md") == ReportFormat::md);
  for (const char* bad : {"", "xml", "JUnit", "markdown", "text ", "gh"}) {
    INFO(bad);
    CHECK(code_of([&] { parse_report_format(bad); }) == ExitCode::usage);
  }
  try {
    parse_report_format("xml");
    FAIL("parsed");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("'xml'"));
  }
}
