// Data-parallel training (process_group.hpp) with R ranks as R threads of this process
// (support/thread_group.hpp): every rank ends every step with the bits of one process without a
// group, computes only its chunk_share of the batch, and talks to the others only along the tree
// of fast/reduce.hpp.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "compare.hpp"
#include "fast/layout.hpp"
#include "fast/reduce.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/model_spec.hpp"
#include "scratchcnn/network.hpp"
#include "scratchcnn/parameters.hpp"
#include "scratchcnn/rng.hpp"
#include "test_support.hpp"
#include "thread_group.hpp"

namespace {

using namespace scratchcnn;
using test::flat;
using test::run_ranks;
using test::ThreadWorld;

const Sgd kSgd{0.05f, 0.9f, 1e-4f};

// The samples of a run: sizes.size() batches, one after the other.
struct Data {
  std::vector<float> images;
  std::vector<int> labels;
  std::vector<int> sizes;
};

Data make_data(const ModelSpec& spec, std::uint64_t seed, const std::vector<int>& sizes) {
  int n = 0;
  for (int s : sizes) n += s;
  Rng rng(seed);
  return Data{test::random_images(rng, n, spec.input), test::random_labels(rng, n, spec.classes()),
              sizes};
}

// What a run ends with, as bytes.
struct Outcome {
  std::vector<float> params, velocity, second;
  std::vector<StepResult> steps;
};

// The steps of `data` on a fast network with `group` (null: none), OpenMP at `threads`; for
// each batch, `corrupt`, when given, hands the network a copy of the batch in which it may
// overwrite the samples this rank should never read.
Outcome train(const ModelSpec& spec, const Parameters& p0, const Data& data,
              std::shared_ptr<ProcessGroup> group, int threads,
              const std::function<void(int n, std::vector<float>&, std::vector<int>&)>& corrupt = {},
              Sgd rule = kSgd) {
  omp_set_num_threads(threads);
  NetworkOptions options;
  options.group = group;
  auto net = make_network(PathKind::Fast, spec, p0, options);
  Outcome out;
  const std::size_t size = std::size_t(spec.input.size());
  std::size_t at = 0;
  for (int n : data.sizes) {
    std::vector<float> x(data.images.begin() + std::ptrdiff_t(at * size),
                         data.images.begin() + std::ptrdiff_t((at + std::size_t(n)) * size));
    std::vector<int> y(data.labels.begin() + std::ptrdiff_t(at),
                       data.labels.begin() + std::ptrdiff_t(at + std::size_t(n)));
    if (corrupt) corrupt(n, x, y);
    out.steps.push_back(net->sgd_step(Batch{x.data(), y.data(), n}, rule));
    ++rule.step;
    at += std::size_t(n);
  }
  out.params = flat(net->parameters());
  out.velocity = flat(net->velocity());
  out.second = flat(net->second_moment());
  return out;
}

void expect_same_bits(const Outcome& got, const Outcome& want, const std::string& what) {
  ASSERT_EQ(got.params.size(), want.params.size()) << what;
  EXPECT_EQ(0, std::memcmp(got.params.data(), want.params.data(), want.params.size() * 4))
      << what << ": parameters";
  ASSERT_EQ(got.velocity.size(), want.velocity.size()) << what;
  EXPECT_EQ(0, std::memcmp(got.velocity.data(), want.velocity.data(), want.velocity.size() * 4))
      << what << ": velocity";
  ASSERT_EQ(got.second.size(), want.second.size()) << what;
  EXPECT_EQ(0, std::memcmp(got.second.data(), want.second.data(), want.second.size() * 4))
      << what << ": second moment";
  ASSERT_EQ(got.steps.size(), want.steps.size()) << what;
  for (std::size_t s = 0; s < want.steps.size(); ++s) {
    EXPECT_EQ(0, std::memcmp(&got.steps[s].loss, &want.steps[s].loss, sizeof(double)))
        << what << ": loss of step " << s << ", " << got.steps[s].loss << " vs "
        << want.steps[s].loss;
    EXPECT_EQ(got.steps[s].correct, want.steps[s].correct) << what << ": step " << s;
  }
}

// Every rank of `ranks`, at `threads` OpenMP threads each, against one process without a group.
void expect_like_one_process(const ModelSpec& spec, const Data& data, int ranks, int threads,
                             const Outcome& single, const std::string& what,
                             const Sgd& rule = kSgd) {
  const Parameters p0 = Parameters::he_uniform(spec, 7);
  auto world = std::make_shared<ThreadWorld>(ranks);
  std::vector<Outcome> outs(static_cast<std::size_t>(ranks));
  run_ranks(world, [&](int r, std::shared_ptr<ProcessGroup> g) {
    outs[std::size_t(r)] = train(spec, p0, data, g, threads, {}, rule);
  });
  for (int r = 0; r < ranks; ++r)
    expect_same_bits(outs[std::size_t(r)], single,
                     what + ", " + std::to_string(ranks) + " ranks of " + std::to_string(threads) +
                         " threads, rank " + std::to_string(r));
}

TEST(ProcessGroup, EveryRankEndsWithTheBitsOfOneProcess) {
  // 100 samples are 6 whole chunks and 4 samples; the last batch, 37, is 3 chunks (the last of 5).
  for (const char* name : {"seed", "lenet5"}) {
    const ModelSpec spec = model_from_name(name);
    const Data data = make_data(spec, 11, {100, 100, 37});
    const Outcome single = train(spec, Parameters::he_uniform(spec, 7), data, nullptr, 2);
    for (int ranks : {1, 2, 3, 4})
      for (int threads : {1, 2}) expect_like_one_process(spec, data, ranks, threads, single, name);
  }
}

TEST(ProcessGroup, AdamStepsGiveTheBitsOfOneProcessToo) {
  // The update runs on every rank after the reduction: its moments must agree as the parameters do.
  Sgd adamw;
  adamw.lr = 1e-3f;
  adamw.weight_decay = 0.01f;
  adamw.optimizer = Optimizer::AdamW;
  const ModelSpec spec = model_from_name("seed");
  const Data data = make_data(spec, 12, {100, 37, 64});
  const Outcome single = train(spec, Parameters::he_uniform(spec, 7), data, nullptr, 2, {}, adamw);
  EXPECT_NE(single.second, std::vector<float>(single.second.size(), 0.0f));
  for (int ranks : {2, 3})
    for (int threads : {1, 2}) expect_like_one_process(spec, data, ranks, threads, single, "adamw", adamw);
}

TEST(ProcessGroup, DropoutMasksAreTheSameOnEveryRank) {
  // A rank computes only its chunks: the masks are keyed by the sample's place in the batch.
  Sgd rule = kSgd;
  rule.seed = 21;
  const ModelSpec spec = parse_model(
      "conv(1,4,k=3,pad=1) relu dropout(0.3) maxpool(2) flatten dense(64,16) relu dropout(0.5) "
      "dense(16,10)");
  const Data data = make_data(spec, 13, {100, 37});
  const Outcome single = train(spec, Parameters::he_uniform(spec, 7), data, nullptr, 2, {}, rule);
  for (int ranks : {2, 3})
    for (int threads : {1, 2}) expect_like_one_process(spec, data, ranks, threads, single, "dropout", rule);
}

TEST(ProcessGroup, BatchNormStatisticsAreTheSameOnEveryRank) {
  // A rank computes only its chunks: the batch statistics, in forward and backward, are added in
  // the same tree across the ranks, and every rank updates the same running statistics.
  Sgd rule = kSgd;
  rule.seed = 22;
  const ModelSpec spec = parse_model(
      "conv(1,4,k=3,pad=1) batchnorm relu maxpool(2) flatten dense(64,16) batchnorm relu dense(16,10)");
  const Data data = make_data(spec, 14, {100, 37, 40});
  const Outcome single = train(spec, Parameters::he_uniform(spec, 7), data, nullptr, 2, {}, rule);
  for (int ranks : {2, 3, 5})
    for (int threads : {1, 2}) expect_like_one_process(spec, data, ranks, threads, single, "batchnorm", rule);
}

TEST(ProcessGroup, RanksBeyondTheChunksComputeNothingAndStillAgree) {
  // 40 samples are 3 chunks: of 5 ranks, ranks 0 and 2 hold none; of 7, four hold none.
  const ModelSpec spec = model_from_name("seed");
  const Data data = make_data(spec, 12, {40, 40, 16, 33});
  const Outcome single = train(spec, Parameters::he_uniform(spec, 7), data, nullptr, 1);
  for (int ranks : {5, 7}) expect_like_one_process(spec, data, ranks, 1, single, "seed");
}

TEST(ProcessGroup, ARankReadsOnlyTheSamplesOfItsShare) {
  // Each rank gets batches whose samples outside its chunk_share are other random samples (and
  // labels): the ranks still end with the bits of one process on the true batches. A rank that
  // computed chunks outside its share itself would fold the wrong samples in.
  const ModelSpec spec = model_from_name("seed");
  const Data data = make_data(spec, 13, {100, 37});
  const Outcome single = train(spec, Parameters::he_uniform(spec, 7), data, nullptr, 1);
  const Parameters p0 = Parameters::he_uniform(spec, 7);
  const std::size_t size = std::size_t(spec.input.size());
  for (int ranks : {2, 3}) {
    auto world = std::make_shared<ThreadWorld>(ranks);
    std::vector<Outcome> outs(static_cast<std::size_t>(ranks));
    run_ranks(world, [&](int r, std::shared_ptr<ProcessGroup> g) {
      Rng other(100 + std::uint64_t(r));
      outs[std::size_t(r)] = train(spec, p0, data, g, 1,
                                   [&](int n, std::vector<float>& x, std::vector<int>& y) {
        const auto [first, last] = fast::chunk_share(fast::chunk_count(n), ranks, r);
        const auto noise = test::random_images(other, n, spec.input);
        const auto wrong = test::random_labels(other, n, spec.classes());
        for (int s = 0; s < n; ++s) {
          if (s >= first * fast::kChunk && s < last * fast::kChunk) continue;
          std::copy(noise.begin() + std::ptrdiff_t(std::size_t(s) * size),
                    noise.begin() + std::ptrdiff_t(std::size_t(s + 1) * size),
                    x.begin() + std::ptrdiff_t(std::size_t(s) * size));
          y[std::size_t(s)] = wrong[std::size_t(s)];
        }
      });
    });
    for (int r = 0; r < ranks; ++r)
      expect_same_bits(outs[std::size_t(r)], single,
                       std::to_string(ranks) + " ranks, rank " + std::to_string(r));
  }
}

TEST(ProcessGroup, RanksExchangeOnlyTheTreeNodesThatSpanTwoRanks) {
  // One exchange call per tree level on every rank, at most one message sent per level, one
  // message for each node (a, a + w) whose two children lie on different ranks, each one
  // parameter-sized array; and every rank makes the same sequence of calls.
  const ModelSpec spec = model_from_name("seed");
  const std::vector<int> sizes = {100, 37};
  const Data data = make_data(spec, 14, sizes);
  const Parameters p0 = Parameters::he_uniform(spec, 7);
  for (int ranks : {2, 3, 4, 5}) {
    auto world = std::make_shared<ThreadWorld>(ranks);
    run_ranks(world, [&](int, std::shared_ptr<ProcessGroup> g) { train(spec, p0, data, g, 1); });
    std::vector<int> messages(std::size_t(ranks), 0);
    int levels = 0;
    for (int n : sizes) {
      const int nc = fast::chunk_count(n);
      for (int w = 1; w < nc; w *= 2, ++levels)
        for (int a = 0; a + w < nc; a += 2 * w) {
          const int left = fast::chunk_owner(nc, ranks, a);
          const int right = fast::chunk_owner(nc, ranks, a + w);
          if (left != right) ++messages[std::size_t(right)];
        }
    }
    std::size_t per_message = 0;
    for (int r = 0; r < ranks; ++r) {
      const ThreadWorld::Traffic t = world->traffic(r);
      EXPECT_EQ(t.exchanges, levels) << ranks << " ranks, rank " << r;
      EXPECT_EQ(t.messages, messages[std::size_t(r)]) << ranks << " ranks, rank " << r;
      EXPECT_LE(t.messages, t.exchanges);
      if (t.messages > 0) {
        EXPECT_EQ(t.floats % std::size_t(t.messages), 0u);
        if (per_message == 0) per_message = t.floats / std::size_t(t.messages);
        EXPECT_EQ(t.floats, per_message * std::size_t(t.messages));
      }
      EXPECT_EQ(world->calls(r), world->calls(0)) << ranks << " ranks, rank " << r;
    }
    EXPECT_GE(per_message, std::size_t(p0.count()));
    // Per step: the batch checks gathered once, the losses once, the root broadcast once.
    const std::string calls = world->calls(0);
    EXPECT_EQ(std::count(calls.begin(), calls.end(), 'g'), 4);
    EXPECT_EQ(std::count(calls.begin(), calls.end(), 'b'), 2);
  }
}

TEST(ProcessGroup, GradientsAreTheSameBitsOnEveryRank) {
  const ModelSpec spec = model_from_name("lenet5");
  const Data data = make_data(spec, 15, {53});
  const Parameters p0 = Parameters::he_uniform(spec, 7);
  const Batch batch{data.images.data(), data.labels.data(), 53};
  StepResult one_r;
  const std::vector<float> one = flat(make_network(PathKind::Fast, spec, p0)->gradients(batch, &one_r));
  auto world = std::make_shared<ThreadWorld>(3);
  std::vector<std::vector<float>> got(3);
  std::vector<StepResult> got_r(3);
  run_ranks(world, [&](int r, std::shared_ptr<ProcessGroup> g) {
    NetworkOptions o;
    o.group = g;
    got[std::size_t(r)] = flat(make_network(PathKind::Fast, spec, p0, o)->gradients(batch, &got_r[std::size_t(r)]));
  });
  for (int r = 0; r < 3; ++r) {
    ASSERT_EQ(got[std::size_t(r)].size(), one.size());
    EXPECT_EQ(0, std::memcmp(got[std::size_t(r)].data(), one.data(), one.size() * 4)) << r;
    EXPECT_EQ(0, std::memcmp(&got_r[std::size_t(r)].loss, &one_r.loss, sizeof(double))) << r;
  }
}

TEST(ProcessGroup, ANonFiniteLossStopsEveryRankWithTheSameErrorAndNoChange) {
  // A step that overflows the parameters is taken; on the next, every rank sees the gathered,
  // non-finite loss, throws the error one process throws, and changes nothing.
  const ModelSpec spec = model_from_name("seed");
  const Data data = make_data(spec, 16, {40});
  const Parameters p0 = Parameters::he_uniform(spec, 7);
  const Batch batch{data.images.data(), data.labels.data(), 40};
  struct Stop {
    std::string error;
    std::vector<float> params;
  };
  const auto run = [&](std::shared_ptr<ProcessGroup> g) {
    NetworkOptions o;
    o.group = g;
    auto net = make_network(PathKind::Fast, spec, p0, o);
    net->sgd_step(batch, Sgd{3e38f, 0.9f, 0.0f});
    Stop stop;
    stop.params = flat(net->parameters());
    try {
      net->sgd_step(batch, kSgd);
    } catch (const Error& e) {
      stop.error = e.what();
    }
    EXPECT_EQ(0, std::memcmp(flat(net->parameters()).data(), stop.params.data(),
                             stop.params.size() * 4));
    return stop;
  };
  const Stop one = run(nullptr);
  EXPECT_NE(one.error.find("loss is"), std::string::npos) << one.error;
  auto world = std::make_shared<ThreadWorld>(3);
  std::vector<Stop> got(3);
  run_ranks(world, [&](int r, std::shared_ptr<ProcessGroup> g) { got[std::size_t(r)] = run(g); });
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(got[std::size_t(r)].error, one.error) << r;
    EXPECT_EQ(0, std::memcmp(got[std::size_t(r)].params.data(), one.params.data(),
                             one.params.size() * 4))
        << r;
  }
}

TEST(ProcessGroup, ABatchThatFailsOnOneRankStopsEveryRankWithoutAHang) {
  // Rank 1 holds a NaN pixel (its copy of the data differs); rank 2 a shorter batch. Every rank
  // throws (none waits forever in the step's collectives) and none changes its parameters.
  const ModelSpec spec = model_from_name("seed");
  const Data data = make_data(spec, 17, {40});
  const Parameters p0 = Parameters::he_uniform(spec, 7);
  std::vector<float> bad = data.images;
  bad[5] = std::numeric_limits<float>::quiet_NaN();
  for (const bool shorter : {false, true}) {
    auto world = std::make_shared<ThreadWorld>(3);
    std::vector<std::string> errors(3);
    std::vector<int> unchanged(3, 0);
    run_ranks(world, [&](int r, std::shared_ptr<ProcessGroup> g) {
      NetworkOptions o;
      o.group = g;
      auto net = make_network(PathKind::Fast, spec, p0, o);
      const bool odd = r == (shorter ? 2 : 1);
      const Batch batch{odd && !shorter ? bad.data() : data.images.data(), data.labels.data(),
                        odd && shorter ? 32 : 40};
      try {
        net->sgd_step(batch, kSgd);
      } catch (const Error& e) {
        errors[std::size_t(r)] = e.what();
      }
      unchanged[std::size_t(r)] = net->parameters() == p0;
    });
    for (int r = 0; r < 3; ++r) {
      EXPECT_FALSE(errors[std::size_t(r)].empty()) << "rank " << r << (shorter ? " (shorter)" : "");
      EXPECT_TRUE(unchanged[std::size_t(r)]) << r;
    }
    if (shorter) {
      EXPECT_NE(errors[0].find("rank 2 steps a batch of 32 samples"), std::string::npos) << errors[0];
    } else {
      EXPECT_NE(errors[1].find("non-finite"), std::string::npos) << errors[1];
      EXPECT_NE(errors[0].find("the batch of rank 1 failed its check"), std::string::npos)
          << errors[0];
    }
  }
}

TEST(ProcessGroup, TheReferencePathRunsOnOneProcess) {
  const ModelSpec spec = model_from_name("seed");
  auto world = std::make_shared<ThreadWorld>(2);
  NetworkOptions o;
  o.group = world->group(0);
  try {
    make_network(PathKind::Reference, spec, Parameters::he_uniform(spec, 1), o);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("the reference path runs on one process"),
              std::string::npos)
        << e.what();
  }
  // A group of one is this process alone, on either path.
  auto alone = std::make_shared<ThreadWorld>(1);
  o.group = alone->group(0);
  EXPECT_NO_THROW(make_network(PathKind::Reference, spec, Parameters::he_uniform(spec, 1), o));
}

}  // namespace
