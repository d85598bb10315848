// The files of a data folder (dataset.hpp).
#include <sys/stat.h>

#include <iterator>
#include <string>
#include <vector>

#include "scratchcnn/data/dataset.hpp"

namespace scratchcnn::data {

std::vector<std::string> data_dir_files(const std::string& dir) {
  std::vector<std::string> names = {"optdigits.tra", "optdigits.tes"};
  for (const char* idx : kIdxFiles) {
    names.emplace_back(idx);
    names.push_back(std::string(idx) + ".gz");
  }
  names.insert(names.end(), {"digits.csv", "digits.csv.gz"});
  names.insert(names.end(), std::begin(kCifar10Files), std::end(kCifar10Files));
  names.insert(names.end(), std::begin(kCifar100Files), std::end(kCifar100Files));
  names.insert(names.end(), {kCifar10Names, kCifar100Names});
  const std::string prefix = dir.empty() || dir.back() == '/' ? dir : dir + "/";
  std::vector<std::string> found;
  for (const std::string& name : names) {
    struct stat st {};
    if (::stat((prefix + name).c_str(), &st) == 0) found.push_back(prefix + name);
  }
  return found;
}

}  // namespace scratchcnn::data
