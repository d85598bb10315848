#pragma once
// The model, data and training options of train and compare, from their flags or a checkpoint.
#include <set>
#include <string>
#include <vector>

#include "args.hpp"
#include "scratchcnn/checkpoint.hpp"
#include "scratchcnn/data/dataset.hpp"
#include "scratchcnn/model_spec.hpp"
#include "scratchcnn/network.hpp"
#include "scratchcnn/parameters.hpp"
#include "scratchcnn/trainer.hpp"

namespace scratchcnn::cli {

// The flags train and compare share, for their usage texts (a %s in them, through with_flags).
extern const char* const kTrainFlags;
std::string with_flags(const char* usage);
// The flags eval and predict share (path, algorithm, threads, memory), for usage_with().
extern const char* const kModelFileFlags;
// `usage` with its "%s" replaced by `flags` (no other formatting).
std::string usage_with(const char* usage, const char* flags);
// Flags of train and compare that take a value.
extern const std::set<std::string> kTrainValued;

// Training defaults of a model (--help lists them). The seed model keeps the origin experiment's;
// lenet5's (plain SGD, smaller batches, 5 epochs) reach 0.88-0.89 test accuracy on Fashion-MNIST
// for seeds 1-3 (docs/fashion-mnist.md); fashion-cnn's (momentum, weight decay, a cosine schedule)
// are in docs/fashion-mnist.md too. Every one gives way to its flag; adam and adamw take their
// own lr, momentum and decay defaults.
struct Defaults {
  int epochs = 10;
  int batch = 128;
  double lr = 0.1;
  double momentum = 0;
  const char* data = "data";
  double weight_decay = 0;
  LrSchedule schedule = LrSchedule::Constant;
};
Defaults defaults_for(const std::string& model_name);
// The built-in's name (kBuiltinModels) when the spec is that built-in (with or without a normalize
// layer first), else empty.
std::string builtin_name(const ModelSpec& spec);

// The value of --model (default "seed") with a file read: "@FILE" is always the text of FILE; a
// value that is not a built-in name and has no '(' (model text always has) is the text of that
// file when one is there. Bounded by kMaxModelText; errors name the flag and the file.
std::string model_value(const Args& a);
// The file --model names by the rule above (empty for a built-in name or model text); "@" alone
// is a UsageError. An input of the run, like --init and --data's files.
std::string model_file(const Args& a);
// builtin_name of the --model (with --input) model: a built-in's name or empty, however spelled.
std::string model_name(const Args& a);
Shape read_input(const Args& a);
// The model of `value` (model_value) with --input; errors name --model.
ModelSpec read_model(const Args& a, const std::string& value);
PathKind read_path(const Args& a);
// --channels and --resize (usage errors for bad values): how the data's images are shaped.
data::LoadOptions read_load_options(const Args& a);
// The load options of a command that reads data for a model whose checkpoint recorded `recorded`
// (train --resume, eval, predict): the recorded ones unless --channels or --resize is given; a
// given one that differs from a recorded one (other than 0, "as the data has them") is an Error
// naming both.
data::LoadOptions load_options_for(const Args& a, const data::LoadOptions& recorded,
                                   const std::string& file);
// check_data_fits with a hint: the data's shape and `advice` when the input shape differs (e.g.
// "give --input 3x32x32 or choose another --model"), the class count when that differs.
void check_fits(const ModelSpec& spec, const data::Dataset& d, const std::string& advice);
// --batch of eval, predict and info, in the range training batches have (option_range).
int read_batch(const Args& a, int fallback);
// --conv-algo, else `fallback`; a bad value is a UsageError.
ConvAlgo read_conv_algo(const Args& a, ConvAlgo fallback = ConvAlgo::Auto);

struct Setup {
  ModelSpec spec;
  std::string model_name;  // a built-in's name for those, else the model text
  data::Split split;  // with --val-fraction, .train is what is trained on (validation_split)
  data::Dataset val;  // the validation part of the training set (empty without --val-fraction)
  data::LoadOptions load;  // --channels and --resize (a resumed run: the checkpoint's by default)
  TrainOptions opt;
  Parameters init;
  int threads = 1;     // the most a step runs on (all of them with opt.thread_policy Fixed)
  int processes = 1;  // the processes of an MPI job (cluster.hpp), each on `threads` threads
  bool quiet = false;  // --quiet: no header, table, progress bar or notes
  // A resumed run: the checkpoint's file and state (epoch 0 and empty otherwise).
  std::string resumed_from;
  TrainingState resumed;
};

// `resume`: the checkpoint of --resume, already read (train only).
// `paths`: the paths the command builds networks of, `max_memory` the limit (read_max_memory)
// they are checked against.
Setup read_setup(const Args& a, std::uint64_t max_memory, const std::vector<PathKind>& paths,
                 const Checkpoint* resume = nullptr, const std::string& resume_path = {});

// "2 threads", or "1 of 2 threads (...)" when a step uses fewer than OpenMP allows, or "1-2
// threads (adaptive: ...)": what a full batch's training step of `path` ("fast", "reference" or
// "reference and fast") runs on.
std::string threads_text(const std::string& path, const ModelSpec& spec, int batch, int threads,
                         ThreadPolicy policy);
// The model, data, run and resume lines (nothing with --quiet).
void print_header(const Setup& s, const std::string& path);

}  // namespace scratchcnn::cli
