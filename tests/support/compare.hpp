#pragma once
// The comparisons the tests share, one name per meaning:
//   expect_equal_values     every element equal as a float (+0 == -0, NaN never equal): the
//                           "exact" claims, where both sides must round to the same values;
//   expect_within_tolerance max |got - want| <= tol * max(1, max |want|) (NaN fails): the
//                           parity rule of float against the reference (1e-5 by default).
// Bit-pattern identity (memcmp, -0 != +0) is a third meaning, used where it is needed
// (test_gemm.cpp's expect_same_bits, test_optimizer.cpp's memcmp of parameters).
#include <cstddef>
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

// Every layer's weights then bias, in layer order: the order of the parameter files.
std::vector<float> flat(const Parameters& p);

}  // namespace scratchcnn::test
