#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "scratchcnn/data/dataset.hpp"
#include "scratchcnn/error.hpp"
#include "text.hpp"
#include "scratchcnn/rng.hpp"

namespace scratchcnn::data {

namespace {

namespace fs = std::filesystem;

// Whether anything is there under that name: a file, a FIFO or a device is read, and a folder or
// a dangling link is then reported by name by the reader rather than taken for a missing file.
bool is_present(const fs::path& p) {
  std::error_code ec;
  return fs::exists(fs::symlink_status(p, ec));
}

Dataset empty_like(const Dataset& all, const std::string& part) {
  Dataset d;
  d.c = all.c;
  d.h = all.h;
  d.w = all.w;
  d.classes = all.classes;
  d.source = all.source + " (" + part + ")";
  return d;
}

void append_sample(Dataset& to, const Dataset& from, int i) {
  const float* img = from.image(i);
  to.images.insert(to.images.end(), img, img + from.sample_size());
  to.labels.push_back(from.labels[static_cast<std::size_t>(i)]);
}

}  // namespace

Split stratified_split(const Dataset& all, double test_fraction, std::uint64_t seed) {
  if (!(test_fraction >= 0.0 && test_fraction <= 1.0)) {
    throw Error("stratified_split: test fraction " + std::to_string(test_fraction) +
                " is outside 0..1");
  }
  if (all.classes < 1) throw Error("stratified_split: " + all.source + " has no classes");
  if (all.images.size() != std::size_t(all.size()) * std::size_t(all.sample_size())) {
    throw Error("stratified_split: " + all.source + " holds " + std::to_string(all.images.size()) +
                " pixel values for " + std::to_string(all.size()) + " samples of " +
                std::to_string(all.sample_size()));
  }

  std::vector<std::vector<int>> by_class(static_cast<std::size_t>(all.classes));
  for (int i = 0; i < all.size(); ++i) {
    const int label = all.labels[static_cast<std::size_t>(i)];
    if (label < 0 || label >= all.classes) {
      throw Error("stratified_split: " + all.source + ": sample " + std::to_string(i) +
                  " has label " + std::to_string(label) + ", outside 0.." +
                  std::to_string(all.classes - 1));
    }
    by_class[static_cast<std::size_t>(label)].push_back(i);
  }

  // One stream for all classes, consumed in class order, so the split depends only on the seed and
  // the labels in file order.
  Rng rng(derive_seed(seed, kSeedSplit));
  std::vector<char> in_test(static_cast<std::size_t>(all.size()), 0);
  for (auto& idx : by_class) {
    for (std::size_t i = idx.size(); i > 1; --i) {
      const std::size_t j = static_cast<std::size_t>(rng.below(i));
      std::swap(idx[i - 1], idx[j]);
    }
    const auto n_test = static_cast<std::size_t>(std::llround(test_fraction * double(idx.size())));
    for (std::size_t k = 0; k < n_test; ++k) in_test[static_cast<std::size_t>(idx[k])] = 1;
  }

  // Both parts keep the original file order: the shuffle only decides membership.
  Split s{empty_like(all, "train part"), empty_like(all, "test part"), {}};
  for (int i = 0; i < all.size(); ++i) {
    append_sample(in_test[static_cast<std::size_t>(i)] ? s.test : s.train, all, i);
  }
  const long long test_pct = std::llround(test_fraction * 100.0);
  s.note = "seeded stratified " + std::to_string(100 - test_pct) + "/" + std::to_string(test_pct) +
           " split of " + all.source + " (" + with_commas(all.size()) + " rows, seed " +
           std::to_string(seed) + "): " + with_commas(s.train.size()) + " train, " +
           with_commas(s.test.size()) + " test";
  return s;
}

Split load_data_dir(const std::string& dir, std::uint64_t seed) {
  const fs::path d(dir);
  std::error_code ec;
  if (!fs::exists(d, ec)) throw Error("data folder " + dir + ": no such folder");
  if (!fs::is_directory(d, ec)) throw Error("data folder " + dir + ": not a folder");

  const fs::path tra = d / "optdigits.tra";
  const fs::path tes = d / "optdigits.tes";
  const bool have_tra = is_present(tra);
  const bool have_tes = is_present(tes);
  if (have_tra && have_tes) {
    Split s{load_optdigits(tra.string()), load_optdigits(tes.string()), {}};
    return s;
  }

  // MNIST-style IDX files, each as itself or gzipped (the plain one wins when both are there).
  std::string idx[4];
  std::vector<std::string> idx_missing;
  for (int i = 0; i < 4; ++i) {
    for (const std::string& name : {std::string(kIdxFiles[i]), std::string(kIdxFiles[i]) + ".gz"})
      if (idx[i].empty() && is_present(d / name)) idx[i] = (d / name).string();
    if (idx[i].empty()) idx_missing.push_back(std::string(kIdxFiles[i]) + "[.gz]");
  }
  if (idx_missing.empty()) {
    Split s{load_idx(idx[0], idx[1]), load_idx(idx[2], idx[3]), {}};
    if (s.train.h != s.test.h || s.train.w != s.test.w)
      throw Error("data folder " + dir + ": training images are " + std::to_string(s.train.h) +
                  "x" + std::to_string(s.train.w) + " but test images are " +
                  std::to_string(s.test.h) + "x" + std::to_string(s.test.w));
    return s;
  }
  const bool some_idx = idx_missing.size() < 4;

  for (const char* name : {"digits.csv.gz", "digits.csv"}) {
    const fs::path p = d / name;
    if (!is_present(p)) continue;
    const Dataset all = load_optdigits(p.string());
    Split s = stratified_split(all, 0.2, seed);
    std::string half_pair;
    if (have_tra != have_tes) {
      half_pair = std::string(" (") + (have_tra ? "optdigits.tra" : "optdigits.tes") +
                  " is there but not " + (have_tra ? "optdigits.tes" : "optdigits.tra") + ")";
    }
    s.note = "only the " + with_commas(all.size()) + " rows of " + p.string() +
             " were found, not the UCI pair optdigits.tra + optdigits.tes" + half_pair +
             ": using a seeded stratified 80/20 split (seed " + std::to_string(seed) + "): " +
             with_commas(s.train.size()) + " train, " + with_commas(s.test.size()) + " test rows";
    return s;
  }

  std::string found;
  if (have_tra != have_tes) {
    found = std::string("; found ") + (have_tra ? "optdigits.tra" : "optdigits.tes") +
            " without " + (have_tra ? "optdigits.tes" : "optdigits.tra");
  }
  if (some_idx) {
    found += "; found some IDX files but not ";
    for (std::size_t i = 0; i < idx_missing.size(); ++i) found += (i ? ", " : "") + idx_missing[i];
  }
  throw Error("no data in folder " + dir +
              ": looked for optdigits.tra + optdigits.tes, then the four MNIST-style IDX files "
              "(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
              "t10k-labels-idx1-ubyte, each optionally .gz), then digits.csv.gz, then digits.csv" +
              found +
              " (scripts/fetch-data.sh fills <repo>/data with optdigits; scripts/fetch-data.sh "
              "fashion-mnist installs /usr/share/datasets/fashion-mnist)");
}

}  // namespace scratchcnn::data
