#pragma once
// The one reduction of per-chunk partial gradient sums. Every chunk (layout.hpp) writes its own
// partial sums; adding them in chunk order makes the result the same bits at any thread count.
#include <cstddef>

namespace scratchcnn::fast {

// sum[i] = ((partials[i] + partials[stride + i]) + partials[2 * stride + i]) + ... over `chunks`
// chunks, for i in [0, count): chunk q's partials start at partials + q * stride. sum may not
// overlap the partials.
void reduce_chunks(const float* partials, std::size_t stride, int chunks, std::size_t count,
                   float* sum);

}  // namespace scratchcnn::fast
