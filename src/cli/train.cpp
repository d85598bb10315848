// scratchcnn train and scratchcnn compare.
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "common.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/fast/isa.hpp"

namespace fs = std::filesystem;

namespace scratchcnn::cli {

const char* const kTrainUsage = R"TXT(usage: scratchcnn train [flags]

Trains with minibatch SGD (optionally with momentum and weight decay) and softmax cross-entropy,
printing one line per epoch: mean training loss, training accuracy (each sample judged by its own
training step's forward pass), test accuracy after the epoch, and the seconds the epoch's training
steps took. A progress bar with images/s and the time left is drawn on stderr when stderr is a
terminal.

%s  --path P         fast (default) or reference
checkpoints:
  --save FILE      write a checkpoint after every epoch (atomically: a crash leaves the last
                   complete one): model, parameters, velocities, epoch, the options above and the
                   metrics so far, the instruction-set level; versioned, with a checksum. eval,
                   predict and --init read it.
  --resume FILE    continue the run of a checkpoint with epoch (its epoch + 1) up to --epochs
                   (default: the epochs it was started with). Model, batch, lr, momentum,
                   weight decay and seed come from the checkpoint (held to the flags' ranges);
                   giving a different one is an error. The result is bit for bit that of an uninterrupted run on the same
                   path and instruction-set level (recorded in the checkpoint); on another level
                   a warning names both, and SCRATCHCNN_ISA=LEVEL (or --path reference) gets the
                   checkpoint's level back where this CPU runs it.
                   --resume F --save F continues in place.
output:
  --metrics FILE   write the per-epoch table as CSV: epoch,loss,train_accuracy,test_accuracy,seconds
                   when training succeeds; a resumed run writes every epoch since the run's start,
                   with seconds 'nan' for the epochs of the checkpoint (not training state)
  --quiet          print nothing but errors and warnings: no header, per-epoch table, progress
                   bar, notes or summary; --save and --metrics are written as without it
A failed run never writes --metrics; --save holds the last complete epoch.
Outputs replace their file atomically (through a symlink, keeping its permissions); /dev/null,
/dev/stdout and FIFOs are written in place. An output that is an input or another output is an
error before any work (--resume F --save F excepted). See docs/checkpoints.md.
)TXT";

const char* const kCompareUsage = R"TXT(usage: scratchcnn compare [flags]

Builds the reference and the fast path from the same parameters and trains both through the same
batches (free-running). Then runs every epoch of the fast path again, started from the reference's
parameters and velocity at that epoch's start (epoch-synced), so that a difference cannot carry
over: where a max-pool window holds two values closer than float rounding, the paths may pick
different maxima and free-running runs drift apart without any layer being wrong (docs/parity.md).
Prints per-epoch loss and test accuracy of each run, the largest differences, the seconds of the
reference and free-running fast runs and the speedup. Exits with 1 when a parity rule is broken:
an epoch-synced loss differing by more than 1e-3 relative from the reference's, or an
epoch-synced test accuracy more than 0.2 percentage points from it.

%soutput:
  --json FILE      write the results as a JSON object (epochs, loss_reference, loss_fast,
                   test_accuracy_reference, test_accuracy_fast, loss_fast_synced,
                   test_accuracy_fast_synced, max_loss_rel_diff, max_test_accuracy_diff (both
                   epoch-synced), max_loss_rel_diff_free_running,
                   final_test_accuracy_diff_free_running, max_param_abs_diff_free_running,
                   seconds_reference, seconds_fast, speedup, isa); replaced atomically (through a
                   symlink, keeping its permissions), or written in place to /dev/stdout or a FIFO.
                   An error before any work when it is a data file of --data or the --init file
)TXT";

namespace {

// A run resumed on another instruction-set level than its checkpoint's goes on, but not bit for
// bit as the uninterrupted run would (fast/isa.hpp): a warning naming both levels and how to get
// the checkpoint's level back. Not an error: a checkpoint moved to another machine stays usable.
void warn_level_change(const std::string& file, const std::string& saved, const std::string& now) {
  if (saved == now) return;
  if (saved.empty()) {
    std::cerr << "warning: " << file
              << " does not record the instruction-set level it was trained at (a version 1 "
                 "checkpoint); this run trains at "
              << now
              << ": unless that is the checkpoint's level, the result is not bit for bit that of "
                 "an uninterrupted run\n";
    return;
  }
  std::string how;
  if (saved == "reference") {
    how = "resume with --path reference to continue bit for bit";
  } else {
    const auto levels = fast::supported_isas();
    if (std::find(levels.begin(), levels.end(), saved) != levels.end())
      how = "resume with SCRATCHCNN_ISA=" + saved +
            (now == "reference" ? " and --path fast" : std::string()) +
            " to continue bit for bit";
    else
      how = "this machine cannot run " + saved + ", so only a machine that can continues bit for bit";
  }
  std::cerr << "warning: " << file << " was trained at instruction-set level " << saved
            << ", this run trains at " << now
            << ": the result will not be bit for bit that of an uninterrupted run (only within "
               "the parity tolerances, docs/parity.md); "
            << how << "\n";
}

}  // namespace

namespace {

// The files of a train command line, checked before any work: outputs writable, no output that
// is an input or another output, and the --resume checkpoint read (`ckpt`).
struct TrainFiles {
  std::string metrics, save, resume;
  Checkpoint ckpt;
  std::uint64_t max_memory = 0;  // --max-memory, read once
};

TrainFiles train_files(const Args& a) {
  TrainFiles f;
  f.metrics = a.str("--metrics", "");
  f.save = a.has("--save") ? a.str("--save", "") : "";
  if (!f.metrics.empty()) check_output_path("--metrics", f.metrics);
  if (!f.save.empty()) check_output_path("--save", f.save);
  f.resume = a.has("--resume") ? a.str("--resume", "") : "";
  // The limit every input is read under, set before the first one.
  f.max_memory = read_max_memory(a);
  if (!f.resume.empty()) f.ckpt = load_checkpoint(f.resume);
  // The data folder's default depends on the model, which a checkpoint brings along.
  const std::string model = f.resume.empty() ? model_value(a) : builtin_name(f.ckpt.spec);
  auto inputs = data_inputs(a.str("--data", defaults_for(model).data));
  inputs.push_back({"--resume", f.resume});
  inputs.push_back({"--init", a.has("--init") ? a.str("--init", "") : ""});
  check_aliases({{"--save", f.save}, {"--metrics", f.metrics}}, inputs, {{"--save", "--resume"}});
  return f;
}

// The summary after training and the --metrics file; `written`: the epochs this run trained.
void finish_training(const std::vector<EpochMetrics>& written, const TrainingState& state,
                     const TrainFiles& f, bool quiet) {
  double total = 0;
  for (const auto& m : written) total += m.seconds;
  std::ostringstream o;
  o << "trained " << written.size() << " epoch" << (written.size() == 1 ? "" : "s");
  if (!written.empty() && written.front().epoch != 1)
    o << " (" << written.front().epoch << ".." << written.back().epoch << ")";
  o << " in " << fixed(total, 3) << " s";
  if (!state.history.empty())
    o << "; final test accuracy " << fixed(state.history.back().test_accuracy, 4);
  if (!quiet) std::cout << o.str() << "\n";
  if (!f.metrics.empty()) {
    std::cout << std::flush;  // what was printed comes first when the output is /dev/stdout
    write_file_atomic(f.metrics, metrics_csv(state.history));
    if (!quiet) std::cout << "wrote " << f.metrics << "\n";
  }
  if (!f.save.empty() && !quiet)
    std::cout << "wrote " << f.save << " (checkpoint after epoch " << state.epoch << ")\n";
}

}  // namespace

int cmd_train(const std::vector<std::string>& argv) {
  auto valued = kTrainValued;
  valued.insert({"--path", "--metrics", "--save", "--resume"});
  const Args a(argv, valued, {"--help", "--quiet"});
  if (a.has("--help")) {
    std::cout << with_flags(kTrainUsage);
    return 0;
  }
  if (!a.positional().empty()) throw UsageError("unexpected argument '" + a.positional()[0] + "'");
  if (a.has("--resume") && a.has("--init"))
    throw UsageError("--init and --resume exclude each other (--resume continues a run, --init "
                     "starts a new one)");
  const PathKind path = read_path(a);
  const TrainFiles f = train_files(a);
  Setup s = read_setup(a, f.max_memory, {path}, f.resume.empty() ? nullptr : &f.ckpt, f.resume);
  print_header(s, path_name(path));
  auto net = make_network(path, s.spec, s.init);
  TrainingState state = s.resumed;
  net->set_velocity(state.velocity);
  state.options = s.opt;
  // The level this run trains at, recorded in the checkpoints of the epochs it trains (one that
  // trains nothing keeps the resumed checkpoint's).
  const std::string level = path == PathKind::Reference ? "reference" : fast::active_isa();
  if (!f.resume.empty() && s.opt.first_epoch <= s.opt.epochs)
    warn_level_change(f.resume, s.resumed.isa, level);
  if (f.resume.empty()) state.isa = level;
  const auto save = [&] {
    state.velocity = net->velocity();
    save_checkpoint(f.save, s.spec, net->parameters(), state);
  };
  const auto written = run_training(*net, s, true, [&](const EpochMetrics& m) {
    state.epoch = m.epoch;
    state.isa = level;
    state.history.push_back(m);
    if (!f.save.empty()) save();
  });
  // A run that trained no epoch still leaves its (initial or resumed) state.
  if (!f.save.empty() && written.empty()) save();
  finish_training(written, state, f, s.quiet);
  return 0;
}

int cmd_compare(const std::vector<std::string>& argv) {
  auto valued = kTrainValued;
  valued.insert("--json");
  const Args a(argv, valued, {"--help"});
  if (a.has("--help")) {
    std::cout << with_flags(kCompareUsage);
    return 0;
  }
  if (!a.positional().empty()) throw UsageError("unexpected argument '" + a.positional()[0] + "'");
  const std::string json = a.has("--json") ? a.str("--json", "") : "";
  if (!json.empty()) check_output_path("--json", json);
  auto inputs = data_inputs(a.str("--data", defaults_for(model_value(a)).data));
  inputs.push_back({"--init", a.has("--init") ? a.str("--init", "") : ""});
  check_aliases({{"--json", json}}, inputs);
  Setup s =
      read_setup(a, read_max_memory(a), {PathKind::Reference, PathKind::Fast, PathKind::Fast});
  print_header(s, "reference and fast");

  std::cout << "training the reference path...\n" << std::flush;
  auto ref = make_network(PathKind::Reference, s.spec, s.init);
  // The reference's state at the start of every epoch, for the epoch-synced fast runs.
  std::vector<Parameters> ref_params{ref->parameters()}, ref_velocity{ref->velocity()};
  const auto hr = run_training(*ref, s, false, [&](const EpochMetrics&) {
    ref_params.push_back(ref->parameters());
    ref_velocity.push_back(ref->velocity());
  });
  std::cout << "training the fast path...\n" << std::flush;
  auto fast = make_network(PathKind::Fast, s.spec, s.init);
  const auto hf = run_training(*fast, s, false);
  // Epoch-synced: each epoch of the fast path again, started from the reference's parameters and
  // velocity at that epoch's start, so that a difference cannot carry over from earlier epochs.
  std::vector<EpochMetrics> hs;
  for (std::size_t i = 0; i < hr.size(); ++i) {
    auto net = make_network(PathKind::Fast, s.spec, ref_params[i]);
    net->set_velocity(ref_velocity[i]);
    Setup one = s;
    one.opt.first_epoch = hr[i].epoch;
    one.opt.epochs = hr[i].epoch;
    const auto m = train(*net, one.split.train, one.split.test, one.opt);
    hs.push_back(m.at(0));
  }

  std::vector<double> lr_, lf, ls, ar, af, as;
  double sr = 0, sf = 0, max_rel = 0, max_rel_free = 0, max_acc_gap = 0;
  {
    char head[512];
    std::snprintf(head, sizeof head, "%5s %16s %11s %9s %17s %9s %14s %14s %16s\n", "epoch",
                  "loss_reference", "loss_fast", "rel_diff", "loss_fast_synced", "rel_diff",
                  "test_acc_ref", "test_acc_fast", "test_acc_synced");
    std::cout << "(fast: free-running; synced: each epoch from the reference's state)\n" << head;
  }
  for (std::size_t i = 0; i < hr.size(); ++i) {
    const double denom = std::max(std::abs(hr[i].loss), 1e-30);
    const double rel_free = std::abs(hr[i].loss - hf[i].loss) / denom;
    const double rel = std::abs(hr[i].loss - hs[i].loss) / denom;
    max_rel = std::max(max_rel, rel);
    max_rel_free = std::max(max_rel_free, rel_free);
    max_acc_gap = std::max(max_acc_gap, std::abs(hr[i].test_accuracy - hs[i].test_accuracy));
    lr_.push_back(hr[i].loss);
    lf.push_back(hf[i].loss);
    ls.push_back(hs[i].loss);
    ar.push_back(hr[i].test_accuracy);
    af.push_back(hf[i].test_accuracy);
    as.push_back(hs[i].test_accuracy);
    sr += hr[i].seconds;
    sf += hf[i].seconds;
    char line[256];
    std::snprintf(line, sizeof line, "%5d %16.6f %11.6f %9.2e %17.6f %9.2e %14.4f %14.4f %16.4f\n",
                  hr[i].epoch, hr[i].loss, hf[i].loss, rel_free, hs[i].loss, rel,
                  hr[i].test_accuracy, hf[i].test_accuracy, hs[i].test_accuracy);
    std::cout << line;
  }
  const Parameters pr = ref->parameters(), pf = fast->parameters();
  double max_param = 0;
  for (std::size_t l = 0; l < pr.layers.size(); ++l) {
    for (std::size_t i = 0; i < pr.layers[l].weights.size(); ++i)
      max_param = std::max(max_param, double(std::abs(pr.layers[l].weights[i] - pf.layers[l].weights[i])));
    for (std::size_t i = 0; i < pr.layers[l].bias.size(); ++i)
      max_param = std::max(max_param, double(std::abs(pr.layers[l].bias[i] - pf.layers[l].bias[i])));
  }
  const double speedup = sf > 0 ? sr / sf : 0;
  const double acc_gap_free = hr.empty() ? 0 : std::abs(ar.back() - af.back());
  std::cout << "epoch-synced: max relative loss difference " << std::scientific << max_rel
            << std::defaultfloat << ", max test accuracy difference " << fixed(max_acc_gap * 100, 2)
            << " percentage points\n"
            << "free-running: max relative loss difference " << std::scientific << max_rel_free
            << ", final test accuracy difference " << std::defaultfloat << fixed(acc_gap_free * 100, 2)
            << " percentage points, max absolute parameter difference at the end " << std::scientific
            << max_param << std::defaultfloat << "\n"
            << "seconds: reference " << fixed(sr, 3) << ", fast " << fixed(sf, 3) << ", speedup "
            << fixed(speedup, 1) << "x\n";
  if (!json.empty()) {
    char b[1024];
    std::snprintf(b, sizeof b,
                  "  \"max_loss_rel_diff\": %.9g,\n  \"max_test_accuracy_diff\": %.9g,\n"
                  "  \"max_loss_rel_diff_free_running\": %.9g,\n"
                  "  \"final_test_accuracy_diff_free_running\": %.9g,\n"
                  "  \"max_param_abs_diff_free_running\": %.9g,\n"
                  "  \"seconds_reference\": %.6f,\n  \"seconds_fast\": %.6f,\n  \"speedup\": %.6g,\n"
                  "  \"isa\": %s\n",
                  max_rel, max_acc_gap, max_rel_free, acc_gap_free, max_param, sr, sf, speedup,
                  json_string(fast::active_isa()).c_str());
    const std::string out = "{\n  \"epochs\": " + std::to_string(hr.size()) +
                            ",\n  \"loss_reference\": " + json_array(lr_) +
                            ",\n  \"loss_fast\": " + json_array(lf) +
                            ",\n  \"test_accuracy_reference\": " + json_array(ar) +
                            ",\n  \"test_accuracy_fast\": " + json_array(af) +
                            ",\n  \"loss_fast_synced\": " + json_array(ls) +
                            ",\n  \"test_accuracy_fast_synced\": " + json_array(as) + ",\n" + b + "}\n";
    std::cout << std::flush;
    write_file_atomic(json, out);
    std::cout << "wrote " << json << "\n";
  }
  std::vector<std::string> broken;
  if (max_rel > 1e-3)
    broken.push_back("an epoch-synced loss differs by " + fixed(max_rel, 6) + " relative (limit 0.001)");
  if (max_acc_gap > 0.002 + 1e-12)
    broken.push_back("an epoch-synced test accuracy differs by " + fixed(max_acc_gap * 100, 2) +
                     " percentage points (limit 0.2)");
  if (!broken.empty()) {
    for (const auto& b : broken) std::cerr << "scratchcnn compare: parity broken: " << b << "\n";
    return 1;
  }
  std::cout << "parity: OK (epoch-synced: loss within 1e-3 relative and test accuracy within 0.2 "
               "percentage points every epoch)\n";
  return 0;
}

}  // namespace scratchcnn::cli
