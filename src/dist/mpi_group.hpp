#pragma once
// The ProcessGroup of MPI_COMM_WORLD (process_group.hpp), and the few calls around it that the
// command-line tool needs. Built into scratchcnn_mpi (SCRATCHCNN_MPI), never into libscratchcnn.
// Every function here needs MPI initialised (mpi_init) except mpi_init and mpi_initialized.
#include <cstddef>
#include <vector>

#include "scratchcnn/process_group.hpp"

namespace scratchcnn::dist {

class MpiGroup final : public ProcessGroup {
 public:
  MpiGroup();  // rank and size of MPI_COMM_WORLD
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  // MPI_Sendrecv of MPI_FLOAT (MPI_PROC_NULL for a negative rank), in pieces of at most INT_MAX.
  void exchange(int to, const float* send, int from, float* recv, std::size_t count) override;
  // MPI_Bcast of bytes, in pieces of at most INT_MAX.
  void broadcast(void* data, std::size_t bytes, int root) override;
  // MPI_Allgatherv of bytes, in place; when a share exceeds INT_MAX bytes, each rank broadcasts
  // its share instead.
  void allgather(void* data, const std::vector<std::size_t>& offsets) override;
  // MPI_Allreduce of an int with MPI_LAND.
  bool all_true(bool ok) override;

 private:
  int rank_ = 0, size_ = 1;
};

// MPI_Init_thread asking for MPI_THREAD_FUNNELED (MPI calls from the main thread only, OpenMP
// threads around them); throws Error when MPI gives less.
void mpi_init();
bool mpi_initialized();
// MPI_Finalize, once; nothing when MPI was not initialised.
void mpi_finalize();
// MPI_Abort(MPI_COMM_WORLD, code): ends every process of the job.
[[noreturn]] void mpi_abort(int code);

}  // namespace scratchcnn::dist
