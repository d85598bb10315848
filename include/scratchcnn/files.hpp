#pragma once
// Reading and writing the files the library and the tool touch (docs/file-formats.md, "Files").
#include <string>

namespace scratchcnn {

// Writes atomically: a temporary file beside `path`, flushed and fsynced, then renamed over it.
// On failure nothing at `path` changes.
void write_file_atomic(const std::string& path, const std::string& bytes);

// The whole file.
std::string read_file(const std::string& path);

}  // namespace scratchcnn
