#include "registry/format.hpp"

#include <fcntl.h>

#include <algorithm>
#include <set>

#include "registry/core/error.hpp"
#include "registry/core/files.hpp"

namespace lm {

namespace {

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// The first bytes of a file, or "" when it is gone. Any other failure is
// an error: a format guessed without them would be recorded as fact.
std::string head_of(const fs::path& path) {
  try {
    UniqueFd fd = open_file(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    char buf[16];
    return std::string(buf, read_some(fd.get(), buf, sizeof buf, path));
  } catch (const Error& e) {
    if (e.code() != ExitCode::not_found) throw;
    return {};
  }
}

std::string base_name(std::string_view path) {
  const auto slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

}  // namespace

std::string file_format(std::string_view name, std::string_view head) {
  const bool zip = starts_with(head, "PK\x03\x04");
  const bool pickle = head.size() >= 2 && static_cast<unsigned char>(head[0]) == 0x80 &&
                      head[1] >= 2 && head[1] <= 5;
  if (starts_with(head, "GGUF")) return "gguf";
  if (head.size() >= 8 && head.substr(4, 4) == "TFL3") return "tflite";
  if (starts_with(head, "\x89HDF\r\n\x1a\n")) return "keras";
  if (ends_with(name, ".safetensors")) return "safetensors";
  if (ends_with(name, ".onnx")) return "onnx";
  if (ends_with(name, ".pt") || ends_with(name, ".pth") || ends_with(name, ".ckpt")) {
    return zip || pickle ? "pytorch" : "";
  }
  if (ends_with(name, ".pkl") || ends_with(name, ".pickle") || ends_with(name, ".joblib")) {
    return "sklearn";
  }
  if (ends_with(name, ".keras") || ends_with(name, ".h5")) return "keras";
  if (ends_with(name, ".xgb") || ends_with(name, ".ubj")) return "xgboost";
  if (ends_with(name, ".lgb") || ends_with(name, ".lightgbm")) return "lightgbm";
  if (ends_with(name, ".gguf")) return "gguf";
  if (ends_with(name, ".tflite")) return "tflite";
  return "";
}

std::string detect_format(const Scan& scan) {
  std::set<std::string> names;
  for (const auto& e : scan.entries) names.insert(e.path);
  if (!scan.single_file) {
    if (names.count("MLmodel")) return "mlflow";
    if (names.count("saved_model.pb") || names.count("saved_model.pbtxt")) return "tensorflow";
    const bool hf_weights = std::any_of(names.begin(), names.end(), [](const std::string& n) {
      return n.find('/') == std::string::npos &&
             (ends_with(n, ".safetensors") || n == "pytorch_model.bin" || n == "tf_model.h5" ||
              ends_with(n, ".safetensors.index.json"));
    });
    if (names.count("config.json") && hf_weights) return "huggingface";
  }
  // Otherwise the formats of the files themselves: one format, that one.
  std::set<std::string> found;
  for (const auto& e : scan.entries) {
    if (!e.link.empty()) continue;
    const std::string f = file_format(base_name(e.path), head_of(e.source));
    if (!f.empty()) found.insert(f);
  }
  return found.size() == 1 ? *found.begin() : "";
}

void validate_format(std::string_view format) {
  bool ok = !format.empty() && format.size() <= 32;
  for (char c : format) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-');
  }
  if (!ok) {
    throw Error(ExitCode::usage, "invalid format " + quote(format),
                "a format is 1 to 32 lowercase letters, digits and . _ -, e.g. onnx or pytorch");
  }
}

}  // namespace lm
