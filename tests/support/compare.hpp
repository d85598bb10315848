#pragma once
// The comparisons the tests share, one name per meaning:
//   expect_equal_values     every element equal as a float (+0 == -0, NaN never equal): the
//                           "exact" claims, where both sides must round to the same values;
//   expect_within_tolerance max |got - want| <= tol * max(1, max |want|) (NaN fails): the
//                           parity rule of float against the reference (1e-5 by default).
//   same_bits               every element the same bit pattern (-0 != +0, a NaN equal only to
//                           the same NaN): the claims that two computations (two instruction-set
//                           levels, two thread counts) are one computation.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "scratchcnn/parameters.hpp"

namespace scratchcnn::test {

// Reports how many of the n elements differ and the first one that does.
void expect_equal_values(const float* got, const float* want, std::size_t n, const std::string& what);
void expect_equal_values(const std::vector<float>& got, const std::vector<double>& want,
                         const std::string& what);

// Reports the largest difference, where it is, and the scale.
void expect_within_tolerance(const std::vector<float>& got, const std::vector<double>& want,
                             const std::string& what, double tol = 1e-5);
void expect_within_tolerance(const std::vector<float>& got, const std::vector<float>& want,
                             const std::string& what, double tol = 1e-5);

// The bit pattern of f.
std::uint32_t bits(float f);
// "1.5 (0x3fc00000)": a value with its bit pattern.
std::string show(float f);

// Whether got[0..n) has the bit patterns of want[0..n). A failure says how many elements differ
// and shows the first, labelling the two sides `la` (want) and `lb` (got); with a vector, also when
// the sizes differ.
::testing::AssertionResult same_bits(const float* want, const float* got, std::size_t n,
                                     const std::string& la, const std::string& lb);
::testing::AssertionResult same_bits(const std::vector<float>& want, const std::vector<float>& got,
                                     const std::string& la, const std::string& lb);
::testing::AssertionResult same_bits(double want, double got, const std::string& la,
                                     const std::string& lb);

// Every layer's weights then bias, in layer order: the order of the parameter files.
std::vector<float> flat(const Parameters& p);  // weights, biases and running statistics, layer by layer

}  // namespace scratchcnn::test
