#include "args.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/text.hpp"
#include "scratchcnn/error.hpp"

namespace scratchcnn::cli {

namespace {

const std::string kHelp = "--help";

// Edit distance (insertions, deletions, substitutions) between two flag names.
std::size_t distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string suggestion(const std::string& name, const std::set<std::string>& valued,
                       const std::set<std::string>& switches) {
  std::vector<std::string> all(valued.begin(), valued.end());
  all.insert(all.end(), switches.begin(), switches.end());
  return did_you_mean(name, all);
}

// 0.1, 1e+06, 3e+38: a bound as a reader writes it.
std::string readable(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", v);
  return b;
}

}  // namespace

std::string did_you_mean(const std::string& name, const std::vector<std::string>& choices) {
  std::string best;
  std::size_t best_d = 0;
  for (const std::string& c : choices) {
    const std::size_t d = c.rfind(name, 0) == 0 && name.size() >= 3 ? 1 : distance(name, c);
    if (d <= std::max<std::size_t>(1, (c.size() + 1) / 3) && (best.empty() || d < best_d)) {
      best = c;
      best_d = d;
    }
  }
  return best.empty() ? "" : " (did you mean " + best + "?)";
}

Args::Args(const std::vector<std::string>& argv, const std::set<std::string>& valued,
           const std::set<std::string>& switches) {
  for (std::size_t i = 0; i < argv.size(); ++i) {
    // -h is --help wherever a flag may stand (a value such as "--data -h" is taken below).
    const std::string& a = argv[i] == "-h" && switches.count("--help") ? kHelp : argv[i];
    if (a.rfind("--", 0) != 0 || a == "--") {
      positional_.push_back(a);
      continue;
    }
    std::string name = a, value;
    bool inline_value = false;
    if (const auto eq = a.find('='); eq != std::string::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
      inline_value = true;
    }
    if (values_.count(name)) throw UsageError(name + " given twice");
    if (switches.count(name)) {
      if (inline_value) throw UsageError(name + " takes no value");
      values_[name] = "1";
    } else if (valued.count(name)) {
      if (!inline_value) {
        if (i + 1 >= argv.size()) throw UsageError(name + " needs a value");
        // "--save --help" is a forgotten value, not a file named --help ("-" and "-1" are values;
        // "--save=--odd" gives one that starts with --).
        if (argv[i + 1].rfind("--", 0) == 0)
          throw UsageError(name + " needs a value, not the flag '" + argv[i + 1] + "' (write " +
                           name + "=VALUE for a value that starts with --)");
        value = argv[++i];
      }
      values_[name] = value;
    } else {
      throw UsageError("unknown flag " + terminal_safe(name, 40) +
                       suggestion(name, valued, switches));
    }
  }
}

std::string Args::str(const std::string& flag, const std::string& fallback) const {
  const auto it = values_.find(flag);
  if (it == values_.end()) return fallback;
  if (it->second.empty()) throw UsageError(flag + ": empty value");
  return it->second;
}

long long Args::integer(const std::string& flag, long long fallback, long long lo,
                        long long hi) const {
  const auto it = values_.find(flag);
  if (it == values_.end()) return fallback;
  const std::string& s = it->second;
  long long v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size())
    throw UsageError(flag + ": " + excerpt(s) + " is not an integer");
  if (v < lo || v > hi)
    throw UsageError(flag + ": " + s + " is outside " + std::to_string(lo) + ".." +
                     std::to_string(hi));
  return v;
}

std::uint64_t Args::seed(const std::string& flag, std::uint64_t fallback) const {
  const auto it = values_.find(flag);
  if (it == values_.end()) return fallback;
  const std::string& s = it->second;
  std::uint64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size())
    throw UsageError(flag + ": " + excerpt(s) + " is not a non-negative integer");
  return v;
}

double Args::real(const std::string& flag, double fallback, double lo, double hi) const {
  const auto it = values_.find(flag);
  if (it == values_.end()) return fallback;
  const std::string& s = it->second;
  const std::optional<double> parsed = parse_finite(s);
  if (!parsed) throw UsageError(flag + ": " + excerpt(s) + " is not a finite number");
  const double v = *parsed;
  if (v < lo || v > hi)
    throw UsageError(flag + ": " + readable(v) + " is outside " + readable(lo) + ".." +
                     readable(hi));
  return v;
}

}  // namespace scratchcnn::cli
