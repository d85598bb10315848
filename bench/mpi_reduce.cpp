// The data-parallel reduction alone (fast::reduce_across over MPI, docs/scale-out.md): the bytes
// each rank sends and the time of one step's reduction and broadcast, for the flat parameters of a
// built-in model and a batch. Run under mpirun:
//   mpirun -np R build/bench/mpi_reduce [--model seed|lenet5] [--batch B] [--reps N] [--threads T]
// Rank 0 prints one JSON object: model, ranks, batch, chunks, floats, the largest and the total
// bytes sent by a rank in the tree's exchanges, and the median, min and max over the repetitions
// of the step's reduction time (the slowest rank's, each repetition starting after a barrier).
// It checks, on every rank, that the result has the bits of the single-process reduce_chunks.
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "dist/mpi_group.hpp"
#include "fast/layout.hpp"
#include "fast/network.hpp"
#include "fast/reduce.hpp"
#include "scratchcnn/model_spec.hpp"

namespace {

using namespace scratchcnn;

struct Args {
  std::string model = "lenet5";
  int batch = 128, reps = 200, threads = 1;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--model") a.model = v;
    else if (k == "--batch") a.batch = std::stoi(v);
    else if (k == "--reps") a.reps = std::stoi(v);
    else if (k == "--threads") a.threads = std::stoi(v);
    else throw std::runtime_error("mpi_reduce: unknown option " + k);
  }
  if (a.batch < 1 || a.reps < 1 || a.threads < 1) throw std::runtime_error("mpi_reduce: bad value");
  return a;
}

// Partials with values whose sums round: chunk q, element i.
float value(int q, std::size_t i) { return float((q * 7919 + int(i % 9973)) % 1000) * 1.0e-3f + 1.0f / float(q + 3); }

int run(int argc, char** argv) {
  const Args a = parse(argc, argv);
  dist::MpiGroup g;
  const ModelSpec spec = model_from_name(a.model);
  const std::size_t floats = fast::footprint(spec, fast::Options{}).parameter_floats;
  const int chunks = fast::chunk_count(a.batch);
  // Plain ints: C++17 lambdas may not capture a structured binding.
  const std::pair<int, int> share = fast::chunk_share(chunks, g.size(), g.rank());
  const int first = share.first, last = share.second;
  std::vector<float> partials(std::size_t(chunks) * floats), sum(floats), want(floats);
  auto fill = [&] {
    for (int q = first; q < last; ++q)
      for (std::size_t i = 0; i < floats; ++i) partials[std::size_t(q) * floats + i] = value(q, i);
  };
  // The single-process result, for the check.
  {
    std::vector<float> all(std::size_t(chunks) * floats);
    for (int q = 0; q < chunks; ++q)
      for (std::size_t i = 0; i < floats; ++i) all[std::size_t(q) * floats + i] = value(q, i);
    fast::reduce_chunks(all.data(), floats, chunks, floats, want.data());
  }
  std::vector<double> seconds;
  std::size_t sent = 0;
  for (int r = 0; r < a.reps + 1; ++r) {
    fill();
    MPI_Barrier(MPI_COMM_WORLD);
    const auto t0 = std::chrono::steady_clock::now();
    sent = fast::reduce_across(g, partials.data(), floats, chunks, floats, sum.data(), a.threads);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    MPI_Allreduce(MPI_IN_PLACE, &s, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    if (r > 0) seconds.push_back(s);  // the first is a warm-up
  }
  int ok = std::memcmp(sum.data(), want.data(), floats * sizeof(float)) == 0;
  MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
  unsigned long long mine = sent, most = 0, total = 0;
  MPI_Allreduce(&mine, &most, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
  MPI_Allreduce(&mine, &total, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
  if (!ok) {
    if (g.rank() == 0) std::fprintf(stderr, "mpi_reduce: the result differs from one process's\n");
    return 1;
  }
  std::sort(seconds.begin(), seconds.end());
  if (g.rank() == 0)
    std::printf(
        "{\"model\": \"%s\", \"ranks\": %d, \"batch\": %d, \"chunks\": %d, \"floats\": %zu, "
        "\"threads\": %d, \"bytes_sent_most\": %llu, \"bytes_sent_total\": %llu, "
        "\"broadcast_bytes\": %zu, \"seconds_median\": %.9g, \"seconds_min\": %.9g, "
        "\"seconds_max\": %.9g, \"same_bits_as_one_process\": true}\n",
        a.model.c_str(), g.size(), a.batch, chunks, floats, a.threads, most, total,
        floats * sizeof(float), seconds[seconds.size() / 2], seconds.front(), seconds.back());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  dist::mpi_init();
  int rc = 1;
  try {
    rc = run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    dist::mpi_abort(1);
  }
  dist::mpi_finalize();
  return rc;
}
