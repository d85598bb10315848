// The parameter file (docs/file-formats.md) and the bounded read of a model file: parameters or
// checkpoint, told apart by the magic.
#include <cmath>
#include <cstring>
#include <new>

#include "io/binary_io.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/memory.hpp"
#include "scratchcnn/parameters.hpp"

namespace scratchcnn {

namespace {

using detail::kParameterMagic;
using detail::Reader;

void check_version(const std::string& where, const std::string& kind, std::uint32_t version,
                   std::uint32_t supported) {
  if (version > supported)
    throw Error(where + ": " + kind + " version " + std::to_string(version) +
                " is newer than this scratchcnn reads (" + std::to_string(supported) + ")");
  if (version == 0) throw Error(where + ": corrupted " + kind + " (version 0)");
}

template <class T>
T get_at(const std::string& b, std::size_t at) {
  T v;
  std::memcpy(&v, b.data() + at, sizeof(T));
  return v;
}

struct Header {
  std::string kind;  // "parameter file" or "checkpoint"
  std::string text;  // the recorded model's full text
};

// Checks magic, checksum and version on a reader over the whole file; leaves `r` after the model
// text, its overrun message set for the file's kind.
Header read_header(Reader& r) {
  const std::string& bytes = r.bytes;
  std::uint32_t supported = kParameterFileVersion;
  Header h{"parameter file", {}};
  if (is_checkpoint(bytes)) {
    h.kind = "checkpoint";
    supported = kCheckpointFileVersion;
  } else if (bytes.size() < sizeof(kParameterMagic) ||
             std::memcmp(bytes.data(), kParameterMagic, sizeof(kParameterMagic)) != 0) {
    throw Error(r.where + ": not a scratchcnn parameter file or checkpoint (bad magic)");
  }
  const std::string& kind = h.kind;
  r.overrun = "truncated " + kind;
  if (bytes.size() < sizeof(kParameterMagic) + 4 + 4 + 8 + 8)
    throw Error(r.where + ": truncated " + kind + " (" + std::to_string(bytes.size()) + " bytes)");
  std::uint64_t stored;
  std::memcpy(&stored, bytes.data() + bytes.size() - 8, 8);
  r.pos = sizeof(kParameterMagic);
  check_version(r.where, kind, r.get<std::uint32_t>("version"), supported);
  if (fnv1a64(bytes.data(), bytes.size() - 8) != stored)
    throw Error(r.where + ": corrupted or truncated " + kind + " (checksum mismatch)");
  const auto len = r.get<std::uint32_t>("model text length");
  if (len > bytes.size() - r.pos - 8)
    throw Error(r.where + ": corrupted " + kind + " (model text length " + std::to_string(len) +
                ")");
  h.text = bytes.substr(r.pos, len);
  r.pos += len;
  return h;
}

}  // namespace

std::uint64_t fnv1a64(const char* data, std::size_t n) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::size_t i = 0; i < n; ++i) {
    h ^= static_cast<unsigned char>(data[i]);
    h *= 0x100000001b3ULL;
  }
  return h;
}

bool is_checkpoint(const std::string& bytes) {
  using detail::kCheckpointMagic;
  return bytes.size() >= sizeof(kCheckpointMagic) &&
         std::memcmp(bytes.data(), kCheckpointMagic, sizeof(kCheckpointMagic)) == 0;
}

std::string serialize_parameters(const ModelSpec& spec, const Parameters& p) {
  check_parameters(spec, p);
  // Version 2 only where it is needed: a model without batch norm keeps version 1's bytes.
  std::string out = detail::start_file(kParameterMagic, spec.running_count() > 0 ? 2 : 1, spec, p);
  detail::seal(out);
  return out;
}

ModelSpec parameter_file_model(const std::string& bytes, const std::string& where) {
  Reader r{bytes, where, 0, bytes.size(), {}};
  const std::string text = read_header(r).text;
  try {
    return parse_full_text(text);
  } catch (const Error& e) {
    throw Error(where + ": the recorded model is invalid: " + e.what());
  }
}

Parameters deserialize_parameters(const std::string& bytes, const ModelSpec& spec,
                                  const std::string& where) {
  Reader r{bytes, where, 0, bytes.size(), {}};
  const Header h = read_header(r);
  const std::string& text = h.text;
  if (text != spec.full_text())
    throw Error(where + ": made for model " + excerpt(text, 300) + ", not for '" +
                spec.full_text() + "'");
  // Sizes are checked before anything is allocated: the file decides nothing about memory.
  const auto count = r.get<std::uint64_t>("value count");
  if (count != static_cast<std::uint64_t>(spec.param_count()))
    throw Error(where + ": holds " + std::to_string(count) + " values, the model needs " +
                std::to_string(spec.param_count()));
  // A checkpoint goes on after the values (velocities, training state); a parameter file ends.
  // Batch norm's running statistics follow the values; only the versions that hold them (2 and
  // 8) may record a model with batch norm.
  const std::uint64_t running = std::uint64_t(spec.running_count());
  std::uint32_t version;
  std::memcpy(&version, bytes.data() + sizeof(kParameterMagic), sizeof version);
  if (running > 0 && version < (h.kind == "checkpoint" ? 8u : 2u))
    throw Error(where + ": corrupted " + h.kind + " (version " + std::to_string(version) +
                " records a model with batch norm, which only later versions hold)");
  if (running == 0 && version >= (h.kind == "checkpoint" ? 8u : 2u))
    throw Error(where + ": corrupted " + h.kind + " (version " + std::to_string(version) +
                " for a model without batch norm)");
  const std::uint64_t values = (count + running) * sizeof(float);
  const std::uint64_t rest = bytes.size() - r.pos;
  if (h.kind == "checkpoint" ? rest < values + 8 : rest != values + 8)
    throw Error(where + ": corrupted " + h.kind + " (size does not match its value count)");
  Parameters p = Parameters::zeros(spec).with_running(spec);
  r.get_values(p, "values");
  if (const std::size_t i = detail::first_non_finite_layer(p); i < p.layers.size())
    throw Error(where + ": layer " + std::to_string(i + 1) + " '" + spec.layers[i].text() +
                "' holds a non-finite value");
  try {
    check_parameters(spec, p);  // running variances >= 0
  } catch (const Error& e) {
    throw Error(where + ": " + e.what());
  }
  return p;
}

void save_parameters(const std::string& path, const ModelSpec& spec, const Parameters& p) {
  write_file_atomic(path, serialize_parameters(spec, p));
}

std::string read_model_file(InputFile& in) {
  const std::string& where = in.name();
  std::string b = in.read(sizeof(kParameterMagic));
  const bool checkpoint = is_checkpoint(b);
  if (!checkpoint && std::memcmp(b.data(), kParameterMagic, b.size()) != 0)
    return b;  // the deserializers say "bad magic" (or name what it is), after 8 bytes
  if (b.size() < sizeof(kParameterMagic)) return b;
  const std::string kind = checkpoint ? "checkpoint" : "parameter file";
  b += in.read(8);
  if (b.size() < 16) return b;
  check_version(where, kind, get_at<std::uint32_t>(b, 8),
                checkpoint ? kCheckpointFileVersion : kParameterFileVersion);
  const auto len = get_at<std::uint32_t>(b, 12);
  if (len > kMaxModelText)
    throw Error(where + ": corrupted " + kind + " (model text length " + std::to_string(len) +
                ", more than the " + std::to_string(kMaxModelText) + " read)");
  b += in.read(std::size_t(len) + 8);
  if (b.size() < 16 + std::size_t(len) + 8) return b;
  // The recorded model says how many values follow: a count that disagrees with it is refused
  // before anything more is read.
  ModelSpec spec;
  try {
    spec = parse_full_text(b.substr(16, len));
  } catch (const Error& e) {
    throw Error(where + ": the recorded model is invalid: " + e.what());
  }
  const auto count = get_at<std::uint64_t>(b, 16 + len);
  if (count != static_cast<std::uint64_t>(spec.param_count()))
    throw Error(where + ": holds " + std::to_string(count) + " values, the model needs " +
                std::to_string(spec.param_count()));
  // A parameter file: the values and the checksum, exactly. A checkpoint: values, velocities
  // (second moments) and at most kMaxCheckpointTail bytes of training state and checksum.
  if (count > (std::uint64_t(1) << 56))
    throw Error(where + ": corrupted " + kind + " (value count " + std::to_string(count) + ")");
  const std::uint64_t values = count * sizeof(float);
  // Batch norm's running statistics, once, after the values.
  const std::uint64_t running = std::uint64_t(spec.running_count()) * sizeof(float);
  // A checkpoint holds the values and velocities, from version 5 on also second moments.
  const std::uint64_t arrays = !checkpoint ? 1 : get_at<std::uint32_t>(b, 8) >= 5 ? 3 : 2;
  check_input_size(where, "the " + std::to_string(count) + " values" +
                              (arrays == 3 ? ", velocities and second moments"
                               : arrays == 2 ? " and velocities" : "") +
                              " of model " + excerpt(spec.full_text(), 60),
                   arrays * values + running);
  const std::uint64_t rest =
      checkpoint ? arrays * values + running + kMaxCheckpointTail : values + running + 8;
  // Read in place (one copy of the values in memory, within the size just checked), one byte
  // more than a checkpoint may hold to tell "at most" from "more than".
  const std::size_t head = b.size();
  b.resize(head + static_cast<std::size_t>(rest) + (checkpoint ? 1 : 0));
  b.resize(head + in.read(b.data() + head, b.size() - head));
  if (checkpoint && b.size() > head + rest)
    throw Error(where + ": corrupted checkpoint (more than " + std::to_string(kMaxCheckpointTail) +
                " bytes of training state after its values)");
  if (const std::uint64_t more = in.skip(std::uint64_t(1) << 20)) {
    const std::string extra = more > (std::uint64_t(1) << 20) ? "more than 1048576 bytes"
                                                               : std::to_string(more) + " bytes";
    throw Error(where + ": corrupted " + kind + " (" + extra +
                " after the end of what its value count implies)");
  }
  return b;
}

std::string read_model_file(const std::string& path) {
  InputFile in(path);
  return read_model_file(in);
}

Parameters load_parameters(const std::string& path, const ModelSpec& spec) {
  InputFile in(path);
  return deserialize_parameters(read_model_file(in), spec, in.name());
}

}  // namespace scratchcnn
