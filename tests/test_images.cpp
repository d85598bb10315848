// PNG files, image folders, --channels and --resize, CIFAR binary files and the data fingerprint
// of many classes (dataset.hpp, docs/file-formats.md).
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "png_files.hpp"
#include "scratchcnn/checkpoint.hpp"
#include "scratchcnn/data/dataset.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/files.hpp"
#include "scratchcnn/memory.hpp"
#include "scratchcnn/parameters.hpp"
#include "test_support.hpp"

namespace scratchcnn::test {
namespace {

namespace fs = std::filesystem;
using data::Picture;

Picture decode(const std::string& bytes, const std::string& name = "mem.png") {
  InputFile in = InputFile::from_bytes(bytes, name);
  return data::load_png(in);
}

PngSpec spec(int w, int h, int color_type, int depth, std::vector<unsigned> samples) {
  PngSpec s;
  s.width = w;
  s.height = h;
  s.color_type = color_type;
  s.bit_depth = depth;
  s.samples = std::move(samples);
  return s;
}

void mkdirs(const std::string& p) { fs::create_directories(p); }

// ---- PNG decoding ---------------------------------------------------------------------------------

TEST(Png, Gray8ScalesBy255RowMajor) {
  const Picture p = decode(png_bytes(spec(3, 2, 0, 8, {0, 51, 255, 1, 2, 254})));
  ASSERT_EQ(p.c, 1);
  ASSERT_EQ(p.h, 2);
  ASSERT_EQ(p.w, 3);
  const std::vector<float> want = {0, 51 / 255.0f, 1, 1 / 255.0f, 2 / 255.0f, 254 / 255.0f};
  EXPECT_EQ(p.pixels, want);
}

TEST(Png, RgbBecomesChannelPlanar) {
  // Two pixels: (10, 20, 30) and (40, 50, 60).
  const Picture p = decode(png_bytes(spec(2, 1, 2, 8, {10, 20, 30, 40, 50, 60})));
  ASSERT_EQ(p.c, 3);
  const std::vector<float> want = {10 / 255.0f, 40 / 255.0f, 20 / 255.0f,
                                   50 / 255.0f, 30 / 255.0f, 60 / 255.0f};
  EXPECT_EQ(p.pixels, want);
}

TEST(Png, AlphaIsDroppedWithoutCompositing) {
  const Picture rgba = decode(png_bytes(spec(1, 1, 6, 8, {100, 150, 200, 0})));
  EXPECT_EQ(rgba.c, 3);
  EXPECT_EQ(rgba.pixels, (std::vector<float>{100 / 255.0f, 150 / 255.0f, 200 / 255.0f}));
  const Picture ga = decode(png_bytes(spec(2, 1, 4, 8, {7, 0, 9, 255})));
  EXPECT_EQ(ga.c, 1);
  EXPECT_EQ(ga.pixels, (std::vector<float>{7 / 255.0f, 9 / 255.0f}));
}

TEST(Png, SixteenBitScalesBy65535) {
  const Picture g = decode(png_bytes(spec(3, 1, 0, 16, {0, 257, 65535})));
  EXPECT_EQ(g.pixels, (std::vector<float>{0, 257 / 65535.0f, 1}));
  const Picture rgb = decode(png_bytes(spec(1, 1, 2, 16, {1000, 40000, 65535})));
  EXPECT_EQ(rgb.pixels, (std::vector<float>{1000 / 65535.0f, 40000 / 65535.0f, 1}));
  const Picture rgba = decode(png_bytes(spec(1, 1, 6, 16, {1, 2, 3, 4})));
  EXPECT_EQ(rgba.pixels, (std::vector<float>{1 / 65535.0f, 2 / 65535.0f, 3 / 65535.0f}));
}

TEST(Png, PaletteIsExpandedAndItsTransparencyDropped) {
  PngSpec s = spec(3, 1, 3, 8, {1, 0, 1});
  s.palette = {{{0, 0, 0}}, {{255, 128, 3}}};
  Picture p = decode(png_bytes(s));
  ASSERT_EQ(p.c, 3);
  EXPECT_EQ(p.pixels, (std::vector<float>{1, 0, 1, 128 / 255.0f, 0, 128 / 255.0f, 3 / 255.0f, 0,
                                          3 / 255.0f}));
  s.trns = {0, 10};
  p = decode(png_bytes(s));
  ASSERT_EQ(p.c, 3);
  EXPECT_EQ(p.pixels[0], 1.0f);
  EXPECT_EQ(p.pixels[7], 0.0f);
  // A 2-bit palette.
  PngSpec small = spec(4, 1, 3, 2, {0, 1, 2, 3});
  small.palette = {{{0, 0, 0}}, {{1, 1, 1}}, {{2, 2, 2}}, {{3, 3, 3}}};
  p = decode(png_bytes(small));
  EXPECT_EQ(p.pixels[3], 3 / 255.0f);
}

TEST(Png, LowBitGrayIsExpandedToTheFullRange) {
  const Picture one = decode(png_bytes(spec(3, 1, 0, 1, {1, 0, 1})));
  EXPECT_EQ(one.pixels, (std::vector<float>{1, 0, 1}));
  const Picture four = decode(png_bytes(spec(2, 1, 0, 4, {15, 5})));
  EXPECT_EQ(four.pixels, (std::vector<float>{1, 85 / 255.0f}));  // 5 * 17
}

TEST(Png, InterlacedMatchesPlain) {
  PngSpec s = spec(9, 7, 2, 8, {});
  for (int i = 0; i < 9 * 7 * 3; ++i) s.samples.push_back(unsigned(i * 5 % 256));
  const Picture plain = decode(png_bytes(s));
  s.interlaced = true;
  EXPECT_EQ(decode(png_bytes(s)).pixels, plain.pixels);
  // 16-bit gray + alpha, interlaced, and a palette with transparency.
  PngSpec g = spec(5, 6, 4, 16, {});
  for (int i = 0; i < 5 * 6 * 2; ++i) g.samples.push_back(unsigned(i * 1031 % 65536));
  const Picture g_plain = decode(png_bytes(g));
  g.interlaced = true;
  EXPECT_EQ(decode(png_bytes(g)).pixels, g_plain.pixels);
  EXPECT_EQ(g_plain.pixels[1], 2062 / 65535.0f);
  PngSpec pal = spec(6, 5, 3, 8, {});
  for (int i = 0; i < 30; ++i) pal.samples.push_back(unsigned(i % 3));
  pal.palette = {{{10, 20, 30}}, {{40, 50, 60}}, {{70, 80, 90}}};
  pal.trns = {0, 128, 255};
  const Picture pal_plain = decode(png_bytes(pal));
  pal.interlaced = true;
  EXPECT_EQ(decode(png_bytes(pal)).pixels, pal_plain.pixels);
  EXPECT_EQ(pal_plain.pixels[30 + 2], 80 / 255.0f);  // green plane, pixel 2 (index 2)
}

TEST(Png, BadFilesAreErrorsNamingTheFile) {
  const std::string good = simple_png(8, 8, 3, 1);
  EXPECT_TRUE(has(error_of([&] { decode("not a png at all, just text", "a.png"); }),
                  "a.png: not a PNG file"));
  EXPECT_TRUE(has(error_of([&] { decode(good.substr(0, 20), "b.png"); }), "b.png: truncated PNG"));
  const std::string cut = error_of([&] { decode(good.substr(0, good.size() - 30), "c.png"); });
  EXPECT_TRUE(has(cut, "c.png: corrupted PNG file (chunk 'IDAT' at byte 33 claims ")) << cut;
  const std::string no_end = error_of([&] { decode(good.substr(0, good.size() - 12), "c.png"); });
  EXPECT_TRUE(has(no_end, "c.png: truncated PNG file (no IEND chunk")) << no_end;
  // A chunk claiming far more than the file holds is refused before libpng allocates it (found
  // by fuzz_png: a tEXt chunk of 0x64000000 bytes).
  std::string claim = good.substr(0, 33) + std::string("\x64\0\0\0tEXt", 8) + "Comment";
  EXPECT_TRUE(has(error_of([&] { decode(claim, "t.png"); }),
                  "t.png: corrupted PNG file (chunk 'tEXt' at byte 33 claims 1677721600 bytes"));
  // Random bytes after a valid header.
  std::string garbled = good.substr(0, 33);
  Rng rng(7);
  for (int i = 0; i < 200; ++i) garbled.push_back(static_cast<char>(rng.below(256)));
  EXPECT_TRUE(has(error_of([&] { decode(garbled, "d.png"); }), "d.png: corrupted PNG file"));
  // A flipped byte in the image data: its chunk's CRC no longer matches.
  std::string flipped = good;
  flipped[flipped.size() - 20] = static_cast<char>(flipped[flipped.size() - 20] ^ 0x55);
  EXPECT_TRUE(has(error_of([&] { decode(flipped, "e.png"); }), "e.png: corrupted PNG file"));
  // A header with an impossible bit depth, and one promising a huge image.
  std::string depth = good;
  depth[24] = 3;
  EXPECT_TRUE(has(error_of([&] { decode(depth, "f.png"); }), "f.png: corrupted PNG file (colour type"));
  std::string huge = good;
  huge[16] = 0x7f;  // width 2^30-ish
  EXPECT_TRUE(has(error_of([&] { decode(huge, "g.png"); }), "each side must be 1..16384"));
  std::string big = good;  // 16384 x 16384 RGB: over the 2^26 values of one image
  big[16] = 0;
  big[17] = 0;
  big[18] = 0x40;
  big[19] = 0;
  big[20] = 0;
  big[21] = 0;
  big[22] = 0x40;
  big[23] = 0;
  EXPECT_TRUE(has(error_of([&] { decode(big, "h.png"); }), "h.png: PNG image of 16384x16384x3 values"));
  // A header promising more than the compressed bytes can hold (deflate: at most 1032:1).
  std::string promise = simple_png(8, 8, 1, 0);
  promise[18] = 0x10;  // width 4096
  promise[19] = 0;
  promise[22] = 0x10;  // height 4096
  promise[23] = 0;
  const std::string promised = error_of([&] { decode(promise, "i.png"); });
  EXPECT_TRUE(has(promised,
                  "i.png: corrupted PNG file (" + std::to_string(promise.size()) +
                      " bytes cannot hold the 4096x4096 image its header promises)"))
      << promised;
}

TEST(Png, ReadsAFileFromDisk) {
  const std::string dir = temp_dir("png_disk");
  write_file(dir + "/x.png", simple_png(2, 3, 1, 5));
  const Picture p = data::load_png(dir + "/x.png");
  EXPECT_EQ(p.h, 2);
  EXPECT_EQ(p.w, 3);
  EXPECT_EQ(p.pixels[1], 12 / 255.0f);
  EXPECT_TRUE(has(error_of([&] { data::load_png(dir + "/none.png"); }), dir + "/none.png"));
}

// ---- Channels and resizing ------------------------------------------------------------------------

TEST(Convert, GrayToRgbReplicatesAndRgbToGrayIsBt601) {
  Picture g{1, 1, 2, {0.25f, 1.0f}};
  data::convert_channels(g, 3);
  EXPECT_EQ(g.c, 3);
  EXPECT_EQ(g.pixels, (std::vector<float>{0.25f, 1, 0.25f, 1, 0.25f, 1}));
  Picture rgb{3, 1, 2, {1, 0, 0, 1, 0, 0.5f}};  // pixel 0 (1, 0, 0), pixel 1 (0, 1, 0.5)
  data::convert_channels(rgb, 1);
  EXPECT_EQ(rgb.c, 1);
  EXPECT_EQ(rgb.pixels, (std::vector<float>{0.299f, static_cast<float>(0.587 + 0.114 * 0.5)}));
  Picture same{1, 1, 1, {0.5f}};
  data::convert_channels(same, 1);
  EXPECT_EQ(same.pixels, std::vector<float>{0.5f});
}

TEST(Resize, UpscalesTwoByTwoToFourByFourLikeHalfPixelBilinear) {
  // [[0, 1], [2, 3]] at 4x4, as PyTorch's interpolate(align_corners=False) and OpenCV give it.
  Picture p{1, 2, 2, {0, 1, 2, 3}};
  data::resize_bilinear(p, 4, 4);
  const std::vector<float> want = {0,   0.25f, 0.75f, 1,    0.5f, 0.75f, 1.25f, 1.5f,
                                   1.5f, 1.75f, 2.25f, 2.5f, 2,    2.25f, 2.75f, 3};
  EXPECT_EQ(p.pixels, want);
}

TEST(Resize, DownscalesByAveragingNeighboursPerAxis) {
  // 4x4 to 2x2: each output samples the centre of a 2x2 block, its mean.
  Picture p{1, 4, 4, {}};
  for (int i = 0; i < 16; ++i) p.pixels.push_back(float(i));
  data::resize_bilinear(p, 2, 2);
  EXPECT_EQ(p.pixels, (std::vector<float>{2.5f, 4.5f, 10.5f, 12.5f}));
  // 1x3 to 1x2: x = 0.25 and 1.75 -> 0.75 a0 + 0.25 a1, 0.25 a1 + 0.75 a2.
  Picture q{1, 1, 3, {0, 4, 8}};
  data::resize_bilinear(q, 1, 2);
  EXPECT_EQ(q.pixels, (std::vector<float>{1, 7}));
  // Per channel, and a 1x1 image to 2x3 is constant.
  Picture c{2, 1, 1, {0.5f, 0.25f}};
  data::resize_bilinear(c, 2, 3);
  EXPECT_EQ(c.pixels, (std::vector<float>{0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.25f, 0.25f,
                                          0.25f, 0.25f, 0.25f, 0.25f}));
}

TEST(Resize, ParsesHxW) {
  data::LoadOptions o;
  data::parse_resize("24x32", o, "--resize");
  EXPECT_EQ(o.resize_h, 24);
  EXPECT_EQ(o.resize_w, 32);
  for (const char* bad : {"", "x", "3x", "x3", "0x4", "4x0", "3x-1", "16385x1", "3*3", "3x3x3"})
    EXPECT_TRUE(has(error_of([&] { data::parse_resize(bad, o, "--resize"); }), "--resize: '"))
        << bad;
}

TEST(Resize, AppliesToEveryFormatThroughLoadOptions) {
  data::Dataset d;
  d.c = 1;
  d.h = 2;
  d.w = 2;
  d.images = {0, 1, 2, 3, 1, 1, 1, 1};
  d.labels = {0, 1};
  d.source = "mem";
  data::LoadOptions o;
  o.channels = 3;
  o.resize_h = 4;
  o.resize_w = 4;
  data::apply_load_options(d, o);
  EXPECT_EQ(d.c, 3);
  EXPECT_EQ(d.h, 4);
  ASSERT_EQ(d.images.size(), 2u * 48);
  EXPECT_EQ(d.images[1], 0.25f);
  EXPECT_EQ(d.images[16 + 1], 0.25f);  // the green copy
  EXPECT_EQ(d.images[48 + 5], 1.0f);
}

// ---- Image folders --------------------------------------------------------------------------------

// DIR/<class>/<name>.png for each (class, count) with h x w images of `channels`.
void class_folder(const std::string& dir, const std::string& cls, int count, int h, int w,
                  int channels, unsigned seed = 0) {
  mkdirs(dir + "/" + cls);
  for (int i = 0; i < count; ++i)
    write_file(dir + "/" + cls + "/img" + std::to_string(i) + ".png",
               simple_png(h, w, channels, seed + unsigned(i)));
}

TEST(ImageFolder, TrainAndTestFoldersWithSortedClassNames) {
  const std::string dir = temp_dir("imgs_tt");
  for (const char* part : {"train", "test"}) {
    // Byte order: upper case before lower case.
    class_folder(dir + "/" + part, "cat", 3, 5, 4, 3, 10);
    class_folder(dir + "/" + part, "Zebra", 2, 5, 4, 3, 20);
    class_folder(dir + "/" + part, "dog", 1, 5, 4, 3, 30);
  }
  write_file(dir + "/train/cat/notes.txt", "not an image");
  write_file(dir + "/train/dog/UPPER.PNG", simple_png(5, 4, 3, 99));
  const data::Split s = data::load_data_dir(dir, 1);
  EXPECT_EQ(s.train.class_names, (std::vector<std::string>{"Zebra", "cat", "dog"}));
  EXPECT_EQ(s.test.class_names, s.train.class_names);
  EXPECT_EQ(s.train.classes, 3);
  EXPECT_EQ(s.train.c, 3);
  EXPECT_EQ(s.train.h, 5);
  EXPECT_EQ(s.train.w, 4);
  EXPECT_EQ(s.train.size(), 7);
  EXPECT_EQ(s.test.size(), 6);
  EXPECT_EQ(s.train.labels, (std::vector<int>{0, 0, 1, 1, 1, 2, 2}));
  EXPECT_TRUE(has(s.note, "skipped 1 entry of the class folders that is not a .png file")) << s.note;
  // The first image of Zebra (img0, seed 20): sample 0 is 20, planar: green starts at 20.
  EXPECT_EQ(s.train.images[0], 20 / 255.0f);
  EXPECT_EQ(s.train.images[20], (20 + 7) / 255.0f);
}

TEST(ImageFolder, SingleFolderIsSplitStratified8020) {
  const std::string dir = temp_dir("imgs_one");
  class_folder(dir, "a", 10, 3, 3, 1);
  class_folder(dir, "b", 5, 3, 3, 1);
  const data::Split s = data::load_data_dir(dir, 4);
  EXPECT_EQ(s.train.size(), 12);
  EXPECT_EQ(s.test.size(), 3);
  EXPECT_EQ(s.test.class_names, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(has(s.note, "80/20")) << s.note;
  const data::Split again = data::load_data_dir(dir, 4);
  EXPECT_EQ(again.test.images, s.test.images);
}

TEST(ImageFolder, MixedChannelsAndSizesNeedTheFlags) {
  const std::string dir = temp_dir("imgs_mixed");
  class_folder(dir, "a", 2, 4, 4, 1);
  class_folder(dir, "b", 2, 4, 4, 3);
  const std::string e = error_of([&] { data::load_data_dir(dir, 1); });
  EXPECT_TRUE(has(e, dir + "/b/img0.png: colour (RGB), but " + dir + "/a/img0.png is gray")) << e;
  EXPECT_TRUE(has(e, "--channels")) << e;
  data::LoadOptions gray;
  gray.channels = 1;
  const data::Split g = data::load_data_dir(dir, 1, gray);
  EXPECT_EQ(g.train.c, 1);
  data::LoadOptions rgb;
  rgb.channels = 3;
  EXPECT_EQ(data::load_data_dir(dir, 1, rgb).train.c, 3);

  write_file(dir + "/b/img1.png", simple_png(6, 4, 3, 0));
  const std::string size = error_of([&] { data::load_data_dir(dir, 1, rgb); });
  EXPECT_TRUE(has(size, dir + "/b/img1.png: 6x4 pixels (height x width), but " + dir +
                            "/a/img0.png is 4x4"))
      << size;
  EXPECT_TRUE(has(size, "--resize")) << size;
  data::LoadOptions both = rgb;
  both.resize_h = 2;
  both.resize_w = 3;
  const data::Split r = data::load_data_dir(dir, 1, both);
  EXPECT_EQ(r.train.h, 2);
  EXPECT_EQ(r.train.w, 3);
  EXPECT_EQ(r.train.images.size(), std::size_t(r.train.size()) * 18);
}

TEST(ImageFolder, ResizedPixelsAreTheHandComputedOnes) {
  const std::string dir = temp_dir("imgs_resize");
  mkdirs(dir + "/a");
  mkdirs(dir + "/b");
  write_file(dir + "/a/x.png", png_bytes(spec(2, 2, 0, 8, {0, 51, 102, 153})));
  write_file(dir + "/b/x.png", png_bytes(spec(2, 2, 0, 8, {0, 51, 102, 153})));
  data::LoadOptions o;
  o.resize_h = 4;
  o.resize_w = 4;
  const data::Dataset d = data::load_image_folder(dir, o);
  // [[0, 0.2], [0.4, 0.6]] -> row 1: 0.75 * row 0 + 0.25 * row 1 of the widened rows.
  const double a = 0, b = 51 / 255.0f, c = 102 / 255.0f, e = 153 / 255.0f;
  EXPECT_FLOAT_EQ(d.images[1], float(0.75 * a + 0.25 * b));
  EXPECT_FLOAT_EQ(d.images[4 + 1], float(0.75 * (0.75 * a + 0.25 * b) + 0.25 * (0.75 * c + 0.25 * e)));
  EXPECT_FLOAT_EQ(d.images[15], float(e));
}

TEST(ImageFolder, ErrorsNameTheFolderOrFile) {
  const std::string dir = temp_dir("imgs_err");
  // No class folders.
  write_file(dir + "/stray.png", simple_png(2, 2, 1, 0));
  EXPECT_TRUE(has(error_of([&] { data::load_image_folder(dir); }), "no class folders"));
  EXPECT_TRUE(has(error_of([&] { data::load_data_dir(dir, 1); }), "no data in folder " + dir));
  // One class only.
  class_folder(dir, "only", 2, 2, 2, 1);
  EXPECT_TRUE(has(error_of([&] { data::load_data_dir(dir, 1); }), "only one class folder (only)"));
  // An empty class folder, and one with other files only.
  mkdirs(dir + "/empty");
  EXPECT_TRUE(has(error_of([&] { data::load_data_dir(dir, 1); }),
                  "class folder " + dir + "/empty: no .png images"));
  write_file(dir + "/empty/photo.jpg", "jpeg");
  EXPECT_TRUE(has(error_of([&] { data::load_data_dir(dir, 1); }),
                  "no .png images (PNG only: 1 other entry skipped, e.g. photo.jpg)"));
  // A corrupt file.
  write_file(dir + "/empty/bad.png", simple_png(2, 2, 1, 0).substr(0, 40));
  const std::string corrupt = error_of([&] { data::load_data_dir(dir, 1); });
  EXPECT_TRUE(has(corrupt, dir + "/empty/bad.png: truncated PNG file (no IEND chunk"))
      << corrupt;
  write_file(dir + "/empty/bad.png", "random bytes, no signature");
  EXPECT_TRUE(has(error_of([&] { data::load_data_dir(dir, 1); }),
                  dir + "/empty/bad.png: not a PNG file"));
}

TEST(ImageFolder, TrainAndTestMustHaveTheSameClasses) {
  const std::string dir = temp_dir("imgs_diff");
  class_folder(dir + "/train", "a", 1, 2, 2, 1);
  class_folder(dir + "/train", "b", 1, 2, 2, 1);
  EXPECT_TRUE(has(error_of([&] { data::load_data_dir(dir, 1); }), "train/ is there but not test/"));
  class_folder(dir + "/test", "a", 1, 2, 2, 1);
  class_folder(dir + "/test", "c", 1, 2, 2, 1);
  const std::string e = error_of([&] { data::load_data_dir(dir, 1); });
  EXPECT_TRUE(has(e, "image folder " + dir + "/test: its class folders differ from those of " +
                         dir + "/train; missing: b; not in train/: c"))
      << e;
  fs::rename(dir + "/test/c", dir + "/test/b");
  write_file(dir + "/test/a/img0.png", simple_png(3, 2, 1, 0));
  write_file(dir + "/test/b/img0.png", simple_png(3, 2, 1, 0));
  EXPECT_TRUE(has(error_of([&] { data::load_data_dir(dir, 1); }), "training images are 1x2x2 but test images are 1x3x2"));
}

TEST(ImageFolder, TheMemoryLimitIsCheckedFromTheHeaders) {
  const std::string dir = temp_dir("imgs_mem");
  class_folder(dir, "a", 3, 64, 64, 3);
  class_folder(dir, "b", 3, 64, 64, 3);
  const std::uint64_t old = input_memory_limit();
  set_input_memory_limit(100000, "--max-memory");
  const std::string e = error_of([&] { data::load_data_dir(dir, 1); });
  set_input_memory_limit(old, "test");
  EXPECT_TRUE(has(e, dir + ": 6 images of 3x64x64 (as floats) need")) << e;
}

// ---- CIFAR ----------------------------------------------------------------------------------------

TEST(Cifar, TenRoundTripsLabelsAndPixels) {
  std::string bytes;
  for (unsigned i = 0; i < 4; ++i) bytes += cifar_record({static_cast<unsigned char>(9 - i)}, i);
  InputFile in = InputFile::from_bytes(bytes, "batch.bin");
  const data::Dataset d = data::load_cifar(in, data::Cifar::Ten);
  EXPECT_EQ(d.c, 3);
  EXPECT_EQ(d.h, 32);
  EXPECT_EQ(d.w, 32);
  EXPECT_EQ(d.classes, 10);
  EXPECT_EQ(d.labels, (std::vector<int>{9, 8, 7, 6}));
  ASSERT_EQ(d.images.size(), 4u * 3072);
  for (std::size_t i = 0; i < d.images.size(); ++i)
    ASSERT_EQ(d.images[i], float((i / 3072 + i % 3072) % 256) / 255.0f) << i;
}

TEST(Cifar, HundredUsesTheFineLabel) {
  const std::string bytes = cifar_record({19, 99}, 0) + cifar_record({0, 42}, 5);
  InputFile in = InputFile::from_bytes(bytes, "train.bin");
  const data::Dataset d = data::load_cifar(in, data::Cifar::Hundred);
  EXPECT_EQ(d.classes, 100);
  EXPECT_EQ(d.labels, (std::vector<int>{99, 42}));
  EXPECT_EQ(d.images[3072], 5 / 255.0f);
}

TEST(Cifar, BadFilesAreErrorsNamingTheFile) {
  const std::string dir = temp_dir("cifar_bad");
  const std::string two = cifar_record({1}, 0) + cifar_record({2}, 0);
  write_file(dir + "/cut.bin", two.substr(0, two.size() - 1));
  EXPECT_TRUE(has(error_of([&] { data::load_cifar(dir + "/cut.bin", data::Cifar::Ten); }),
                  dir + "/cut.bin: 6145 bytes is not a whole number of 3073-byte CIFAR-10 records"));
  write_file(dir + "/empty.bin", "");
  EXPECT_TRUE(has(error_of([&] { data::load_cifar(dir + "/empty.bin", data::Cifar::Ten); }),
                  dir + "/empty.bin: empty file"));
  write_file(dir + "/label.bin", cifar_record({3}, 0) + cifar_record({10}, 0));
  EXPECT_TRUE(has(error_of([&] { data::load_cifar(dir + "/label.bin", data::Cifar::Ten); }),
                  dir + "/label.bin: record 1 (byte 3073) has label 10, outside 0..9"));
  write_file(dir + "/fine.bin", cifar_record({3, 100}, 0));
  EXPECT_TRUE(has(error_of([&] { data::load_cifar(dir + "/fine.bin", data::Cifar::Hundred); }),
                  "record 0 (byte 1) has label 100, outside 0..99"));
  write_file(dir + "/coarse.bin", cifar_record({20, 1}, 0));
  EXPECT_TRUE(has(error_of([&] { data::load_cifar(dir + "/coarse.bin", data::Cifar::Hundred); }),
                  "has coarse label 20, outside 0..19"));
  // From bytes in memory the same.
  EXPECT_TRUE(has(error_of([&] {
                    InputFile f = InputFile::from_bytes(two.substr(0, 5000), "pipe");
                    data::load_cifar(f, data::Cifar::Ten);
                  }),
                  "pipe: 5000 bytes is not a whole number"));
}

TEST(Cifar, StreamsAreReadInRecordsAndBounded) {
  // /dev/zero is endless all-zero records (label 0): the memory limit stops it after a chunk.
  const std::uint64_t old = input_memory_limit();
  set_input_memory_limit(std::uint64_t(1) << 20, "--max-memory");
  const std::string e = error_of([] { data::load_cifar("/dev/zero", data::Cifar::Ten); });
  set_input_memory_limit(old, "test");
  EXPECT_TRUE(has(e, "/dev/zero: 256 records of 3x32x32 pixels (as floats) need")) << e;
  // A FIFO (no size known up front): whole records load, a partial one is refused at the end.
  const std::string dir = temp_dir("cifar_fifo");
  const std::string three = cifar_record({1}, 0) + cifar_record({2}, 1) + cifar_record({3}, 2);
  for (const bool cut : {false, true}) {
    const std::string fifo = dir + (cut ? "/cut" : "/whole");
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    const std::string bytes = cut ? three.substr(0, three.size() - 10) : three;
    std::thread writer([&] {
      std::ofstream(fifo, std::ios::binary) << bytes;
    });
    if (cut) {
      EXPECT_TRUE(has(error_of([&] { data::load_cifar(fifo, data::Cifar::Ten); }),
                      fifo + ": 9209 bytes is not a whole number of 3073-byte CIFAR-10 records"));
    } else {
      EXPECT_EQ(data::load_cifar(fifo, data::Cifar::Ten).labels, (std::vector<int>{1, 2, 3}));
    }
    writer.join();
  }
}

TEST(Cifar, FoldersAreDetectedWithTheirClassNames) {
  const std::string ten = temp_dir("cifar10");
  for (int b = 0; b < 6; ++b) {
    std::string bytes;
    for (unsigned i = 0; i < 3; ++i)
      bytes += cifar_record({static_cast<unsigned char>((b + int(i)) % 10)}, unsigned(b * 3) + i);
    write_file(ten + "/" + data::kCifar10Files[b], bytes);
  }
  data::Split s = data::load_data_dir(ten, 1);
  EXPECT_EQ(s.train.size(), 15);
  EXPECT_EQ(s.test.size(), 3);
  EXPECT_TRUE(s.train.class_names.empty());
  EXPECT_EQ(s.train.labels[3], 1);                    // batch 2, record 0
  EXPECT_EQ(s.train.images[3 * 3072], 3 / 255.0f);  // its seed
  write_file(ten + "/batches.meta.txt",
             "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n");
  s = data::load_data_dir(ten, 1);
  ASSERT_EQ(s.test.class_names.size(), 10u);
  EXPECT_EQ(s.test.class_names[9], "truck");
  write_file(ten + "/batches.meta.txt", "a\nb\n");
  EXPECT_TRUE(has(error_of([&] { data::load_data_dir(ten, 1); }),
                  ten + "/batches.meta.txt: 2 class names (one per line), the data has 10"));
  // --channels 1 applies to CIFAR too.
  fs::remove(ten + "/batches.meta.txt");
  data::LoadOptions gray;
  gray.channels = 1;
  EXPECT_EQ(data::load_data_dir(ten, 1, gray).train.c, 1);
  // A missing batch is reported, also when there are sub-folders (not read as an image folder).
  fs::remove(ten + "/data_batch_4.bin");
  fs::create_directories(ten + "/extracted");
  EXPECT_TRUE(has(error_of([&] { data::load_data_dir(ten, 1); }),
                  "found some CIFAR-10 files but not data_batch_4.bin"));

  const std::string hundred = temp_dir("cifar100");
  write_file(hundred + "/train.bin", cifar_record({1, 77}, 0) + cifar_record({2, 3}, 1));
  write_file(hundred + "/test.bin", cifar_record({1, 50}, 2));
  std::string names;
  for (int i = 0; i < 100; ++i) names += "class" + std::to_string(i) + "\r\n";
  write_file(hundred + "/fine_label_names.txt", names);
  s = data::load_data_dir(hundred, 1);
  EXPECT_EQ(s.train.classes, 100);
  EXPECT_EQ(s.train.labels, (std::vector<int>{77, 3}));
  EXPECT_EQ(s.test.class_names[50], "class50");
  const std::vector<std::string> files = data::data_dir_files(hundred);
  EXPECT_EQ(files.size(), 3u);
}

// ---- Many classes ----------------------------------------------------------------------------------

TEST(Fingerprint, LabelsBelow256HashAsBeforeAndAboveAsTwoBytes) {
  data::Split s;
  s.train.labels = {0, 1, 9, 255};
  s.test.labels = {3};
  // The bytes every version before hashed: one per label.
  const std::string old_bytes = {0, 1, 9, static_cast<char>(255), 3};
  EXPECT_EQ(fingerprint(s).labels, fnv1a64(old_bytes.data(), old_bytes.size()));
  s.train.labels = {256, 1};
  const std::string two = {0, 1, 1, 3};
  EXPECT_EQ(fingerprint(s).labels, fnv1a64(two.data(), two.size()));
  // 256 and 0 no longer collide, nor 257 and 1.
  data::Split a, b;
  a.train.labels = {256};
  b.train.labels = {0};
  EXPECT_NE(fingerprint(a).labels, fingerprint(b).labels);
  a.train.labels = {257};
  b.train.labels = {1};
  EXPECT_NE(fingerprint(a).labels, fingerprint(b).labels);
  a.train.labels = {65535};
  const std::string top = {static_cast<char>(255), static_cast<char>(255)};
  EXPECT_EQ(fingerprint(a).labels, fnv1a64(top.data(), top.size()));
}

}  // namespace
}  // namespace scratchcnn::test
