// fast::ops::sgemm (BM_Fast) against OpenBLAS cblas_sgemm (BM_OpenBLAS, when found at configure time),
// one thread, on 512^3 and on the calls the fast path's im2col convolution really makes for the
// seed model, LeNet-5 and a 32->64 3x3 convolution on 28x28. Counters: GFLOP/s (2*M*N*K per call)
// and peak_fraction, the rate divided by this core's FP32 FMA peak measured once at start-up.
//
// Benchmark OpenBLAS single-threaded with its own CPU detection (as on a user's machine, not a
// core type or cache size forced by the shell):
//   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 ./bench_gemm
// The binary cannot unset those reliably itself: OpenBLAS reads them when the library is loaded.
//
// Im2colConv (src/fast/layer.cpp) works on one chunk of kChunk = 16 samples at a time and cuts its
// output rows into tiles of R = fast::im2col_tile_rows(kdim, OH, OW) rows, kdim = Ci*k*k (the
// same function Im2colConv calls); a tile has t = R * OW * 16 columns and the chunk's output plane
// is P = OH * OW * 16 floats:
//   forward          out(Co x t)    = W(Co x kdim)      * col(kdim x t)     NN  lda kdim ldb t ldc P
//   backward weights dW(Co x kdim) += dOut(Co x t)      * col(kdim x t)^T   NT  lda P ldb t ldc kdim
//   backward data    dcol(kdim x t) = W(Co x kdim)^T    * dOut(Co x t)      TN  lda kdim ldb P ldc t
// (beta = 1 for the weight gradient of every tile after the first; the network's first
// parameterised layer computes no input gradient, so it has no backward-data call). A batch of
// 128 makes 8 chunks x ceil(OH / R) tiles of each call. Dense layers run the correlation kernel,
// not sgemm; bench_layers times them.
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "common.hpp"
#include "fast/layer.hpp"
#include "fast/ops/ops.hpp"
#include "scratchcnn/fast/isa.hpp"
#include "fast/layout.hpp"

#ifdef SCRATCHCNN_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace {

using scratchcnn::fast::ops::Trans;
using scratchcnn::fast::kChunk;

struct Case {
  std::string name;
  Trans ta, tb;
  int M, N, K;
  int lda, ldb, ldc;
  float beta;
};

// One convolution: Ci -> Co, k x k, output OH x OW; first = the model's first layer.
struct ConvCalls {
  const char* name;
  int ci, co, k, oh, ow;
  bool first;
};

void add_conv_cases(std::vector<Case>& cases, const ConvCalls& c) {
  const int kdim = c.ci * c.k * c.k;
  const int t = scratchcnn::fast::im2col_tile_rows(kdim, c.oh, c.ow) * c.ow * kChunk;
  const int plane = c.oh * c.ow * kChunk;
  const std::string n = c.name;
  cases.push_back({n + "_fwd", Trans::No, Trans::No, c.co, t, kdim, kdim, t, plane, 0.0f});
  cases.push_back({n + "_bwdw", Trans::No, Trans::Yes, c.co, kdim, t, plane, t, kdim, 1.0f});
  if (!c.first)
    cases.push_back({n + "_bwdd", Trans::Yes, Trans::No, kdim, t, c.co, kdim, plane, t, 0.0f});
}

std::vector<Case> cases() {
  std::vector<Case> v;
  v.push_back({"square512", Trans::No, Trans::No, 512, 512, 512, 512, 512, 512, 0.0f});
  add_conv_cases(v, {"seed_conv1", 1, 2, 3, 8, 8, true});
  add_conv_cases(v, {"seed_conv2", 2, 4, 3, 8, 8, false});
  add_conv_cases(v, {"lenet5_conv1", 1, 6, 5, 28, 28, true});
  add_conv_cases(v, {"lenet5_conv2", 6, 16, 5, 10, 10, false});
  add_conv_cases(v, {"conv32x64", 32, 64, 3, 28, 28, false});
  return v;
}

struct Operands {
  std::vector<float> A, B, C;
};

Operands make_operands(const Case& c) {
  const int a_rows = c.ta == Trans::No ? c.M : c.K;
  const int b_rows = c.tb == Trans::No ? c.K : c.N;
  Operands o;
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  o.A.resize(std::size_t(a_rows) * c.lda);
  o.B.resize(std::size_t(b_rows) * c.ldb);
  o.C.assign(std::size_t(c.M) * c.ldc, 0.0f);
  for (auto& x : o.A) x = u(rng);
  for (auto& x : o.B) x = u(rng);
  return o;
}

// 2*M*N*K per call, over all the timed calls.
scratchcnn::bench::Work work(const benchmark::State& state, const Case& c) {
  return {.flop = 2.0 * c.M * c.N * c.K * double(state.iterations())};
}

void bm_fast(benchmark::State& state, const Case& c) {
  Operands o = make_operands(c);
  for (auto _ : state) {
    scratchcnn::fast::ops::sgemm(c.ta, c.tb, c.M, c.N, c.K, o.A.data(), c.lda, o.B.data(), c.ldb, c.beta, o.C.data(),
                            c.ldc);
    benchmark::DoNotOptimize(o.C.data());
    benchmark::ClobberMemory();
  }
  scratchcnn::bench::set_counters(state, work(state, c));
}

#ifdef SCRATCHCNN_HAVE_OPENBLAS
void bm_openblas(benchmark::State& state, const Case& c) {
  Operands o = make_operands(c);
  const auto ta = c.ta == Trans::No ? CblasNoTrans : CblasTrans;
  const auto tb = c.tb == Trans::No ? CblasNoTrans : CblasTrans;
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, ta, tb, c.M, c.N, c.K, 1.0f, o.A.data(), c.lda, o.B.data(), c.ldb, c.beta, o.C.data(),
                c.ldc);
    benchmark::DoNotOptimize(o.C.data());
    benchmark::ClobberMemory();
  }
  scratchcnn::bench::set_counters(state, work(state, c));
}
#endif

std::string case_name(const char* impl, const Case& c) {
  const char* t = c.ta == Trans::No ? (c.tb == Trans::No ? "NN" : "NT") : (c.tb == Trans::No ? "TN" : "TT");
  return std::string(impl) + "/" + c.name + "/" + std::to_string(c.M) + "x" + std::to_string(c.N) + "x" +
         std::to_string(c.K) + "_" + t;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::pair<std::string, std::string>> context;
#ifdef SCRATCHCNN_HAVE_OPENBLAS
  openblas_set_num_threads(1);
  context = {{"openblas_config", openblas_get_config()}, {"openblas_core", openblas_get_corename()}};
#endif
  return scratchcnn::bench::run_main(argc, argv, /*measure_peak=*/true, [] {
    for (const Case& c : cases()) {
      benchmark::RegisterBenchmark(case_name("BM_Fast", c).c_str(), [c](benchmark::State& s) { bm_fast(s, c); });
#ifdef SCRATCHCNN_HAVE_OPENBLAS
      benchmark::RegisterBenchmark(case_name("BM_OpenBLAS", c).c_str(),
                                   [c](benchmark::State& s) { bm_openblas(s, c); });
#endif
    }
  }, context);
}
