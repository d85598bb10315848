// The scratchcnn command-line tool: train, compare, eval, predict, export, info (one file per
// command group).
#include <fcntl.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <new>
#include <sstream>
#include <string>
#include <vector>

#include "cluster.hpp"
#include "commands.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/fast/isa.hpp"
#include "scratchcnn/memory.hpp"

using namespace scratchcnn;
using namespace scratchcnn::cli;

namespace {

const char* const kMainUsage = R"TXT(usage: scratchcnn <command> [flags]

Trains small convolutional networks on a CPU, on a slow reference path (the oracle) or the fast
path (SIMD convolution and GEMM kernels, OpenMP across the minibatch), and compares the two.

commands:
%s
Run 'scratchcnn <command> --help' or 'scratchcnn help <command>' for the flags of a command;
'scratchcnn --version' prints the version.
environment:
  SCRATCHCNN_ISA   instruction-set level of the fast kernels: avx512f, avx2, sse4.2 or auto
                   (default: auto, the best this CPU runs; 'scratchcnn info' prints the choice)
  OMP_NUM_THREADS  threads of the fast path, unless --threads is given (capped at 1024)
memory: train, compare, eval and predict estimate the memory a run needs before they build a
network and refuse (exit 1) when it exceeds --max-memory (default: 3/4 of physical memory, or of
a lower cgroup or ulimit limit); 'scratchcnn info' prints the estimate.
several processes: 'mpirun -np N scratchcnn train ...' trains data-parallel on N processes (a
build with MPI), with the same bits as one process ('scratchcnn train --help')
exit codes: 0 success, 1 failure (bad data, bad file, diverged training, broken parity,
            a checkpoint that does not fit), 2 bad command line
)TXT";

const char* kInfoUsage = R"TXT(usage: scratchcnn info [--model M] [--input CxHxW] [--batch N]
       scratchcnn info --isa-levels

Prints every layer of the model with its output shape, parameter count and forward FLOPs per sample
(2 per multiply-add in conv and dense, 1 per element for relu, sigmoid, tanh and max-pool, 1 per
window element for average pools), the
totals, the instruction-set level the fast kernels run on (SCRATCHCNN_ISA, else the best this CPU
supports; also the levels compiled in and those this CPU runs), the kernel the fast path runs for
each layer (convolution algorithm, fused ReLU, level), and the OpenMP thread count.
Then the estimated memory of training and of predicting with --batch samples (default 128) on each
path, at the thread count OpenMP would use (OMP_NUM_THREADS, capped at 1024).
--model takes what train's does: seed (default), lenet5, lenet5-1998, fashion-cnn, model text,
or @FILE (a FILE that exists also works without the @ unless it is a built-in name or has a '(').
With --isa-levels, prints only the instruction-set levels this CPU runs, best first, one per line
(the values SCRATCHCNN_ISA accepts here, besides auto).
)TXT";

// The kernel the fast path runs for each layer (Network::describe), from a network with zero
// parameters; not built when even one sample's network exceeds the default memory limit.
void print_fast_layers(const ModelSpec& spec) {
  const MemoryEstimate e = estimate_memory(PathKind::Fast, spec, 1, 1, MemoryUse::Inference);
  if (e.total() > default_memory_limit()) {
    std::printf("fast path by layer: not shown (its network needs an estimated %s)\n",
                format_bytes(e.total()).c_str());
    return;
  }
  const auto net = make_network(PathKind::Fast, spec, Parameters::zeros(spec));
  std::printf("fast path by layer:\n");
  std::istringstream lines(net->describe());
  for (std::string line; std::getline(lines, line);) std::printf("  %s\n", line.c_str());
}

int cmd_info(const std::vector<std::string>& argv) {
  const Args a(argv, {"--model", "--input", "--batch"}, {"--help", "--isa-levels"});
  if (a.has("--help")) {
    std::cout << kInfoUsage;
    return 0;
  }
  if (!a.positional().empty()) throw UsageError("unexpected argument '" + a.positional()[0] + "'");
  if (a.has("--isa-levels")) {
    if (a.has("--model") || a.has("--input") || a.has("--batch"))
      throw UsageError("--isa-levels takes no other flag");
    for (const std::string& level : fast::supported_isas()) std::cout << level << "\n";
    return 0;
  }
  const int batch = read_batch(a, 128);
  if (a.has("--input")) (void)read_input(a);  // a malformed shape is a usage error, checked first
  const ModelSpec spec = read_model(a, model_value(a));  // errors name --model and its file
  std::printf("model: %s\n", spec.full_text().c_str());
  // The layer column as wide as the longest layer text (at least 24), the output column as the
  // longest shape (at least 10): long layers (a per-channel normalize) keep the table aligned.
  int lw = 24, ow = 10;
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    lw = std::max(lw, int(spec.layers[i].text().size()));
    ow = std::max(ow, int(spec.info[i].out.str().size()));
  }
  ow = std::max(ow, int(spec.input.str().size()));
  const auto row = [&](const std::string& n, const std::string& layer, const std::string& out,
                       const std::string& params, const std::string& flops) {
    std::printf("%3s  %-*s %-*s %12s %14s\n", n.c_str(), lw, layer.c_str(), ow, out.c_str(),
                params.c_str(), flops.c_str());
  };
  row("#", "layer", "output", "parameters", "FLOPs/sample");
  row("", "input", spec.input.str(), "", "");
  for (std::size_t i = 0; i < spec.layers.size(); ++i)
    row(std::to_string(i + 1), spec.layers[i].text(), spec.info[i].out.str(),
        with_commas(spec.info[i].params), with_commas(spec.info[i].flops));
  row("", "total", "", with_commas(spec.param_count()), with_commas(spec.forward_flops()));
  std::printf("training FLOPs per sample (forward + both backward passes): %s\n",
              with_commas(spec.train_flops()).c_str());
  const int threads = max_threads();
  std::printf("fast kernels: %s\n", fast::isa_summary().c_str());
  print_fast_layers(spec);
  std::printf("OpenMP threads: %d", threads);
  if (omp_get_max_threads() > kMaxThreads)
    std::printf(" (OpenMP asks for %d; capped at %d)", omp_get_max_threads(), kMaxThreads);
  std::printf("\nestimated memory, batch %d (network only; --max-memory default %s, 3/4 of %s):\n",
              batch, format_bytes(default_memory_limit()).c_str(),
              system_memory().source().c_str());
  for (const PathKind p : {PathKind::Fast, PathKind::Reference})
    std::printf("  %-9s  training %s\n             predicting %s\n", path_name(p),
                estimate_memory(p, spec, batch, threads, MemoryUse::Training).str().c_str(),
                estimate_memory(p, spec, batch, threads, MemoryUse::Inference).str().c_str());
  return 0;
}

// Every command: its name, the summary of the main usage text, what runs it and its --help text.
struct Command {
  const char* name;
  const char* summary;
  int (*run)(const std::vector<std::string>& argv);
  std::string (*usage)();
};

const Command kCommands[] = {
    {"train", "train a model and print per-epoch loss and accuracy; checkpoint and resume",
     cmd_train, [] { return with_flags(kTrainUsage); }},
    {"compare", "train the reference and the fast path from the same weights on the same batches",
     cmd_compare, [] { return with_flags(kCompareUsage); }},
    {"eval",
     "accuracy, per-class precision and recall, and the confusion matrix of a checkpoint",
     cmd_eval, [] { return usage_with(kEvalUsage, kModelFileFlags); }},
    {"predict", "predicted labels (and probabilities) of a checkpoint for an image file",
     cmd_predict, [] { return usage_with(kPredictUsage, kModelFileFlags); }},
    {"export", "write a checkpoint's model as an ONNX file (OpenCV DNN, onnxruntime, ...)",
     cmd_export, [] { return std::string(kExportUsage); }},
    {"info", "print a model's layers, output shapes, parameter counts and FLOPs", cmd_info,
     [] { return std::string(kInfoUsage); }},
};

const Command* find_command(const std::string& name) {
  for (const Command& c : kCommands)
    if (name == c.name) return &c;
  return nullptr;
}

std::string main_usage() {
  std::string list;
  for (const Command& c : kCommands) {
    const std::string name = c.name;
    list += "  " + name + std::string(name.size() < 10 ? 10 - name.size() : 1, ' ') + c.summary + "\n";
  }
  std::vector<char> buf(std::string(kMainUsage).size() + list.size() + 1);
  std::snprintf(buf.data(), buf.size(), kMainUsage, list.c_str());
  return buf.data();
}

// Runs the command `cmd` of the table (a UsageError for an unknown one).
const Command& known_command(const std::string& cmd) {
  const Command* c = find_command(cmd);
  if (!c) {
    std::vector<std::string> names;
    for (const Command& k : kCommands) names.push_back(k.name);
    throw UsageError("unknown command " + excerpt(cmd) + did_you_mean(cmd, names));
  }
  return *c;
}

// scratchcnn help [COMMAND]: the main usage, or the command's.
int help(const std::vector<std::string>& rest) {
  if (rest.size() > 1) throw UsageError("help takes one command, not also " + excerpt(rest[1]));
  std::cout << (rest.empty() ? main_usage() : known_command(rest[0]).usage());
  return 0;
}

int dispatch(const std::string& cmd, const std::vector<std::string>& rest) {
  if (cmd == "help") return help(rest);
  const Command* c = &known_command(cmd);
  if (!rest.empty() && (rest[0] == "--help" || rest[0] == "-h")) {
    std::cout << c->usage();
    return 0;
  }
  // Only training is spread over the processes of an MPI job; N copies of another command would
  // each do the whole work (and write the same files).
  if (cluster().distributed() && cmd != "train")
    cluster().agree("scratchcnn " + cmd + ": ", [&] {
      throw UsageError("only train runs on several processes (this is one of " +
                       std::to_string(cluster().size()) + " started by an MPI launcher); run " +
                       cmd + " as one process");
    });
  // A bad SCRATCHCNN_ISA fails every command before it does any work, not only the fast path;
  // --help further on is the command's (after its flags are parsed: "--save --help" lacks a value).
  if (std::find(rest.begin(), rest.end(), "--help") == rest.end() &&
      std::find(rest.begin(), rest.end(), "-h") == rest.end())
    cluster().agree("scratchcnn " + cmd + ": ", [] { fast::active_isa(); });
  return c->run(rest);
}

// What a command printed is its result (predictions, a report): a full disk or an error on standard
// output must not pass for success.
int stdout_written(const std::string& cmd, int rc) {
  std::cout.flush();
  errno = 0;
  if (std::fflush(stdout) == 0 && !std::ferror(stdout) && std::cout.good()) return rc;
  const int err = errno;
  std::cerr << "scratchcnn " << cmd << ": error: writing standard output failed"
            << (err ? std::string(": ") + std::strerror(err) : std::string()) << "\n";
  return 1;
}

// The command line's result: the exit code.
int run(const std::vector<std::string>& all) {
  if (all.empty() || all[0] == "--help" || all[0] == "-h") {
    (all.empty() ? std::cerr : std::cout) << main_usage();
    return all.empty() ? 2 : 0;
  }
  if (all[0] == "--version") {
    std::cout << "scratchcnn " << SCRATCHCNN_VERSION << "\n";
    return 0;
  }
  const std::string cmd = all[0];
  Cluster& cl = cluster();
  // In an MPI job with more than one process, an error past the phases the ranks agree on
  // (Cluster::agree) names its rank and ends every process (MPI_Abort), so that none waits forever
  // for the failed one. Rank 0 says it at once; another rank gives rank 0 a moment first, so that
  // an error every rank hits together (the divergence guard) is printed once, by rank 0.
  const auto report = [&](int code) {
    if (cl.distributed()) cl.abort_others(code);
    return code;
  };
  const std::string who =
      "scratchcnn" + (find_command(cmd) ? " " + cmd : std::string()) +
      (cl.distributed() ? ": rank " + std::to_string(cl.rank()) : std::string());
  const auto say = [&](const std::string& text) {
    if (cl.distributed() && cl.rank() != 0) ::sleep(2);
    std::cerr << text << std::flush;
  };
  try {
    return stdout_written(cmd, dispatch(cmd, std::vector<std::string>(all.begin() + 1, all.end())));
  } catch (const Stopped& s) {
    return s.code;  // every rank stopped together; rank 0 printed the errors
  } catch (const UsageError& e) {
    // The error and where the flags are listed; the whole usage text would push the error off
    // the screen.
    const bool known = find_command(cmd) != nullptr;
    say(who + ": " + terminal_safe(e.what()) + "\nrun 'scratchcnn " +
        (known ? cmd + " --help" : "--help") + "' for the " + (known ? "flags" : "commands") + "\n");
    return report(2);
  } catch (const std::bad_alloc&) {
    // The estimate (--max-memory) should have refused this run up front; say what happened and
    // what to do instead of the bare "std::bad_alloc".
    say(who + ": error: out of memory: an allocation failed while '" + cmd +
        "' ran; use a smaller model or --batch, or set --max-memory below what this machine can "
        "give so that such a run is refused before it starts\n");
    return report(1);
  } catch (const std::exception& e) {
    say(who + ": error: " + terminal_safe(e.what()) + "\n");
    return report(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> all(argv + 1, argv + argc);
  Cluster& cl = cluster();
  try {
    cl.start();
  } catch (const std::exception& e) {
    std::cerr << "scratchcnn: error: " << terminal_safe(e.what()) << "\n";
    return 1;
  }
  // What a command prints is rank 0's alone: the other processes of a job train the same bits.
  if (cl.rank() != 0) {
    std::fflush(stdout);
    const int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) {
      ::dup2(null, 1);
      ::close(null);
    }
  }
  const int rc = run(all);
  cl.finish();
  return rc;
}
