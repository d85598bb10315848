// The update rules of sgd.hpp (SGD with momentum and weight decay, Nesterov, Adam, AdamW): each
// rule itself, bit for bit on both paths; reference vs fast parity over one and several steps;
// velocities and second moments for checkpoints.
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
#include "scratchcnn/trainer.hpp"
#include "compare.hpp"
#include "test_support.hpp"

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
  const Sgd sgd{0.05f, 0.9f, 0.01f, Optimizer::Nesterov};
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
    classical->sgd_step(d.batch(0, 20), Sgd{0.05f, 0.9f, 0.01f, Optimizer::Sgd});
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
    const Sgd sgd{0.05f, 0.9f, 1e-3f, nesterov ? Optimizer::Nesterov : Optimizer::Sgd};
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

namespace {

// Adam's rule for one parameter, written here from its definition (PyTorch's Adam and AdamW):
// the per-step scalars in double, rounded to float once; every other operation in float.
void adam_by_hand(std::vector<float>& w, std::vector<float>& v, std::vector<float>& s,
                  const std::vector<float>& m, const Sgd& o) {
  const double t = double(o.step);
  const float c1 = float(1.0 - double(o.beta1)), c2 = float(1.0 - double(o.beta2));
  const float step_size = float(double(o.lr) / (1.0 - std::pow(double(o.beta1), t)));
  const float root2 = float(std::sqrt(1.0 - std::pow(double(o.beta2), t)));
  const float decay = float(1.0 - double(o.lr) * double(o.weight_decay));
  for (std::size_t i = 0; i < w.size(); ++i) {
    float g = m[i];
    if (o.optimizer == Optimizer::AdamW)
      w[i] = o.weight_decay != 0 ? w[i] * decay : w[i];
    else if (o.weight_decay != 0)
      g = g + o.weight_decay * w[i];
    v[i] = o.beta1 * v[i] + c1 * g;
    s[i] = o.beta2 * s[i] + c2 * (g * g);
    const float denom = std::sqrt(s[i]) / root2 + o.eps;
    w[i] = w[i] - step_size * (v[i] / denom);
  }
}

Sgd adam_step(Optimizer o, float lr, float weight_decay, std::int64_t step) {
  Sgd s;
  s.lr = lr;
  s.weight_decay = weight_decay;
  s.optimizer = o;
  s.step = step;
  return s;
}

}  // namespace

// Adam and AdamW over four steps, with and without weight decay, against the rule written above
// from each path's own mean gradients: exactly, moments included.
TEST(AdamRule, AdamAndAdamWFollowTheirRulesExactly) {
  const ModelSpec spec = model_from_name("seed");
  const Parameters p0 = Parameters::he_uniform(spec, 21);
  const Data d = make_data(spec, 40, 22);
  for (const Optimizer o : {Optimizer::Adam, Optimizer::AdamW})
    for (const float decay : {0.0f, 0.05f})
      for (PathKind path : kPaths) {
        SCOPED_TRACE(std::string(optimizer_name(o)) + ", weight decay " + std::to_string(decay) +
                     ", " + path_name(path));
        auto net = make(path, spec, p0);
        std::vector<float> w = flat(p0), v(w.size(), 0.0f), s(w.size(), 0.0f);
        EXPECT_EQ(flat(net->second_moment()), s);
        for (int step = 1; step <= 4; ++step) {
          const Batch b = d.batch((step % 2) * 20, 20);
          const std::vector<float> m = flat(net->gradients(b));
          const Sgd rule = adam_step(o, 0.01f, decay, step);
          net->sgd_step(b, rule);
          adam_by_hand(w, v, s, m, rule);
          EXPECT_EQ(flat(net->parameters()), w) << "step " << step;
          EXPECT_EQ(flat(net->velocity()), v) << "step " << step;
          EXPECT_EQ(flat(net->second_moment()), s) << "step " << step;
        }
      }
}

// The two decays differ: Adam's L2 term is scaled by the moments, AdamW's is not.
TEST(AdamRule, AdamWDecouplesTheDecay) {
  const ModelSpec spec = model_from_name("seed");
  const Parameters p0 = Parameters::he_uniform(spec, 23);
  const Data d = make_data(spec, 20, 24);
  auto adam = make(PathKind::Fast, spec, p0), adamw = make(PathKind::Fast, spec, p0),
       plain = make(PathKind::Fast, spec, p0), plainw = make(PathKind::Fast, spec, p0);
  adam->sgd_step(d.batch(0, 20), adam_step(Optimizer::Adam, 0.01f, 0.1f, 1));
  adamw->sgd_step(d.batch(0, 20), adam_step(Optimizer::AdamW, 0.01f, 0.1f, 1));
  plain->sgd_step(d.batch(0, 20), adam_step(Optimizer::Adam, 0.01f, 0.0f, 1));
  plainw->sgd_step(d.batch(0, 20), adam_step(Optimizer::AdamW, 0.01f, 0.0f, 1));
  EXPECT_NE(adam->parameters(), adamw->parameters());
  EXPECT_EQ(plain->parameters(), plainw->parameters());  // without decay they are one rule
  // Adam's first step moves every parameter with a nonzero gradient by about lr (the bias
  // correction makes v / sqrt(s) = sign(g)): check that scale on the fast path.
  const std::vector<float> m = flat(make(PathKind::Fast, spec, p0)->gradients(d.batch(0, 20)));
  const std::vector<float> w0 = flat(p0), w1 = flat(plain->parameters());
  int moved = 0;
  for (std::size_t i = 0; i < w0.size(); ++i) {
    if (std::abs(m[i]) < 1e-4f) continue;
    EXPECT_NEAR(std::abs(w1[i] - w0[i]), 0.01f, 1e-4f) << "parameter " << i;
    EXPECT_EQ(w1[i] < w0[i], m[i] > 0) << "parameter " << i;
    ++moved;
  }
  EXPECT_GT(moved, 100);
}

// The float fast path against the double reference over several steps, both optimizers. Adam
// divides by the root of the second moment, so a gradient near zero moves its parameter by up to
// lr whatever its size; the parity holds where gradients are not tiny, which a learning rate of
// 1e-3 and eps of 1e-8 (PyTorch's defaults) keep within the tolerance below.
TEST(AdamParity, ReferenceAndFastAgreeOverSeveralSteps) {
  for (const Optimizer o : {Optimizer::Adam, Optimizer::AdamW})
    for (const char* name : {"seed", "lenet5"}) {
      SCOPED_TRACE(std::string(name) + ", " + optimizer_name(o));
      const ModelSpec spec = model_from_name(name);
      const Parameters p0 = Parameters::he_uniform(spec, 25);
      const bool big = std::string(name) == "lenet5";
      const int n = big ? 6 : 32, steps = big ? 3 : 6;
      const Data d = make_data(spec, n * steps, 26);
      reference::Network<double> ref(spec, p0);
      auto fast = fast::make_network(spec, p0);
      for (int s = 0; s < steps; ++s) {
        const Batch b = d.batch(s * n, n);
        const Sgd rule = adam_step(o, 1e-3f, 1e-2f, s + 1);
        const StepResult rr = ref.sgd_step(b, rule), fr = fast->sgd_step(b, rule);
        EXPECT_NEAR(fr.loss, rr.loss, 1e-5 * std::max(1.0, rr.loss)) << "step " << s + 1;
        test::expect_within_tolerance(flat(fast->parameters()), flat(ref.parameters()),
                                      "parameters after step " + std::to_string(s + 1));
      }
    }
}

// Velocities and second moments carry an Adam run into another network bit for bit; a network's
// state setters refuse another model's sizes.
TEST(AdamState, MomentsCarryARunAcrossNetworks) {
  const ModelSpec spec = model_from_name("seed");
  const Parameters p0 = Parameters::he_uniform(spec, 27);
  const Data d = make_data(spec, 48, 28);
  for (PathKind path : kPaths) {
    SCOPED_TRACE(path_name(path));
    auto whole = make(path, spec, p0);
    for (int s = 0; s < 3; ++s)
      whole->sgd_step(d.batch(s * 16, 16), adam_step(Optimizer::AdamW, 0.01f, 0.01f, s + 1));
    auto first = make(path, spec, p0);
    first->sgd_step(d.batch(0, 16), adam_step(Optimizer::AdamW, 0.01f, 0.01f, 1));
    auto rest = make(path, spec, first->parameters());
    rest->set_velocity(first->velocity());
    rest->set_second_moment(first->second_moment());
    for (int s = 1; s < 3; ++s)
      rest->sgd_step(d.batch(s * 16, 16), adam_step(Optimizer::AdamW, 0.01f, 0.01f, s + 1));
    EXPECT_EQ(rest->parameters(), whole->parameters());
    EXPECT_EQ(rest->velocity(), whole->velocity());
    EXPECT_EQ(rest->second_moment(), whole->second_moment());
    EXPECT_THROW(rest->set_second_moment(Parameters::zeros(model_from_name("lenet5"))), Error);
  }
}

TEST(AdamOptions, RangesAndNamesAreChecked) {
  TrainOptions o;
  o.optimizer = Optimizer::Adam;
  EXPECT_NO_THROW(validate(o));
  o.momentum = 0.9f;
  EXPECT_THROW(validate(o), Error);  // Adam takes no momentum
  o.momentum = 0;
  o.beta1 = 1.0f;
  EXPECT_THROW(validate(o), Error);
  o.beta1 = 0.9f;
  o.eps = 0;
  EXPECT_THROW(validate(o), Error);
  o.eps = 1e-8f;
  EXPECT_EQ(parse_optimizer("adamw", "--optimizer"), Optimizer::AdamW);
  EXPECT_THROW(parse_optimizer("adagrad", "--optimizer"), Error);
  parse_betas("0.5,0.75", o, "--betas");
  EXPECT_EQ(o.beta1, 0.5f);
  EXPECT_EQ(o.beta2, 0.75f);
  EXPECT_EQ(betas_text(o), "0.5,0.75");
  for (const char* bad : {"0.9", "0.9,", ",0.9", "0.9,1", "x,0.9", "0.9,0.999,0.1", "-0.1,0.9"})
    EXPECT_THROW(parse_betas(bad, o, "--betas"), Error) << bad;
  // The trainer's rule of a step: t counts every batch of the run.
  o.lr = 0.5f;
  const Sgd r = step_rule(o, 3, 17);
  EXPECT_EQ(r.step, 17);
  // A step count below 1 is no Adam step: both paths refuse it before touching anything.
  const ModelSpec spec = model_from_name("seed");
  const Data d = make_data(spec, 16, 30);
  for (PathKind path : kPaths) {
    auto net = make(path, spec, Parameters::he_uniform(spec, 31));
    const Parameters before = net->parameters();
    EXPECT_TRUE(test::has(test::error_of([&] { net->sgd_step(d.batch(0, 16), adam_step(Optimizer::Adam, 0.01f, 0, 0)); }),
                         "adam: step 0 is not a step count"));
    EXPECT_EQ(net->parameters(), before);
  }
  EXPECT_EQ(r.optimizer, Optimizer::Adam);
  EXPECT_EQ(r.lr, 0.5f);
}
