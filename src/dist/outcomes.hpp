#pragma once
// Agreeing on failure: a phase that every rank runs, and that may fail on some ranks only (a rank
// that cannot read its data), ends with every rank knowing which ranks failed and why, so that all
// of them stop together instead of some waiting forever in the next collective operation.
// Works over any ProcessGroup; needs no MPI of its own.
#include <string>
#include <vector>

#include "scratchcnn/process_group.hpp"

namespace scratchcnn::dist {

struct Outcome {
  int code = 0;         // 0: this rank's phase succeeded; else its exit code
  std::string message;  // the error, when it failed
};

// Every rank's outcome, indexed by rank, the same on every rank. Collective: every rank of `g`
// calls it once per phase. One all_true when every rank succeeded; else two allgathers (the
// codes and message lengths, then the messages).
std::vector<Outcome> gather_outcomes(ProcessGroup& g, const Outcome& mine);

// Every rank's `mine`, indexed by rank, the same on every rank (two allgathers: the lengths,
// then the texts). Collective.
std::vector<std::string> gather_strings(ProcessGroup& g, const std::string& mine);

// What to print for the failed ranks of `all` (at least one failed): one line per distinct
// message, "error: MESSAGE" when every rank failed with it, else "rank K: error: MESSAGE" (or
// "ranks 1, 3: error: ..."). Each line starts with `prefix` ("scratchcnn train: ").
std::string failure_report(const std::vector<Outcome>& all, const std::string& prefix);

}  // namespace scratchcnn::dist
