#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "scratchcnn/files.hpp"
#include "scratchcnn/model_spec.hpp"

namespace scratchcnn {

// The weights of one layer in the canonical layout both paths share.
//   conv:  weights out x in x k x k (row-major), bias out
//   dense: weights out x in (row-major), bias out
//   batchnorm: weights (the scale, gamma) C, bias (the shift, beta) C, for C channels (features)
//   other layers: both empty
// Batch norm also keeps running statistics, which no update rule touches and which have no
// gradient, velocity or moment: `running` holds the running mean (C) then the running variance
// (C) in a set of parameter values, and is empty in every other set (mean gradients, velocities,
// second moments) and for every other layer. An empty `running` in a set of values means the
// initial statistics, mean 0 and variance 1 (PyTorch's).
struct LayerParams {
  std::vector<float> weights;
  std::vector<float> bias;
  std::vector<float> running = {};
  bool operator==(const LayerParams&) const = default;
};

// The single owner of a model's weights: one LayerParams per layer of the ModelSpec.
// Both networks are constructed from Parameters and export Parameters; the same layout also
// carries mean gradients (Network::gradients).
struct Parameters {
  std::vector<LayerParams> layers;

  // Zero-filled weights and biases with the right sizes for `spec`; no running statistics.
  static Parameters zeros(const ModelSpec& spec);
  // He (Kaiming) uniform weights, bound sqrt(6 / fan_in), fan_in = in*k*k (conv) or in (dense);
  // zero biases. Drawn layer by layer in canonical order from Rng(derive_seed(seed, kSeedInit)),
  // each weight (2u - 1) * bound computed in double and rounded to float once. Batch norm, as in
  // PyTorch: scale 1, shift 0, running mean 0 and variance 1 (it draws nothing).
  static Parameters he_uniform(const ModelSpec& spec, std::uint64_t seed);
  // The same values with every batch norm layer's running statistics filled in (the initial ones
  // where `running` is empty); other sets are returned unchanged.
  Parameters with_running(const ModelSpec& spec) const;

  std::int64_t count() const;  // weights and biases (running statistics not counted)
  bool operator==(const Parameters&) const = default;
};

// Throws Error unless `p` has exactly the sizes `spec` needs: every layer's weights and biases,
// and for batch norm either no running statistics or 2 x C of them (finite, variances >= 0).
void check_parameters(const ModelSpec& spec, const Parameters& p);

// The parameter file: a small versioned binary format (docs/file-formats.md).
//   "SCNNPARM" | u32 version | u32 text length | model full text | u64 float count |
//   floats (little-endian, layer by layer, weights then bias, then for batch norm its running
//   mean and variance, which the count does not include) | u64 FNV-1a of all bytes before it
// Its bytes depend only on the model and the values. Version 2 is written for models with batch
// norm (whose running statistics it holds); version 1 for all others.
inline constexpr std::uint32_t kParameterFileVersion = 2;
// A checkpoint (checkpoint.hpp) starts like a parameter file, under its own magic "SCNNCKPT" and
// version, and carries the training state after the values; the readers below take the
// parameters out of either kind.
// Version 2 added the instruction-set level (TrainingState::isa); version 3 the convolution
// algorithm (TrainOptions::conv), written only when it is not auto: a run with the default writes
// version 2; version 4 the learning-rate schedule, warm-up and optimizer, written only by a run
// that uses one; version 5 Adam's second moments and hyper-parameters, written only by a run with
// adam or adamw; version 6 the validation split and each epoch's validation metrics, written only
// by a run with one; version 7 the data's class names and load options (--channels, --resize),
// written only when there are some; version 8 batch norm's running statistics (after the values,
// as in a parameter file), written only for a model with batch norm. The newest version read;
// versions 1 to 7 are still read.
inline constexpr std::uint32_t kCheckpointFileVersion = 8;
std::string serialize_parameters(const ModelSpec& spec, const Parameters& p);
// Reads a parameter file or a checkpoint. Throws Error naming `where` (a file name) if the bytes
// are truncated, corrupted, from a newer version, or made for a different model than `spec`.
Parameters deserialize_parameters(const std::string& bytes, const ModelSpec& spec,
                                  const std::string& where);
// Reads only the model recorded in a parameter file or checkpoint (so `--model` can be omitted).
ModelSpec parameter_file_model(const std::string& bytes, const std::string& where);
// True when the bytes start with the checkpoint magic (nothing else is checked).
bool is_checkpoint(const std::string& bytes);

// 64-bit FNV-1a: the checksum of both file kinds.
std::uint64_t fnv1a64(const char* data, std::size_t n);

// The bytes of a parameter file or checkpoint, for the deserializers above, read with every size
// bounded by its header: the 8-byte magic first (anything else stops there and is refused as bad
// magic), the version, the model text (at most kMaxModelText bytes), the value count (which must
// be the recorded model's), then only what that implies: a parameter file's values and checksum
// and not one byte more; a checkpoint's values, velocities (and, from version 5, second moments) and at
// most kMaxCheckpointTail bytes of training state and checksum. Throws Error naming the input for
// what it refuses itself.
inline constexpr std::uint32_t kMaxModelText = std::uint32_t(1) << 20;
inline constexpr std::uint64_t kMaxCheckpointTail = std::uint64_t(64) << 20;
std::string read_model_file(InputFile& in);
// The same for a path ("-" is standard input).
std::string read_model_file(const std::string& path);

void save_parameters(const std::string& path, const ModelSpec& spec, const Parameters& p);
Parameters load_parameters(const std::string& path, const ModelSpec& spec);

}  // namespace scratchcnn
