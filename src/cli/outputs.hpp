#pragma once
// Up-front checks of a command's output files against its inputs and other outputs (outputs.cpp).
#include <string>
#include <utility>
#include <vector>

namespace scratchcnn::cli {

// Checks up front that `path` can be written later (scratchcnn::check_output), so a long run does
// not fail at the end; the Error names the flag.
void check_output_path(const std::string& flag, const std::string& path);
// A file named on the command line, with the flag that named it.
struct FileArg {
  std::string flag, path;
};
// The files of a data folder that exist (data::data_dir_files), each an input of --data.
std::vector<FileArg> data_inputs(const std::string& dir);
// Before any work starts: refuses an output that is the same file as an input or another output
// (same device and inode, or the same resolved path for one not there yet; devices and FIFOs
// excepted), naming both flags. `allowed`: (output flag, input flag) pairs that may share a file,
// such as --save and --resume (the checkpoint is read whole before the first write). Empty paths
// are skipped.
void check_aliases(const std::vector<FileArg>& outputs, const std::vector<FileArg>& inputs,
                   const std::vector<std::pair<std::string, std::string>>& allowed = {});

}  // namespace scratchcnn::cli
