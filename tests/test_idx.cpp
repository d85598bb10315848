// IDX (MNIST-format) files and the data folder that holds them: small files written here.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "scratchcnn/data/dataset.hpp"
#include "scratchcnn/error.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace scratchcnn;
using test::error_of;
using test::has;

namespace {

using test::labels_bytes;

// Images: pixel (i, y, x) = (i * 7 + y * 3 + x) % 256.
std::string images_bytes(std::uint32_t n, std::uint32_t rows, std::uint32_t cols) {
  return test::idx_images_bytes(n, rows, cols, [](std::uint32_t i, std::uint32_t y, std::uint32_t x) {
    return static_cast<unsigned char>((i * 7 + y * 3 + x) % 256);
  });
}

void write(const std::string& path, const std::string& bytes, bool gzip = false) {
  test::write_file(path, gzip ? test::gzip(bytes) : bytes);
}

}  // namespace

TEST(Idx, ReadsImagesAndLabelsPlainAndGzip) {
  const std::string dir = test::temp_dir("idx");
  for (bool gz : {false, true}) {
    const std::string im = dir + (gz ? "/im.gz" : "/im"), lb = dir + (gz ? "/lb.gz" : "/lb");
    write(im, images_bytes(3, 4, 5), gz);
    write(lb, labels_bytes(3), gz);
    const data::Dataset d = data::load_idx(im, lb);
    EXPECT_EQ(d.size(), 3);
    EXPECT_EQ(d.c, 1);
    EXPECT_EQ(d.h, 4);
    EXPECT_EQ(d.w, 5);
    EXPECT_EQ(d.classes, 10);
    ASSERT_EQ(d.images.size(), 60u);
    // Sample 2, row 1, column 4: (14 + 3 + 4) = 21.
    EXPECT_EQ(d.image(2)[1 * 5 + 4], 21.0f / 255.0f);
    EXPECT_EQ(d.labels, (std::vector<int>{0, 1, 2}));
    EXPECT_TRUE(data::is_idx_file(im));
    EXPECT_TRUE(data::is_idx_file(lb));
  }
  std::ofstream(dir + "/text.csv") << "1,2,3\n";
  EXPECT_FALSE(data::is_idx_file(dir + "/text.csv"));
  EXPECT_FALSE(data::is_idx_file(dir + "/missing"));
  // Pixel 255 is exactly 1.
  std::string b = test::idx_images_header(1, 1, 1);
  b.push_back(static_cast<char>(255));
  write(dir + "/white", b);
  EXPECT_EQ(data::load_idx_images(dir + "/white").pixels, std::vector<float>{1.0f});
}

TEST(Idx, RefusesBadFilesNamingThem) {
  const std::string dir = test::temp_dir("idx-bad");
  const std::string good_images = images_bytes(4, 3, 3), good_labels = labels_bytes(4);
  struct Case {
    std::string name, bytes;
    bool images;
    std::string message;
  };
  std::string big_label = good_labels;
  big_label[8 + 2] = 10;
  std::string zero_rows = good_images;
  zero_rows[11] = 0;
  std::string float_type = good_images;
  float_type[2] = 0x0d;
  const Case cases[] = {
      {"labels-as-images", good_labels, true, "it is an IDX labels file"},
      {"images-as-labels", good_images, false, "it is an IDX images file"},
      {"float-type", float_type, true, "only unsigned bytes"},
      {"short", std::string("\0\0", 2), true, "only 2 bytes"},
      {"short-header", good_images.substr(0, 10), true, "shorter than the 16-byte header"},
      {"truncated-images", good_images.substr(0, good_images.size() - 1), true,
       "truncated: the header promises 4 images of 3x3 (36 bytes), the file holds 35 bytes"},
      {"long-images", good_images + "x", true, "1 byte after the 4 images of 3x3"},
      {"truncated-labels", good_labels.substr(0, good_labels.size() - 2), false, "truncated"},
      {"zero-rows", zero_rows, true, "wrong image dimensions 0x3"},
      {"label-10", big_label, false, "label of sample 2 (byte 10) is 10, outside 0..9"},
  };
  for (const auto& c : cases) {
    const std::string path = dir + "/" + c.name;
    write(path, c.bytes);
    const std::string msg = error_of([&] {
      if (c.images) data::load_idx_images(path);
      else data::load_idx_labels(path);
    });
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << c.name << ": " << msg;
    EXPECT_TRUE(has(msg, c.message)) << c.name << ": " << msg;
  }
  // A gzip stream cut short.
  write(dir + "/cut.gz", good_images, true);
  const std::string gz = [&] {
    std::ifstream in(dir + "/cut.gz", std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  write(dir + "/cut.gz", gz.substr(0, gz.size() / 2));
  EXPECT_TRUE(has(error_of([&] { data::load_idx_images(dir + "/cut.gz"); }), dir + "/cut.gz: "));
  // Counts that differ name both files.
  write(dir + "/im", good_images);
  write(dir + "/lb", labels_bytes(5));
  const std::string msg = error_of([&] { data::load_idx(dir + "/im", dir + "/lb"); });
  EXPECT_TRUE(has(msg, dir + "/im holds 4 images but " + dir + "/lb holds 5 labels")) << msg;
  EXPECT_TRUE(has(error_of([&] { data::load_idx_images(dir + "/nothing"); }), "no such file"));
}

TEST(Idx, DataFolderIsDetectedFromItsFiles) {
  const std::string dir = test::temp_dir("idx-dir");
  // Mixed plain and gzip, as a user's folder may be.
  write(dir + "/train-images-idx3-ubyte.gz", images_bytes(20, 28, 28), true);
  write(dir + "/train-labels-idx1-ubyte", labels_bytes(20));
  write(dir + "/t10k-images-idx3-ubyte", images_bytes(10, 28, 28));
  const std::string partial = error_of([&] { data::load_data_dir(dir, 1); });
  EXPECT_TRUE(has(partial, "found some IDX files but not t10k-labels-idx1-ubyte[.gz]")) << partial;
  write(dir + "/t10k-labels-idx1-ubyte.gz", labels_bytes(10), true);
  const data::Split s = data::load_data_dir(dir, 1);
  EXPECT_EQ(s.train.size(), 20);
  EXPECT_EQ(s.test.size(), 10);
  EXPECT_EQ(s.train.h, 28);
  EXPECT_EQ(s.train.w, 28);
  EXPECT_EQ(s.train.c, 1);
  EXPECT_TRUE(s.note.empty());
  EXPECT_TRUE(has(s.train.source, "train-images-idx3-ubyte.gz"));
  // Training and test images of different sizes are refused.
  write(dir + "/t10k-images-idx3-ubyte", images_bytes(10, 8, 8));
  EXPECT_TRUE(has(error_of([&] { data::load_data_dir(dir, 1); }),
                  "training images are 28x28 but test images are 8x8"));
  // The optdigits pair comes first.
  const std::string both = test::temp_dir("idx-both");
  for (const auto& e : fs::directory_iterator(dir)) fs::copy(e.path(), both / e.path().filename());
  std::string row;
  for (int i = 0; i < 64; ++i) row += "1,";
  row += "3\n";
  std::ofstream(both + "/optdigits.tra") << row;
  std::ofstream(both + "/optdigits.tes") << row;
  EXPECT_EQ(data::load_data_dir(both, 1).train.h, 8);
  // An empty folder names the IDX files it looked for.
  const std::string empty = test::temp_dir("idx-empty");
  EXPECT_TRUE(has(error_of([&] { data::load_data_dir(empty, 1); }), "t10k-labels-idx1-ubyte"));
}
