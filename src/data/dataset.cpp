#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "scratchcnn/data/dataset.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/memory.hpp"
#include "core/text.hpp"
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

namespace {

// The four MNIST-style IDX files of a folder, each as itself or gzipped (the plain one wins when
// both are there), and the names of those missing.
struct IdxFiles {
  std::string path[4];
  std::vector<std::string> missing;
};

IdxFiles find_idx_files(const fs::path& d) {
  IdxFiles f;
  for (int i = 0; i < 4; ++i) {
    for (const std::string& name : {std::string(kIdxFiles[i]), std::string(kIdxFiles[i]) + ".gz"})
      if (f.path[i].empty() && is_present(d / name)) f.path[i] = (d / name).string();
    if (f.path[i].empty()) f.missing.push_back(std::string(kIdxFiles[i]) + "[.gz]");
  }
  return f;
}

Split load_idx_pair(const std::string& dir, const IdxFiles& f) {
  Split s{load_idx(f.path[0], f.path[1]), load_idx(f.path[2], f.path[3]), {}};
  if (s.train.h != s.test.h || s.train.w != s.test.w)
    throw Error("data folder " + dir + ": training images are " + std::to_string(s.train.h) +
                "x" + std::to_string(s.train.w) + " but test images are " +
                std::to_string(s.test.h) + "x" + std::to_string(s.test.w));
  return s;
}

// One of the UCI pair when only one is there: "optdigits.tra" and "optdigits.tes", or the reverse.
std::pair<std::string, std::string> half_pair(bool have_tra) {
  return have_tra ? std::pair<std::string, std::string>{"optdigits.tra", "optdigits.tes"}
                  : std::pair<std::string, std::string>{"optdigits.tes", "optdigits.tra"};
}

// digits.csv(.gz), split 80/20; `half` says which half of the UCI pair is there, if one is.
Split load_digits_csv(const fs::path& p, std::uint64_t seed, bool half, bool have_tra) {
  const Dataset all = load_optdigits(p.string());
  Split s = stratified_split(all, 0.2, seed);
  std::string half_note;
  if (half) {
    const auto [there, not_there] = half_pair(have_tra);
    half_note = " (" + there + " is there but not " + not_there + ")";
  }
  s.note = "only the " + with_commas(all.size()) + " rows of " + p.string() +
           " were found, not the UCI pair optdigits.tra + optdigits.tes" + half_note +
           ": using a seeded stratified 80/20 split (seed " + std::to_string(seed) + "): " +
           with_commas(s.train.size()) + " train, " + with_commas(s.test.size()) + " test rows";
  return s;
}

// The files of `names` in `d` that are there and those that are not.
struct Present {
  std::vector<std::string> there, missing;
};
template <std::size_t N>
Present present(const fs::path& d, const char* const (&names)[N]) {
  Present p;
  for (const char* name : names) (is_present(d / name) ? p.there : p.missing).push_back(name);
  return p;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
  return s;
}

// The class names of a CIFAR folder's name file, when it is there: one per line, blank lines
// skipped, exactly `classes` of them.
void read_cifar_names(const fs::path& d, const char* file, int classes, Split& s) {
  const fs::path p = d / file;
  if (!is_present(p)) return;
  const std::string text = read_file(p.string(), std::size_t(1) << 20);
  std::vector<std::string> names;
  std::size_t at = 0;
  while (at <= text.size()) {
    std::size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(at, end - at);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
      line.pop_back();
    if (!line.empty()) names.push_back(line);
    at = end + 1;
  }
  if (int(names.size()) != classes)
    throw Error(p.string() + ": " + std::to_string(names.size()) + " class names (one per line), " +
                "the data has " + std::to_string(classes) + " classes");
  s.train.class_names = names;
  s.test.class_names = std::move(names);
}

Split load_cifar10(const fs::path& d) {
  Split s;
  for (int i = 0; i < 5; ++i) {
    Dataset part = load_cifar((d / kCifar10Files[i]).string(), Cifar::Ten);
    if (i == 0) {
      s.train = std::move(part);
      continue;
    }
    check_input_size(d.string(), "the CIFAR-10 training batches (as floats)",
                     (s.train.images.size() + part.images.size()) * sizeof(float));
    s.train.images.insert(s.train.images.end(), part.images.begin(), part.images.end());
    s.train.labels.insert(s.train.labels.end(), part.labels.begin(), part.labels.end());
  }
  s.train.source = (d / "data_batch_1..5.bin").string();
  s.test = load_cifar((d / kCifar10Files[5]).string(), Cifar::Ten);
  read_cifar_names(d, kCifar10Names, 10, s);
  return s;
}

Split load_cifar100(const fs::path& d) {
  Split s{load_cifar((d / kCifar100Files[0]).string(), Cifar::Hundred),
          load_cifar((d / kCifar100Files[1]).string(), Cifar::Hundred), {}};
  read_cifar_names(d, kCifar100Names, 100, s);
  return s;
}

// An image folder's train/ and test/ parts, or the folder itself split 80/20.
Split load_images(const fs::path& d, std::uint64_t seed, const LoadOptions& options) {
  const fs::path train = d / "train", test = d / "test";
  std::error_code ec;
  const bool has_train = fs::is_directory(train, ec), has_test = fs::is_directory(test, ec);
  if (has_train != has_test)
    throw Error("image folder " + d.string() + ": " + (has_train ? "train/" : "test/") +
                " is there but not " + (has_train ? "test/" : "train/") +
                " (either both, each with the same class folders, or class folders only)");
  int skipped_train = 0, skipped_test = 0;
  Split s;
  if (has_train) {
    s.train = load_image_folder(train.string(), options, &skipped_train);
    s.test = load_image_folder(test.string(), options, &skipped_test);
    if (s.train.class_names != s.test.class_names) {
      std::vector<std::string> missing, extra;
      for (const std::string& n : s.train.class_names)
        if (!std::binary_search(s.test.class_names.begin(), s.test.class_names.end(), n))
          missing.push_back(n);
      for (const std::string& n : s.test.class_names)
        if (!std::binary_search(s.train.class_names.begin(), s.train.class_names.end(), n))
          extra.push_back(n);
      throw Error("image folder " + test.string() + ": its class folders differ from those of " +
                  train.string() + (missing.empty() ? "" : "; missing: " + joined(missing)) +
                  (extra.empty() ? "" : "; not in train/: " + joined(extra)));
    }
    if (s.train.c != s.test.c || s.train.h != s.test.h || s.train.w != s.test.w)
      throw Error("image folder " + d.string() + ": training images are " +
                  std::to_string(s.train.c) + "x" + std::to_string(s.train.h) + "x" +
                  std::to_string(s.train.w) + " but test images are " +
                  std::to_string(s.test.c) + "x" + std::to_string(s.test.h) + "x" +
                  std::to_string(s.test.w) + " (--channels and --resize make them one shape)");
  } else {
    const Dataset all = load_image_folder(d.string(), options, &skipped_train);
    s = stratified_split(all, 0.2, seed);
    s.note = "no train/ and test/ sub-folders in " + d.string() + ": a seeded stratified 80/20 " +
             "split of its " + with_commas(all.size()) + " images (seed " + std::to_string(seed) +
             "): " + with_commas(s.train.size()) + " train, " + with_commas(s.test.size()) + " test";
    s.train.class_names = all.class_names;
    s.test.class_names = all.class_names;
  }
  if (const int n = skipped_train + skipped_test; n > 0)
    s.note = (s.note.empty() ? "" : s.note + "; ") + "skipped " + std::to_string(n) +
             (n == 1 ? " entry" : " entries") + " of the class folders that " +
             (n == 1 ? "is not a .png file" : "are not .png files");
  return s;
}

bool has_sub_folders(const fs::path& d) {
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(d, ec)) {
    const std::string name = e.path().filename().string();
    std::error_code ec2;
    if (!name.empty() && name[0] != '.' && fs::is_directory(e.path(), ec2)) return true;
  }
  return false;
}

[[noreturn]] void throw_no_data(const std::string& dir, bool half, bool have_tra,
                                const IdxFiles& idx, const Present& cifar10) {
  std::string found;
  if (half) {
    const auto [there, not_there] = half_pair(have_tra);
    found = "; found " + there + " without " + not_there;
  }
  if (idx.missing.size() < 4) {
    found += "; found some IDX files but not ";
    for (std::size_t i = 0; i < idx.missing.size(); ++i)
      found += (i ? ", " : "") + idx.missing[i];
  }
  if (!cifar10.there.empty()) found += "; found some CIFAR-10 files but not " + joined(cifar10.missing);
  throw Error("no data in folder " + dir +
              ": looked for optdigits.tra + optdigits.tes, then the four MNIST-style IDX files "
              "(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
              "t10k-labels-idx1-ubyte, each optionally .gz), then digits.csv.gz, then digits.csv, then "
              "CIFAR-10 (data_batch_1.bin..data_batch_5.bin + test_batch.bin), then CIFAR-100 "
              "(train.bin + test.bin), then class sub-folders of .png images (in train/ and "
              "test/, or in the folder itself)" +
              found +
              " (scripts/fetch-data.sh fills <repo>/data with optdigits; scripts/fetch-data.sh "
              "fashion-mnist installs /usr/share/datasets/fashion-mnist)");
}

}  // namespace

namespace {
Split find_and_load(const std::string& dir, std::uint64_t seed, const LoadOptions& options,
                    bool& shaped);
}  // namespace

Split load_data_dir(const std::string& dir, std::uint64_t seed, const LoadOptions& options) {
  if (options.channels != 0 && options.channels != 1 && options.channels != 3)
    throw Error("load_data_dir: " + std::to_string(options.channels) + " channels (1 or 3)");
  if ((options.resize_h == 0) != (options.resize_w == 0))
    throw Error("load_data_dir: resizing needs both a height and a width");
  bool shaped = false;
  Split s = find_and_load(dir, seed, options, shaped);
  // An image folder's images were shaped one by one as they were read; the rest are now.
  if (!shaped) {
    apply_load_options(s.train, options);
    apply_load_options(s.test, options);
  }
  return s;
}

namespace {

Split find_and_load(const std::string& dir, std::uint64_t seed, const LoadOptions& options,
                    bool& shaped) {
  const fs::path d(dir);
  std::error_code ec;
  if (!fs::exists(d, ec)) throw Error("data folder " + dir + ": no such folder");
  if (!fs::is_directory(d, ec)) throw Error("data folder " + dir + ": not a folder");

  const fs::path tra = d / "optdigits.tra";
  const fs::path tes = d / "optdigits.tes";
  const bool have_tra = is_present(tra);
  const bool have_tes = is_present(tes);
  if (have_tra && have_tes)
    return Split{load_optdigits(tra.string()), load_optdigits(tes.string()), {}};
  const bool half = have_tra != have_tes;

  const IdxFiles idx = find_idx_files(d);
  if (idx.missing.empty()) return load_idx_pair(dir, idx);

  for (const char* name : {"digits.csv.gz", "digits.csv"})
    if (is_present(d / name)) return load_digits_csv(d / name, seed, half, have_tra);

  const Present cifar10 = present(d, kCifar10Files);
  if (cifar10.missing.empty()) return load_cifar10(d);
  if (present(d, kCifar100Files).missing.empty()) return load_cifar100(d);
  // A folder with part of another format's files is reported as that, not read as images.
  const bool partial = half || idx.missing.size() < 4 || !cifar10.there.empty();
  if (!partial && has_sub_folders(d)) {
    shaped = true;
    return load_images(d, seed, options);
  }
  throw_no_data(dir, half, have_tra, idx, cifar10);
}

}  // namespace

ChannelStats channel_stats(const Dataset& d) {
  if (d.size() == 0) throw Error("channel statistics: " + d.source + " holds no samples");
  const std::size_t plane = std::size_t(d.h) * std::size_t(d.w);
  const double count = double(d.size()) * double(plane);
  ChannelStats st;
  st.mean.assign(std::size_t(d.c), 0.0);
  st.stdev.assign(std::size_t(d.c), 0.0);
  for (int i = 0; i < d.size(); ++i)
    for (int c = 0; c < d.c; ++c) {
      const float* p = d.image(i) + std::size_t(c) * plane;
      for (std::size_t j = 0; j < plane; ++j) st.mean[std::size_t(c)] += p[j];
    }
  for (double& m : st.mean) m /= count;
  for (int i = 0; i < d.size(); ++i)
    for (int c = 0; c < d.c; ++c) {
      const float* p = d.image(i) + std::size_t(c) * plane;
      for (std::size_t j = 0; j < plane; ++j) {
        const double e = p[j] - st.mean[std::size_t(c)];
        st.stdev[std::size_t(c)] += e * e;
      }
    }
  for (double& v : st.stdev) v = std::sqrt(v / count);
  return st;
}

}  // namespace scratchcnn::data
