// Placeholder triple loop; replaced by the register-blocked xsimd kernel.
#include "scratchcnn/fast/gemm.hpp"

namespace scratchcnn::fast {

void sgemm(Trans ta, Trans tb, int M, int N, int K, const float* A, int lda, const float* B, int ldb,
           float beta, float* C, int ldc) {
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      float s = 0;
      for (int k = 0; k < K; ++k) {
        const float a = ta == Trans::No ? A[i * lda + k] : A[k * lda + i];
        const float b = tb == Trans::No ? B[k * ldb + j] : B[j * ldb + k];
        s += a * b;
      }
      C[i * ldc + j] = beta != 0 ? C[i * ldc + j] + s : s;
    }
}

const char* gemm_isa() { return "scalar"; }

}  // namespace scratchcnn::fast
