// ONNX export: the protobuf writer's bytes, the exported file's structure, the export command and
// its errors. Runtimes we did not write read the files in test_onnx_opencv.cpp (OpenCV DNN) and
// test_onnx_python.cpp (onnx's checker and parser).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include <unistd.h>

#include "io/protobuf.hpp"
#include "onnx_models.hpp"
#include "scratchcnn/checkpoint.hpp"
#include "scratchcnn/onnx.hpp"
#include "scratchcnn/parameters.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace scratchcnn;
using namespace scratchcnn::test;

namespace {

std::string varint(std::uint64_t v) {
  std::string s;
  protobuf::put_varint(s, v);
  return s;
}

}  // namespace

TEST(OnnxWriter, Varints) {
  EXPECT_EQ(varint(0), std::string("\x00", 1));
  EXPECT_EQ(varint(1), "\x01");
  EXPECT_EQ(varint(127), "\x7f");
  EXPECT_EQ(varint(128), "\x80\x01");
  EXPECT_EQ(varint(300), "\xac\x02");
  EXPECT_EQ(varint(16384), std::string("\x80\x80\x01", 3));
  EXPECT_EQ(varint(0xffffffffull), "\xff\xff\xff\xff\x0f");
  EXPECT_EQ(varint(~0ull), "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01");  // 10 bytes
}

TEST(OnnxWriter, FieldsOfEachWireType) {
  protobuf::Message m;
  m.varint(1, 150);  // the protobuf documentation's example: 08 96 01
  EXPECT_EQ(m.str(), "\x08\x96\x01");
  protobuf::Message neg;
  neg.varint(2, -1);  // an int64 of -1: ten bytes of two's complement
  EXPECT_EQ(neg.str(), "\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01");
  protobuf::Message s;
  s.bytes(2, "testing");
  EXPECT_EQ(s.str(), "\x12\x07testing");
  protobuf::Message f;
  f.fixed32(3, 1.0f);  // key 3 << 3 | 5, then 0x3f800000 little-endian
  EXPECT_EQ(f.str(), std::string("\x1d\x00\x00\x80\x3f", 5));
  protobuf::Message outer;
  outer.message(3, m).varint(16, 1);  // field 16: a two-byte key (0x80 0x01)
  EXPECT_EQ(outer.str(), std::string("\x1a\x03\x08\x96\x01\x80\x01\x01", 8));
  std::string le;
  protobuf::put_float_le(le, -2.5f);  // 0xc0200000
  EXPECT_EQ(le, std::string("\x00\x00\x20\xc0", 4));
}

TEST(OnnxExport, ModelHeaderAndContents) {
  const ModelSpec spec = parse_model(kSeedModelText, Shape{1, 8, 8});
  const Parameters p = export_test_parameters(spec, 3);
  const std::string bytes = onnx::export_model(spec, p);
  // ModelProto field 1 (ir_version), varint 8, first.
  ASSERT_GE(bytes.size(), 2u);
  EXPECT_EQ(bytes.substr(0, 2), "\x08\x08");
  // The values of every layer, weights then bias, as raw little-endian float32, in order.
  std::size_t at = 0;
  for (const LayerParams& l : p.layers)
    for (const auto* v : {&l.weights, &l.bias}) {
      if (v->empty()) continue;
      std::string raw;
      for (const float x : *v) protobuf::put_float_le(raw, x);
      const std::size_t found = bytes.find(raw, at);
      ASSERT_NE(found, std::string::npos);
      at = found + raw.size();
    }
  for (const char* part : {"scratchcnn", "Conv", "Gemm", "Relu", "MaxPool", "Flatten", "input",
                           "logits", "batch", "kernel_shape", "transB", "1x8x8: conv(1,2,k=3,pad=1)"})
    EXPECT_NE(bytes.find(part), std::string::npos) << part;
  EXPECT_EQ(bytes.find("Softmax"), std::string::npos);
  // The file is the values plus a little: names, attributes, the model text.
  EXPECT_LT(bytes.size(), std::size_t(spec.param_count()) * 4 + 4096);
  // Deterministic: the same model gives the same bytes.
  EXPECT_EQ(onnx::export_model(spec, p), bytes);
  onnx::ExportOptions o;
  o.softmax = true;
  const std::string soft = onnx::export_model(spec, p, o);
  EXPECT_NE(soft.find("Softmax"), std::string::npos);
  EXPECT_NE(soft.find("probabilities"), std::string::npos);
}

TEST(OnnxExport, RefusesWhatDoesNotFit) {
  const ModelSpec spec = parse_model(kSeedModelText, Shape{1, 8, 8});
  Parameters p = Parameters::he_uniform(spec, 1);
  onnx::ExportOptions o;
  o.opset = onnx::kMinOpset - 1;
  EXPECT_TRUE(has(error_of([&] { (void)onnx::export_model(spec, p, o); }), "opset 10"));
  o.opset = onnx::kMaxOpset + 1;
  EXPECT_TRUE(has(error_of([&] { (void)onnx::export_model(spec, p, o); }), "not offered"));
  p.layers[0].bias.pop_back();
  (void)error_of([&] { (void)onnx::export_model(spec, p); });
  // A valid model whose values alone exceed the 2 GiB of one protobuf message (671,088,680
  // parameters, 2.7 GB): refused from the model, before any value is needed.
  const ModelSpec big = parse_model("flatten dense(16777216,40)", Shape{1, 4096, 4096});
  const std::string why = error_of([&] { (void)onnx::export_model(big, Parameters{}); });
  EXPECT_TRUE(has(why, "the parameters take 2684354720 bytes")) << why;
  EXPECT_TRUE(has(why, "at most 2 GiB")) << why;
}

// Every model the library accepts exports: the built-in ones, every layer kind, random models.
TEST(OnnxExport, EveryValidModelExports) {
  std::vector<ModelSpec> models;
  for (const NamedModel& m : onnx_test_models()) models.push_back(m.spec);
  const std::vector<ModelSpec> random = random_valid_models(11, 200);
  ASSERT_EQ(random.size(), 200u);
  models.insert(models.end(), random.begin(), random.end());
  for (const ModelSpec& spec : models) {
    const Parameters p = export_test_parameters(spec, 5);
    for (const int opset : {onnx::kMinOpset, onnx::kDefaultOpset, onnx::kMaxOpset}) {
      onnx::ExportOptions o;
      o.opset = opset;
      std::string bytes;
      ASSERT_NO_THROW(bytes = onnx::export_model(spec, p, o)) << spec.full_text();
      EXPECT_GT(bytes.size(), std::size_t(spec.param_count()) * 4) << spec.full_text();
    }
  }
}

// ---- The command ---------------------------------------------------------------------------------

namespace {

// A parameter file and a checkpoint-free model in a fresh folder; returns the folder.
std::string saved_model(const std::string& tag, const ModelSpec& spec, std::uint64_t seed) {
  const std::string dir = temp_dir(tag);
  save_parameters(dir + "/m.bin", spec, export_test_parameters(spec, seed));
  return dir;
}

}  // namespace

TEST(OnnxCli, WritesWhatTheLibraryExports) {
  const ModelSpec spec = parse_model(kLenet5_1998ModelText, Shape{1, 28, 28});
  const std::string dir = saved_model("onnx-cli", spec, 4);
  const CliResult r = cli("export --checkpoint " + dir + "/m.bin --onnx " + dir + "/m.onnx");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "wrote " + dir + "/m.onnx")) << r.out;
  EXPECT_TRUE(has(r.out, "opset 13")) << r.out;
  EXPECT_TRUE(has(r.out, "input 'input' [batch, 1, 28, 28], output 'logits' [batch, 10]")) << r.out;
  const LoadedModel l = load_model(dir + "/m.bin");
  onnx::ExportOptions o;
  o.producer_version = SCRATCHCNN_TEST_VERSION;
  EXPECT_EQ(slurp(dir + "/m.onnx"), onnx::export_model(l.spec, l.params, o));

  // --opset, --softmax, --quiet; the parameter file from standard input.
  const CliResult q = run_command("{ '" + std::string(SCRATCHCNN_CLI_PATH) +
                                  "' export --quiet --softmax --opset 11 --checkpoint - --onnx " +
                                  dir + "/s.onnx < " + dir + "/m.bin; }");
  ASSERT_EQ(q.code, 0) << q.err;
  EXPECT_EQ(q.out, "");
  o.opset = 11;
  o.softmax = true;
  EXPECT_EQ(slurp(dir + "/s.onnx"), onnx::export_model(l.spec, l.params, o));

  // To standard output: the file's bytes and nothing else.
  const CliResult piped = cli("export --checkpoint " + dir + "/m.bin --onnx /dev/stdout");
  ASSERT_EQ(piped.code, 0) << piped.err;
  o = onnx::ExportOptions{};
  o.producer_version = SCRATCHCNN_TEST_VERSION;
  EXPECT_EQ(piped.out, onnx::export_model(l.spec, l.params, o));
}

TEST(OnnxCli, CheckpointOfATrainingRunExports) {
  const std::string data = learnable_optdigits("onnx-train", 2);
  const std::string dir = temp_dir("onnx-ckpt");
  const CliResult t = cli("train --quiet --data " + data + " --epochs 1 --batch 16 --save " + dir +
                          "/m.ckpt");
  ASSERT_EQ(t.code, 0) << t.err;
  const CliResult r = cli("export --checkpoint " + dir + "/m.ckpt --onnx " + dir + "/m.onnx");
  ASSERT_EQ(r.code, 0) << r.err;
  const LoadedModel l = load_model(dir + "/m.ckpt");
  onnx::ExportOptions o;
  o.producer_version = SCRATCHCNN_TEST_VERSION;
  EXPECT_EQ(slurp(dir + "/m.onnx"), onnx::export_model(l.spec, l.params, o));
}

TEST(OnnxCli, UsageErrorsExitWithTwo) {
  const std::string dir = saved_model("onnx-usage", parse_model(kSeedModelText), 1);
  const std::string ok = " --checkpoint " + dir + "/m.bin --onnx " + dir + "/m.onnx";
  for (const auto& [args, says] : std::vector<std::pair<std::string, std::string>>{
           {"export --onnx " + dir + "/m.onnx", "--checkpoint FILE is required"},
           {"export --checkpoint " + dir + "/m.bin", "--onnx FILE is required"},
           {"export" + ok + " --opset 10", "--opset: 10 is outside 11..17"},
           {"export" + ok + " --opset 18", "--opset: 18 is outside 11..17"},
           {"export" + ok + " --opset x", "is not an integer"},
           {"export" + ok + " extra", "unexpected argument 'extra'"},
           {"export" + ok + " --softmx", "--softmax"}}) {
    const CliResult r = cli(args);
    EXPECT_EQ(r.code, 2) << args;
    EXPECT_TRUE(has(r.err, says)) << args << ": " << r.err;
    EXPECT_TRUE(has(r.err, "run 'scratchcnn export --help'")) << r.err;
  }
  EXPECT_FALSE(fs::exists(dir + "/m.onnx"));
}

TEST(OnnxCli, BadFilesFailWithOneAndWriteNothing) {
  const std::string dir = saved_model("onnx-bad", parse_model(kSeedModelText), 1);
  // A checkpoint that is not there, one that is not a model file, one cut short.
  write_file(dir + "/junk.bin", "not a checkpoint at all");
  const std::string whole = slurp(dir + "/m.bin");
  write_file(dir + "/cut.bin", whole.substr(0, whole.size() / 2));
  for (const auto& [file, says] : std::vector<std::pair<std::string, std::string>>{
           {dir + "/missing.bin", dir + "/missing.bin: cannot open: no such file"},
           {dir + "/junk.bin", dir + "/junk.bin"},
           {dir + "/cut.bin", dir + "/cut.bin"},
           {dir, "is a folder"}}) {
    const CliResult r = cli("export --checkpoint " + file + " --onnx " + dir + "/out.onnx");
    EXPECT_EQ(r.code, 1) << file;
    EXPECT_TRUE(has(r.err, "scratchcnn export: error: ")) << r.err;
    EXPECT_TRUE(has(r.err, says)) << file << ": " << r.err;
    EXPECT_FALSE(fs::exists(dir + "/out.onnx")) << file;
  }
  // The output is the input: refused before anything is read or written.
  const CliResult same = cli("export --checkpoint " + dir + "/m.bin --onnx " + dir + "/m.bin");
  EXPECT_EQ(same.code, 1);
  EXPECT_TRUE(has(same.err, "--onnx")) << same.err;
  EXPECT_TRUE(has(same.err, "--checkpoint")) << same.err;
  EXPECT_EQ(slurp(dir + "/m.bin"), whole);
  // Through a symlink too.
  fs::create_symlink(dir + "/m.bin", dir + "/link.onnx");
  const CliResult linked = cli("export --checkpoint " + dir + "/m.bin --onnx " + dir + "/link.onnx");
  EXPECT_EQ(linked.code, 1);
  EXPECT_EQ(slurp(dir + "/m.bin"), whole);
  // An output in a folder that does not exist, or where nothing can be written.
  const CliResult nodir = cli("export --checkpoint " + dir + "/m.bin --onnx " + dir + "/no/m.onnx");
  EXPECT_EQ(nodir.code, 1);
  EXPECT_TRUE(has(nodir.err, "--onnx")) << nodir.err;
  EXPECT_TRUE(has(nodir.err, dir + "/no/m.onnx")) << nodir.err;
  // '-' is no file name here: standard output is /dev/stdout.
  const CliResult dash = cli("export --checkpoint " + dir + "/m.bin --onnx -");
  EXPECT_EQ(dash.code, 2);
  EXPECT_TRUE(has(dash.err, "--onnx /dev/stdout")) << dash.err;
  const CliResult asfolder = cli("export --checkpoint " + dir + "/m.bin --onnx " + dir);
  EXPECT_EQ(asfolder.code, 1);
  EXPECT_TRUE(has(asfolder.err, "--onnx")) << asfolder.err;
  if (::geteuid() != 0) {  // root writes anywhere
    fs::create_directory(dir + "/ro");
    fs::permissions(dir + "/ro", fs::perms::owner_read | fs::perms::owner_exec);
    const CliResult ro = cli("export --checkpoint " + dir + "/m.bin --onnx " + dir + "/ro/m.onnx");
    EXPECT_EQ(ro.code, 1);
    EXPECT_TRUE(has(ro.err, "--onnx")) << ro.err;
    EXPECT_TRUE(fs::is_empty(dir + "/ro"));
    fs::permissions(dir + "/ro", fs::perms::owner_all);
  }
  // /dev/full: the write itself fails; the error names the file.
  const CliResult full = cli("export --checkpoint " + dir + "/m.bin --onnx /dev/full");
  EXPECT_EQ(full.code, 1);
  EXPECT_TRUE(has(full.err, "/dev/full")) << full.err;
}

TEST(OnnxCli, HelpAndListing) {
  const CliResult h = cli("export --help");
  EXPECT_EQ(h.code, 0);
  EXPECT_TRUE(has(h.out, "usage: scratchcnn export --checkpoint FILE --onnx FILE")) << h.out;
  EXPECT_EQ(cli("help export").out, h.out);
  const CliResult main = cli("help");
  EXPECT_TRUE(has(main.out, "  export    write a checkpoint's model as an ONNX file")) << main.out;
}
