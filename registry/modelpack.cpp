#include "registry/modelpack.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "registry/core/error.hpp"
#include "registry/core/json.hpp"
#include "registry/core/oci.hpp"
#include "registry/core/sha256.hpp"

namespace lm::modelpack {

namespace {

// Readers accept the namespace the spec used before it moved to the CNCF.
constexpr std::array<std::string_view, 2> k_namespaces = {"cncf", "cnai"};
constexpr std::string_view k_links_annotation = "dev.lastmile.links";
constexpr std::string_view k_digest_annotation = "dev.lastmile.digest";

std::string model_type(std::string_view ns, std::string_view rest) {
  return "application/vnd." + std::string(ns) + ".model." + std::string(rest);
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

std::string_view base_name(std::string_view path) {
  const auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// The kind of file a name suggests: "doc", "code", "weight.config" or "".
std::string_view file_kind(std::string_view path) {
  const std::string name = lowercase(base_name(path));
  if (starts_with(name, "readme") || starts_with(name, "license") || ends_with(name, ".md") ||
      ends_with(name, ".txt")) {
    return "doc";
  }
  if (ends_with(name, ".py") || ends_with(name, ".sh") || ends_with(name, ".ipynb")) return "code";
  if (name == "config.json" || name == "generation_config.json" || name == "mlmodel" ||
      (starts_with(name, "tokenizer") && ends_with(name, ".json")) || ends_with(name, ".yaml") ||
      ends_with(name, ".yml")) {
    return "weight.config";
  }
  return "";
}

Json model_config(const VersionRecord& v, const std::vector<Layer>& layers) {
  Json descriptor = {{"name", v.name}, {"version", v.version}};
  if (!v.registered_at.empty()) descriptor["createdAt"] = v.registered_at;
  if (!v.owner.empty()) descriptor["authors"] = Json::array({v.owner});
  if (!v.description.empty()) descriptor["description"] = v.description;
  if (v.git && !v.git->commit.empty()) descriptor["revision"] = v.git->commit;
  if (v.git && !v.git->remote.empty()) descriptor["sourceURL"] = v.git->remote;
  Json config = Json::object();
  if (!v.format.empty()) config["format"] = v.format;
  Json diff_ids = Json::array();
  for (const auto& layer : layers) diff_ids.push_back(layer.digest);  // raw: the bytes themselves
  return {{"descriptor", descriptor},
          {"config", config},
          {"modelfs", {{"type", "layers"}, {"diffIds", diff_ids}}}};
}

// The ModelPack file metadata: a tar header's fields, fixed where lastmile
// keeps no value (owner, time) so that the bytes stay the same.
std::string file_metadata(const Layer& layer, const std::string& time) {
  Json meta = {{"name", std::string(base_name(layer.path))},
               {"mode", layer.executable ? 0755 : 0644},
               {"uid", 0},
               {"gid", 0},
               {"size", layer.size},
               {"typeflag", 0}};
  if (!time.empty()) meta["mtime"] = time;
  return canonical_json(meta);
}

Json layer_json(const Layer& layer, const std::string& time) {
  return {{"mediaType", layer.media_type},
          {"digest", layer.digest},
          {"size", layer.size},
          {"annotations",
           {{"org.cncf.model.filepath", layer.path},
            {"org.cncf.model.file.metadata+json", file_metadata(layer, time)},
            // the kind comes from the file's name, not from its contents
            {"org.cncf.model.file.mediatype.untested", "true"}}}};
}

Json manifest_annotations(const VersionRecord& v, const std::vector<Link>& links) {
  Json a = {{"org.opencontainers.image.title", v.name},
            {"org.opencontainers.image.version", v.version},
            {std::string(k_digest_annotation), v.digest}};
  if (!v.registered_at.empty()) a["org.opencontainers.image.created"] = v.registered_at;
  if (!v.description.empty()) a["org.opencontainers.image.description"] = v.description;
  if (!v.owner.empty()) a["org.opencontainers.image.authors"] = v.owner;
  if (v.git && !v.git->commit.empty()) a["org.opencontainers.image.revision"] = v.git->commit;
  if (v.git && !v.git->remote.empty()) a["org.opencontainers.image.source"] = v.git->remote;
  if (!links.empty()) {
    Json list = Json::array();
    for (const auto& link : links) list.push_back({{"path", link.path}, {"link", link.target}});
    a[std::string(k_links_annotation)] = canonical_json(list);
  }
  return a;
}

std::string sha256_digest(std::string_view bytes) { return "sha256:" + Sha256::hex_of(bytes); }

[[noreturn]] void malformed(const std::string& why) {
  throw Error(ExitCode::data, "not a ModelPack model manifest lastmile can read: " + why);
}

std::string string_at(const Json& object, std::string_view key) {
  const auto it = object.find(std::string(key));
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The annotation in either namespace: org.cncf.model.<name> or org.cnai.model.<name>.
std::string model_annotation(const Json& annotations, std::string_view name) {
  for (std::string_view ns : k_namespaces) {
    std::string value =
        string_at(annotations, "org." + std::string(ns) + ".model." + std::string(name));
    if (!value.empty()) return value;
  }
  return {};
}

void check_path(const std::string& path) {
  try {
    validate_manifest_path(path);
  } catch (const Error&) {
    malformed("unsafe file path " + quote(path));
  }
}

void check_artifact_type(const Json& m) {
  const std::string artifact_type = string_at(m, "artifactType");
  const std::string config_type = m.contains("config") ? string_at(m["config"], "mediaType") : "";
  for (std::string_view ns : k_namespaces) {
    if (artifact_type == model_type(ns, "manifest.v1+json") ||
        (artifact_type.empty() && config_type == model_type(ns, "config.v1+json"))) {
      return;
    }
  }
  malformed("its artifact type is " + quote(artifact_type.empty() ? config_type : artifact_type));
}

bool executable_from(const std::string& metadata) {
  const Json meta = Json::parse(metadata, nullptr, false);
  return meta.is_object() && meta.contains("mode") && meta["mode"].is_number_unsigned() &&
         (meta["mode"].get<std::uint64_t>() & 0111) != 0;
}

Layer read_layer(const Json& json) {
  if (!json.is_object()) malformed("a layer is not an object");
  Layer layer;
  layer.media_type = string_at(json, "mediaType");
  layer.digest = string_at(json, "digest");
  const bool raw = (starts_with(layer.media_type, model_type("cncf", "")) ||
                    starts_with(layer.media_type, model_type("cnai", ""))) &&
                   ends_with(layer.media_type, ".raw");
  if (!raw) {
    malformed("layer " + layer.digest + " is " + quote(layer.media_type) +
              "; lastmile reads raw ModelPack layers (one file each), not archives");
  }
  if (layer.digest.rfind("sha256:", 0) != 0 || !is_sha256_hex(layer.digest.substr(7))) {
    malformed("layer digest " + quote(layer.digest) + " is not sha256:<hex>");
  }
  if (!json.contains("size") || !json["size"].is_number_unsigned())
    malformed("a layer has no size");
  layer.size = json["size"].get<std::uint64_t>();
  const Json annotations = json.value("annotations", Json::object());
  layer.path = model_annotation(annotations, "filepath");
  if (layer.path.empty()) malformed("layer " + layer.digest + " names no file path");
  check_path(layer.path);
  layer.executable = executable_from(model_annotation(annotations, "file.metadata+json"));
  return layer;
}

std::vector<Link> read_links(const std::string& text) {
  if (text.empty()) return {};
  const Json list = Json::parse(text, nullptr, false);
  if (!list.is_array()) malformed("its " + std::string(k_links_annotation) + " is not a JSON list");
  std::vector<Link> links;
  for (const auto& item : list) {
    if (!item.is_object()) malformed("a link is not an object");
    Link link{string_at(item, "path"), string_at(item, "link")};
    if (link.target.empty()) malformed("link " + quote(link.path) + " has no target");
    check_path(link.path);
    links.push_back(std::move(link));
  }
  return links;
}

Manifest files_of(const std::vector<Layer>& layers, const std::vector<Link>& links) {
  Manifest files;
  for (const auto& l : layers)
    files.push_back({l.path, l.size, l.digest.substr(7), l.executable, ""});
  for (const auto& l : links) files.push_back({l.path, 0, "", false, l.target});
  std::sort(files.begin(), files.end(),
            [](const ManifestEntry& a, const ManifestEntry& b) { return a.path < b.path; });
  const auto twice = std::adjacent_find(
      files.begin(), files.end(), [](const auto& a, const auto& b) { return a.path == b.path; });
  if (twice != files.end()) malformed("it names " + quote(twice->path) + " twice");
  return files;
}

}  // namespace

std::string layer_media_type(std::string_view path, bool dataset) {
  std::string_view kind = file_kind(path);
  if (kind.empty()) kind = dataset ? "dataset" : "weight";
  return model_type("cncf", std::string(kind) + ".v1.raw");
}

Artifact build_artifact(const VersionRecord& version, const Manifest& files) {
  if (manifest_digest(files) != version.digest) {
    throw Error(ExitCode::check_failed,
                "cannot build the OCI artifact of " + quote(version.ref()) +
                    ": its recorded files do not match its digest " + version.digest,
                "'lastmile verify " + version.ref() + "' reports what is damaged");
  }
  Artifact a;
  const bool dataset = version.kind == "dataset";
  for (const auto& e : files) {
    if (e.is_link()) {
      a.links.push_back({e.path, e.link});
    } else {
      a.layers.push_back(
          {e.path, "sha256:" + e.sha256, e.size, e.executable, layer_media_type(e.path, dataset)});
    }
  }
  a.config = canonical_json(model_config(version, a.layers));
  a.config_digest = sha256_digest(a.config);
  Json layers = Json::array();
  for (const auto& layer : a.layers) layers.push_back(layer_json(layer, version.registered_at));
  const Json manifest = {{"schemaVersion", 2},
                         {"mediaType", k_manifest_media_type},
                         {"artifactType", k_artifact_type},
                         {"config",
                          {{"mediaType", k_config_media_type},
                           {"digest", a.config_digest},
                           {"size", a.config.size()}}},
                         {"layers", layers},
                         {"annotations", manifest_annotations(version, a.links)}};
  a.manifest = canonical_json(manifest);
  a.manifest_digest = sha256_digest(a.manifest);
  return a;
}

Contents read_manifest(std::string_view bytes) {
  const Json m = Json::parse(bytes, nullptr, false);
  if (!m.is_object()) malformed("it is not a JSON object");
  if (string_at(m, "mediaType") != k_manifest_media_type) {
    malformed("its media type is " + quote(string_at(m, "mediaType")) + ", not " +
              quote(k_manifest_media_type));
  }
  check_artifact_type(m);
  Contents c;
  c.config_digest = string_at(m.value("config", Json::object()), "digest");
  const Json layers = m.value("layers", Json::array());
  if (!layers.is_array()) malformed("its layers are not a list");
  for (const auto& layer : layers) c.layers.push_back(read_layer(layer));
  const Json annotations = m.value("annotations", Json::object());
  c.title = string_at(annotations, "org.opencontainers.image.title");
  c.version = string_at(annotations, "org.opencontainers.image.version");
  c.lastmile_digest = string_at(annotations, k_digest_annotation);
  c.links = read_links(string_at(annotations, k_links_annotation));
  c.files = files_of(c.layers, c.links);
  if (!c.lastmile_digest.empty() && manifest_digest(c.files) != c.lastmile_digest) {
    throw Error(ExitCode::check_failed,
                "the files of the OCI artifact " + quote(c.title + ":" + c.version) +
                    " do not match its lastmile digest " + printable(c.lastmile_digest),
                "the manifest in the OCI registry was changed after lastmile pushed it");
  }
  return c;
}

std::string oci_tag(std::string_view version) {
  std::string tag = parse_semver(version).str();
  std::replace(tag.begin(), tag.end(), '+', '_');
  if (!oci::valid_tag(tag)) {
    throw Error(ExitCode::usage, "version " + quote(version) + " cannot be an OCI tag: " +
                                     "a tag is at most 128 characters of [A-Za-z0-9_.-]");
  }
  return tag;
}

std::string oci_repository(std::string_view base, std::string_view model_name) {
  std::string repository = std::string(base) + "/" + std::string(model_name);
  if (!oci::valid_repository(repository)) {
    throw Error(ExitCode::usage,
                "model " + quote(model_name) + " cannot be stored in the OCI repository " +
                    quote(repository) +
                    ": each '/'-separated component must match "
                    "[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)* and the whole path be at most 255 bytes",
                "OCI registries do not allow '._', '-.', '___' and the like between letters; "
                "register the model under a name without them");
  }
  return repository;
}

}  // namespace lm::modelpack
