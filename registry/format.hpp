#pragma once
// Recognising what kind of model an artifact is, so that deployment can
// choose a runtime: by layout (MLflow MLmodel, Hugging Face config.json
// with safetensors or PyTorch weights, TensorFlow SavedModel), then by
// magic bytes and file extension.

#include <string>
#include <string_view>

#include "registry/artifact.hpp"

namespace lm {

// "mlflow", "huggingface", "tensorflow", "onnx", "pytorch", "safetensors",
// "sklearn", "keras", "gguf", "tflite", "xgboost", "lightgbm", or "" when
// nothing is recognised.
std::string detect_format(const Scan& scan);

// The format of one file from its name and first bytes, or "".
std::string file_format(std::string_view name, std::string_view head);

// Checks a format given with --format: 1 to 32 of [a-z0-9._-]. Throws
// Error(usage).
void validate_format(std::string_view format);

}  // namespace lm
