// The ProcessGroup of MPI_COMM_WORLD (mpi_group.hpp). The C API only.
#include "dist/mpi_group.hpp"

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <string>

#include "scratchcnn/error.hpp"

namespace scratchcnn::dist {

namespace {

// MPI's error code as text, for an Error naming the call that failed.
void check(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) len = 0;
  throw Error(std::string(call) + " failed: " + (len > 0 ? std::string(text, std::size_t(len)) : "error " + std::to_string(rc)));
}

constexpr std::size_t kMaxCount = INT_MAX;

}  // namespace

MpiGroup::MpiGroup() {
  check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
  check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
}

void MpiGroup::exchange(int to, const float* send, int from, float* recv, std::size_t count) {
  const int dest = to < 0 ? MPI_PROC_NULL : to;
  const int source = from < 0 ? MPI_PROC_NULL : from;
  // At least one call, so that a count of 0 still pairs with the other side's call.
  std::size_t done = 0;
  do {
    const int n = static_cast<int>(std::min(count - done, kMaxCount));
    check(MPI_Sendrecv(send ? send + done : nullptr, dest == MPI_PROC_NULL ? 0 : n, MPI_FLOAT, dest,
                       0, recv ? recv + done : nullptr, source == MPI_PROC_NULL ? 0 : n, MPI_FLOAT,
                       source, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
          "MPI_Sendrecv");
    done += static_cast<std::size_t>(n);
  } while (done < count);
}

void MpiGroup::broadcast(void* data, std::size_t bytes, int root) {
  auto* p = static_cast<char*>(data);
  for (std::size_t done = 0; done < bytes;) {
    const int n = static_cast<int>(std::min(bytes - done, kMaxCount));
    check(MPI_Bcast(p + done, n, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
    done += static_cast<std::size_t>(n);
  }
}

void MpiGroup::allgather(void* data, const std::vector<std::size_t>& offsets) {
  if (offsets.size() != static_cast<std::size_t>(size_) + 1)
    throw Error("allgather: " + std::to_string(offsets.size()) + " offsets for " +
                std::to_string(size_) + " ranks (size + 1 needed)");
  auto* p = static_cast<char*>(data);
  bool fits = offsets.back() <= kMaxCount;
  const auto ranks = static_cast<std::size_t>(size_);
  std::vector<int> counts(ranks), displs(ranks);
  for (int r = 0; r < size_ && fits; ++r) {
    counts[std::size_t(r)] = static_cast<int>(offsets[std::size_t(r) + 1] - offsets[std::size_t(r)]);
    displs[std::size_t(r)] = static_cast<int>(offsets[std::size_t(r)]);
  }
  if (fits) {
    check(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, p, counts.data(), displs.data(),
                         MPI_BYTE, MPI_COMM_WORLD),
          "MPI_Allgatherv");
    return;
  }
  // Displacements past INT_MAX: every rank's share goes out by broadcast, in pieces.
  for (int r = 0; r < size_; ++r)
    broadcast(p + offsets[std::size_t(r)], offsets[std::size_t(r) + 1] - offsets[std::size_t(r)], r);
}

bool MpiGroup::all_true(bool ok) {
  int mine = ok ? 1 : 0, all = 0;
  check(MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD), "MPI_Allreduce");
  return all != 0;
}

void mpi_init() {
  int provided = MPI_THREAD_SINGLE;
  check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  if (provided < MPI_THREAD_FUNNELED) {
    MPI_Finalize();
    throw Error("MPI gives no MPI_THREAD_FUNNELED support (OpenMP threads around MPI calls)");
  }
}

bool mpi_initialized() {
  int init = 0, done = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&done);
  return init && !done;
}

void mpi_finalize() {
  if (mpi_initialized()) MPI_Finalize();
}

void mpi_abort(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);  // MPI_Abort does not return; if it did, this process still ends
}

}  // namespace scratchcnn::dist
