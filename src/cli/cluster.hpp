#pragma once
// The processes of a run: this one alone, or the ranks of an MPI job (`mpirun -np N scratchcnn
// train ...`, docs/scale-out.md). A process is part of an MPI job when an MPI launcher started it
// (OpenMPI's OMPI_COMM_WORLD_SIZE, PMIx's PMIX_RANK or PMI's PMI_SIZE in its environment) and the
// tool was built with MPI (SCRATCHCNN_MPI); only then is MPI initialised. A plain run never
// touches MPI.
#include <memory>
#include <string>

#include "scratchcnn/process_group.hpp"

namespace scratchcnn::cli {

class Cluster {
 public:
  // Reads the environment; under an MPI launcher, initialises MPI (built with MPI) or throws
  // Error (built without, when the job has more than one process: N copies of one run would
  // write the same files).
  void start();
  // MPI_Finalize when MPI was initialised.
  void finish();
  int rank() const { return rank_; }
  int size() const { return size_; }
  bool distributed() const { return size_ > 1; }
  // The group of the job's processes; null for one process.
  std::shared_ptr<ProcessGroup> group() const { return size_ > 1 ? group_ : nullptr; }
  // Runs the phase `work` on every rank and agrees on its outcome (dist/outcomes.hpp): when any
  // rank failed, rank 0 prints the failures (prefix: "scratchcnn CMD: ") and every rank throws
  // Stopped with the same exit code. With one process, `work` runs as is.
  template <class F>
  void agree(const std::string& prefix, F&& work);
  // Every rank must hold the same `value` (of `what`, e.g. "bit class"): else rank 0 prints each
  // rank's value and `advice`, and every rank throws Stopped{1}. Collective; nothing with one
  // process.
  void check_same(const std::string& prefix, const std::string& what, const std::string& value,
                  const std::string& advice);
  // After agreement: an error on one rank ends the whole job (MPI_Abort with `code`), so that no
  // rank waits forever for it; nothing with one process.
  void abort_others(int code);

 private:
  void settle(const std::string& prefix, int code, const std::string& message);
  int rank_ = 0, size_ = 1;
  bool mpi_ = false;
  std::shared_ptr<ProcessGroup> group_;
};

// The process's cluster (main starts and finishes it).
Cluster& cluster();

// Thrown on every rank when a phase failed on some rank (already reported): exit with `code`.
struct Stopped {
  int code;
};

// Exit code and message of the exception being handled (inside a catch block): 2 for a
// UsageError, 1 for anything else.
int current_error(std::string& message);

template <class F>
void Cluster::agree(const std::string& prefix, F&& work) {
  if (size_ <= 1) {
    work();
    return;
  }
  int code = 0;
  std::string message;
  try {
    work();
  } catch (...) {
    code = current_error(message);
  }
  settle(prefix, code, message);
}

}  // namespace scratchcnn::cli
