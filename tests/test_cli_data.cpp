// The command-line tool on your own data: PNG image folders and CIFAR files through train, eval
// and predict, --channels and --resize, many classes.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>

#include "checkpoint_bytes.hpp"
#include "png_files.hpp"
#include "scratchcnn/checkpoint.hpp"
#include "scratchcnn/network.hpp"
#include "scratchcnn/data/dataset.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace scratchcnn;
using namespace scratchcnn::test;

namespace {

// DIR/<part>/<class>/<i>.png: `per_class` h x w images of `channels` per class, in train/ and
// test/ when `parts`, else in DIR itself. Each class's images are brightest in its own band of
// rows, so a small model learns them.
std::string png_folder(const std::string& tag, const std::vector<std::string>& classes,
                       int per_class, int h, int w, int channels, bool parts = true) {
  const std::string dir = temp_dir(tag);
  const std::vector<std::string> where =
      parts ? std::vector<std::string>{"/train", "/test"} : std::vector<std::string>{""};
  for (const std::string& part : where)
    for (std::size_t c = 0; c < classes.size(); ++c) {
      const std::string folder = dir + part + "/" + classes[c];
      fs::create_directories(folder);
      for (int i = 0; i < per_class; ++i) {
        PngSpec s;
        s.width = w;
        s.height = h;
        s.color_type = channels == 1 ? 0 : 2;
        for (int y = 0; y < h; ++y)
          for (int x = 0; x < w * channels; ++x)
            s.samples.push_back(std::size_t(y) % classes.size() == c ? 200u + unsigned(i % 50)
                                                                     : unsigned((x * 13 + i) % 40));
        write_file(folder + "/" + std::to_string(i) + ".png", png_bytes(s));
      }
    }
  return dir;
}

std::size_t longest_line(const std::string& text) {
  std::istringstream in(text);
  std::size_t most = 0;
  for (std::string line; std::getline(in, line);) most = std::max(most, line.size());
  return most;
}

}  // namespace

TEST(CliData, TrainEvalAndPredictOnAPngFolder) {
  const std::string dir = png_folder("cli_png", {"circle", "square", "triangle"}, 6, 8, 8, 3);
  const std::string ckpt = temp_dir("cli_png_out") + "/x.ckpt";
  const std::string model = "--model 'conv(3,4,k=3,pad=1) relu maxpool(2) flatten dense(64,3)'";
  CliResult r = cli("train --data " + dir + " " + model +
                    " --input 3x8x8 --epochs 1 --batch 4 --save " + ckpt);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, dir + "/train: 18 training, 18 test samples")) << r.out;

  r = cli("eval --checkpoint " + ckpt + " --data " + dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "0 circle")) << r.out;
  EXPECT_TRUE(has(r.out, "2 triangle")) << r.out;
  EXPECT_TRUE(has(r.out, "confusion matrix")) << r.out;
  const std::string json = temp_dir("cli_png_json") + "/e.json";
  r = cli("eval --checkpoint " + ckpt + " --data " + dir + " --quiet --json " + json);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(slurp(json), "\"class_names\": [\"circle\", \"square\", \"triangle\"]"))
      << slurp(json);

  // The checkpoint records the class names (version 7).
  const Checkpoint c = load_checkpoint(ckpt);
  EXPECT_EQ(c.state.class_names, (std::vector<std::string>{"circle", "square", "triangle"}));
  EXPECT_EQ(version_of(slurp(ckpt)), 7u);
  // predict on PNG files, a folder of them and standard input: "FILE CLASS", by name. Each
  // line's class is the one the library's predict gives the same image.
  r = cli("predict --checkpoint " + ckpt + " " + dir + "/test/circle/0.png " + dir + "/test/square");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 7);
  EXPECT_EQ(r.out.rfind(dir + "/test/circle/0.png ", 0), 0u) << r.out;
  EXPECT_TRUE(has(r.out, dir + "/test/square/5.png ")) << r.out;
  {
    auto net = make_network(PathKind::Fast, c.spec, c.params);
    const data::Picture p = data::load_png(dir + "/test/square/5.png");
    const std::vector<float> logits = net->predict_one(p.pixels);
    const auto best = std::max_element(logits.begin(), logits.end()) - logits.begin();
    EXPECT_TRUE(has(r.out, dir + "/test/square/5.png " + c.state.class_names[std::size_t(best)] + "\n"))
        << r.out;
  }
  r = run_command("(cat " + dir + "/test/circle/1.png | '" + SCRATCHCNN_CLI_PATH +
                  "' predict --checkpoint " + ckpt + " -)");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("- ", 0), 0u) << r.out;
  // A folder without PNG files, an image of another shape: errors naming them.
  fs::create_directories(dir + "/empty");
  r = cli("predict --checkpoint " + ckpt + " " + dir + "/empty");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, dir + "/empty: a folder without any .png file")) << r.err;
  write_file(dir + "/big.png", simple_png(5, 5, 3, 1));
  r = cli("predict --checkpoint " + ckpt + " " + dir + "/big.png");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, dir + "/big.png: a 3x5x5 image; the model takes 3x8x8")) << r.err;
  // It takes --channels and --resize for its IDX input: 28x28 gray to 3x8x8.
  const std::string idx = temp_dir("cli_png_idx") + "/images";
  write_file(idx, idx_images_bytes(5, 28, 28, [](std::uint32_t i, std::uint32_t y, std::uint32_t) {
               return static_cast<unsigned char>((i * 40 + y * 9) % 256);
             }));
  r = cli("predict --checkpoint " + ckpt + " " + idx);
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "the data's images are 1x28x28")) << r.err;
  r = cli("predict --checkpoint " + ckpt + " --channels 3 --resize 8x8 " + idx);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 5);
}

TEST(CliData, ShapeAndClassMismatchesSayWhatToGive) {
  const std::string dir = png_folder("cli_shape", {"a", "b"}, 3, 6, 10, 1);
  CliResult r = cli("train --data " + dir + " --model 'flatten dense(64,2)' --epochs 1");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "give --input 1x6x10")) << r.err;
  r = cli("train --data " + dir + " --model 'flatten dense(60,5)' --input 1x6x10 --epochs 1");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "the data has 2 classes: the model's last layer must output 2")) << r.err;
  // Resized and made RGB, the same folder fits another model; the checkpoint records the flags,
  // so eval applies them without being told, and refuses other values.
  const std::string ckpt = temp_dir("cli_shape_out") + "/r.ckpt";
  r = cli("train --data " + dir + " --channels 3 --resize 4x4 --model 'flatten dense(48,2)' "
          "--input 3x4x4 --epochs 1 --save " + ckpt);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(load_checkpoint(ckpt).state.load, (data::LoadOptions{3, 4, 4}));
  r = cli("eval --checkpoint " + ckpt + " --data " + dir);
  EXPECT_EQ(r.code, 0) << r.err;
  r = cli("eval --checkpoint " + ckpt + " --data " + dir + " --channels 3 --resize 4x4");
  EXPECT_EQ(r.code, 0) << r.err;
  r = cli("eval --checkpoint " + ckpt + " --data " + dir + " --resize 5x5");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "--resize 5x5 differs from the 4x4 that " + ckpt + " was trained with"))
      << r.err;
  // A resume keeps them too.
  r = cli("train --data " + dir + " --resume " + ckpt + " --epochs 2");
  EXPECT_EQ(r.code, 0) << r.err;
  // Bad values are usage errors.
  for (const char* bad : {"--channels 2", "--channels rgb", "--resize 0x4", "--resize 4"}) {
    r = cli("train --data " + dir + " " + bad);
    EXPECT_EQ(r.code, 2) << bad;
    r = cli("eval --checkpoint " + ckpt + " --data " + dir + " " + bad);
    EXPECT_EQ(r.code, 2) << bad;
  }
  // compare takes them too.
  r = cli("compare --data " + dir + " --channels 3 --resize 4x4 --model 'flatten dense(48,2)' "
          "--input 3x4x4 --epochs 1");
  EXPECT_EQ(r.code, 0) << r.err;
}

TEST(CliData, ThreeHundredClassesStayReadable) {
  std::vector<std::string> classes;
  for (int i = 0; i < 300; ++i)
    classes.push_back("species_" + std::to_string(1000 + i) +
                      (i == 7 ? "_with_a_rather_long_latin_name_indeed" : ""));
  const std::string dir = png_folder("cli_300", classes, 1, 4, 4, 1);
  const std::string out = temp_dir("cli_300_out");
  CliResult r = cli("train --data " + dir + " --model 'flatten dense(16,300)' --input 1x4x4 "
                    "--epochs 1 --save " + out + "/m.ckpt");
  ASSERT_EQ(r.code, 0) << r.err;
  r = cli("eval --checkpoint " + out + "/m.ckpt --data " + dir + " --csv " + out + "/m.csv");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_LE(longest_line(r.out), 100u) << r.out;
  EXPECT_FALSE(has(r.out, "confusion matrix (rows")) << r.out;
  EXPECT_TRUE(has(r.out, "most frequent confusions")) << r.out;
  EXPECT_TRUE(has(r.out, "\n299 species_1299")) << r.out;
  EXPECT_TRUE(has(r.out, "  7 species_1007_with_a_rather_lo...")) << r.out;
  const std::string csv = slurp(out + "/m.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 301);
}

TEST(CliData, CifarFolderTrains) {
  const std::string dir = temp_dir("cli_cifar");
  for (int b = 0; b < 6; ++b) {
    std::string bytes;
    for (unsigned i = 0; i < 4; ++i)
      bytes += cifar_record({static_cast<unsigned char>((i + unsigned(b)) % 10)}, i * 31);
    write_file(dir + "/" + data::kCifar10Files[b], bytes);
  }
  write_file(dir + "/batches.meta.txt",
             "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n");
  const std::string ckpt = temp_dir("cli_cifar_out") + "/c.ckpt";
  CliResult r = cli("train --data " + dir + " --model 'gap flatten dense(3,10)' --input 3x32x32 "
                    "--epochs 1 --save " + ckpt);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "20 training, 4 test samples")) << r.out;
  r = cli("eval --checkpoint " + ckpt + " --data " + dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "9 truck")) << r.out;
  // A CIFAR file is an input: no output may replace it.
  r = cli("eval --checkpoint " + ckpt + " --data " + dir + " --json " + dir + "/test_batch.bin");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(fs::file_size(dir + "/test_batch.bin") == 4u * 3073);
}
