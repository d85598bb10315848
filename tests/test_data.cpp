#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <set>
#include <string>
#include <vector>

#include "scratchcnn/data/dataset.hpp"
#include "scratchcnn/error.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using scratchcnn::data::Dataset;
using scratchcnn::data::load_data_dir;
using scratchcnn::data::load_optdigits;
using scratchcnn::data::Split;
using scratchcnn::data::stratified_split;
using scratchcnn::test::error_of;

namespace {

// A valid row whose pixels are (seed + i) % 17, so every value 0..16 appears across a few rows.
std::string row(int label, int seed = 0) {
  std::string s;
  for (int i = 0; i < 64; ++i) s += std::to_string((seed + i) % 17) + ",";
  return s + std::to_string(label);
}

std::string rows(int n, const char* eol = "\n") {
  std::string s;
  for (int i = 0; i < n; ++i) s += row(i % 10, i) + eol;
  return s;
}

class DataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("scratchcnn_test_data_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }

  std::string write_gz(const std::string& name, const std::string& text) {
    return write(name, scratchcnn::test::gzip(text));
  }

  // Writes text as the named file and expects loading it to fail with "<path>:<line>: " followed by
  // a message that holds every one of the given parts.
  void expect_load_error(const std::string& text, int line,
                         std::initializer_list<const char*> parts,
                         const std::string& name = "rows.tra") {
    const std::string path = write(name, text);
    const std::string msg = error_of([&] { load_optdigits(path); });
    const std::string prefix = path + ":" + std::to_string(line) + ": ";
    EXPECT_EQ(msg.rfind(prefix, 0), 0u) << "message: " << msg << "\nexpected prefix: " << prefix;
    for (const char* part : parts) EXPECT_NE(msg.find(part), std::string::npos) << msg;
  }

  fs::path dir_;
};

// Labels in file order: class k appears (30 + 7k) times, interleaved; image[0] holds the sample's
// index so that tests can follow samples through a split.
Dataset synthetic(int classes = 10) {
  Dataset d;
  d.classes = classes;
  d.source = "synthetic";
  std::vector<int> left(static_cast<std::size_t>(classes));
  for (int k = 0; k < classes; ++k) left[std::size_t(k)] = 30 + 7 * k;
  for (bool any = true; any;) {
    any = false;
    for (int k = 0; k < classes; ++k) {
      if (left[std::size_t(k)]-- <= 0) continue;
      any = true;
      std::vector<float> img(64, 0.0f);
      img[0] = static_cast<float>(d.size());
      d.images.insert(d.images.end(), img.begin(), img.end());
      d.labels.push_back(k);
    }
  }
  return d;
}

std::vector<int> ids(const Dataset& d) {
  std::vector<int> out;
  for (int i = 0; i < d.size(); ++i) out.push_back(static_cast<int>(d.image(i)[0]));
  return out;
}

std::vector<int> class_counts(const Dataset& d) {
  std::vector<int> counts(static_cast<std::size_t>(d.classes), 0);
  for (int label : d.labels) ++counts[static_cast<std::size_t>(label)];
  return counts;
}

}  // namespace

// ---- reading -----------------------------------------------------------------------------------

TEST_F(DataTest, ScalesPixelsBySixteenAndKeepsLabels) {
  const std::string path = write("a.tra", row(3, 0) + "\n" + row(9, 5) + "\n" + row(0, 16) + "\n");
  const Dataset d = load_optdigits(path);
  ASSERT_EQ(d.size(), 3);
  EXPECT_EQ(d.c, 1);
  EXPECT_EQ(d.h, 8);
  EXPECT_EQ(d.w, 8);
  EXPECT_EQ(d.classes, 10);
  EXPECT_EQ(d.sample_size(), 64);
  EXPECT_EQ(d.images.size(), 3u * 64u);
  EXPECT_EQ(d.labels, (std::vector<int>{3, 9, 0}));
  EXPECT_EQ(d.source, path);
  const int seeds[3] = {0, 5, 16};
  for (int s = 0; s < 3; ++s) {
    for (int i = 0; i < 64; ++i) {
      const int v = (seeds[s] + i) % 17;
      EXPECT_EQ(d.image(s)[i], static_cast<float>(v) / 16.0f) << "sample " << s << " pixel " << i;
    }
  }
  EXPECT_EQ(*std::max_element(d.images.begin(), d.images.end()), 1.0f);
  EXPECT_EQ(*std::min_element(d.images.begin(), d.images.end()), 0.0f);
}

TEST_F(DataTest, AcceptsCrlfAndAMissingFinalNewline) {
  const Dataset lf = load_optdigits(write("lf.tra", rows(12)));
  const Dataset crlf = load_optdigits(write("crlf.tra", rows(12, "\r\n")));
  std::string no_final = rows(12);
  no_final.pop_back();
  const Dataset last = load_optdigits(write("nofinal.tra", no_final));
  ASSERT_EQ(lf.size(), 12);
  EXPECT_EQ(crlf.images, lf.images);
  EXPECT_EQ(crlf.labels, lf.labels);
  EXPECT_EQ(last.images, lf.images);
  EXPECT_EQ(last.labels, lf.labels);
}

TEST_F(DataTest, AcceptsIntegralFloatsAsWrittenByNumpy) {
  std::string text;
  for (int i = 0; i < 64; ++i) text += std::to_string(i % 17) + ".0,";
  text += "7.00\n";
  const Dataset d = load_optdigits(write("floats.csv", text));
  ASSERT_EQ(d.size(), 1);
  EXPECT_EQ(d.labels[0], 7);
  EXPECT_EQ(d.image(0)[16], 16.0f / 16.0f);
  EXPECT_EQ(d.image(0)[3], 3.0f / 16.0f);
}

TEST_F(DataTest, ReadsGzipAndPlainFilesNamedGz) {
  const std::string text = rows(25);
  const Dataset plain = load_optdigits(write("digits.csv", text));
  const Dataset gz = load_optdigits(write_gz("digits.csv.gz", text));
  ASSERT_LT(fs::file_size(dir_ / "digits.csv.gz"), text.size()) << "not compressed";
  const Dataset plain_gz_name = load_optdigits(write("plain.csv.gz", text));
  ASSERT_EQ(gz.size(), 25);
  EXPECT_EQ(gz.images, plain.images);
  EXPECT_EQ(gz.labels, plain.labels);
  EXPECT_EQ(plain_gz_name.images, plain.images);
}

// ---- errors: each names the file and the line, and says what is wrong ---------------------------

TEST_F(DataTest, WrongFieldCountNamesFileLineAndCounts) {
  std::string short_row = row(1);
  short_row = short_row.substr(0, short_row.rfind(','));  // 64 fields
  expect_load_error(rows(16) + short_row + "\n" + rows(2), 17,
                    {"expected 65 comma-separated fields, got 64"});
  expect_load_error(rows(3) + row(2) + ",4\n", 4, {"expected 65 comma-separated fields, got 66"});
  expect_load_error("1 2 3 4\n", 1, {"expected 65 comma-separated fields, got 1"});
}

TEST_F(DataTest, NonIntegerNamesFieldAndText) {
  std::string bad = row(4);
  bad.replace(0, 1, "abc");  // field 1
  expect_load_error(rows(2) + bad + "\n", 3, {"field 1 ", "not an integer", "'abc'"});

  std::string half = "0,0,0,0,1.5";
  for (int i = 5; i < 64; ++i) half += ",0";
  expect_load_error(half + ",3\n", 1, {"field 5 ", "not an integer", "'1.5'"});

  std::string empty_field = "0,,0";
  for (int i = 3; i < 64; ++i) empty_field += ",0";
  expect_load_error(rows(5) + empty_field + ",3\n", 6, {"field 2 ", "not an integer", "''"});

  std::string bad_label = row(0);
  bad_label.back() = 'x';
  expect_load_error(bad_label + "\n", 1, {"field 65 ", "not an integer", "'x'"});

  std::string exponent = row(0);
  exponent.replace(0, 1, "1e1");
  expect_load_error(exponent + "\n", 1, {"field 1 ", "not an integer", "'1e1'"});
}

TEST_F(DataTest, PixelOutOfRange) {
  std::string high = "0,0,17";
  for (int i = 3; i < 64; ++i) high += ",0";
  expect_load_error(rows(7) + high + ",1\n", 8, {"field 3 ", "pixel", "17", "outside 0..16"});

  std::string negative = "-1";
  for (int i = 1; i < 64; ++i) negative += ",0";
  expect_load_error(negative + ",1\n", 1, {"field 1 ", "pixel", "-1", "outside 0..16"});

  std::string huge = "99999999999999999999";
  for (int i = 1; i < 64; ++i) huge += ",0";
  expect_load_error(huge + ",1\n", 1,
                    {"field 1 ", "pixel", "is 99999999999999999999,", "outside 0..16"});
}

TEST_F(DataTest, LabelOutOfRange) {
  expect_load_error(rows(4) + row(10) + "\n", 5, {"field 65 ", "label", "10", "outside 0..9"});
  std::string neg = row(0);
  neg.back() = '1';
  neg.insert(neg.size() - 1, "-");
  expect_load_error(neg + "\n", 1, {"label", "-1", "outside 0..9"});
}

TEST_F(DataTest, BlankLinesInsideAreRefusedWithTheirLine) {
  expect_load_error(rows(3) + "\n" + rows(2), 4, {"blank line"});
  expect_load_error(rows(3, "\r\n") + "\r\n" + rows(2, "\r\n"), 4, {"blank line"});
  expect_load_error(rows(3) + "\n", 4, {"blank line"});
  expect_load_error("\n", 1, {"blank line"});
}

TEST_F(DataTest, EmptyFile) {
  const std::string path = write("empty.tra", "");
  const std::string msg = error_of([&] { load_optdigits(path); });
  EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
  EXPECT_NE(msg.find("empty file"), std::string::npos) << msg;
}

TEST_F(DataTest, EmptyGzipFile) {
  const std::string path = write_gz("empty.csv.gz", "");
  const std::string msg = error_of([&] { load_optdigits(path); });
  EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
  EXPECT_NE(msg.find("empty file"), std::string::npos) << msg;
}

TEST_F(DataTest, MissingFileAndFolderInsteadOfFile) {
  const std::string missing = (dir_ / "nope.tra").string();
  std::string msg = error_of([&] { load_optdigits(missing); });
  EXPECT_EQ(msg.rfind(missing + ": ", 0), 0u) << msg;
  EXPECT_NE(msg.find("cannot open"), std::string::npos) << msg;
  EXPECT_NE(msg.find("no such file"), std::string::npos) << msg;

  fs::create_directories(dir_ / "sub.tra");
  const std::string folder = (dir_ / "sub.tra").string();
  msg = error_of([&] { load_optdigits(folder); });
  EXPECT_EQ(msg.rfind(folder + ": ", 0), 0u) << msg;
  EXPECT_NE(msg.find("folder"), std::string::npos) << msg;
}

TEST_F(DataTest, UnreadableFile) {
  const std::string path = write("locked.tra", rows(2));
  fs::permissions(path, fs::perms::none);
  const bool root_reads_anyway = std::ifstream(path).is_open();
  if (!root_reads_anyway) {
    const std::string msg = error_of([&] { load_optdigits(path); });
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
    EXPECT_NE(msg.find("cannot open"), std::string::npos) << msg;
  }
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);

  // Opens for anyone, root included, but reading at offset 0 fails (EIO).
  const std::string mem = "/proc/self/mem";
  if (fs::exists(mem)) {
    const std::string msg = error_of([&] { load_optdigits(mem); });
    EXPECT_EQ(msg.rfind(mem + ": read error: ", 0), 0u) << msg;
  } else if (root_reads_anyway) {
    GTEST_SKIP() << "running as root without /proc: no unreadable file to try";
  }
}

TEST_F(DataTest, CorruptAndTruncatedGzipAreReadErrors) {
  std::string gz;
  {
    const std::string good = write_gz("good.csv.gz", rows(200));
    std::ifstream in(good, std::ios::binary);
    gz.assign(std::istreambuf_iterator<char>(in), {});
  }
  ASSERT_GT(gz.size(), 40u);
  const std::string cut = write("cut.csv.gz", gz.substr(0, gz.size() / 2));
  std::string msg = error_of([&] { load_optdigits(cut); });
  EXPECT_EQ(msg.rfind(cut + ": read error: ", 0), 0u) << msg;
  EXPECT_EQ(msg.find(cut, 1), std::string::npos) << "path named twice: " << msg;

  for (std::size_t i = 20; i < gz.size() - 8; ++i) gz[i] = static_cast<char>(gz[i] ^ 0x5a);
  const std::string bad = write("bad.csv.gz", gz);
  msg = error_of([&] { load_optdigits(bad); });
  EXPECT_EQ(msg.rfind(bad + ":", 0), 0u) << msg;
}

// ---- data folders ------------------------------------------------------------------------------

TEST_F(DataTest, DataDirPrefersTheUciPair) {
  write("optdigits.tra", rows(30));
  write("optdigits.tes", rows(12));
  write_gz("digits.csv.gz", rows(50));
  const Split s = load_data_dir(dir_.string(), 1);
  EXPECT_EQ(s.train.size(), 30);
  EXPECT_EQ(s.test.size(), 12);
  EXPECT_NE(s.train.source.find("optdigits.tra"), std::string::npos);
  EXPECT_NE(s.test.source.find("optdigits.tes"), std::string::npos);
  EXPECT_TRUE(s.note.empty()) << s.note;
}

TEST_F(DataTest, DataDirSplitsDigitsCsvGzWithANote) {
  write_gz("digits.csv.gz", rows(100));
  write("optdigits.tra", rows(30));  // half a pair does not count
  const Split s = load_data_dir(dir_.string(), 7);
  EXPECT_EQ(s.train.size() + s.test.size(), 100);
  EXPECT_EQ(s.test.size(), 20);
  for (const char* part : {"only the 100 rows", "digits.csv.gz", "stratified", "80/20", "seed 7",
                           "80 train", "20 test", "optdigits.tes"}) {
    EXPECT_NE(s.note.find(part), std::string::npos) << part << " not in: " << s.note;
  }
  const Split again = stratified_split(load_optdigits((dir_ / "digits.csv.gz").string()), 0.2, 7);
  EXPECT_EQ(s.test.images, again.test.images);
  EXPECT_EQ(s.train.labels, again.train.labels);
}

TEST_F(DataTest, DataDirFallsBackToPlainDigitsCsv) {
  write("digits.csv", rows(50));
  const Split s = load_data_dir(dir_.string(), 3);
  EXPECT_EQ(s.train.size() + s.test.size(), 50);
  EXPECT_NE(s.note.find("digits.csv"), std::string::npos) << s.note;
  EXPECT_NE(s.note.find("only the 50 rows"), std::string::npos) << s.note;
}

TEST_F(DataTest, DataDirReportsWhatItLookedFor) {
  write("optdigits.tes", rows(3));
  std::string msg = error_of([&] { load_data_dir(dir_.string(), 1); });
  for (const char* part : {"optdigits.tra", "optdigits.tes", "digits.csv.gz", "digits.csv",
                           "found optdigits.tes without optdigits.tra"}) {
    EXPECT_NE(msg.find(part), std::string::npos) << part << " not in: " << msg;
  }
  EXPECT_NE(msg.find(dir_.string()), std::string::npos) << msg;

  const std::string missing = (dir_ / "absent").string();
  msg = error_of([&] { load_data_dir(missing, 1); });
  EXPECT_NE(msg.find(missing), std::string::npos) << msg;
  EXPECT_NE(msg.find("no such folder"), std::string::npos) << msg;
}

TEST_F(DataTest, DataDirPassesOnFileErrors) {
  write("optdigits.tra", rows(3) + row(11) + "\n");
  write("optdigits.tes", rows(3));
  const std::string msg = error_of([&] { load_data_dir(dir_.string(), 1); });
  EXPECT_NE(msg.find("optdigits.tra:4: "), std::string::npos) << msg;
  EXPECT_NE(msg.find("label"), std::string::npos) << msg;
}

// ---- the stratified split ----------------------------------------------------------------------

TEST(StratifiedSplit, PerClassCountsAreRoundedFractions) {
  const Dataset all = synthetic();
  const Split s = stratified_split(all, 0.2, 42);
  const auto total = class_counts(all), train = class_counts(s.train), test = class_counts(s.test);
  for (std::size_t k = 0; k < total.size(); ++k) {
    EXPECT_EQ(train[k] + test[k], total[k]) << "class " << k;
    EXPECT_EQ(test[k], std::lround(0.2 * total[k])) << "class " << k;
  }
  EXPECT_EQ(s.train.size() + s.test.size(), all.size());
  EXPECT_EQ(s.train.images.size(), std::size_t(s.train.size()) * 64u);
  EXPECT_EQ(s.test.images.size(), std::size_t(s.test.size()) * 64u);
  EXPECT_EQ(s.train.classes, all.classes);
  EXPECT_EQ(s.test.h, all.h);
}

TEST(StratifiedSplit, DisjointCoveringAndInFileOrder) {
  const Dataset all = synthetic();
  const Split s = stratified_split(all, 0.2, 5);
  const auto tr = ids(s.train), te = ids(s.test);
  EXPECT_TRUE(std::is_sorted(tr.begin(), tr.end()));
  EXPECT_TRUE(std::is_sorted(te.begin(), te.end()));
  std::set<int> seen(tr.begin(), tr.end());
  for (int id : te) EXPECT_TRUE(seen.insert(id).second) << "sample " << id << " in both parts";
  EXPECT_EQ(seen.size(), std::size_t(all.size()));
  // Each sample keeps its own label.
  for (int i = 0; i < s.test.size(); ++i) {
    EXPECT_EQ(s.test.labels[std::size_t(i)], all.labels[std::size_t(te[std::size_t(i)])]);
  }
}

TEST(StratifiedSplit, FixedForASeedAndDifferentAcrossSeeds) {
  const Dataset all = synthetic();
  const auto a = ids(stratified_split(all, 0.2, 1).test);
  const auto b = ids(stratified_split(all, 0.2, 1).test);
  const auto c = ids(stratified_split(all, 0.2, 2).test);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(StratifiedSplit, EdgeFractionsAndBadInput) {
  const Dataset all = synthetic(3);
  EXPECT_EQ(stratified_split(all, 0.0, 1).test.size(), 0);
  EXPECT_EQ(stratified_split(all, 1.0, 1).train.size(), 0);
  EXPECT_NE(error_of([&] { stratified_split(all, 1.5, 1); }).find("outside 0..1"),
            std::string::npos);
  EXPECT_NE(error_of([&] { stratified_split(all, std::nan(""), 1); }).find("outside 0..1"),
            std::string::npos);
  Dataset bad = all;
  bad.labels[4] = 3;
  const std::string msg = error_of([&] { stratified_split(bad, 0.2, 1); });
  EXPECT_NE(msg.find("sample 4"), std::string::npos) << msg;
  EXPECT_NE(msg.find("label 3"), std::string::npos) << msg;
}

// ---- the real data -----------------------------------------------------------------------------

// The folder every data-dependent test uses (test::optdigits_dir: $SCRATCHCNN_TEST_DATA, else the
// shared UCI files beside the checkout, else <repo>/data as filled by scripts/fetch-data.sh). With
// none the test fails: a data test that silently passes without data hides a broken setup.
TEST(RealData, LoadsWithTheKnownCounts) {
  const std::string dir = scratchcnn::test::optdigits_dir();
  ASSERT_FALSE(dir.empty());
  const fs::path folder(dir);
  const std::vector<int> tra_counts = {376, 389, 380, 389, 387, 376, 377, 387, 380, 382};
  const Split s = load_data_dir(dir, 1);
  if (fs::exists(folder / "optdigits.tra") && fs::exists(folder / "optdigits.tes")) {
    const Dataset tra = load_optdigits((folder / "optdigits.tra").string());
    const Dataset tes = load_optdigits((folder / "optdigits.tes").string());
    EXPECT_EQ(tra.size(), 3823);
    EXPECT_EQ(tes.size(), 1797);
    EXPECT_EQ(class_counts(tra), tra_counts);
    EXPECT_EQ(s.train.size(), 3823);
    EXPECT_EQ(s.test.size(), 1797);
    EXPECT_EQ(s.train.images, tra.images);
    EXPECT_TRUE(s.note.empty()) << s.note;
    // What a machine with only digits.csv.gz would train on.
    const Split fallback = stratified_split(tes, 0.2, 1);
    EXPECT_EQ(fallback.train.size(), 1438);
    EXPECT_EQ(fallback.test.size(), 359);
  } else {
    EXPECT_EQ(s.train.size() + s.test.size(), 1797) << s.note;
    EXPECT_EQ(s.test.size(), 359) << s.note;
    EXPECT_FALSE(s.note.empty());
  }
}
