// scratchcnn compare: the reference and the fast path trained side by side (report.hpp).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "json.hpp"
#include "report.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/fast/isa.hpp"

namespace scratchcnn::cli {

const char* const kCompareUsage = R"TXT(usage: scratchcnn compare [flags]

Builds the reference and the fast path from the same parameters and trains both through the same
batches (free-running). Then runs every epoch of the fast path again, started from the reference's
parameters and velocity at that epoch's start (epoch-synced), so that a difference cannot carry
over: where a max-pool window holds two values closer than float rounding, the paths may pick
different maxima and free-running runs drift apart without any layer being wrong (docs/parity.md).
Prints per-epoch loss and test accuracy of each run, the largest differences, the seconds of the
reference and free-running fast runs and the speedup. Exits with 1 when a parity rule is broken:
an epoch-synced loss differing by more than 1e-3 relative from the reference's, or an
epoch-synced test accuracy more than 0.2 percentage points from it. The fast path convolves with
--conv-algo (the reference path has one algorithm): compare checks each against the reference.

%soutput:
  --json FILE      write the results as a JSON object (epochs, loss_reference, loss_fast,
                   test_accuracy_reference, test_accuracy_fast, loss_fast_synced,
                   test_accuracy_fast_synced, max_loss_rel_diff, max_test_accuracy_diff (both
                   epoch-synced), max_loss_rel_diff_free_running,
                   final_test_accuracy_diff_free_running, max_param_abs_diff_free_running,
                   seconds_reference, seconds_fast, speedup, isa (the level), bits (its bit
                   class: x86-fma for avx512f and avx2), and conv_algo when --conv-algo
                   is not auto); replaced atomically (through a
                   symlink, keeping its permissions), or written in place to /dev/stdout or a FIFO.
                   An error before any work when it is a data file of --data or the --init file
  --quiet          print nothing but errors and warnings (a broken parity rule is an error: it
                   still goes to stderr, and the exit code says it); --json is written as
                   without it
)TXT";

namespace {

// The fast path's epochs again, each from the reference's parameters and optimizer state at its
// start (`params[i]`, `velocity[i]`, `second[i]` before epoch reference[i].epoch), so that a
// difference cannot carry over from earlier epochs.
std::vector<EpochMetrics> train_synced(const Setup& s, const std::vector<EpochMetrics>& reference,
                                       const std::vector<Parameters>& params,
                                       const std::vector<Parameters>& velocity,
                                       const std::vector<Parameters>& second) {
  std::vector<EpochMetrics> synced;
  for (std::size_t i = 0; i < reference.size(); ++i) {
    auto net = make_network(PathKind::Fast, s.spec, params[i], NetworkOptions{s.opt.conv});
    net->set_velocity(velocity[i]);
    net->set_second_moment(second[i]);
    TrainOptions one = s.opt;
    one.early_stop = 0;  // compare refuses it; the synced epoch has no validation set either
    one.first_epoch = reference[i].epoch;
    one.epochs = reference[i].epoch;
    synced.push_back(train(*net, s.split.train, s.split.test, one).at(0));
  }
  return synced;
}

double max_abs_diff(const Parameters& a, const Parameters& b) {
  double m = 0;
  for (std::size_t l = 0; l < a.layers.size(); ++l) {
    for (std::size_t i = 0; i < a.layers[l].weights.size(); ++i)
      m = std::max(m, double(std::abs(a.layers[l].weights[i] - b.layers[l].weights[i])));
    for (std::size_t i = 0; i < a.layers[l].bias.size(); ++i)
      m = std::max(m, double(std::abs(a.layers[l].bias[i] - b.layers[l].bias[i])));
    for (std::size_t i = 0; i < a.layers[l].running.size() && i < b.layers[l].running.size(); ++i)
      m = std::max(m, double(std::abs(a.layers[l].running[i] - b.layers[l].running[i])));
  }
  return m;
}

// |other - reference| relative to the reference loss.
double rel_diff(double reference, double other) {
  return std::abs(reference - other) / std::max(std::abs(reference), 1e-30);
}

// The largest differences, the seconds and the parity verdict of the three runs.
void summarise(CompareReport& r) {
  const auto& hr = r.reference;
  for (std::size_t i = 0; i < hr.size(); ++i) {
    r.max_loss_rel_diff_free =
        std::max(r.max_loss_rel_diff_free, rel_diff(hr[i].loss, r.fast[i].loss));
    r.max_loss_rel_diff = std::max(r.max_loss_rel_diff, rel_diff(hr[i].loss, r.synced[i].loss));
    r.max_test_accuracy_diff = std::max(
        r.max_test_accuracy_diff, std::abs(hr[i].test_accuracy - r.synced[i].test_accuracy));
    r.seconds_reference += hr[i].seconds;
    r.seconds_fast += r.fast[i].seconds;
  }
  r.speedup = r.seconds_fast > 0 ? r.seconds_reference / r.seconds_fast : 0;
  r.final_test_accuracy_diff_free =
      hr.empty() ? 0 : std::abs(hr.back().test_accuracy - r.fast.back().test_accuracy);
  if (r.max_loss_rel_diff > 1e-3)
    r.broken.push_back("an epoch-synced loss differs by " + fixed(r.max_loss_rel_diff, 6) +
                       " relative (limit 0.001)");
  if (r.max_test_accuracy_diff > 0.002 + 1e-12)
    r.broken.push_back("an epoch-synced test accuracy differs by " +
                       fixed(r.max_test_accuracy_diff * 100, 2) + " percentage points (limit 0.2)");
}

}  // namespace

CompareReport compare_paths(const Setup& s) {
  CompareReport r;
  r.isa = fast::active_isa();
  r.bits = fast::bit_class(r.isa);
  r.conv = s.opt.conv;
  if (!s.quiet) std::cout << "training the reference path...\n" << std::flush;
  auto ref = make_network(PathKind::Reference, s.spec, s.init, NetworkOptions{s.opt.conv});
  // The reference's state at the start of every epoch, for the epoch-synced fast runs.
  std::vector<Parameters> ref_params{ref->parameters()}, ref_velocity{ref->velocity()},
      ref_second{ref->second_moment()};
  r.reference = run_training(*ref, s, false, [&](const EpochMetrics&) {
    ref_params.push_back(ref->parameters());
    ref_velocity.push_back(ref->velocity());
    ref_second.push_back(ref->second_moment());
  });
  if (!s.quiet) std::cout << "training the fast path...\n" << std::flush;
  auto fast = make_network(PathKind::Fast, s.spec, s.init, NetworkOptions{s.opt.conv});
  r.fast = run_training(*fast, s, false);
  r.synced = train_synced(s, r.reference, ref_params, ref_velocity, ref_second);
  r.max_param_abs_diff_free = max_abs_diff(ref->parameters(), fast->parameters());
  summarise(r);
  return r;
}

std::string compare_text(const CompareReport& r) {
  std::ostringstream o;
  char line[512];
  std::snprintf(line, sizeof line, "%5s %16s %11s %9s %17s %9s %14s %14s %16s\n", "epoch",
                "loss_reference", "loss_fast", "rel_diff", "loss_fast_synced", "rel_diff",
                "test_acc_ref", "test_acc_fast", "test_acc_synced");
  o << "(fast: free-running; synced: each epoch from the reference's state)\n" << line;
  for (std::size_t i = 0; i < r.reference.size(); ++i) {
    const EpochMetrics &hr = r.reference[i], &hf = r.fast[i], &hs = r.synced[i];
    std::snprintf(line, sizeof line, "%5d %16.6f %11.6f %9.2e %17.6f %9.2e %14.4f %14.4f %16.4f\n",
                  hr.epoch, hr.loss, hf.loss, rel_diff(hr.loss, hf.loss), hs.loss,
                  rel_diff(hr.loss, hs.loss), hr.test_accuracy, hf.test_accuracy,
                  hs.test_accuracy);
    o << line;
  }
  o << "epoch-synced: max relative loss difference " << std::scientific << r.max_loss_rel_diff
    << std::defaultfloat << ", max test accuracy difference "
    << fixed(r.max_test_accuracy_diff * 100, 2) << " percentage points\n"
    << "free-running: max relative loss difference " << std::scientific
    << r.max_loss_rel_diff_free << ", final test accuracy difference " << std::defaultfloat
    << fixed(r.final_test_accuracy_diff_free * 100, 2)
    << " percentage points, max absolute parameter difference at the end " << std::scientific
    << r.max_param_abs_diff_free << std::defaultfloat << "\n"
    << "seconds: reference " << fixed(r.seconds_reference, 3) << ", fast "
    << fixed(r.seconds_fast, 3) << ", speedup " << fixed(r.speedup, 1) << "x\n";
  return o.str();
}

std::string compare_json(const CompareReport& r) {
  const auto column = [](const std::vector<EpochMetrics>& h, double EpochMetrics::*field) {
    return json::array(h, [&](const EpochMetrics& m) { return json::number(m.*field, 9); });
  };
  json::Object o;
  o.add("epochs", json::integer(static_cast<long long>(r.reference.size())))
      .add("loss_reference", column(r.reference, &EpochMetrics::loss))
      .add("loss_fast", column(r.fast, &EpochMetrics::loss))
      .add("test_accuracy_reference", column(r.reference, &EpochMetrics::test_accuracy))
      .add("test_accuracy_fast", column(r.fast, &EpochMetrics::test_accuracy))
      .add("loss_fast_synced", column(r.synced, &EpochMetrics::loss))
      .add("test_accuracy_fast_synced", column(r.synced, &EpochMetrics::test_accuracy))
      .add("max_loss_rel_diff", json::number(r.max_loss_rel_diff, 9))
      .add("max_test_accuracy_diff", json::number(r.max_test_accuracy_diff, 9))
      .add("max_loss_rel_diff_free_running", json::number(r.max_loss_rel_diff_free, 9))
      .add("final_test_accuracy_diff_free_running", json::number(r.final_test_accuracy_diff_free, 9))
      .add("max_param_abs_diff_free_running", json::number(r.max_param_abs_diff_free, 9))
      .add("seconds_reference", json::fixed(r.seconds_reference, 6))
      .add("seconds_fast", json::fixed(r.seconds_fast, 6))
      .add("speedup", json::number(r.speedup, 6))
      .add("isa", json::quote(r.isa))
      .add("bits", json::quote(r.bits));
  if (r.conv != ConvAlgo::Auto) o.add("conv_algo", json::quote(conv_algo_name(r.conv)));
  return o.str();
}

int cmd_compare(const std::vector<std::string>& argv) {
  auto valued = kTrainValued;
  valued.insert("--json");
  const Args a(argv, valued, {"--help", "--quiet"});
  if (a.has("--early-stop"))
    throw UsageError("--early-stop is for train: compare trains both paths for the same epochs");
  if (a.has("--help")) {
    std::cout << with_flags(kCompareUsage);
    return 0;
  }
  if (!a.positional().empty()) throw UsageError("unexpected argument '" + a.positional()[0] + "'");
  const std::string json = a.has("--json") ? a.str("--json", "") : "";
  if (!json.empty()) check_output_path("--json", json);
  auto inputs = data_inputs(a.str("--data", defaults_for(model_name(a)).data));
  inputs.push_back({"--init", a.has("--init") ? a.str("--init", "") : ""});
  inputs.push_back({"--model", model_file(a)});
  check_aliases({{"--json", json}}, inputs);
  const Setup s =
      read_setup(a, read_max_memory(a), {PathKind::Reference, PathKind::Fast, PathKind::Fast});
  print_header(s, "reference and fast");
  const CompareReport r = compare_paths(s);
  if (!s.quiet) std::cout << compare_text(r);
  if (!json.empty()) {
    std::cout << std::flush;  // what was printed comes first when the output is /dev/stdout
    write_file_atomic(json, compare_json(r));
    if (!s.quiet) std::cout << "wrote " << json << "\n";
  }
  for (const auto& b : r.broken) std::cerr << "scratchcnn compare: parity broken: " << b << "\n";
  if (!r.broken.empty()) return 1;
  if (!s.quiet)
    std::cout << "parity: OK (epoch-synced: loss within 1e-3 relative and test accuracy within 0.2 "
               "percentage points every epoch)\n";
  return 0;
}

}  // namespace scratchcnn::cli
