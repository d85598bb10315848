#pragma once
// The values that flow between the reference path's modules, and the matrix operations the
// origin write-up builds its convolution from. Plain scalar loops: clarity beats speed here.
#include <cstddef>
#include <vector>

#include "scratchcnn/model_spec.hpp"

namespace scratchcnn::reference {

// One sample's value between modules: c x h x w maps, or a flat vector (shape.flat), row-major.
template <class T>
struct Tensor {
  Shape shape;
  std::vector<T> data;

  Tensor() = default;
  explicit Tensor(Shape s) : shape(s), data(static_cast<std::size_t>(s.size()), T(0)) {}
  T& at(int c, int y, int x) { return data[(std::size_t(c) * shape.h + y) * shape.w + x]; }
  const T& at(int c, int y, int x) const {
    return data[(std::size_t(c) * shape.h + y) * shape.w + x];
  }
};

// A rows x cols matrix, row-major: one channel of a convolution value, or one kernel.
template <class T>
struct Matrix {
  int rows = 0, cols = 0;
  std::vector<T> v;

  Matrix() = default;
  Matrix(int r, int c) : rows(r), cols(c), v(std::size_t(r) * c, T(0)) {}
  T& operator()(int r, int c) { return v[std::size_t(r) * cols + c]; }
  const T& operator()(int r, int c) const { return v[std::size_t(r) * cols + c]; }
};

// m with pr zero rows above and below and pc zero columns left and right.
template <class T>
Matrix<T> zero_pad(const Matrix<T>& m, int pr, int pc) {
  Matrix<T> out(m.rows + 2 * pr, m.cols + 2 * pc);
  for (int r = 0; r < m.rows; ++r)
    for (int c = 0; c < m.cols; ++c) out(r + pr, c + pc) = m(r, c);
  return out;
}

// Valid cross-correlation with the window moved by `stride`:
// out(i, j) = sum_{y, x} a(i * stride + y, j * stride + x) * k(y, x), summed in row-major order
// of k. out is ((a.rows - k.rows) / stride + 1) x ((a.cols - k.cols) / stride + 1), rounded down:
// windows that would cross the edge of a are left out.
template <class T>
Matrix<T> cross_correlate(const Matrix<T>& a, const Matrix<T>& k, int stride = 1) {
  Matrix<T> out((a.rows - k.rows) / stride + 1, (a.cols - k.cols) / stride + 1);
  for (int i = 0; i < out.rows; ++i)
    for (int j = 0; j < out.cols; ++j) {
      T s = 0;
      for (int y = 0; y < k.rows; ++y)
        for (int x = 0; x < k.cols; ++x) s += a(i * stride + y, j * stride + x) * k(y, x);
      out(i, j) = s;
    }
  return out;
}

// g spread onto a rows x cols grid of zeros, g(i, j) at (i * stride, j * stride): the gradient of
// a strided correlation's output seen as that of the stride-1 correlation it samples (the
// positions it skips get 0).
template <class T>
Matrix<T> dilate(const Matrix<T>& g, int stride, int rows, int cols) {
  Matrix<T> out(rows, cols);
  for (int i = 0; i < g.rows; ++i)
    for (int j = 0; j < g.cols; ++j) out(i * stride, j * stride) = g(i, j);
  return out;
}

// m rotated by 180 degrees.
template <class T>
Matrix<T> flip(const Matrix<T>& m) {
  Matrix<T> out(m.rows, m.cols);
  for (int r = 0; r < m.rows; ++r)
    for (int c = 0; c < m.cols; ++c) out(r, c) = m(m.rows - 1 - r, m.cols - 1 - c);
  return out;
}

// Full convolution of g with k, as the seed write-up computes it: flip g, zero-pad k by
// (rows(g) - 1, cols(g) - 1), cross-correlate. out is (g.rows + k.rows - 1) x (g.cols + k.cols - 1).
template <class T>
Matrix<T> full_convolve(const Matrix<T>& g, const Matrix<T>& k) {
  return cross_correlate(zero_pad(k, g.rows - 1, g.cols - 1), flip(g));
}

// m without p rows/columns on every side.
template <class T>
Matrix<T> crop(const Matrix<T>& m, int p) {
  Matrix<T> out(m.rows - 2 * p, m.cols - 2 * p);
  for (int r = 0; r < out.rows; ++r)
    for (int c = 0; c < out.cols; ++c) out(r, c) = m(r + p, c + p);
  return out;
}

// A c x h x w value as c matrices, and back.
template <class T>
std::vector<Matrix<T>> to_maps(const Tensor<T>& t) {
  std::vector<Matrix<T>> maps(t.shape.c, Matrix<T>(t.shape.h, t.shape.w));
  for (int c = 0; c < t.shape.c; ++c)
    for (int y = 0; y < t.shape.h; ++y)
      for (int x = 0; x < t.shape.w; ++x) maps[c](y, x) = t.at(c, y, x);
  return maps;
}

template <class T>
Tensor<T> from_maps(const std::vector<Matrix<T>>& maps) {
  Tensor<T> t(Shape{static_cast<int>(maps.size()), maps[0].rows, maps[0].cols, false});
  for (int c = 0; c < t.shape.c; ++c)
    for (int y = 0; y < t.shape.h; ++y)
      for (int x = 0; x < t.shape.w; ++x) t.at(c, y, x) = maps[c](y, x);
  return t;
}

}  // namespace scratchcnn::reference
