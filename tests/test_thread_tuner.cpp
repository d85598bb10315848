// Adaptive threads (TrainOptions::thread_policy, src/core/thread_tuner.hpp): the tuner's choices on
// simulated step times (no clock: each test gives the time a step on t threads takes), and
// train() with adaptive threads against fixed ones: the same bits, the caller's OpenMP thread
// count restored. Whether it is fast on a loaded machine is a benchmark's question
// (bench/bench_threads.cpp), not a test's.
#include <omp.h>

#include <algorithm>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "compare.hpp"
#include "core/thread_tuner.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/trainer.hpp"
#include "test_support.hpp"

namespace {

using namespace scratchcnn;

// Runs `steps` steps, step i on the tuner's count taking cost(i, threads) seconds; returns the
// total time and fills `counts` with the count of every step.
double simulate(ThreadTuner& t, long steps, const std::function<double(long, int)>& cost,
                std::vector<int>* counts = nullptr) {
  double total = 0;
  for (long i = 0; i < steps; ++i) {
    const int c = t.threads();
    EXPECT_GE(c, 1);
    EXPECT_LE(c, t.most());
    if (counts) counts->push_back(c);
    const double s = cost(i, c);
    total += s;
    t.record(s);
  }
  return total;
}

// The time of a step on t threads when `busy` other processes keep cores of a `cores`-core
// machine busy: the work splits over t threads; a thread that shares a core waits for a whole
// time slice at the step's barrier (the case adaptive threads exist for).
double machine(int t, int cores, int busy, double work = 1.0) {
  const double compute = work / t;
  const int free_cores = cores - busy;
  return t <= free_cores ? compute : compute + 4.0 * work;
}

TEST(ThreadTuner, OneCandidateNeverProbes) {
  ThreadTuner t(1);
  EXPECT_EQ(t.most(), 1);
  simulate(t, 500, [](long, int) { return 1.0; });
  EXPECT_EQ(t.threads(), 1);
  EXPECT_EQ(t.probes(), 0);
  ThreadTuner zero(0);  // "at most 0" is at most 1
  EXPECT_EQ(zero.threads(), 1);
}

TEST(ThreadTuner, CandidatesAreEveryCountUpToFourThenPowersOfTwoAndTheMost) {
  for (int most : {2, 3, 4, 5, 12, 16, 64}) {
    ThreadTuner t(most);
    std::vector<int> counts;
    // One probe, every candidate slower than the last: the tuner visits each in turn.
    simulate(t, (ThreadTuner::kWarmup + ThreadTuner::kTimed) * 8, [](long, int c) { return 1.0 / c; },
             &counts);
    std::vector<int> seen;
    for (int c : counts)
      if (seen.empty() || seen.back() != c) seen.push_back(c);
    std::vector<int> want;
    if (most <= 4) {
      for (int c = 1; c <= most; ++c) want.push_back(c);
    } else {
      for (int c = 1; c < most; c *= 2) want.push_back(c);
      want.push_back(most);
    }
    ASSERT_GE(seen.size(), want.size()) << most;
    EXPECT_EQ(std::vector<int>(seen.begin(), seen.begin() + std::ptrdiff_t(want.size())), want) << most;
    EXPECT_EQ(t.threads(), most) << most;  // the fastest
  }
}

TEST(ThreadTuner, ChoosesTheFastestAndFewerThreadsOnANearTie) {
  ThreadTuner fast(2);
  simulate(fast, 100, [](long, int c) { return c == 2 ? 0.6 : 1.0; });
  EXPECT_EQ(fast.threads(), 2);
  ThreadTuner tie(2);
  simulate(tie, 100, [](long, int c) { return c == 2 ? 0.99 : 1.0; });
  EXPECT_EQ(tie.threads(), 1);
  ThreadTuner loaded(2);
  std::vector<int> counts;
  simulate(loaded, 100, [](long, int c) { return machine(c, 2, 1); }, &counts);
  EXPECT_EQ(loaded.threads(), 1);
  // One step that waits a time slice is enough: the probe drops two threads after it.
  EXPECT_EQ(std::count(counts.begin(), counts.end(), 2), 1);
}

TEST(ThreadTuner, LeavesACountThatTurnsSlowWithinAWindowAndComesBack) {
  // Two cores; a busy process arrives at step 1000 and leaves at step 3000.
  const auto busy = [](long i) { return i >= 1000 && i < 3000 ? 1 : 0; };
  ThreadTuner t(2);
  std::vector<int> counts;
  simulate(t, 5000, [&](long i, int c) { return machine(c, 2, busy(i)); }, &counts);
  const long react = ThreadTuner::kWindow + 2 * (ThreadTuner::kWarmup + ThreadTuner::kTimed);
  EXPECT_EQ(counts[999], 2);
  EXPECT_EQ(counts[std::size_t(1000 + react)], 1);
  EXPECT_EQ(counts[2999], 1);
  // Back to two threads once the machine is free again. A freed core does not make one thread
  // faster, so no drift shows it: the periodic probe finds it, within its longest interval.
  bool back = false;
  for (long i = 3000; i < 3000 + ThreadTuner::kMaxInterval && i < 5000; ++i) back = back || counts[std::size_t(i)] == 2;
  EXPECT_TRUE(back);
  EXPECT_EQ(counts.back(), 2);
}

TEST(ThreadTuner, CostsLittleOnASteadyMachine) {
  for (int busy : {0, 1}) {
    ThreadTuner t(2);
    const long steps = 20000;
    const double adaptive = simulate(t, steps, [&](long, int c) { return machine(c, 2, busy); });
    const double best = steps * std::min(machine(1, 2, busy), machine(2, 2, busy));
    EXPECT_LE(adaptive, 1.02 * best) << busy << " busy";
    EXPECT_LE(t.probes(), 12) << busy << " busy";
  }
}

TEST(ThreadTuner, BeatsEveryFixedCountWhenTheLoadComesAndGoes) {
  // A busy process every other 2,000 steps.
  const auto cost = [](long i, int c) { return machine(c, 2, (i / 2000) % 2); };
  ThreadTuner t(2);
  const long steps = 20000;
  const double adaptive = simulate(t, steps, cost);
  for (int fixed : {1, 2}) {
    double total = 0;
    for (long i = 0; i < steps; ++i) total += cost(i, fixed);
    std::cout << "load every other 2,000 steps: adaptive " << adaptive << ", " << fixed
              << " thread(s) " << total << "\n";
    EXPECT_LT(adaptive, 0.9 * total) << fixed;
  }
}

// A seed-model step on 2 cores beside one busy process: 0.117 on one thread; 0.07 on two, except
// that one step in 40 waits for a descheduled thread (3.0, a time slice). Every probe of a few
// steps sees two threads win; the tail test sees them lose on average.
double rare_stall(long i, int c) { return c == 1 ? 0.117 : i % 40 == 39 ? 3.0 : 0.07; }

TEST(ThreadTuner, ARareStallThatMediansMissStillSendsItToFewerThreads) {
  for (const long steps : {300L, 20000L}) {
    ThreadTuner t(2);
    std::vector<int> counts;
    const double adaptive = simulate(t, steps, rare_stall, &counts);
    double one = 0, two = 0;
    for (long i = 0; i < steps; ++i) {
      one += rare_stall(i, 1);
      two += rare_stall(i, 2);
    }
    std::cout << steps << " steps with a rare stall: adaptive " << adaptive << ", 1 thread " << one
              << ", 2 threads " << two << ", " << t.probes() << " probes\n";
    EXPECT_LE(adaptive, (steps < 1000 ? 1.10 : 1.05) * one) << steps;
    EXPECT_EQ(counts[std::size_t(ThreadTuner::kWarmup + ThreadTuner::kTimed + 2 * 40)], 1) << steps;
  }
  // The same with a short hiccup instead of a stall (0.5, an interrupt): two threads still win
  // on average, and the tuner stays there.
  ThreadTuner quiet(2);
  const auto hiccup = [](long i, int c) { return c == 1 ? 0.117 : i % 100 == 99 ? 0.5 : 0.07; };
  const double adaptive = simulate(quiet, 20000, hiccup);
  double two = 0;
  for (long i = 0; i < 20000; ++i) two += hiccup(i, 2);
  EXPECT_LE(adaptive, 1.03 * two);
  EXPECT_EQ(quiet.threads(), 2);
}

TEST(ThreadTuner, NeverTriesACountAboveTheFreeCoresAndFindsACoreThatComesFree) {
  // Two cores; a busy process until step 500, which free_cores reports, as the OS would.
  long step = 0;
  const auto busy = [&] { return step < 500 ? 1 : 0; };
  ThreadTuner t(2, [&] { return 2 - busy(); });
  std::vector<int> counts;
  double total = 0;
  for (; step < 1000; ++step) {
    counts.push_back(t.threads());
    const double s = machine(t.threads(), 2, busy());
    total += s;
    t.record(s);
  }
  EXPECT_EQ(std::count(counts.begin(), counts.begin() + 500, 2), 0);
  // The core that came free is found at the next probe, within kMinInterval steps and a probe.
  const long found = 500 + ThreadTuner::kMinInterval + 2 * (ThreadTuner::kWarmup + ThreadTuner::kTimed) + 1;
  EXPECT_EQ(counts[std::size_t(found)], 2);
  EXPECT_EQ(counts.back(), 2);
  // Unknown (-1) limits nothing.
  ThreadTuner unknown(2, [] { return -1; });
  simulate(unknown, 100, [](long, int c) { return c == 2 ? 0.6 : 1.0; });
  EXPECT_EQ(unknown.threads(), 2);
}

TEST(ThreadTuner, FreeCoresNowIsACountOfThisMachinesCoresOrUnknown) {
  const int free = free_cores_now();
  std::cout << "free cores now: " << free << "\n";
  EXPECT_GE(free, -1);
  EXPECT_LE(free, omp_get_num_procs());
}

TEST(ThreadTuner, NoisyStepTimesDoNotMakeItProbeEveryWindow) {
  // +-20% noise from a fixed sequence, a steady machine.
  ThreadTuner t(4);
  std::uint64_t x = 12345;
  const double total = simulate(t, 20000, [&](long, int c) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    const double noise = 0.8 + 0.4 * double(x >> 11) / double(1ull << 53);
    return noise * machine(c, 4, 0);
  });
  std::cout << "noise +-20%: " << t.probes() << " probes, " << total / (20000 * machine(4, 4, 0))
            << " of the best fixed count's time\n";
  EXPECT_LE(t.probes(), 40);
  EXPECT_LE(total, 1.10 * 20000 * machine(4, 4, 0));
}

// train() with adaptive threads gives the bits of fixed ones, and hands back the caller's count.
TEST(AdaptiveThreads, TrainGivesTheBitsOfFixedThreadsAndRestoresTheThreadCount) {
  const ModelSpec spec = model_from_name("lenet5");
  const data::Dataset train_set = test::random_dataset(3, 700, spec.input, spec.classes());
  const data::Dataset test_set = test::random_dataset(4, 50, spec.input, spec.classes());
  const Parameters p0 = Parameters::he_uniform(spec, 5);
  TrainOptions opt;
  opt.epochs = 2;
  opt.batch = 128;
  opt.lr = 0.05f;
  const int before = omp_get_max_threads();
  const auto run = [&](ThreadPolicy policy, int threads) {
    omp_set_num_threads(threads);
    auto net = make_network(PathKind::Fast, spec, p0);
    TrainOptions o = opt;
    o.thread_policy = policy;
    const auto history = train(*net, train_set, test_set, o);
    EXPECT_EQ(omp_get_max_threads(), threads) << thread_policy_name(policy);
    for (const auto& e : history) {
      EXPECT_GE(e.threads, 1.0);
      EXPECT_LE(e.threads, double(threads));
    }
    return std::make_pair(net->parameters(), history);
  };
  const auto [fixed, fixed_history] = run(ThreadPolicy::Fixed, 1);
  for (int threads : {2, 3}) {
    const auto [adaptive, history] = run(ThreadPolicy::Adaptive, threads);
    ASSERT_EQ(adaptive.layers.size(), fixed.layers.size());
    for (std::size_t l = 0; l < fixed.layers.size(); ++l) {
      EXPECT_TRUE(test::same_bits(fixed.layers[l].weights, adaptive.layers[l].weights, "1 thread",
                                  "adaptive")) << "layer " << l << ", at most " << threads;
      EXPECT_TRUE(test::same_bits(fixed.layers[l].bias, adaptive.layers[l].bias, "1 thread",
                                  "adaptive")) << "layer " << l << ", at most " << threads;
    }
    for (std::size_t e = 0; e < history.size(); ++e)
      EXPECT_EQ(history[e].loss, fixed_history[e].loss) << "epoch " << e + 1;
  }
  omp_set_num_threads(before);
}

TEST(AdaptiveThreads, AnErrorInAStepStillRestoresTheThreadCount) {
  const ModelSpec spec = model_from_name("lenet5");
  const data::Dataset train_set = test::random_dataset(3, 300, spec.input, spec.classes());
  const int before = omp_get_max_threads();
  omp_set_num_threads(2);
  auto net = make_network(PathKind::Fast, spec, Parameters::he_uniform(spec, 5));
  TrainOptions opt;
  opt.epochs = 1;
  opt.lr = 1e30f;  // the first step's update makes the second step's loss infinite
  try {
    train(*net, train_set, train_set, opt);
    ADD_FAILURE() << "a loss that is not finite did not stop training";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("training stopped at epoch 1, batch"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(omp_get_max_threads(), 2);
  opt.lr = 0.1f;
  opt.thread_policy = static_cast<ThreadPolicy>(7);
  try {
    train(*net, train_set, train_set, opt);
    ADD_FAILURE() << "thread policy 7 was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("thread policy 7 is not adaptive or fixed"), std::string::npos)
        << e.what();
  }
  omp_set_num_threads(before);
}

}  // namespace
