#pragma once
// Shared parts of the command-line tool's commands (train.cpp, evaluate.cpp, main.cpp).
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "args.hpp"
#include "scratchcnn/checkpoint.hpp"
#include "scratchcnn/data/dataset.hpp"
#include "scratchcnn/memory.hpp"
#include "scratchcnn/model_spec.hpp"
#include "scratchcnn/network.hpp"
#include "scratchcnn/parameters.hpp"
#include "scratchcnn/trainer.hpp"

namespace scratchcnn::cli {

// Usage texts; those with a %s take kTrainFlags through with_flags().
extern const char* const kTrainFlags;
extern const char* const kTrainUsage;
extern const char* const kCompareUsage;
extern const char* const kEvalUsage;
extern const char* const kPredictUsage;
std::string with_flags(const char* usage);

// The commands: argv without the command name; the exit code (Error and UsageError propagate).
int cmd_train(const std::vector<std::string>& argv);
int cmd_compare(const std::vector<std::string>& argv);
int cmd_eval(const std::vector<std::string>& argv);
int cmd_predict(const std::vector<std::string>& argv);

// Checks up front that `path` can be written later (scratchcnn::check_output), so a long run does
// not fail at the end; the Error names the flag (outputs.cpp).
void check_output_path(const std::string& flag, const std::string& path);
// A file named on the command line, with the flag that named it.
struct FileArg {
  std::string flag, path;
};
// The files of a data folder that exist (data::data_dir_files), each an input of --data.
std::vector<FileArg> data_inputs(const std::string& dir);
// Before any work starts: refuses an output that is the same file as an input or another output
// (same device and inode, or the same resolved path for one not there yet; devices and FIFOs
// excepted), naming both flags. `allowed`: (output flag, input flag) pairs that may share a file,
// such as --save and --resume (the checkpoint is read whole before the first write). Empty paths
// are skipped.
void check_aliases(const std::vector<FileArg>& outputs, const std::vector<FileArg>& inputs,
                   const std::vector<std::pair<std::string, std::string>>& allowed = {});
std::string fixed(double v, int decimals);
std::string with_commas(long long v);
std::string fmt_g(double v);
std::string shortest(float v);

// Training defaults of a model (--help lists them). The seed model keeps the origin experiment's;
// lenet5's (plain SGD, smaller batches, 5 epochs) reach 0.88-0.89 test accuracy on Fashion-MNIST
// for seeds 1-3 (docs/fashion-mnist.md).
struct Defaults {
  int epochs = 10;
  int batch = 128;
  double lr = 0.1;
  double momentum = 0;
  const char* data = "data";
};

Defaults defaults_for(const std::string& model_name);
// "seed" or "lenet5" when the spec is that built-in, else empty.
std::string builtin_name(const ModelSpec& spec);

struct Setup {
  ModelSpec spec;
  std::string model_name;
  data::Split split;
  TrainOptions opt;
  Parameters init;
  int threads = 1;
  // A resumed run: the checkpoint's file and state (epoch 0 and empty otherwise).
  std::string resumed_from;
  TrainingState resumed;
};

// Flags of train and compare that take a value.
extern const std::set<std::string> kTrainValued;
// --threads (1..1024), else OMP_NUM_THREADS or all cores capped at 1024 (with a note on stderr
// when capped); sets it for OpenMP (budget.cpp).
int read_threads(const Args& a);
// --max-memory in bytes (0: no limit), else default_memory_limit(); a bad value is a UsageError.
std::uint64_t read_max_memory(const Args& a);
// Throws Error unless the networks of `paths` for `spec` at this batch and thread count, plus
// `extra` bytes (data, copies), fit `limit` (0: no check). `what`: "training", "evaluating", ...
void check_command_memory(const Args& a, std::uint64_t limit, const ModelSpec& spec,
                          const std::vector<PathKind>& paths, int batch, int threads,
                          MemoryUse use, std::uint64_t extra, const std::string& what,
                          const NetworkOptions& options = {});
Shape read_input(const Args& a);
ModelSpec read_model(const Args& a, const std::string& name);
// `resume`: the checkpoint of --resume, already read (train only).
// `paths`: the paths the command builds networks of (for the memory check).
Setup read_setup(const Args& a, const std::vector<PathKind>& paths,
                 const Checkpoint* resume = nullptr, const std::string& resume_path = {});
void print_header(const Setup& s, const std::string& path);

std::string duration(double secs);
// A one-line progress bar on stderr, redrawn at most every 0.1 s, only when stderr is a terminal:
// images/s of the epoch so far, and the time left of the epoch and of the run (training steps
// only; each epoch's evaluation comes on top).
class Progress {
 public:
  Progress(int epochs, int samples) : epochs_(epochs), samples_(samples), on_(::isatty(2)) {}
  void step(int epoch, int b, int batches, int done, double secs) {
    if (!on_ || (b != batches && secs - last_ < 0.1)) return;
    last_ = secs;
    const int width = 30;
    const int filled = width * b / batches;
    const double rate = secs > 0 ? done / secs : 0;
    const double left = rate > 0 ? std::max(0.0, double(samples_ - done)) / rate : 0;
    const double run_left = left + (rate > 0 ? double(epochs_ - epoch) * samples_ / rate : 0);
    std::fprintf(stderr, "\r\033[Kepoch %d/%d [%s%s] %d/%d batches  %.0f img/s  %s left (run %s)",
                 epoch, epochs_, std::string(filled, '#').c_str(),
                 std::string(width - filled, '.').c_str(), b, batches, rate,
                 duration(left).c_str(), duration(run_left).c_str());
    std::fflush(stderr);
  }
  void clear() {
    if (on_) std::fprintf(stderr, "\r\033[K");
    last_ = 0;
  }

 private:
  int epochs_, samples_;
  bool on_;
  double last_ = 0;
};

std::string metrics_csv(const std::vector<EpochMetrics>& h);
// train() with the progress bar, and with `table` one line per epoch on stdout.
std::vector<EpochMetrics> run_training(Network& net, const Setup& s, bool table,
                                       const EpochCallback& after_epoch = {});

// The model and parameters of a checkpoint or parameter file; `seed`: a checkpoint's seed.
struct Loaded {
  ModelSpec spec;
  Parameters params;
  bool has_seed = false;
  std::uint64_t seed = 1;
  std::string isa;  // a checkpoint's instruction-set level (empty: none recorded)
  ConvAlgo conv = ConvAlgo::Auto;  // a checkpoint's convolution algorithm
};

Loaded load_model_file(const std::string& path);
PathKind read_path(const Args& a);
// --conv-algo, else `fallback`; a bad value is a UsageError.
ConvAlgo read_conv_algo(const Args& a, ConvAlgo fallback = ConvAlgo::Auto);

}  // namespace scratchcnn::cli
