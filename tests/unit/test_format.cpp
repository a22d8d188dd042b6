// Recognising model formats.

#include <catch2/catch.hpp>

#include "registry/core/error.hpp"
#include "registry/format.hpp"
#include "tests/unit/helpers.hpp"

using namespace lm;
namespace fs = std::filesystem;

namespace {

std::string detect(const test::TempDir& dir, const fs::path& rel) {
  return detect_format(scan_artifact(dir / rel, dir / ".lastmile"));
}

}  // namespace

TEST_CASE("single files are recognised by magic bytes and extension", "[format]") {
  CHECK(file_format("model.onnx", "\x08\x07\x12") == "onnx");
  CHECK(file_format("model.pt", std::string("PK\x03\x04", 4)) == "pytorch");
  CHECK(file_format("model.pth", "\x80\x02}q") == "pytorch");
  CHECK(file_format("model.pt", "not a torch file") == "");
  CHECK(file_format("model.pkl", "\x80\x04") == "sklearn");
  CHECK(file_format("model.joblib", "x") == "sklearn");
  CHECK(file_format("weights.bin", "GGUF\x03\x00") == "gguf");
  CHECK(file_format("m.bin", std::string("\x1c\x00\x00\x00TFL3", 8)) == "tflite");
  CHECK(file_format("m.bin", "\x89HDF\r\n\x1a\n") == "keras");
  CHECK(file_format("model.safetensors", "x") == "safetensors");
  CHECK(file_format("notes.txt", "hello") == "");
}

TEST_CASE("directory layouts are recognised", "[format]") {
  test::TempDir dir;
  dir.write("mlflow/MLmodel", "flavors: {}\n");
  dir.write("mlflow/model.pkl", "\x80\x04");
  dir.write("hf/config.json", "{}");
  dir.write("hf/model.safetensors", "x");
  dir.write("hf2/config.json", "{}");
  dir.write("hf2/pytorch_model.bin", "x");
  dir.write("tf/saved_model.pb", "x");
  dir.write("tf/variables/variables.index", "x");
  dir.write("one/model.onnx", "\x08\x07");
  dir.write("one/README.md", "x");
  dir.write("mixed/a.onnx", "x");
  dir.write("mixed/b.pkl", "x");
  dir.write("plain/data.bin", "x");
  CHECK(detect(dir, "mlflow") == "mlflow");
  CHECK(detect(dir, "hf") == "huggingface");
  CHECK(detect(dir, "hf2") == "huggingface");
  CHECK(detect(dir, "tf") == "tensorflow");
  CHECK(detect(dir, "one") == "onnx");
  CHECK(detect(dir, "mixed") == "");
  CHECK(detect(dir, "plain") == "");
  CHECK(detect(dir, "one/model.onnx") == "onnx");
}

TEST_CASE("a given format is checked", "[format]") {
  CHECK_NOTHROW(validate_format("onnx"));
  CHECK_NOTHROW(validate_format("custom-runtime.v2"));
  CHECK_THROWS_AS(validate_format(""), Error);
  CHECK_THROWS_AS(validate_format("ONNX"), Error);
  CHECK_THROWS_AS(validate_format("a b"), Error);
  CHECK_THROWS_AS(validate_format(std::string(33, 'a')), Error);
}
