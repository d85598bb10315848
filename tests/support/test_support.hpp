#pragma once
#include <string>

namespace scratchcnn::test {

// The optdigits folder the data-dependent tests use: $SCRATCHCNN_TEST_DATA if set, else the
// full UCI files in ../shared/data/optdigits beside the checkout when present, else the data/
// folder that scripts/fetch-data.sh fills. Fails the calling test (never skips) when none has data.
std::string optdigits_dir();

// A fresh empty temporary folder, removed at process exit.
std::string temp_dir(const std::string& tag);

}  // namespace scratchcnn::test
