// The op table of the fast path (src/fast/ops/ops.hpp, op_list.def) at every level this CPU runs:
// each level's Table fills every op of the list, and the ops::name callables follow the level
// that set_isa chose rather than the one active when they were first called.
#include <string>

#include <gtest/gtest.h>

#include "test_support.hpp"

#include "fast/ops/ops.hpp"
#include "scratchcnn/fast/isa.hpp"

namespace {

using namespace scratchcnn;
using namespace scratchcnn::fast;

class Ops : public scratchcnn::test::IsaTest {};
SCRATCHCNN_TEST_EVERY_ISA(Ops);

TEST_P(Ops, TheActiveTableIsTheChosenLevelAndHasEveryOp) {
  const ops::Table& t = ops::active();
  EXPECT_EQ(std::string(t.level), GetParam());
  EXPECT_EQ(t.lanes, isa_info().vector_floats);
  int count = 0;
#define SCRATCHCNN_OP(R, name, params) \
  EXPECT_NE(t.name, nullptr) << #name; \
  ++count;
#include "fast/ops/op_list.def"
  EXPECT_GE(count, 20);
}

TEST(OpsCallables, FollowTheLevelSetIsaChooses) {
  const std::string before = active_isa();
  double per_lane = 0.0;
  for (const std::string& level : supported_isas()) {
    SCOPED_TRACE(level);
    set_isa(level);
    const ops::Table& t = ops::active();
    ASSERT_EQ(std::string(t.level), level);
    // The probe's work is a fixed number of FMAs per lane: its count gives away the level's width.
    const double flop = ops::fma_chains_flop(1000);
    EXPECT_EQ(flop, t.fma_chains_flop(1000));
    if (per_lane == 0.0) per_lane = flop / t.lanes;
    EXPECT_EQ(flop, per_lane * t.lanes);
  }
  set_isa(before);
}

}  // namespace
