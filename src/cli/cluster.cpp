// The processes of a run (cluster.hpp).
#include "cluster.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <new>
#include <string>

#include "args.hpp"
#include "scratchcnn/error.hpp"

#ifdef SCRATCHCNN_HAVE_MPI
#include "dist/mpi_group.hpp"
#include "dist/outcomes.hpp"
#endif

namespace scratchcnn::cli {

namespace {

// A non-negative integer from the environment variable `name`, else -1.
long env_number(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return -1;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return *end == '\0' && n >= 0 ? n : -1;
}

// How an MPI launcher started this process: whether one did, and the job's size when it says so
// (0: unknown, as with PMIx alone).
struct Launch {
  bool by_mpi = false;
  long size = 0, rank = -1;
};

Launch launch_from_environment() {
  Launch l;
  for (const char* size : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
    if (env_number(size) > 0) {
      l.by_mpi = true;
      l.size = env_number(size);
      break;
    }
  for (const char* rank : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"})
    if (env_number(rank) >= 0) {
      l.by_mpi = true;
      l.rank = env_number(rank);
      break;
    }
  return l;
}

}  // namespace

Cluster& cluster() {
  static Cluster c;
  return c;
}

int current_error(std::string& message) {
  try {
    throw;
  } catch (const UsageError& e) {
    message = e.what();
    return 2;
  } catch (const std::bad_alloc&) {
    message = "out of memory: an allocation failed";
    return 1;
  } catch (const std::exception& e) {
    message = e.what();
    return 1;
  } catch (...) {
    message = "unknown error";
    return 1;
  }
}

void Cluster::start() {
  const Launch l = launch_from_environment();
  if (!l.by_mpi) return;
#ifdef SCRATCHCNN_HAVE_MPI
  dist::mpi_init();
  mpi_ = true;
  group_ = std::make_shared<dist::MpiGroup>();
  rank_ = group_->rank();
  size_ = group_->size();
#else
  if (l.size > 1 || l.rank > 0)
    throw Error("this scratchcnn was built without MPI (SCRATCHCNN_MPI), but an MPI launcher "
                "started it as one of " +
                (l.size > 0 ? std::to_string(l.size) + " processes" : std::string("several")) +
                "; each would run the whole command alone and write the same files. Run it "
                "without mpirun, or build it with MPI (Debian: libopenmpi-dev)");
#endif
}

void Cluster::finish() {
#ifdef SCRATCHCNN_HAVE_MPI
  if (mpi_) dist::mpi_finalize();
#endif
  mpi_ = false;
}

void Cluster::abort_others(int code) {
#ifdef SCRATCHCNN_HAVE_MPI
  if (mpi_ && size_ > 1) {
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);
    dist::mpi_abort(code);
  }
#endif
  (void)code;
}

void Cluster::check_same(const std::string& prefix, const std::string& what,
                         const std::string& value, const std::string& advice) {
#ifdef SCRATCHCNN_HAVE_MPI
  if (size_ <= 1) return;
  const auto all = dist::gather_strings(*group_, value);
  bool same = true;
  for (const auto& v : all) same = same && v == all.front();
  if (same) return;
  if (rank_ == 0) {
    std::string list;
    for (std::size_t r = 0; r < all.size(); ++r)
      list += (r ? ", rank " : "rank ") + std::to_string(r) + " " + terminal_safe(all[r]);
    std::cerr << prefix << "error: the processes differ in " << what << " (" << list
              << "), so no run would give the bits of one process; " << advice << "\n"
              << std::flush;
  }
  throw Stopped{1};
#else
  (void)prefix;
  (void)what;
  (void)value;
  (void)advice;
#endif
}

void Cluster::settle(const std::string& prefix, int code, const std::string& message) {
#ifdef SCRATCHCNN_HAVE_MPI
  const auto all = dist::gather_outcomes(*group_, {code, terminal_safe(message)});
  int worst = 0;
  for (const auto& o : all) worst = std::max(worst, o.code);
  if (worst == 0) return;
  if (rank_ == 0) {
    std::cerr << dist::failure_report(all, prefix);
    if (worst == 2) std::cerr << "run '" << prefix.substr(0, prefix.size() - 2) << " --help' for the flags\n";
    std::cerr.flush();
  }
  throw Stopped{worst};
#else
  (void)prefix;
  (void)code;
  (void)message;
#endif
}

}  // namespace scratchcnn::cli
