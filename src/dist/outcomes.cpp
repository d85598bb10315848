// Agreeing on failure (outcomes.hpp).
#include "dist/outcomes.hpp"

#include <cstdint>
#include <cstring>

namespace scratchcnn::dist {

std::vector<Outcome> gather_outcomes(ProcessGroup& g, const Outcome& mine) {
  const std::size_t n = static_cast<std::size_t>(g.size());
  std::vector<Outcome> all(n);
  if (g.all_true(mine.code == 0)) return all;
  // The codes and message lengths: 8 bytes per rank.
  struct Head {
    std::int32_t code;
    std::uint32_t length;
  };
  std::vector<Head> heads(n);
  const std::size_t me = static_cast<std::size_t>(g.rank());
  heads[me] = {mine.code, static_cast<std::uint32_t>(mine.message.size())};
  std::vector<std::size_t> offsets(n + 1);
  for (std::size_t r = 0; r <= n; ++r) offsets[r] = r * sizeof(Head);
  g.allgather(heads.data(), offsets);
  // The messages, one after the other.
  for (std::size_t r = 0; r < n; ++r) offsets[r + 1] = offsets[r] + heads[r].length;
  std::string text(offsets[n], '\0');
  if (!mine.message.empty()) std::memcpy(text.data() + offsets[me], mine.message.data(), mine.message.size());
  g.allgather(text.data(), offsets);
  for (std::size_t r = 0; r < n; ++r)
    all[r] = {heads[r].code, text.substr(offsets[r], heads[r].length)};
  return all;
}

std::string failure_report(const std::vector<Outcome>& all, const std::string& prefix) {
  std::string out;
  std::vector<bool> done(all.size());
  for (std::size_t r = 0; r < all.size(); ++r) {
    if (all[r].code == 0 || done[r]) continue;
    std::vector<std::size_t> same;
    for (std::size_t q = r; q < all.size(); ++q)
      if (all[q].code != 0 && all[q].message == all[r].message) {
        same.push_back(q);
        done[q] = true;
      }
    std::string who;
    if (same.size() < all.size()) {
      who = same.size() == 1 ? "rank " : "ranks ";
      for (std::size_t i = 0; i < same.size(); ++i)
        who += (i ? ", " : "") + std::to_string(same[i]);
      who += ": ";
    }
    out += prefix + who + "error: " + all[r].message + "\n";
  }
  return out;
}

}  // namespace scratchcnn::dist
