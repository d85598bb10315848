// Reading input files (files.hpp).
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "scratchcnn/error.hpp"
#include "scratchcnn/files.hpp"

namespace scratchcnn {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open (" + std::strerror(errno) + ")");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error(path + ": read failed");
  return ss.str();
}

}  // namespace scratchcnn
