#pragma once
// A small flag parser for the command-line tool: "--name value" or "--name=value", every flag
// declared up front so that unknown flags and bad values become usage errors (exit code 2). A value
// after a space never starts with "--" (that is a forgotten value); "--name=--x" gives such a value.
#include <cstdint>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace scratchcnn::cli {

// A bad command line: the tool prints the message and the usage, and exits with 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// " (did you mean --lr?)" when one of `choices` is close to `name` (it starts with `name`, or is at
// most a third of its letters away); else empty.
std::string did_you_mean(const std::string& name, const std::vector<std::string>& choices);

class Args {
 public:
  // `valued`: flags that take a value; `switches`: flags that do not.
  Args(const std::vector<std::string>& argv, const std::set<std::string>& valued,
       const std::set<std::string>& switches);

  bool has(const std::string& flag) const { return values_.count(flag) > 0; }
  std::string str(const std::string& flag, const std::string& fallback) const;
  // Integers and reals are checked: the whole text must parse and fall in [lo, hi].
  long long integer(const std::string& flag, long long fallback, long long lo, long long hi) const;
  std::uint64_t seed(const std::string& flag, std::uint64_t fallback) const;
  double real(const std::string& flag, double fallback, double lo, double hi) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

}  // namespace scratchcnn::cli
