#pragma once
// A ProcessGroup whose "processes" are threads of this process (process_group.hpp), for testing
// data-parallel training without MPI: ThreadWorld(R) is the shared state of R ranks, group(r) is
// rank r's view of it, and run_ranks calls a function on R threads, one per rank. exchange
// copies the sent floats into a mailbox keyed by (sender, receiver, the sender's exchange call
// index), so a receive pairs with the send of the same call on the other rank; the collectives
// meet at a barrier. It counts what each rank sends, and records every rank's sequence of calls.
#include <barrier>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "scratchcnn/process_group.hpp"

namespace scratchcnn::test {

class ThreadWorld : public std::enable_shared_from_this<ThreadWorld> {
 public:
  explicit ThreadWorld(int size);
  int size() const { return size_; }
  std::shared_ptr<ProcessGroup> group(int rank);

  // What rank r has done so far: exchange messages it sent, their floats in all, exchange calls.
  struct Traffic {
    int messages = 0;
    std::size_t floats = 0;
    int exchanges = 0;
  };
  Traffic traffic(int rank) const;
  // Rank r's calls in order, one letter each: e(xchange), b(roadcast), g (allgather), t (all_true).
  std::string calls(int rank) const;
  // Messages sent and not (yet) received.
  std::size_t unreceived() const;

 private:
  friend class ThreadGroup;
  void exchange(int me, int to, const float* send, int from, float* recv, std::size_t count);
  void broadcast(int me, void* data, std::size_t bytes, int root);
  void allgather(int me, void* data, const std::vector<std::size_t>& offsets);
  bool all_true(int me, bool ok);

  int size_;
  mutable std::mutex m_;
  std::condition_variable cv_;
  std::map<std::tuple<int, int, long>, std::vector<float>> mailbox_;  // (from, to, call index)
  std::vector<Traffic> traffic_;
  std::vector<std::string> calls_;
  std::barrier<> barrier_;
  std::vector<void*> pointers_;  // per rank, for the collectives between two barriers
  std::vector<char> flags_;
};

// Calls f(rank, group) on world->size() threads, one per rank, and waits for them all; rethrows
// the first exception a thread threw (after every thread ended: f must not leave the others
// waiting in a collective), and fails the test when a message was sent but never received.
void run_ranks(const std::shared_ptr<ThreadWorld>& world,
               const std::function<void(int rank, std::shared_ptr<ProcessGroup> group)>& f);

}  // namespace scratchcnn::test
