// fast::sgemm (BM_Fast) against OpenBLAS cblas_sgemm (BM_OpenBLAS, when found at configure time) on
// 512^3 and the im2col / dense shapes of the seed model, LeNet-5 (batch 128) and a 32->64 3x3
// convolution on 28x28 (batch 64). Counters: GFLOP/s (2*M*N*K per call) and peak_fraction, the
// rate divided by this core's FP32 FMA peak measured once at start-up.
//
// Benchmark OpenBLAS single-threaded with its own CPU detection (see docs baselines.md):
//   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 ./bench_gemm
// The binary cannot unset those reliably itself: OpenBLAS reads them when the library is loaded.
//
// Convolution shapes follow im2col with a batched column matrix (N = OH*OW*batch):
//   forward          out(Co x N)   = W(Co x Ci*k*k)        * col(Ci*k*k x N)          NN
//   backward weights dW(Co x Ci*k*k) = dOut(Co x N)        * col(Ci*k*k x N)^T        NT
//   backward data    dcol(Ci*k*k x N) = W(Co x Ci*k*k)^T   * dOut(Co x N)             TN
// Dense layers, X is batch x in, W is out x in:
//   forward Y = X W^T (NT), backward data dX = dY W (NN), backward weights dW = dY^T X (TN).
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "scratchcnn/fast/gemm.hpp"
#include "scratchcnn/fast/peak.hpp"

#ifdef SCRATCHCNN_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace {

using scratchcnn::fast::Trans;

double g_peak_gflops = 0.0;

struct Case {
  const char* name;
  Trans ta, tb;
  int M, N, K;
};

// clang-format off
const Case kCases[] = {
    {"square512",         Trans::No,  Trans::No,  512, 512, 512},
    // seed model, input 1x8x8, batch 128
    {"seed_conv1_fwd",    Trans::No,  Trans::No,  2, 64 * 128, 9},
    {"seed_conv1_bwdw",   Trans::No,  Trans::Yes, 2, 9, 64 * 128},
    {"seed_conv2_fwd",    Trans::No,  Trans::No,  4, 64 * 128, 18},
    {"seed_conv2_bwdw",   Trans::No,  Trans::Yes, 4, 18, 64 * 128},
    {"seed_conv2_bwdd",   Trans::Yes, Trans::No,  18, 64 * 128, 4},
    {"seed_dense1_fwd",   Trans::No,  Trans::Yes, 128, 32, 64},
    {"seed_dense1_bwdd",  Trans::No,  Trans::No,  128, 64, 32},
    {"seed_dense1_bwdw",  Trans::Yes, Trans::No,  32, 64, 128},
    {"seed_dense2_fwd",   Trans::No,  Trans::Yes, 128, 10, 32},
    {"seed_dense2_bwdd",  Trans::No,  Trans::No,  128, 32, 10},
    {"seed_dense2_bwdw",  Trans::Yes, Trans::No,  10, 32, 128},
    // LeNet-5, input 1x28x28, batch 128
    {"lenet_conv1_fwd",   Trans::No,  Trans::No,  6, 784 * 128, 25},
    {"lenet_conv1_bwdw",  Trans::No,  Trans::Yes, 6, 25, 784 * 128},
    {"lenet_conv2_fwd",   Trans::No,  Trans::No,  16, 100 * 128, 150},
    {"lenet_conv2_bwdw",  Trans::No,  Trans::Yes, 16, 150, 100 * 128},
    {"lenet_conv2_bwdd",  Trans::Yes, Trans::No,  150, 100 * 128, 16},
    {"lenet_dense1_fwd",  Trans::No,  Trans::Yes, 128, 120, 400},
    {"lenet_dense1_bwdd", Trans::No,  Trans::No,  128, 400, 120},
    {"lenet_dense1_bwdw", Trans::Yes, Trans::No,  120, 400, 128},
    {"lenet_dense2_fwd",  Trans::No,  Trans::Yes, 128, 84, 120},
    {"lenet_dense2_bwdd", Trans::No,  Trans::No,  128, 120, 84},
    {"lenet_dense2_bwdw", Trans::Yes, Trans::No,  84, 120, 128},
    {"lenet_dense3_fwd",  Trans::No,  Trans::Yes, 128, 10, 84},
    {"lenet_dense3_bwdd", Trans::No,  Trans::No,  128, 84, 10},
    {"lenet_dense3_bwdw", Trans::Yes, Trans::No,  10, 84, 128},
    // conv 32->64, 3x3, pad 1, 28x28, batch 64
    {"conv32x64_fwd",     Trans::No,  Trans::No,  64, 784 * 64, 288},
    {"conv32x64_bwdw",    Trans::No,  Trans::Yes, 64, 288, 784 * 64},
    {"conv32x64_bwdd",    Trans::Yes, Trans::No,  288, 784 * 64, 64},
};
// clang-format on

struct Operands {
  std::vector<float> A, B, C;
  int lda, ldb, ldc;
};

Operands make_operands(const Case& c) {
  Operands o;
  o.lda = c.ta == Trans::No ? c.K : c.M;
  o.ldb = c.tb == Trans::No ? c.N : c.K;
  o.ldc = c.N;
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  o.A.resize(static_cast<std::size_t>(c.M) * c.K);
  o.B.resize(static_cast<std::size_t>(c.K) * c.N);
  o.C.assign(static_cast<std::size_t>(c.M) * c.N, 0.0f);
  for (auto& x : o.A) x = u(rng);
  for (auto& x : o.B) x = u(rng);
  return o;
}

void set_counters(benchmark::State& state, const Case& c) {
  const double flop = 2.0 * c.M * c.N * c.K;
  state.counters["GFLOP/s"] = benchmark::Counter(flop * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_fraction"] =
      benchmark::Counter(flop * 1e-9 / g_peak_gflops, benchmark::Counter::kIsIterationInvariantRate);
}

void bm_fast(benchmark::State& state, Case c) {
  Operands o = make_operands(c);
  for (auto _ : state) {
    scratchcnn::fast::sgemm(c.ta, c.tb, c.M, c.N, c.K, o.A.data(), o.lda, o.B.data(), o.ldb, 0.0f, o.C.data(), o.ldc);
    benchmark::DoNotOptimize(o.C.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, c);
}

#ifdef SCRATCHCNN_HAVE_OPENBLAS
void bm_openblas(benchmark::State& state, Case c) {
  Operands o = make_operands(c);
  const auto ta = c.ta == Trans::No ? CblasNoTrans : CblasTrans;
  const auto tb = c.tb == Trans::No ? CblasNoTrans : CblasTrans;
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, ta, tb, c.M, c.N, c.K, 1.0f, o.A.data(), o.lda, o.B.data(), o.ldb, 0.0f, o.C.data(),
                o.ldc);
    benchmark::DoNotOptimize(o.C.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, c);
}
#endif

std::string case_name(const char* impl, const Case& c) {
  return std::string(impl) + "/" + c.name + "/" + std::to_string(c.M) + "x" + std::to_string(c.N) + "x" +
         std::to_string(c.K);
}

}  // namespace

int main(int argc, char** argv) {
  g_peak_gflops = scratchcnn::fast::measure_fma_peak_gflops(0.3);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("fma_peak_gflops_one_core", std::to_string(g_peak_gflops));
  benchmark::AddCustomContext("gemm_isa", scratchcnn::fast::gemm_isa());
  for (const Case& c : kCases) {
    benchmark::RegisterBenchmark(case_name("BM_Fast", c).c_str(), bm_fast, c);
#ifdef SCRATCHCNN_HAVE_OPENBLAS
    benchmark::RegisterBenchmark(case_name("BM_OpenBLAS", c).c_str(), bm_openblas, c);
#endif
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
