#include "compare.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <iomanip>
#include <sstream>

namespace scratchcnn::test {

namespace {

template <class G, class W>
void equal_values(const G* got, const W* want, std::size_t n, const std::string& what) {
  std::size_t bad = 0, first = 0;
  for (std::size_t i = 0; i < n; ++i)
    if (!(got[i] == static_cast<float>(want[i])) && bad++ == 0) first = i;
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << n << " differ; first at " << first
                     << ": got " << (n ? got[first] : G(0)) << " vs want " << (n ? want[first] : W(0));
}

template <class W>
void within_tolerance(const std::vector<float>& got, const std::vector<W>& want,
                      const std::string& what, double tol) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 1, err = 0;
  std::size_t worst = 0;
  for (std::size_t i = 0; i < want.size(); ++i) scale = std::max(scale, std::abs(double(want[i])));
  for (std::size_t i = 0; i < want.size(); ++i) {
    const double e = std::abs(double(got[i]) - double(want[i]));
    if (!(e <= err)) {  // a NaN difference becomes the worst and fails below
      err = e;
      worst = i;
    }
  }
  EXPECT_LE(err, tol * scale) << what << ": max error " << err << " at " << worst << " (got "
                              << (got.empty() ? 0.0f : got[worst]) << ", want "
                              << (want.empty() ? 0.0 : double(want[worst])) << "), scale " << scale;
}

}  // namespace

void expect_equal_values(const float* got, const float* want, std::size_t n, const std::string& what) {
  equal_values(got, want, n, what);
}

void expect_equal_values(const std::vector<float>& got, const std::vector<double>& want,
                         const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  equal_values(got.data(), want.data(), got.size(), what);
}

void expect_within_tolerance(const std::vector<float>& got, const std::vector<double>& want,
                             const std::string& what, double tol) {
  within_tolerance(got, want, what, tol);
}

void expect_within_tolerance(const std::vector<float>& got, const std::vector<float>& want,
                             const std::string& what, double tol) {
  within_tolerance(got, want, what, tol);
}

std::vector<float> flat(const Parameters& p) {
  std::vector<float> v;
  for (const auto& l : p.layers) {
    v.insert(v.end(), l.weights.begin(), l.weights.end());
    v.insert(v.end(), l.bias.begin(), l.bias.end());
    v.insert(v.end(), l.running.begin(), l.running.end());  // batch norm's, in a set of values
  }
  return v;
}

std::uint32_t bits(float f) { return std::bit_cast<std::uint32_t>(f); }

std::string show(float f) {
  std::ostringstream o;
  o << std::setprecision(9) << f << " (0x" << std::hex << std::setw(8) << std::setfill('0')
    << bits(f) << ")";
  return o.str();
}

::testing::AssertionResult same_bits(const float* want, const float* got, std::size_t n,
                                     const std::string& la, const std::string& lb) {
  std::size_t first = n, count = 0;
  for (std::size_t i = 0; i < n; ++i)
    if (bits(want[i]) != bits(got[i])) {
      if (first == n) first = i;
      ++count;
    }
  if (count == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << count << " of " << n << " differ; first at index " << first << ": " << la << " "
         << show(want[first]) << ", " << lb << " " << show(got[first]);
}

::testing::AssertionResult same_bits(const std::vector<float>& want, const std::vector<float>& got,
                                     const std::string& la, const std::string& lb) {
  if (want.size() != got.size())
    return ::testing::AssertionFailure() << "sizes differ: " << la << " " << want.size() << ", "
                                         << lb << " " << got.size();
  return same_bits(want.data(), got.data(), want.size(), la, lb);
}

::testing::AssertionResult same_bits(double want, double got, const std::string& la,
                                     const std::string& lb) {
  if (std::bit_cast<std::uint64_t>(want) == std::bit_cast<std::uint64_t>(got))
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << std::setprecision(17) << la << " " << want << ", " << lb
                                       << " " << got;
}

}  // namespace scratchcnn::test
