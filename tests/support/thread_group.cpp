#include "thread_group.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <exception>
#include <stdexcept>
#include <thread>

namespace scratchcnn::test {

class ThreadGroup final : public ProcessGroup {
 public:
  ThreadGroup(std::shared_ptr<ThreadWorld> world, int rank) : w_(std::move(world)), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return w_->size(); }
  void exchange(int to, const float* send, int from, float* recv, std::size_t count) override {
    w_->exchange(rank_, to, send, from, recv, count);
  }
  void broadcast(void* data, std::size_t bytes, int root) override {
    w_->broadcast(rank_, data, bytes, root);
  }
  void allgather(void* data, const std::vector<std::size_t>& offsets) override {
    w_->allgather(rank_, data, offsets);
  }
  bool all_true(bool ok) override { return w_->all_true(rank_, ok); }

 private:
  std::shared_ptr<ThreadWorld> w_;
  int rank_;
};

ThreadWorld::ThreadWorld(int size)
    : size_(size),
      traffic_(std::size_t(size)),
      calls_(std::size_t(size)),
      barrier_(size),
      pointers_(std::size_t(size)),
      flags_(std::size_t(size)) {}

std::shared_ptr<ProcessGroup> ThreadWorld::group(int rank) {
  if (rank < 0 || rank >= size_) throw std::invalid_argument("ThreadWorld::group: no such rank");
  return std::make_shared<ThreadGroup>(shared_from_this(), rank);
}

ThreadWorld::Traffic ThreadWorld::traffic(int rank) const {
  std::lock_guard<std::mutex> lock(m_);
  return traffic_[std::size_t(rank)];
}

std::string ThreadWorld::calls(int rank) const {
  std::lock_guard<std::mutex> lock(m_);
  return calls_[std::size_t(rank)];
}

void ThreadWorld::exchange(int me, int to, const float* send, int from, float* recv,
                           std::size_t count) {
  if (to >= size_ || from >= size_ || to == me || from == me)
    throw std::invalid_argument("ThreadWorld::exchange: bad peer");
  std::unique_lock<std::mutex> lock(m_);
  Traffic& t = traffic_[std::size_t(me)];
  const long call = t.exchanges++;
  calls_[std::size_t(me)] += 'e';
  if (to >= 0) {
    mailbox_[{me, to, call}] = std::vector<float>(send, send + count);
    ++t.messages;
    t.floats += count;
    cv_.notify_all();
  }
  if (from >= 0) {
    const auto key = std::make_tuple(from, me, call);
    cv_.wait(lock, [&] { return mailbox_.count(key) != 0; });
    std::vector<float>& got = mailbox_[key];
    if (got.size() != count) throw std::runtime_error("ThreadWorld::exchange: count mismatch");
    std::memcpy(recv, got.data(), count * sizeof(float));
    mailbox_.erase(key);
  }
}

void ThreadWorld::broadcast(int me, void* data, std::size_t bytes, int root) {
  {
    std::lock_guard<std::mutex> lock(m_);
    calls_[std::size_t(me)] += 'b';
    pointers_[std::size_t(me)] = data;
  }
  barrier_.arrive_and_wait();
  if (me != root) std::memcpy(data, pointers_[std::size_t(root)], bytes);
  barrier_.arrive_and_wait();
}

void ThreadWorld::allgather(int me, void* data, const std::vector<std::size_t>& offsets) {
  if (offsets.size() != std::size_t(size_) + 1)
    throw std::invalid_argument("ThreadWorld::allgather: offsets");
  {
    std::lock_guard<std::mutex> lock(m_);
    calls_[std::size_t(me)] += 'g';
    pointers_[std::size_t(me)] = data;
  }
  barrier_.arrive_and_wait();
  for (int r = 0; r < size_; ++r)
    if (r != me)
      std::memcpy(static_cast<char*>(data) + offsets[std::size_t(r)],
                  static_cast<const char*>(pointers_[std::size_t(r)]) + offsets[std::size_t(r)],
                  offsets[std::size_t(r) + 1] - offsets[std::size_t(r)]);
  barrier_.arrive_and_wait();
}

bool ThreadWorld::all_true(int me, bool ok) {
  {
    std::lock_guard<std::mutex> lock(m_);
    calls_[std::size_t(me)] += 't';
    flags_[std::size_t(me)] = ok;
  }
  barrier_.arrive_and_wait();
  bool all = true;
  for (char f : flags_) all = all && f;
  barrier_.arrive_and_wait();
  return all;
}

std::size_t ThreadWorld::unreceived() const {
  std::lock_guard<std::mutex> lock(m_);
  return mailbox_.size();
}

void run_ranks(const std::shared_ptr<ThreadWorld>& world,
               const std::function<void(int, std::shared_ptr<ProcessGroup>)>& f) {
  std::vector<std::exception_ptr> errors(std::size_t(world->size()));
  std::vector<std::thread> threads;
  for (int r = 0; r < world->size(); ++r)
    threads.emplace_back([&, r] {
      try {
        f(r, world->group(r));
      } catch (...) {
        errors[std::size_t(r)] = std::current_exception();
      }
    });
  for (std::thread& t : threads) t.join();
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
  // A message sent and never received is a pairing error the ranks did not notice.
  EXPECT_EQ(world->unreceived(), 0u) << "messages sent but never received";
}

}  // namespace scratchcnn::test
