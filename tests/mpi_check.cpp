// The MPI ProcessGroup and the agreement on errors (src/dist/), run by scripts/test-mpi.sh under
// `mpirun -np 3` (any size works):
//   mpi_check collectives   exchange (a ring, and MPI_PROC_NULL halves), broadcast, allgather,
//                           all_true, and gather_outcomes with rank 1 failing alone: every rank
//                           must learn which rank failed and why; prints "ok" on rank 0
//   mpi_check abort         rank 1 fails after the agreed phase and calls mpi_abort(3) while the
//                           others wait in a collective: the job must end (non-zero), not hang
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "dist/mpi_group.hpp"
#include "dist/outcomes.hpp"

using namespace scratchcnn;

namespace {

int failures = 0;

void expect(bool ok, const std::string& what, int rank) {
  if (ok) return;
  std::fprintf(stderr, "mpi_check: rank %d: %s\n", rank, what.c_str());
  ++failures;
}

void collectives(dist::MpiGroup& g) {
  const int r = g.rank(), n = g.size();
  // A ring: send to r + 1, receive from r - 1; patterns, compared as bits.
  std::vector<float> send(1000), recv(1000, -1.0f);
  for (std::size_t i = 0; i < send.size(); ++i) send[i] = float(r * 10000 + int(i)) + 0.25f;
  g.exchange((r + 1) % n, send.data(), (r + n - 1) % n, recv.data(), send.size());
  const int from = (r + n - 1) % n;
  bool same = true;
  for (std::size_t i = 0; i < recv.size(); ++i) {
    const float want = float(from * 10000 + int(i)) + 0.25f;
    same = same && std::memcmp(&recv[i], &want, sizeof want) == 0;
  }
  expect(same, "exchange: the ring delivered other bits", r);
  // Half exchanges: rank 0 sends to the last rank, which only receives; the others skip both.
  std::vector<float> got(3, 7.0f);
  const float three[3] = {1.5f, -2.5f, 3.5f};
  if (r == 0 && n > 1) g.exchange(n - 1, three, -1, nullptr, 3);
  if (r == n - 1 && n > 1) g.exchange(-1, nullptr, 0, got.data(), 3);
  if (r != 0 && r != n - 1) g.exchange(-1, nullptr, -1, nullptr, 3);
  if (r == n - 1 && n > 1) expect(std::memcmp(got.data(), three, sizeof three) == 0, "half exchange", r);
  // Broadcast from the last rank.
  std::string text = r == n - 1 ? std::string("from the last rank") : std::string(18, '?');
  g.broadcast(text.data(), text.size(), n - 1);
  expect(text == "from the last rank", "broadcast", r);
  // Allgather of uneven shares: rank q contributes q + 1 bytes of value q.
  std::vector<std::size_t> offsets{0};
  for (int q = 0; q < n; ++q) offsets.push_back(offsets.back() + std::size_t(q) + 1);
  std::vector<unsigned char> all(offsets.back(), 0xff);
  for (std::size_t i = offsets[std::size_t(r)]; i < offsets[std::size_t(r) + 1]; ++i) all[i] = (unsigned char)r;
  g.allgather(all.data(), offsets);
  bool gathered = true;
  for (int q = 0; q < n; ++q)
    for (std::size_t i = offsets[std::size_t(q)]; i < offsets[std::size_t(q) + 1]; ++i)
      gathered = gathered && all[i] == q;
  expect(gathered, "allgather", r);
  // all_true: true only when every rank says so.
  expect(g.all_true(true), "all_true(true everywhere)", r);
  expect(!g.all_true(r != n - 1) || n == 1, "all_true(false on the last rank)", r);
  // Agreement: nobody failed; then rank 1 alone fails.
  const auto fine = dist::gather_outcomes(g, {});
  expect(fine.size() == std::size_t(n), "gather_outcomes: one outcome per rank", r);
  for (const auto& o : fine) expect(o.code == 0, "gather_outcomes: a failure nobody had", r);
  const int bad = n > 1 ? 1 : 0;
  const dist::Outcome mine = r == bad ? dist::Outcome{1, "cannot read data/x"} : dist::Outcome{};
  const auto outcomes = dist::gather_outcomes(g, mine);
  for (int q = 0; q < n; ++q) {
    const auto& o = outcomes[std::size_t(q)];
    expect(q == bad ? o.code == 1 && o.message == "cannot read data/x" : o.code == 0 && o.message.empty(),
           "gather_outcomes: rank " + std::to_string(q) + "'s outcome", r);
  }
  const std::string report = dist::failure_report(outcomes, "p: ");
  const std::string want = n > 1 ? "p: rank 1: error: cannot read data/x\n" : "p: error: cannot read data/x\n";
  expect(report == want, "failure_report: '" + report + "'", r);
  // Every rank failing with one message is reported once, without rank numbers.
  const auto same_everywhere = dist::gather_outcomes(g, {2, "bad flag"});
  expect(dist::failure_report(same_everywhere, "p: ") == "p: error: bad flag\n", "failure_report, every rank", r);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode != "collectives" && mode != "abort") {
    std::fprintf(stderr, "usage: mpi_check collectives|abort (under mpirun)\n");
    return 2;
  }
  dist::mpi_init();
  dist::MpiGroup g;
  if (mode == "abort") {
    if (g.rank() == 1 % g.size()) {
      std::fprintf(stderr, "mpi_check: rank %d fails alone and aborts\n", g.rank());
      dist::mpi_abort(3);
    }
    // The others wait for a rank that will never come; only the abort ends them.
    (void)g.all_true(true);
    std::fprintf(stderr, "mpi_check: rank %d: the collective ended without the failed rank\n", g.rank());
    dist::mpi_finalize();
    return 0;
  }
  collectives(g);
  dist::mpi_finalize();
  if (failures == 0 && g.rank() == 0) std::printf("mpi_check: collectives on %d ranks: ok\n", g.size());
  return failures == 0 ? 0 : 1;
}
