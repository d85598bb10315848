#pragma once
#include <functional>
#include <string>

namespace scratchcnn::test {

// The optdigits folder the data-dependent tests use: $SCRATCHCNN_TEST_DATA if set, else the
// full UCI files in ../shared/data/optdigits beside the checkout when present, else the data/
// folder that scripts/fetch-data.sh fills. Fails the calling test (never skips) when none has data.
std::string optdigits_dir();

// A fresh empty temporary folder, removed at process exit.
std::string temp_dir(const std::string& tag);

// Whether `part` occurs in `text`.
bool has(const std::string& text, const std::string& part);

// The message of the scratchcnn::Error that f throws. Fails the calling test when f throws nothing
// or another exception, and then returns "(no error)" so that checks on the message fail too.
std::string error_of(const std::function<void()>& f);

// The bytes of a file, read in binary mode; empty when it cannot be opened.
std::string slurp(const std::string& path);

// One run of the command-line tool: exit code (-1 when it did not exit normally) and output.
struct CliResult {
  int code = -1;
  std::string out, err;
};

// Runs SCRATCHCNN_CLI_PATH with `args` (shell words, quoted by the caller) and stdin from
// /dev/null, capturing stdout and stderr.
CliResult cli(const std::string& args);

}  // namespace scratchcnn::test
