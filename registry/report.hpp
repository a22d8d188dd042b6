#pragma once
// Gate evaluations as reports for people and CI systems. Pure functions of
// an Evaluation: the caller decides where the text goes.

#include <string>

#include "registry/gates.hpp"

namespace lm {

enum class ReportFormat { text, json, junit, github, md };

// "text", "json", "junit", "github" or "md"; Error(usage) otherwise.
ReportFormat parse_report_format(std::string_view name);

// One line per gate with its verdict and what was measured; the output of
// failed command gates follows, indented.
std::string report_text(const Evaluation& e);

// JUnit XML: one testsuite for the version and stage, one testcase per gate.
std::string report_junit(const Evaluation& e);

// GitHub workflow commands: ::error for each failed gate (pointing at its
// line in lastmile.yaml), ::notice for each passed one.
std::string report_github(const Evaluation& e);

// GitHub-flavoured Markdown: a heading and a table, for a pull request or
// a job summary.
std::string report_markdown(const Evaluation& e);

// Text safe inside XML 1.0 character data and attribute values.
std::string xml_escape(std::string_view text);

}  // namespace lm
