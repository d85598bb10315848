// SGD with momentum and weight decay (network.hpp's Sgd rule): the rule itself, bit for bit on
// both paths; reference vs fast parity over one and several steps; velocities for checkpoints.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "scratchcnn/error.hpp"
#include "fast/network.hpp"
#include "scratchcnn/network.hpp"
#include "reference/network.hpp"
#include "scratchcnn/rng.hpp"
#include "compare.hpp"

using namespace scratchcnn;

namespace {

struct Data {
  std::vector<float> x;
  std::vector<int> labels;
  Batch batch(int from, int n) const {
    return Batch{x.data() + std::size_t(from) * (x.size() / labels.size()), labels.data() + from, n};
  }
};

// Inputs in [0.05, 0.95) away from ReLU and max-pool ties, random labels.
Data make_data(const ModelSpec& spec, int n, std::uint64_t seed) {
  Rng rng(seed);
  Data d;
  d.x.resize(std::size_t(n) * spec.input.size());
  for (float& v : d.x) v = static_cast<float>(0.05 + 0.9 * rng.uniform());
  d.labels.resize(std::size_t(n));
  for (int& l : d.labels) l = static_cast<int>(rng.below(std::uint64_t(spec.classes())));
  return d;
}

using test::flat;

std::unique_ptr<Network> make(PathKind path, const ModelSpec& spec, const Parameters& p) {
  return make_network(path, spec, p);
}

const PathKind kPaths[] = {PathKind::Reference, PathKind::Fast};

}  // namespace

// Two steps, checked against the rule computed here from each path's own mean gradients.
TEST(SgdRule, MomentumAndWeightDecayFollowTheRuleExactly) {
  const ModelSpec spec = model_from_name("seed");
  const Parameters p0 = Parameters::he_uniform(spec, 3);
  const Data d = make_data(spec, 40, 9);
  const Sgd sgd{0.1f, 0.9f, 0.01f};
  for (PathKind path : kPaths) {
    SCOPED_TRACE(path_name(path));
    auto net = make(path, spec, p0);
    std::vector<float> w = flat(p0), v(w.size(), 0.0f);
    EXPECT_EQ(flat(net->velocity()), v);
    for (int step = 0; step < 2; ++step) {
      const Batch b = d.batch(step * 20, 20);
      const std::vector<float> m = flat(net->gradients(b));
      net->sgd_step(b, sgd);
      for (std::size_t i = 0; i < w.size(); ++i) {
        const float g = m[i] + sgd.weight_decay * w[i];
        v[i] = sgd.momentum * v[i] + g;
        w[i] = w[i] - sgd.lr * v[i];
      }
      EXPECT_EQ(flat(net->parameters()), w) << "step " << step;
      EXPECT_EQ(flat(net->velocity()), v) << "step " << step;
    }
  }
}

// Nesterov's momentum: v = momentum v + g, w = w - lr (g + momentum v), on both paths, exactly.
TEST(SgdRule, NesterovFollowsItsRuleExactly) {
  const ModelSpec spec = model_from_name("seed");
  const Parameters p0 = Parameters::he_uniform(spec, 13);
  const Data d = make_data(spec, 40, 14);
  const Sgd sgd{0.05f, 0.9f, 0.01f, true};
  for (PathKind path : kPaths) {
    SCOPED_TRACE(path_name(path));
    auto net = make(path, spec, p0);
    std::vector<float> w = flat(p0), v(w.size(), 0.0f);
    for (int step = 0; step < 3; ++step) {
      const Batch b = d.batch((step % 2) * 20, 20);
      const std::vector<float> m = flat(net->gradients(b));
      net->sgd_step(b, sgd);
      for (std::size_t i = 0; i < w.size(); ++i) {
        const float g = m[i] + sgd.weight_decay * w[i];
        v[i] = sgd.momentum * v[i] + g;
        w[i] = w[i] - sgd.lr * (g + sgd.momentum * v[i]);
      }
      EXPECT_EQ(flat(net->parameters()), w) << "step " << step;
      EXPECT_EQ(flat(net->velocity()), v) << "step " << step;
    }
  }
  // It is another rule: classical momentum ends elsewhere.
  auto classical = make(PathKind::Fast, spec, p0), nesterov = make(PathKind::Fast, spec, p0);
  for (int step = 0; step < 2; ++step) {
    classical->sgd_step(d.batch(0, 20), Sgd{0.05f, 0.9f, 0.01f, false});
    nesterov->sgd_step(d.batch(0, 20), sgd);
  }
  EXPECT_NE(classical->parameters(), nesterov->parameters());
}

TEST(SgdRule, WithoutMomentumAndDecayItIsPlainSgdAndKeepsNoVelocity) {
  const ModelSpec spec = model_from_name("seed");
  const Parameters p0 = Parameters::he_uniform(spec, 4);
  const Data d = make_data(spec, 30, 10);
  for (PathKind path : kPaths) {
    SCOPED_TRACE(path_name(path));
    auto a = make(path, spec, p0), b = make(path, spec, p0);
    a->train_step(d.batch(0, 30), 0.1f);
    b->sgd_step(d.batch(0, 30), Sgd{0.1f, 0.0f, 0.0f});
    EXPECT_EQ(a->parameters(), b->parameters());
    EXPECT_EQ(b->velocity(), Parameters::zeros(spec));
    // Weight decay alone: g = m + wd * w, w = w - lr * g; the velocity stays zero.
    auto c = make(path, spec, p0);
    const std::vector<float> m = flat(c->gradients(d.batch(0, 30)));
    c->sgd_step(d.batch(0, 30), Sgd{0.1f, 0.0f, 0.5f});
    std::vector<float> w = flat(p0);
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = w[i] - 0.1f * (m[i] + 0.5f * w[i]);
    EXPECT_EQ(flat(c->parameters()), w);
    EXPECT_EQ(c->velocity(), Parameters::zeros(spec));
  }
}

TEST(SgdParity, ReferenceAndFastAgreeOverOneAndSeveralSteps) {
  for (const bool nesterov : {false, true})
  for (const char* name : {"seed", "lenet5"}) {
    const Sgd sgd{0.05f, 0.9f, 1e-3f, nesterov};
    SCOPED_TRACE(std::string(name) + (nesterov ? ", nesterov" : ""));
    const ModelSpec spec = model_from_name(name);
    const Parameters p0 = Parameters::he_uniform(spec, 5);
    const bool big = std::string(name) == "lenet5";
    const int n = big ? 6 : 32, steps = big ? 3 : 6;
    const Data d = make_data(spec, n * steps, 11);
    reference::Network<double> ref(spec, p0);
    auto fast = fast::make_network(spec, p0);
    for (int s = 0; s < steps; ++s) {
      const Batch b = d.batch(s * n, n);
      const StepResult rr = ref.sgd_step(b, sgd), fr = fast->sgd_step(b, sgd);
      EXPECT_NEAR(fr.loss, rr.loss, 1e-5 * std::max(1.0, rr.loss)) << "step " << s + 1;
      // The parity rule: max |a - b| <= 1e-5 * max(1, max |b|).
      test::expect_within_tolerance(flat(fast->parameters()), flat(ref.parameters()),
                                    "parameters after step " + std::to_string(s + 1));
      test::expect_within_tolerance(flat(fast->velocity()), flat(ref.velocity()),
                                    "velocities after step " + std::to_string(s + 1));
    }
  }
}

TEST(SgdState, VelocityCarriesARunAcrossNetworks) {
  const ModelSpec spec = model_from_name("seed");
  const Parameters p0 = Parameters::he_uniform(spec, 6);
  const Data d = make_data(spec, 48, 12);
  const Sgd sgd{0.1f, 0.8f, 1e-3f};
  for (PathKind path : kPaths) {
    SCOPED_TRACE(path_name(path));
    auto whole = make(path, spec, p0);
    for (int s = 0; s < 3; ++s) whole->sgd_step(d.batch(s * 16, 16), sgd);
    auto first = make(path, spec, p0);
    first->sgd_step(d.batch(0, 16), sgd);
    auto rest = make(path, spec, first->parameters());
    rest->set_velocity(first->velocity());
    for (int s = 1; s < 3; ++s) rest->sgd_step(d.batch(s * 16, 16), sgd);
    EXPECT_EQ(rest->parameters(), whole->parameters());
    EXPECT_EQ(rest->velocity(), whole->velocity());
    // A step that overflows the parameters is taken; the next one sees a non-finite loss, throws,
    // and changes neither parameters nor velocities.
    rest->sgd_step(d.batch(0, 16), Sgd{3e38f, 0.9f, 0.0f});
    const Parameters before = rest->parameters(), vbefore = rest->velocity();
    EXPECT_THROW(rest->sgd_step(d.batch(16, 16), sgd), Error);
    EXPECT_EQ(flat(rest->parameters()).size(), flat(before).size());
    EXPECT_EQ(0, std::memcmp(flat(rest->parameters()).data(), flat(before).data(),
                             flat(before).size() * sizeof(float)));
    EXPECT_EQ(0, std::memcmp(flat(rest->velocity()).data(), flat(vbefore).data(),
                             flat(vbefore).size() * sizeof(float)));
    EXPECT_THROW(rest->set_velocity(Parameters::zeros(model_from_name("lenet5"))), Error);
  }
}
