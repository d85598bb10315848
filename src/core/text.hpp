#pragma once
// Small text helpers shared by the library and the command-line tool.
#include <optional>
#include <string>
#include <string_view>

namespace scratchcnn {

// 1797 -> "1,797": counts read by people.
std::string with_commas(long long v);

// The shortest text that reads back as the same float: "0.1", not "0.100000001" (std::to_chars).
std::string shortest_float(float v);

// The number `s` spells, when all of it is one (strtod's syntax: "0.5", "1e-3", "-2") and the
// value is finite (not an overflow, "inf" or "nan"); nullopt otherwise. The one way flags and
// model text read a real number.
std::optional<double> parse_finite(const std::string& s);

// `s` without the leading and trailing characters of `chars` (default: ASCII whitespace).
std::string_view trim(std::string_view s, std::string_view chars = " \t\n\v\f\r");

}  // namespace scratchcnn
