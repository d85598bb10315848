// scratchcnn train.
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cluster.hpp"
#include "commands.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/fast/isa.hpp"

namespace fs = std::filesystem;

namespace scratchcnn::cli {

const char* const kTrainUsage = R"TXT(usage: scratchcnn train [flags]

Trains with minibatch SGD (plain, momentum or Nesterov, with weight decay) or Adam/AdamW on softmax
cross-entropy,
printing one line per epoch: mean training loss, training accuracy (each sample judged by its own
training step's forward pass), test accuracy after the epoch, and the seconds the epoch's training
steps took. A progress bar with images/s and the time left is drawn on stderr when stderr is a
terminal.

%s  --path P         fast (default) or reference
checkpoints:
  --save FILE      write a checkpoint after every epoch (atomically: a crash leaves the last
                   complete one): model, parameters, optimizer state, epoch, the options above
                   and the metrics so far, the bit class of the instruction-set level (x86-fma
                   for avx512f and avx2, which compute the same bits; sse4.2; reference);
                   versioned, with a checksum. eval, predict and --init read it.
  --resume FILE    continue the run of a checkpoint with epoch (its epoch + 1) up to --epochs
                   (default: the epochs it was started with). Model, batch, lr, momentum,
                   weight decay, --optimizer, --betas, --eps, --lr-schedule, --warmup,
                   --val-fraction, seed and --conv-algo come from the checkpoint (held to the
                   flags' ranges); giving a different one
                   is an error (and so is other --epochs for a cosine schedule). The result is
                   bit for bit that of an uninterrupted run on the same path and bit class
                   (recorded in the checkpoint; avx2 and avx512f are one class); in another
                   class a warning names both, and SCRATCHCNN_ISA=LEVEL (a level of the
                   checkpoint's class) or --path reference gets the checkpoint's bits back where
                   this CPU runs it. --resume F --save F continues in place.
  --save-best FILE after every epoch with the lowest validation loss so far, write its
                   checkpoint to FILE (needs --val-fraction; atomically, like --save)
output:
  --metrics FILE   write the per-epoch table as CSV (epoch,loss,train_accuracy,test_accuracy,
                   [val_loss,val_accuracy,] seconds; the validation columns with
                   --val-fraction) when training succeeds; a resumed run writes every epoch
                   since the run's start, with seconds 'nan' for the epochs of the checkpoint
                   (not training state)
  --quiet          print nothing but errors and warnings: no header, per-epoch table, progress
                   bar, notes or summary; --save and --metrics are written as without it
A failed run never writes --metrics; --save holds the last complete epoch.
several processes (MPI): started by mpirun (mpirun -np N scratchcnn train ...; a hostfile for
  several machines, each with the data at the same path), a tool built with MPI trains with N
  processes: each computes its share of every batch's 16-sample chunks, and the checkpoints are
  byte-identical to one process's, for any N and --threads (each process's). Rank 0 alone prints
  and writes the outputs; --resume works on any number of processes. The fast path only; eval,
  predict, compare and info run as one process. See README.md.
Outputs replace their file atomically (through a symlink, keeping its permissions); /dev/null,
/dev/stdout and FIFOs are written in place. An output that is an input or another output is an
error before any work (--resume F --save F excepted). See docs/checkpoints.md.
)TXT";

namespace {

// The bit class of a checkpoint's recorded value (a class, or the level an older build recorded:
// "avx512f" and "avx2" read as x86-fma) and a note naming the levels it covers when that helps.
std::string class_of_record(const std::string& recorded) {
  const std::string bits = fast::bit_class(recorded);
  return recorded == bits ? bits : bits + " (recorded as level " + recorded + ")";
}

// The levels of bit class `bits` that this CPU runs, best first.
std::vector<std::string> levels_of_class(const std::string& bits) {
  std::vector<std::string> out;
  for (const std::string& l : fast::supported_isas())
    if (fast::bit_class(l) == bits) out.push_back(l);
  return out;
}

// A run resumed in another bit class than its checkpoint's goes on, but not bit for bit as the
// uninterrupted run would (fast/isa.hpp): a warning naming both classes and how to get the
// checkpoint's bits back. Levels of one class (avx2 and avx512f) compute the same bits: no
// warning. Not an error: a checkpoint moved to another machine stays usable. `level`: the level
// this run trains at ("reference" for that path).
void warn_level_change(const std::string& file, const std::string& saved, const std::string& level) {
  const std::string now = fast::bit_class(level);
  const std::string now_text =
      "bit class " + now + (level == now ? std::string() : " (level " + level + ")");
  if (saved.empty()) {
    std::cerr << "warning: " << file
              << " does not record the instruction-set level it was trained at (a version 1 "
                 "checkpoint); this run trains in "
              << now_text
              << ": unless that is the checkpoint's, the result is not bit for bit that of "
                 "an uninterrupted run\n";
    return;
  }
  const std::string bits = fast::bit_class(saved);
  if (bits == now) return;
  std::string how;
  if (bits == "reference") {
    how = "resume with --path reference to continue bit for bit";
  } else {
    const auto levels = levels_of_class(bits);
    if (!levels.empty())
      how = "resume with SCRATCHCNN_ISA=" + levels.front() +
            (level == "reference" ? " and --path fast" : std::string()) +
            " to continue bit for bit";
    else
      how = "this machine runs no level of bit class " + bits +
            ", so only a machine that does continues bit for bit";
  }
  std::cerr << "warning: " << file << " was trained in bit class " << class_of_record(saved)
            << ", this run trains in " << now_text
            << ": the result will not be bit for bit that of an uninterrupted run (only within "
               "the parity tolerances, docs/parity.md); "
            << how << "\n";
}

}  // namespace

namespace {

// The files of a train command line, checked before any work: outputs writable, no output that
// is an input or another output, and the --resume checkpoint read (`ckpt`).
struct TrainFiles {
  std::string metrics, save, save_best, resume;
  Checkpoint ckpt;
  std::uint64_t max_memory = 0;  // --max-memory, read once
};

// `writer`: this process writes the outputs (rank 0 of an MPI job); only it checks them.
TrainFiles train_files(const Args& a, bool writer) {
  TrainFiles f;
  f.metrics = a.str("--metrics", "");
  f.save = a.has("--save") ? a.str("--save", "") : "";
  if (writer && !f.metrics.empty()) check_output_path("--metrics", f.metrics);
  if (writer && !f.save.empty()) check_output_path("--save", f.save);
  f.save_best = a.has("--save-best") ? a.str("--save-best", "") : "";
  if (writer && !f.save_best.empty()) check_output_path("--save-best", f.save_best);
  f.resume = a.has("--resume") ? a.str("--resume", "") : "";
  // The limit every input is read under, set before the first one.
  f.max_memory = read_max_memory(a);
  if (!f.resume.empty()) f.ckpt = load_checkpoint(f.resume);
  // The data folder's default depends on the model, which a checkpoint brings along.
  const std::string model = f.resume.empty() ? model_name(a) : builtin_name(f.ckpt.spec);
  auto inputs = data_inputs(a.str("--data", defaults_for(model).data));
  inputs.push_back({"--resume", f.resume});
  inputs.push_back({"--init", a.has("--init") ? a.str("--init", "") : ""});
  inputs.push_back({"--model", model_file(a)});
  check_aliases({{"--save", f.save}, {"--metrics", f.metrics}, {"--save-best", f.save_best}}, inputs,
                {{"--save", "--resume"}});
  return f;
}

// The summary after training and the --metrics file; `written`: the epochs this run trained.
// `writer`: this process writes the outputs (rank 0 of an MPI job). `best_written`: the epoch this
// run wrote to --save-best (0: none).
void finish_training(const std::vector<EpochMetrics>& written, const TrainingState& state,
                     const TrainFiles& f, bool quiet, bool writer, int best_written) {
  double total = 0;
  for (const auto& m : written) total += m.seconds;
  std::ostringstream o;
  o << "trained " << written.size() << " epoch" << (written.size() == 1 ? "" : "s");
  if (!written.empty() && written.front().epoch != 1)
    o << " (" << written.front().epoch << ".." << written.back().epoch << ")";
  o << " in " << fixed(total, 3) << " s";
  if (!state.history.empty())
    o << "; final test accuracy " << fixed(state.history.back().test_accuracy, 4);
  if (const int best = best_epoch(state.history); best > 0)
    o << "; lowest validation loss " << fixed(state.history[std::size_t(best - 1)].val_loss, 6)
      << " at epoch " << best;
  if (!quiet) std::cout << o.str() << "\n";
  if (writer && !f.metrics.empty()) {
    std::cout << std::flush;  // what was printed comes first when the output is /dev/stdout
    write_file_atomic(f.metrics, metrics_csv(state.history));
    if (!quiet) std::cout << "wrote " << f.metrics << "\n";
  }
  if (!f.save.empty() && !quiet)
    std::cout << "wrote " << f.save << " (checkpoint after epoch " << state.epoch << ")\n";
  if (!f.save_best.empty() && !quiet) {
    const int best = best_epoch(state.history);
    if (best_written > 0)
      std::cout << "wrote " << f.save_best << " (checkpoint after epoch " << best_written
                << ", the lowest validation loss)\n";
    else if (best > 0)
      std::cout << "did not write " << f.save_best << ": the lowest validation loss is epoch "
                << best << "'s, in the resumed checkpoint, and no epoch of this run went below it\n";
  }
}

// What every process of an MPI job must hold the same of, as one line: the model, the options,
// the starting parameters and velocities, and the training and test data (fnv1a64 of each, then
// of those hashes). Two machines with a different copy of the data or of the --resume/--init
// file, or another command line, would otherwise mix gradients of different runs silently.
std::string run_digest(const Setup& s, const TrainingState& state) {
  std::vector<std::uint64_t> h;
  const auto bytes = [&](const void* p, std::size_t n) {
    h.push_back(fnv1a64(static_cast<const char*>(p), n));
  };
  const auto floats = [&](const std::vector<float>& v) { bytes(v.data(), v.size() * sizeof(float)); };
  const std::string model = s.spec.full_text();
  bytes(model.data(), model.size());
  const TrainOptions& o = s.opt;
  const double options[] = {double(o.epochs),       double(o.batch),       double(o.lr),
                            double(o.momentum),     double(o.weight_decay), double(o.first_epoch),
                            double(int(o.conv)),    double(int(o.schedule)), double(o.step_every),
                            double(o.step_gamma),   double(o.warmup),         double(int(o.optimizer)),
                            double(o.beta1),        double(o.beta2),          double(o.eps),
                            double(o.val_fraction), double(o.early_stop)};
  bytes(options, sizeof options);
  bytes(&o.seed, sizeof o.seed);
  for (const Parameters* p : {&s.init, &state.velocity, &state.second})
    for (const LayerParams& l : p->layers) {
      floats(l.weights);
      floats(l.bias);
      floats(l.running);  // batch norm's, which evaluation (and so early stopping) reads
    }
  for (const data::Dataset* d : {&s.split.train, &s.split.test}) {
    floats(d->images);
    bytes(d->labels.data(), d->labels.size() * sizeof(int));
  }
  const std::uint64_t all = fnv1a64(reinterpret_cast<const char*>(h.data()), h.size() * 8);
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(all));
  return text;
}

}  // namespace

int cmd_train(const std::vector<std::string>& argv) {
  // In an MPI job every rank parses the flags and reads the files and the data; the job goes on
  // only when every rank could (else every rank stops, rank 0 naming the failed ones and why).
  // Only rank 0 prints and writes.
  Cluster& cl = cluster();
  const bool writer = cl.rank() == 0;
  std::optional<Args> args;
  bool help = false;
  PathKind path = PathKind::Fast;
  TrainFiles f;
  Setup s;
  cl.agree("scratchcnn train: ", [&] {
    auto valued = kTrainValued;
    valued.insert({"--path", "--metrics", "--save", "--save-best", "--resume"});
    const Args& a = args.emplace(argv, valued, std::set<std::string>{"--help", "--quiet"});
    if ((help = a.has("--help"))) return;
    if (!a.positional().empty()) throw UsageError("unexpected argument '" + a.positional()[0] + "'");
    if (a.has("--resume") && a.has("--init"))
      throw UsageError("--init and --resume exclude each other (--resume continues a run, --init "
                       "starts a new one)");
    path = read_path(a);
    if (cl.distributed() && path == PathKind::Reference)
      throw UsageError("--path reference runs in one process only (it is the oracle, not "
                       "distributed); run it without mpirun, or use the fast path");
    f = train_files(a, writer);
    s = read_setup(a, f.max_memory, {path}, f.resume.empty() ? nullptr : &f.ckpt, f.resume);
    if (!f.save_best.empty() && !(s.opt.val_fraction > 0))
      throw UsageError("--save-best keeps the epoch with the lowest validation loss: it needs "
                       "--val-fraction" + std::string(f.resume.empty() ? "" : " (the resumed run has none)"));
    s.processes = cl.size();
    if (!writer) s.quiet = true;
    print_header(s, path_name(path));
  });
  if (help) {
    std::cout << with_flags(kTrainUsage);
    return 0;
  }
  // The level this run trains at; its bit class ("x86-fma" at avx512f and avx2) is recorded in the
  // checkpoints of the epochs it trains (one that trains nothing keeps the resumed checkpoint's),
  // so the levels of one class write the same bytes.
  const std::string level = path == PathKind::Reference ? "reference" : fast::active_isa();
  const std::string bits = fast::bit_class(level);
  // The processes of a job add each other's partial sums: they must compute in one bit class
  // (avx512f and avx2 are one; sse4.2 another) for the result to be any single process's bits.
  cl.check_same("scratchcnn train: ", "the bit class of their instruction-set level", bits,
                "set SCRATCHCNN_ISA to a level of one class on every machine (mpirun -x "
                "SCRATCHCNN_ISA=sse4.2 runs on any x86-64 machine this tool supports)");
  cl.check_same("scratchcnn train: ",
                "what they train (a digest of the model, options, starting parameters and data)",
                run_digest(s, s.resumed),
                "every machine needs the same data, the same --resume or --init file and the same "
                "command line");
  // Past the agreed checks: every rank builds the network (an error now ends the job).
  const auto net = make_network(path, s.spec, s.init, NetworkOptions{s.opt.conv, cl.group()});
  TrainingState state = s.resumed;
  net->set_velocity(state.velocity);
  net->set_second_moment(state.second);
  state.options = s.opt;
  state.class_names = s.split.train.class_names;
  state.load = s.load;
  if (writer && !f.resume.empty() && s.opt.first_epoch <= s.opt.epochs)
    warn_level_change(f.resume, s.resumed.isa, level);
  if (f.resume.empty()) state.isa = bits;
  const auto save_to = [&](const std::string& path) {
    state.velocity = net->velocity();
    state.second = net->second_moment();
    save_checkpoint(path, s.spec, net->parameters(), state);
  };
  const auto save = [&] { save_to(f.save); };
  int best_written = 0;  // the epoch this run wrote to --save-best (0: none)
  const auto written = run_training(*net, s, true, [&](const EpochMetrics& m) {
    state.epoch = m.epoch;
    state.isa = bits;
    state.history.push_back(m);
    if (writer && !f.save.empty()) save();
    // The best epoch so far (the resumed ones included): its checkpoint replaces the last best.
    if (writer && !f.save_best.empty() && best_epoch(state.history) == m.epoch) {
      save_to(f.save_best);
      best_written = m.epoch;
    }
  });
  // A run that trained no epoch still leaves its (initial or resumed) state.
  if (writer && !f.save.empty() && written.empty()) save();
  finish_training(written, state, f, s.quiet, writer, best_written);
  if (!s.quiet && early_stop_due(state.history, s.opt.early_stop) && state.epoch < s.opt.epochs) {
    const int best = best_epoch(state.history);
    std::cout << "stopped early after epoch " << state.epoch << " of " << s.opt.epochs
              << ": no validation loss below epoch " << best << "'s ("
              << fixed(state.history[std::size_t(best - 1)].val_loss, 6) << ") for "
              << s.opt.early_stop << " epoch" << (s.opt.early_stop == 1 ? "" : "s") << "\n";
  }
  return 0;
}

}  // namespace scratchcnn::cli
