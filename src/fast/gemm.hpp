#pragma once

namespace scratchcnn::fast {

enum class Trans { No, Yes };

// C = op(A) * op(B) + beta * C, row-major, single-threaded (callers parallelise over the batch).
//   op(A) is M x K: A is M x K (lda >= K) when ta == No, K x M (lda >= M) when ta == Yes;
//   op(B) is K x N: B is K x N (ldb >= N) when tb == No, N x K (ldb >= K) when tb == Yes;
//   C is M x N (ldc >= N). beta is 0 or 1; with beta == 0, C is only written (may hold garbage).
// Any M, N, K >= 0 (K == 0 gives beta * C). Deterministic: the same inputs give the same bits on
// every call, whatever else runs. Runs on the active instruction-set level (isa.hpp).
void sgemm(Trans ta, Trans tb, int M, int N, int K, const float* A, int lda, const float* B, int ldb,
           float beta, float* C, int ldc);

}  // namespace scratchcnn::fast
