// Agreeing on failure (outcomes.hpp).
#include "dist/outcomes.hpp"

#include <cstdint>
#include <cstring>

namespace scratchcnn::dist {

std::vector<std::string> gather_strings(ProcessGroup& g, const std::string& mine) {
  const std::size_t n = static_cast<std::size_t>(g.size());
  const std::size_t me = static_cast<std::size_t>(g.rank());
  std::vector<std::uint64_t> lengths(n);
  lengths[me] = mine.size();
  std::vector<std::size_t> offsets(n + 1);
  for (std::size_t r = 0; r <= n; ++r) offsets[r] = r * sizeof(std::uint64_t);
  g.allgather(lengths.data(), offsets);
  for (std::size_t r = 0; r < n; ++r) offsets[r + 1] = offsets[r] + static_cast<std::size_t>(lengths[r]);
  std::string text(offsets[n], '\0');
  if (!mine.empty()) std::memcpy(text.data() + offsets[me], mine.data(), mine.size());
  g.allgather(text.data(), offsets);
  std::vector<std::string> all(n);
  for (std::size_t r = 0; r < n; ++r) all[r] = text.substr(offsets[r], offsets[r + 1] - offsets[r]);
  return all;
}

std::vector<Outcome> gather_outcomes(ProcessGroup& g, const Outcome& mine) {
  const std::size_t n = static_cast<std::size_t>(g.size());
  std::vector<Outcome> all(n);
  if (g.all_true(mine.code == 0)) return all;
  // The exit code travels as the text's first line.
  const auto texts = gather_strings(g, std::to_string(mine.code) + "\n" + mine.message);
  for (std::size_t r = 0; r < n; ++r) {
    const std::size_t nl = texts[r].find('\n');
    all[r] = {std::stoi(texts[r].substr(0, nl)), texts[r].substr(nl + 1)};
  }
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
