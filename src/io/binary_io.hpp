#pragma once
// The pieces the parameter file and the checkpoint share (formats in parameters.hpp and
// checkpoint.hpp): both start alike and a checkpoint's parameters read as a parameter file's.

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "scratchcnn/error.hpp"
#include "scratchcnn/model_spec.hpp"
#include "scratchcnn/parameters.hpp"

namespace scratchcnn::detail {

static_assert(std::endian::native == std::endian::little,
              "the files are little-endian; a big-endian port needs byte swaps here");

inline constexpr char kParameterMagic[8] = {'S', 'C', 'N', 'N', 'P', 'A', 'R', 'M'};
inline constexpr char kCheckpointMagic[8] = {'S', 'C', 'N', 'N', 'C', 'K', 'P', 'T'};

template <class T>
void put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}

// Each layer's weights, then its biases (then, in a set of values, batch norm's running mean and
// variance), as floats.
inline void put_values(std::string& out, const Parameters& p) {
  for (const auto& l : p.layers) {
    for (float v : l.weights) put<float>(out, v);
    for (float v : l.bias) put<float>(out, v);
    for (float v : l.running) put<float>(out, v);
  }
}

// magic | u32 version | u32 text length | model full text | u64 value count | values of p
inline std::string start_file(const char (&magic)[8], std::uint32_t version, const ModelSpec& spec,
                              const Parameters& p) {
  std::string out(magic, sizeof(magic));
  put<std::uint32_t>(out, version);
  const std::string text = spec.full_text();
  put<std::uint32_t>(out, static_cast<std::uint32_t>(text.size()));
  out += text;
  put<std::uint64_t>(out, static_cast<std::uint64_t>(p.count()));
  put_values(out, p.with_running(spec));
  return out;
}

// Appends the fnv1a64 of everything before it, which ends both files.
inline void seal(std::string& out) { put<std::uint64_t>(out, fnv1a64(out.data(), out.size())); }

// Bounds-checked reader over bytes[pos, end).
struct Reader {
  const std::string& bytes;
  const std::string& where;
  std::size_t pos = 0;
  std::size_t end = 0;
  // What a read past `end` means, e.g. "truncated parameter file".
  std::string overrun;

  template <class T>
  T get(const char* what) {
    if (end - pos < sizeof(T))
      throw Error(where + ": " + overrun + " (ends inside the " + std::string(what) + ")");
    T v;
    std::memcpy(&v, bytes.data() + pos, sizeof(T));
    pos += sizeof(T);
    return v;
  }
  // Fills p, already sized for its model (running statistics included where it has them), in
  // put_values' layout.
  void get_values(Parameters& p, const char* what) {
    for (auto& l : p.layers) {
      for (float& v : l.weights) v = get<float>(what);
      for (float& v : l.bias) v = get<float>(what);
      for (float& v : l.running) v = get<float>(what);
    }
  }
};

// The index of the first layer holding a NaN or an infinity; p.layers.size() when none does.
inline std::size_t first_non_finite_layer(const Parameters& p) {
  for (std::size_t i = 0; i < p.layers.size(); ++i)
    for (const auto* vec : {&p.layers[i].weights, &p.layers[i].bias, &p.layers[i].running})
      for (float v : *vec)
        if (!std::isfinite(v)) return i;
  return p.layers.size();
}

}  // namespace scratchcnn::detail
