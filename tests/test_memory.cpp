// The memory budget (memory.hpp): the estimate against the heap a network really uses, the limits
// that refuse a run before it allocates, the thread cap, and out-of-memory messages.
#include <gtest/gtest.h>
#include <malloc.h>
#include <omp.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>

#include "scratchcnn/error.hpp"
#include "fast/layout.hpp"
#include "scratchcnn/memory.hpp"
#include "scratchcnn/network.hpp"
#include "scratchcnn/parameters.hpp"
#include "scratchcnn/rng.hpp"
#include "scratchcnn/trainer.hpp"
#include "test_support.hpp"

// AddressSanitizer reserves terabytes of address space for its shadow memory, so an instrumented
// tool cannot start under `ulimit -v`: the tests that set one do without it, or skip, there.
constexpr bool kAsan = scratchcnn::test::kAddressSanitizer;

// ---- heap accounting: every operator new of this test binary, live bytes and their peak ---------

namespace {
std::atomic<long long> g_live{0}, g_peak{0};

void* counted(void* p) {
  if (!p) throw std::bad_alloc();
  const long long now = g_live += static_cast<long long>(malloc_usable_size(p));
  long long peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
  return p;
}
void uncounted(void* p) {
  if (!p) return;
  g_live -= static_cast<long long>(malloc_usable_size(p));
  std::free(p);
}
void* aligned(std::size_t n, std::align_val_t a) {
  // More than any machine has: refused as an allocator without overcommit would (a sanitizer's
  // allocator would abort the process instead).
  if (n > (std::size_t(1) << 46)) throw std::bad_alloc();
  const std::size_t al = std::max(sizeof(void*), static_cast<std::size_t>(a));
  void* p = nullptr;
  if (posix_memalign(&p, al, n == 0 ? 1 : n) != 0) throw std::bad_alloc();
  return counted(p);
}
// Peak live heap bytes while f runs, above what was live when it started.
template <class F>
long long heap_peak(F&& f) {
  const long long base = g_live.load();
  g_peak = base;
  f();
  return g_peak.load() - base;
}
}  // namespace

void* operator new(std::size_t n) { return counted(std::malloc(n == 0 ? 1 : n)); }
void* operator new[](std::size_t n) { return counted(std::malloc(n == 0 ? 1 : n)); }
void* operator new(std::size_t n, std::align_val_t a) { return aligned(n, a); }
void* operator new[](std::size_t n, std::align_val_t a) { return aligned(n, a); }
void operator delete(void* p) noexcept { uncounted(p); }
void operator delete[](void* p) noexcept { uncounted(p); }
void operator delete(void* p, std::size_t) noexcept { uncounted(p); }
void operator delete[](void* p, std::size_t) noexcept { uncounted(p); }
void operator delete(void* p, std::align_val_t) noexcept { uncounted(p); }
void operator delete[](void* p, std::align_val_t) noexcept { uncounted(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { uncounted(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { uncounted(p); }

using namespace scratchcnn;
using namespace scratchcnn::test;

namespace {

// Builds the network, runs two training steps (or two predict calls) of `batch` and returns the
// peak heap it took, next to the estimate.
struct Measured {
  long long peak = 0;
  std::uint64_t estimate = 0;
};
Measured measure(PathKind path, const std::string& model, const Shape& input, int batch,
                 MemoryUse use) {
  const ModelSpec spec = parse_model(model, input);
  const Parameters p = Parameters::he_uniform(spec, 3);
  Rng rng(9);
  const std::vector<float> images = random_images(rng, batch, spec.input);
  const std::vector<int> labels = random_labels(rng, batch, spec.classes());
  std::vector<float> logits(std::size_t(batch) * spec.classes());
  Measured m;
  m.estimate = estimate_memory(path, spec, batch, 0, use).total();
  m.peak = heap_peak([&] {
    auto net = make_network(path, spec, p);
    for (int i = 0; i < 2; ++i) {
      if (use == MemoryUse::Training)
        net->sgd_step(Batch{images.data(), labels.data(), batch}, Sgd{0.01f, 0.9f, 0});
      else
        net->predict(images, logits);
    }
  });
  return m;
}

void expect_honest(PathKind path, const std::string& model, const Shape& input, int batch,
                   MemoryUse use) {
  const Measured m = measure(path, model, input, batch, use);
  const std::string what = std::string(path_name(path)) + " " + model + " batch " +
                           std::to_string(batch) + (use == MemoryUse::Training ? " training" : " predict") +
                           ": estimate " + std::to_string(m.estimate) + ", peak " + std::to_string(m.peak);
  EXPECT_GE(double(m.estimate), double(m.peak)) << what;
  EXPECT_LE(double(m.estimate), 2.5 * double(m.peak)) << what;
  std::printf("%s (x%.2f)\n", what.c_str(), double(m.estimate) / double(m.peak));
}

// Runs `command` through the shell (so that ulimit and environment prefixes work); exit code,
// stderr, and seconds taken.
struct ShellRun {
  int code = -1;
  std::string out, err;
  double seconds = 0;
};
ShellRun sh(const std::string& command) {
  static const std::string dir = temp_dir("memory-cli");
  const auto t0 = std::chrono::steady_clock::now();
  const std::string full = command + " >" + dir + "/out 2>" + dir + "/err </dev/null";
  const int status = std::system(full.c_str());
  ShellRun r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(dir + "/out");
  r.err = slurp(dir + "/err");
  return r;
}
const std::string kCli = std::string("'") + SCRATCHCNN_CLI_PATH + "'";
// Strided convolutions with and without padding, one leaving a row and a column in no window.
const char* kStridedModelText =
    "conv(3,16,k=3,stride=2,pad=1) relu conv(16,32,k=3,stride=2) relu flatten dense(1568,10)";
const char* kHugeDense = "\"flatten dense(64,16519104) relu dense(16519104,10)\"";

}  // namespace

// ---- the estimate is honest: at least the real peak, not far above it ---------------------------

TEST(MemoryEstimate, FastPathCoversItsPeak) {
  expect_honest(PathKind::Fast, "flatten dense(64,4096) relu dense(4096,10)", {1, 8, 8}, 64,
                MemoryUse::Training);
  expect_honest(PathKind::Fast, kLenet5ModelText, {1, 28, 28}, 48, MemoryUse::Training);
  expect_honest(PathKind::Fast, "conv(3,16,k=3,pad=1) relu maxpool(2) flatten dense(4096,10)",
                {3, 32, 32}, 40, MemoryUse::Training);
  expect_honest(PathKind::Fast, kLenet5ModelText, {1, 28, 28}, 256, MemoryUse::Inference);
  // Strided convolutions (im2col): the padded input, the column tiles of the smaller output and
  // the padded input gradient the strided windows scatter into.
  expect_honest(PathKind::Fast, kStridedModelText, {3, 32, 32}, 40, MemoryUse::Training);
}

TEST(MemoryEstimate, ReferencePathCoversItsPeak) {
  expect_honest(PathKind::Reference, "flatten dense(64,2000) relu dense(2000,10)", {1, 8, 8}, 16,
                MemoryUse::Training);
  expect_honest(PathKind::Reference, kLenet5ModelText, {1, 28, 28}, 8, MemoryUse::Training);
  expect_honest(PathKind::Reference, kSeedModelText, {1, 8, 8}, 128, MemoryUse::Training);
  expect_honest(PathKind::Reference, kLenet5ModelText, {1, 28, 28}, 8, MemoryUse::Inference);
  expect_honest(PathKind::Reference, kStridedModelText, {3, 32, 32}, 8, MemoryUse::Training);
}

TEST(MemoryEstimate, GrowsWithBatchAndThreadsOnlyWhereMemoryDoes) {
  const ModelSpec spec = model_from_name("lenet5");
  const auto fast = [&](int batch, int threads) {
    return estimate_memory(PathKind::Fast, spec, batch, threads).total();
  };
  EXPECT_LT(fast(32, 1), fast(32, 2));      // two chunks, two workspaces
  EXPECT_EQ(fast(32, 2), fast(32, 1000));   // never more workspaces than chunks
  EXPECT_EQ(fast(32, 1024), fast(32, 5000));  // the thread cap
  EXPECT_LT(fast(32, 1), fast(320, 1));     // partial sums per chunk
  // The largest int batch (a checkpoint may claim it) is estimated, not overflowed.
  EXPECT_GT(double(fast(2147483647, 1)), 2147483647.0 / 16 * 61706 * 4);
  EXPECT_EQ(fast::chunk_count(2147483647), 134217728);
  // A model at the size limits times the largest batch saturates instead of wrapping around.
  const ModelSpec big = parse_model("flatten dense(64,16000000) dense(16000000,60)", {1, 8, 8});
  const double grads = 1.04e9 * 4 * double(1 << 20);  // per-sample weight gradients alone
  EXPECT_GT(double(estimate_memory(PathKind::Reference, big, 1 << 20, 1).total()), grads);
}

// ---- the library refuses before it allocates -----------------------------------------------------

TEST(MemoryBudget, MakeNetworkRefusesWithEstimateAndLimit) {
  const ModelSpec spec = model_from_name("lenet5");
  const Parameters p = Parameters::zeros(spec);
  MemoryBudget b;
  b.batch = 1024;
  b.limit = 1 << 20;
  b.note = "--max-memory";
  const std::string msg = error_of([&] { make_network(PathKind::Fast, spec, p, b); });
  EXPECT_TRUE(has(msg, "needs an estimated")) << msg;
  EXPECT_TRUE(has(msg, "MiB")) << msg;
  EXPECT_TRUE(has(msg, "memory limit of 1.00 MiB (--max-memory)")) << msg;
  b.limit = std::uint64_t(64) << 30;
  EXPECT_NE(make_network(PathKind::Fast, spec, p, b), nullptr);
}

TEST(MemoryBudget, TrainRefusesBeforeTheFirstStep) {
  const ModelSpec spec = model_from_name("seed");
  auto net = make_network(PathKind::Fast, spec, Parameters::he_uniform(spec, 1));
  const data::Dataset d = random_dataset(2, 64, spec.input, 10);
  TrainOptions opt;
  opt.epochs = 1;
  opt.batch = 32;
  opt.max_memory = 64 << 10;
  const Parameters before = net->parameters();
  const std::string msg = error_of([&] { train(*net, d, d, opt); });
  EXPECT_TRUE(has(msg, "needs an estimated")) << msg;
  EXPECT_TRUE(has(msg, "TrainOptions::max_memory")) << msg;
  EXPECT_EQ(net->parameters(), before);
  opt.max_memory = 0;
  EXPECT_EQ(train(*net, d, d, opt).size(), 1u);
}

TEST(MemoryBudget, FailedBigAllocationIsAnErrorNamingTheSize) {
  fast::AlignedBuffer b;
  const std::string msg = error_of([&] { b.reserve(std::size_t(1) << 60); });
  EXPECT_TRUE(has(msg, "out of memory")) << msg;
  EXPECT_TRUE(has(msg, "4194304 TiB")) << msg;
}

TEST(MemorySize, ParsesUnitsAndRefusesTheRest) {
  EXPECT_EQ(parse_memory_size("0", "--max-memory"), 0u);
  EXPECT_EQ(parse_memory_size("1234", "--max-memory"), 1234u);
  EXPECT_EQ(parse_memory_size("512M", "--max-memory"), std::uint64_t(512) << 20);
  EXPECT_EQ(parse_memory_size("8G", "--max-memory"), std::uint64_t(8) << 30);
  EXPECT_EQ(parse_memory_size("8gib", "--max-memory"), std::uint64_t(8) << 30);
  EXPECT_EQ(parse_memory_size("1.5G", "--max-memory"), std::uint64_t(3) << 29);
  EXPECT_EQ(parse_memory_size("64KB", "--max-memory"), std::uint64_t(64) << 10);
  EXPECT_EQ(parse_memory_size("2T", "--max-memory"), std::uint64_t(2) << 40);
  for (const char* bad : {"", "M", "-1", "12X", "1.2.3G", "1e9", " 5G", "5 G", "99999999T", "\xff"}) {
    const std::string msg = error_of([&] { parse_memory_size(bad, "--max-memory"); });
    EXPECT_TRUE(has(msg, "--max-memory")) << bad << ": " << msg;
    EXPECT_EQ(msg.find('\xff'), std::string::npos) << msg;
  }
  EXPECT_EQ(format_bytes(512), "512 B");
  EXPECT_EQ(format_bytes(std::uint64_t(3) << 29), "1.50 GiB");
  EXPECT_EQ(format_bytes(std::uint64_t(100) << 20), "100 MiB");
}

TEST(MemorySize, DefaultLimitIsThreeQuartersOfWhatTheProcessMayUse) {
  const SystemMemory m = system_memory();
  ASSERT_GT(m.physical, 0u);
  EXPECT_LE(m.usable(), m.physical);
  EXPECT_EQ(default_memory_limit(), m.usable() / 4 * 3);
}

// ---- threads -----------------------------------------------------------------------------------

TEST(Threads, EverySourceIsCappedAt1024) {
  const int before = omp_get_max_threads();
  omp_set_num_threads(100000);
  EXPECT_EQ(max_threads(), kMaxThreads);
  // A fast network under that setting allocates workspaces for the chunks it has, not for 100000
  // threads (before: 100000 workspaces, gigabytes).
  const Measured m = measure(PathKind::Fast, kLenet5ModelText, {1, 28, 28}, 64, MemoryUse::Training);
  EXPECT_LT(m.peak, 64ll << 20);
  EXPECT_GE(double(m.estimate), double(m.peak));
  omp_set_num_threads(before);
  EXPECT_EQ(max_threads(), std::min(before, kMaxThreads));
}

TEST(ThreadsCli, OmpNumThreads100000IsCappedWithANote) {
  // ulimit -v: the old code allocated one workspace per OpenMP thread (100000 x ~80 KB here) and
  // fails at once under it instead of eating the machine's memory.
  const ShellRun r = sh(std::string(kAsan ? "" : "ulimit -v 4000000; ") + "OMP_NUM_THREADS=100000 " +
                        kCli + " train --data '" +
                   optdigits_dir() + "' --epochs 1 --batch 4096 --model "
                   "\"conv(1,8,k=3,pad=1) relu flatten dense(512,10)\"");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.err, "OMP_NUM_THREADS='100000' asks for 100000 threads; using 1024")) << r.err;
  EXPECT_TRUE(has(r.out, "1024 threads")) << r.out;
  struct rusage ru {};
  ASSERT_EQ(getrusage(RUSAGE_CHILDREN, &ru), 0);
  EXPECT_LT(ru.ru_maxrss, (kAsan ? 1000 : 300) * 1024) << "KB";  // ASan: shadow and quarantine
  // The flag itself stays a usage error above 1024.
  const ShellRun flag = sh(kCli + " train --threads 1025");
  EXPECT_EQ(flag.code, 2);
  EXPECT_TRUE(has(flag.err, "--threads: 1025 is outside 1..1024")) << flag.err;
}

// ---- the command-line tool ---------------------------------------------------------------------

TEST(MemoryCli, HugeDenseIsRefusedUpFrontByTrain) {
  // Default flags (no --max-memory): the default limit is 3/4 of the smallest of physical memory,
  // the cgroup limit and ulimit -v; the ulimit makes it the same on every machine. Before, train
  // drew 1.2 billion initial weights, loaded the data and died with std::bad_alloc after ~25 s.
  for (const char* path : {"fast", "reference"}) {
    // (Under ASan, which cannot run under ulimit -v, the same limit given as --max-memory.)
    const ShellRun r = sh(std::string(kAsan ? "" : "ulimit -v 16777216; ") + kCli + " train --path " +
                          path + " --model " + kHugeDense + (kAsan ? " --max-memory 12G" : ""));
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_LT(r.seconds, 2.0);
    EXPECT_TRUE(has(r.err, "needs an estimated")) << r.err;
    EXPECT_TRUE(has(r.err, "GiB (parameters ")) << r.err;
    EXPECT_TRUE(has(r.err, "more than the memory limit of ")) << r.err;
    EXPECT_TRUE(has(r.err, kAsan ? "(--max-memory)" : "(the default: 3/4 of ")) << r.err;
    EXPECT_TRUE(has(r.err, std::string("on the ") + path + " path with batch 128")) << r.err;
    EXPECT_FALSE(has(r.err, "bad_alloc")) << r.err;
  }
  const ShellRun compare = sh(std::string(kAsan ? "" : "ulimit -v 16777216; ") + kCli +
                             " compare --model " + kHugeDense + (kAsan ? " --max-memory 12G" : ""));
  EXPECT_EQ(compare.code, 1) << compare.err;
  EXPECT_TRUE(has(compare.err, "on the reference and the fast path")) << compare.err;
}

TEST(MemoryCli, MaxMemoryFlag) {
  const std::string data = " --data '" + optdigits_dir() + "'";
  for (const char* cmd : {"train", "compare", "eval --checkpoint x", "predict --checkpoint x y"}) {
    const ShellRun r = sh(kCli + " " + cmd + " --max-memory 12X");
    EXPECT_EQ(r.code, 2) << cmd << ": " << r.err;
    EXPECT_TRUE(has(r.err, "--max-memory: '12X' is not a size")) << cmd << ": " << r.err;
    EXPECT_TRUE(has(sh(kCli + " " + cmd + " --help").out, "--max-memory S")) << cmd;
  }
  const ShellRun small = sh(kCli + " train --epochs 1 --max-memory 100K" + data);
  EXPECT_EQ(small.code, 1);
  EXPECT_TRUE(has(small.err, "more than the memory limit of 100 KiB (--max-memory)")) << small.err;
  EXPECT_FALSE(has(small.out, "epoch ")) << small.out;  // refused before training
  for (const char* ok : {"0", "64M", "1G"}) {
    const ShellRun r = sh(kCli + " train --epochs 1 --max-memory " + ok + data);
    EXPECT_EQ(r.code, 0) << ok << ": " << r.err;
  }
  // eval and predict check before building their network too.
  const std::string dir = temp_dir("memory-eval");
  ASSERT_EQ(sh(kCli + " train --epochs 1 --save " + dir + "/s.ckpt" + data).code, 0);
  const ShellRun ev = sh(kCli + " eval --checkpoint " + dir + "/s.ckpt --max-memory 200K" + data);
  EXPECT_EQ(ev.code, 1);
  EXPECT_TRUE(has(ev.err, "evaluating '1x8x8:")) << ev.err;
  EXPECT_EQ(sh(kCli + " eval --checkpoint " + dir + "/s.ckpt --max-memory 64M" + data).code, 0);
  // 30K: the checkpoint (19.6 KiB of values) is read, the prediction (network and rows) refused.
  const ShellRun pr = sh(kCli + " predict --checkpoint " + dir + "/s.ckpt --max-memory 30K '" +
                    optdigits_rows_file() + "'");
  EXPECT_EQ(pr.code, 1);
  EXPECT_TRUE(has(pr.err, "predicting with '1x8x8:")) << pr.err;
}

TEST(MemoryCli, OutOfMemoryIsAMessageNotBadAlloc) {
  if (kAsan) GTEST_SKIP() << "needs ulimit -v, which an AddressSanitizer build cannot run under";
  // No budget (--max-memory 0) and 1 GiB of address space for 1.2 GiB of initial weights: the
  // allocation fails; the message says so and what for (before: "error: std::bad_alloc").
  const ShellRun r = sh("ulimit -v 1048576; " + kCli +
                   " train --max-memory 0 --model \"flatten dense(64,4194304) relu dense(4194304,10)\"");
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_TRUE(has(r.err, "out of memory: could not allocate 1.02 GiB for the parameters of layer 2 "
                         "'dense(64,4194304)'")) << r.err;
  EXPECT_FALSE(has(r.err, "std::bad_alloc")) << r.err;
}

TEST(MemoryCli, InfoPrintsTheEstimate) {
  const ShellRun r = sh(kCli + " info --model lenet5 --batch 32");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "estimated memory, batch 32")) << r.out;
  EXPECT_TRUE(has(r.out, "reference  training")) << r.out;
}

// Found in review: "--max-memory 0.5" rounded to 0, which means no limit.
TEST(MemorySize, ASizeBelowOneByteIsRefusedNotTakenForNoLimit) {
  EXPECT_TRUE(has(error_of([] { (void)parse_memory_size("0.5", "--max-memory"); }),
                  "--max-memory: '0.5' is less than one byte"));
  EXPECT_EQ(parse_memory_size("0", "--max-memory"), 0u);
  EXPECT_EQ(parse_memory_size("1", "--max-memory"), 1u);
}

// Found in review: --lr 3e38 was accepted by the flag but, as the float it becomes
// (3.0000000055e38), refused by the checkpoint reader: a saved run could not be resumed.
TEST(MemorySize, TheLargestLearningRateSurvivesItsFloat) {
  TrainOptions o;
  o.lr = static_cast<float>(3.0e38);
  EXPECT_NO_THROW(validate(o));
  o.lr = 3.2e38f;
  EXPECT_TRUE(has(error_of([&] { validate(o); }), "learning rate 3.19999998e+38 is outside 0..3e+38"));
}
