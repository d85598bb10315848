#pragma once
// Checkpoints: parameters plus everything a training run needs to continue exactly where it
// stopped (docs/checkpoints.md).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "scratchcnn/data/dataset.hpp"
#include "scratchcnn/model_spec.hpp"
#include "scratchcnn/parameters.hpp"
#include "scratchcnn/trainer.hpp"

namespace scratchcnn {

// What a checkpoint remembers of the data it was trained on: a cheap guard against resuming on
// another data set (sample counts and the labels in file order), not a proof of identity.
struct DataFingerprint {
  std::uint32_t train = 0, test = 0;  // samples
  // fnv1a64 of the training labels, then the test labels, one byte each (two, little-endian, for
  // a label from 256 on).
  std::uint64_t labels = 0;
  bool operator==(const DataFingerprint&) const = default;
};
DataFingerprint fingerprint(const data::Split& split);

// The training state after `epoch` complete epochs. Epoch e's batches are a pure function of
// (seed, e) (epoch_order), so seed and epoch stand in for the shuffling generator's state.
struct TrainingState {
  int epoch = 0;  // epochs completed
  // The run's options: epochs (the planned last epoch), batch, lr, momentum, weight_decay, seed,
  // conv. first_epoch is not stored (it is epoch + 1 on resuming).
  TrainOptions options;
  DataFingerprint data;
  // The bit class of the instruction-set level the run last trained at: the fast path's
  // fast::active_bit_class() ("x86-fma" for avx512f and avx2, which compute the same bits;
  // "sse4.2"; "native" without FMA), or "reference" for the reference path. Results depend on it
  // (fast/isa.hpp), so a resume in another class is not bit for bit the uninterrupted run.
  // Older builds recorded the level itself ("avx512f", "avx2", "sse4.2"): read it through
  // fast::bit_class. Empty: unknown (a version 1 checkpoint). At most kMaxIsaLength characters
  // of a-z, 0-9, '.', '_', '+', '-'.
  std::string isa;
  Parameters velocity;  // Network::velocity(), zeros when momentum is 0
  // Network::second_moment() under Adam and AdamW (the model's sizes); ignored (may be empty)
  // under the other optimizers, and read back as zeros.
  Parameters second;
  // The data's class names (data::Dataset::class_names: an image folder's, CIFAR's meta files),
  // one per class of the model, or none; and how its images were shaped on loading (--channels,
  // --resize), which eval, predict and a resume apply unless told otherwise. Version 7 records
  // them; older files read with none and default options.
  std::vector<std::string> class_names;
  data::LoadOptions load;
  // One entry per completed epoch. Seconds are not training state: they are not stored and read
  // back as NaN.
  std::vector<EpochMetrics> history;
};

inline constexpr std::size_t kMaxIsaLength = 32;
inline constexpr std::size_t kMaxClassName = 255;

struct Checkpoint {
  ModelSpec spec;
  Parameters params;
  TrainingState state;
};

// The checkpoint file, little-endian: version 2 for default options, 3 when options.conv is not
// auto, 4 with a learning-rate schedule, warm-up or the nesterov optimizer, 5 with adam or adamw,
// 6 with a validation split (options.val_fraction > 0; every field of version 5, the second
// moments zero under sgd and nesterov), 7 with class names or load options (every field of
// version 6) (kCheckpointFileVersion, parameters.hpp):
//   "SCNNCKPT" | u32 version | u32 text length | model full text | u64 value count |
//   parameters (floats, as in a parameter file) | velocities (floats, same layout and count) |
//   second moments (version 5 on; floats, same layout and count) |
//   u32 epoch | u32 epochs | u32 batch | f32 lr | f32 momentum | f32 weight_decay | u64 seed |
//   u32 train samples | u32 test samples | u64 labels hash |
//   u32 isa length | isa (the bit class, or an older build's level; no terminator; version 2 on,
//   absent in version 1) |
//   u32 convolution algorithm (version 3: 1 direct, 2 im2col; from version 4 also 0 auto) |
//   version 4 on: u32 schedule (LrSchedule) | u32 step every | f32 step gamma | u32 warm-up |
//   u32 optimizer (Optimizer) |
//   version 5 on: f32 beta1 | f32 beta2 | f32 eps |
//   version 6 on: f32 validation fraction (above 0 in version 6; 0 or above from version 7) |
//   version 7: u32 channels (0, 1, 3) | u32 resize height | u32 resize width (both 0, or both
//   1..kMaxImageSide) | u32 class name count (0 or the model's classes) | per name: u32 length
//   (1..kMaxClassName) | bytes (no control characters; the names distinct) |
//   u32 history count (= epoch) | per epoch: f64 loss, f64 train_accuracy, f64 test_accuracy
//   (with a validation fraction above 0: then f64 val_loss, f64 val_accuracy) |
//   u64 fnv1a64 of all bytes before it
// Its bytes depend only on the training state: no time, path, host or seconds.
// Both functions check the options with the rules of the flags (check_option, trainer.hpp).
std::string serialize_checkpoint(const ModelSpec& spec, const Parameters& params,
                                 const TrainingState& state);
// Throws Error naming `where` when the bytes are truncated, corrupted, from a newer version, a
// parameter file rather than a checkpoint, or inconsistent (sizes, non-finite values, options out
// of the flags' ranges, naming the field, more epochs done than planned, a malformed level).
// A version 1 file reads with an empty isa; versions 1 and 2 with options.conv auto.
Checkpoint deserialize_checkpoint(const std::string& bytes, const std::string& where);

// write_file_atomic: a failed save leaves the previous file as it was.
void save_checkpoint(const std::string& path, const ModelSpec& spec, const Parameters& params,
                     const TrainingState& state);
Checkpoint load_checkpoint(const std::string& path);

// The model and parameters of a file written by `scratchcnn train --save` or save_parameters:
// a checkpoint or a parameter file, told apart by its magic; for a checkpoint also its training
// state. Read bounded by the file's own header (read_model_file); "-" is standard input. Throws
// Error naming the file for anything it refuses.
struct LoadedModel {
  ModelSpec spec;
  Parameters params;
  std::optional<TrainingState> state;  // a checkpoint's (none for a parameter file)
  // What to build the network with to compute as the run that wrote the file did (a checkpoint's
  // convolution algorithm; the defaults for a parameter file).
  NetworkOptions network_options() const {
    return NetworkOptions{state ? state->options.conv : ConvAlgo::Auto};
  }
};
LoadedModel load_model(const std::string& path);

}  // namespace scratchcnn
