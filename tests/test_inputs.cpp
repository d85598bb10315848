// Bounded input reading (files.hpp InputFile, and every reader built on it): no input costs more
// memory than its header promises, gzip data is checked to its end, non-regular files (FIFOs,
// devices, standard input) are read, folders are named, and format sniffing loses no byte.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "scratchcnn/checkpoint.hpp"
#include "scratchcnn/data/dataset.hpp"
#include "scratchcnn/data/optdigits.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/files.hpp"
#include "scratchcnn/memory.hpp"
#include "scratchcnn/parameters.hpp"
#include "scratchcnn/rng.hpp"
#include "test_support.hpp"

// AddressSanitizer reserves terabytes of shadow address space, so an RLIMIT_AS limit cannot be
// set under it: the tests that need one are skipped in sanitizer builds (and only those).

namespace fs = std::filesystem;
using namespace scratchcnn;
using test::error_of;
using test::has;
using test::gzip;

namespace {

using test::idx_images_header;
using test::labels_bytes;

// n images of 8x8, pixel values 0..255: byte j of the pixels is (j * 37) % 256.
std::string images_bytes(std::uint32_t n) {
  return test::idx_images_bytes(n, 8, 8, [](std::uint32_t i, std::uint32_t y, std::uint32_t x) {
    return static_cast<unsigned char>(((i * 64 + y * 8 + x) * 37) % 256);
  });
}

std::string write(const std::string& path, const std::string& bytes) {
  return test::write_file(path, bytes);
}

std::string optdigits_rows(int n) {
  std::string text;
  for (int r = 0; r < n; ++r) {
    for (int i = 0; i < 64; ++i) text += std::to_string((i * 3 + r) % 17) + ",";
    text += std::to_string(r % 10) + "\n";
  }
  return text;
}

// Runs f in a forked child whose address space may grow by at most `extra` bytes beyond what it
// uses at the fork, and returns what happened there: the scratchcnn::Error's message, "no error",
// "std::bad_alloc", or how the child ended. The old readers, which read a whole input first, end
// with std::bad_alloc here instead of the message the test expects.
std::string under_memory_limit(std::uint64_t extra, const std::function<void()>& f) {
  int fds[2];
  if (::pipe(fds) != 0) return "pipe failed";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    ::alarm(120);  // an input read without end must not hang the suite
    std::string result = "no error";
    std::uint64_t pages = 0;
    if (std::FILE* statm = std::fopen("/proc/self/statm", "r")) {
      if (std::fscanf(statm, "%lu", reinterpret_cast<unsigned long*>(&pages)) != 1) pages = 0;
      std::fclose(statm);
    }
    const rlim_t limit = static_cast<rlim_t>(pages * std::uint64_t(::sysconf(_SC_PAGESIZE)) + extra);
    const rlimit rl{limit, limit};
    if (pages == 0 || ::setrlimit(RLIMIT_AS, &rl) != 0) {
      result = "could not set the memory limit";
    } else {
      try {
        f();
      } catch (const Error& e) {
        result = e.what();
      } catch (const std::bad_alloc&) {
        result = "std::bad_alloc";
      } catch (const std::exception& e) {
        result = std::string("other exception: ") + e.what();
      }
    }
    const ssize_t w = ::write(fds[1], result.data(), result.size());
    ::_exit(w == ssize_t(result.size()) ? 0 : 3);
  }
  ::close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, std::size_t(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return out;
}

constexpr std::uint64_t kLimit = std::uint64_t(256) << 20;

#define SKIP_UNDER_ASAN()                                                   \
  if (test::kAddressSanitizer)                                               \
  GTEST_SKIP() << "RLIMIT_AS cannot be set under AddressSanitizer"

// Writes `bytes` into the FIFO at `path` from a thread, once a reader has opened it (gives up after
// 20 s without one, so a reader that never opens does not hang the test).
class FifoWriter {
 public:
  FifoWriter(const std::string& path, std::string bytes)
      : thread_([path, bytes = std::move(bytes)] {
          int fd = -1;
          for (int i = 0; i < 2000 && fd < 0; ++i) {
            fd = ::open(path.c_str(), O_WRONLY | O_NONBLOCK);
            if (fd < 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
          }
          if (fd < 0) return;
          ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
          for (std::size_t done = 0; done < bytes.size();) {
            const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
            if (n <= 0) break;  // the reader went away (EPIPE; SIGPIPE is ignored)
            done += std::size_t(n);
          }
          ::close(fd);
        }) {}
  ~FifoWriter() { thread_.join(); }

 private:
  std::thread thread_;
};

std::string make_fifo(const std::string& path) {
  ::signal(SIGPIPE, SIG_IGN);
  EXPECT_EQ(::mkfifo(path.c_str(), 0600), 0) << path;
  return path;
}

}  // namespace

// ---- the reader itself -----------------------------------------------------------------------

TEST(InputFile, NamesMissingFilesAndFoldersAndTellsKinds) {
  const std::string dir = test::temp_dir("in-kinds");
  std::string msg = error_of([&] { InputFile in(dir + "/none"); });
  EXPECT_EQ(msg, dir + "/none: cannot open: no such file");
  msg = error_of([&] { InputFile in(dir); });
  EXPECT_EQ(msg, dir + ": is a folder");
  EXPECT_EQ(InputFile(write(dir + "/f", "x")).kind(), InputFile::Kind::Regular);
  EXPECT_EQ(InputFile("/dev/null").kind(), InputFile::Kind::CharDevice);
  EXPECT_EQ(InputFile("-").name(), "standard input");
}

TEST(InputFile, PeekLosesNoByteOnAFifoPlainOrGzip) {
  const std::string dir = test::temp_dir("in-peek");
  const std::string text = optdigits_rows(300);
  for (const bool gz : {false, true}) {
    const std::string fifo = make_fifo(dir + (gz ? "/gz" : "/plain"));
    FifoWriter w(fifo, gz ? gzip(text) : text);
    InputFile in(fifo, InputFile::Gzip::Auto);
    EXPECT_EQ(in.kind(), InputFile::Kind::Fifo);
    EXPECT_EQ(std::string(in.peek(4)), text.substr(0, 4));
    EXPECT_EQ(in.gzip(), gz);
    EXPECT_EQ(in.read(10), text.substr(0, 10));
    EXPECT_EQ(in.read(text.size()), text.substr(10));
    EXPECT_EQ(in.read(1), "");
  }
}

TEST(InputFile, ReadFileRefusesMoreThanItsLimit) {
  const std::string dir = test::temp_dir("in-max");
  EXPECT_EQ(read_file(write(dir + "/f", "12345"), 5), "12345");
  EXPECT_TRUE(has(error_of([&] { read_file(dir + "/f", 4); }), dir + "/f: larger than 4 bytes"));
}

// ---- gzip: a bomb, and bytes after the data --------------------------------------------------

// An IDX .gz whose header promises 16 bytes of pixels but that inflates to a gigabyte: refused
// right after the promise, within a 256 MiB memory limit (the old reader inflated it all first).
TEST(GzipInputs, BombStopsAfterWhatTheHeaderPromises) {
  SKIP_UNDER_ASAN();
  const std::string dir = test::temp_dir("in-bomb");
  const std::string bomb = write(dir + "/bomb.gz", gzip(idx_images_header(1, 4, 4), std::uint64_t(1) << 30));
  ASSERT_LT(fs::file_size(bomb), std::uintmax_t(8) << 20);  // 4.7 MB: 1:230
  const std::string msg = under_memory_limit(kLimit, [&] { data::load_idx_images(bomb); });
  EXPECT_EQ(msg, bomb + ": more than 1048576 bytes after the 1 image of 4x4 the header promises "
                        "(corrupted, or not an IDX file)");
}

TEST(GzipInputs, BytesAfterTheGzipDataAreRefused) {
  const std::string dir = test::temp_dir("in-trail");
  const std::string good = gzip(labels_bytes(5));
  EXPECT_EQ(data::load_idx_labels(write(dir + "/ok.gz", good)).size(), 5u);
  // zlib's gzread ignored these silently.
  const std::string junk = write(dir + "/junk.gz", good + "junk");
  EXPECT_EQ(error_of([&] { data::load_idx_labels(junk); }),
            junk + ": 4 bytes after the end of the gzip data (not another gzip member; corrupted?)");
  const std::string zeros = write(dir + "/zeros.gz", good + std::string(512, '\0'));
  EXPECT_TRUE(has(error_of([&] { data::load_idx_labels(zeros); }), "512 bytes after the end of the gzip"));
  const std::string rows = write(dir + "/rows.gz", gzip(optdigits_rows(3)) + "x");
  EXPECT_TRUE(has(error_of([&] { data::load_optdigits(rows); }), "1 byte after the end of the gzip"));
  // Concatenated members are one gzip stream (as gunzip reads them): the data continues.
  const std::string lb = labels_bytes(5);
  const std::string two = write(dir + "/two.gz", gzip(lb.substr(0, 9)) + gzip(lb.substr(9)));
  EXPECT_EQ(data::load_idx_labels(two), data::load_idx_labels(dir + "/ok.gz"));
}

// ---- sparse files and /dev/zero ------------------------------------------------------------

TEST(UnboundedInputs, SparseTwoGigabyteCheckpointIsBadMagicWithinTheLimit) {
  SKIP_UNDER_ASAN();
  const std::string dir = test::temp_dir("in-sparse");
  const std::string sparse = dir + "/sparse.ckpt";
  {
    const int fd = ::open(sparse.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, off_t(2) << 30), 0);
    ::close(fd);
  }
  EXPECT_EQ(under_memory_limit(kLimit, [&] { load_checkpoint(sparse); }),
            sparse + ": not a scratchcnn checkpoint (bad magic)");
  EXPECT_EQ(under_memory_limit(kLimit, [&] { load_parameters(sparse, model_from_name("seed")); }),
            sparse + ": not a scratchcnn parameter file or checkpoint (bad magic)");
  EXPECT_TRUE(has(under_memory_limit(kLimit, [&] { data::load_idx_images(sparse); }),
                  sparse + ": not an IDX images file: magic number 0x00000000"));
}

TEST(UnboundedInputs, DevZeroAsEveryInputEndsWithAMessage) {
  SKIP_UNDER_ASAN();
  const std::string z = "/dev/zero";
  EXPECT_EQ(under_memory_limit(kLimit, [&] { load_checkpoint(z); }),
            z + ": not a scratchcnn checkpoint (bad magic)");
  EXPECT_TRUE(has(under_memory_limit(kLimit, [&] { data::load_idx_labels(z); }),
                  z + ": not an IDX labels file: magic number 0x00000000"));
  EXPECT_EQ(under_memory_limit(kLimit, [&] { data::load_optdigits(z); }),
            z + ":1: line longer than 65536 bytes (an optdigits row is about 200), starting "
                "'\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00"
                "\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00"
                "\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00'");
}

// A header that promises many images but a source that ends early: truncated, named with what it
// holds; a plain regular file's size is compared with the promise before any data is read.
TEST(UnboundedInputs, IdxSizeIsCheckedAgainstThePromise) {
  const std::string dir = test::temp_dir("in-idx");
  const std::string big = write(dir + "/big", idx_images_header(1000000, 28, 28) + std::string(10, 'x'));
  EXPECT_EQ(error_of([&] { data::load_idx_images(big); }),
            big + ": truncated: the header promises 1000000 images of 28x28 (784000000 bytes), the "
                  "file holds 10 bytes");
  const std::string more = write(dir + "/more", labels_bytes(3) + "abc");
  EXPECT_TRUE(has(error_of([&] { data::load_idx_labels(more); }), "3 bytes after the 3 labels"));
}

// ---- parameter files and checkpoints -----------------------------------------------------------

TEST(ModelFiles, ReadOnlyWhatTheHeaderImplies) {
  const std::string dir = test::temp_dir("in-model");
  const ModelSpec spec = model_from_name("seed");
  const std::string good = serialize_parameters(spec, Parameters::he_uniform(spec, 1));
  const std::string p = write(dir + "/p.bin", good);
  EXPECT_EQ(read_model_file(p), good);
  // Bytes after a parameter file: the old reader read them all and called it a checksum mismatch.
  const std::string longer = write(dir + "/longer.bin", good + "tail");
  EXPECT_EQ(error_of([&] { load_parameters(longer, spec); }),
            longer + ": corrupted parameter file (4 bytes after the end of what its value count implies)");
  // A model text length of 2^31: refused before it is read.
  std::string huge_text = good.substr(0, 16);
  huge_text[12] = 0;
  huge_text[13] = 0;
  huge_text[14] = 0;
  huge_text[15] = static_cast<char>(0x80);
  const std::string ht = write(dir + "/text.bin", huge_text + std::string(100, 'x'));
  EXPECT_EQ(error_of([&] { load_parameters(ht, spec); }),
            ht + ": corrupted parameter file (model text length 2147483648, more than the 1048576 "
                 "read)");
  // Only the first 8 bytes of something else are read.
  InputFile other = InputFile::from_bytes("NOTAFILE" + std::string(1000, 'x'), "other");
  EXPECT_EQ(read_model_file(other), "NOTAFILE");
  EXPECT_EQ(other.read(3), "xxx");
}

TEST(ModelFiles, CheckpointTrainingStateIsCapped) {
  const ModelSpec spec = model_from_name("seed");
  TrainingState state;
  state.velocity = Parameters::zeros(spec);
  const std::string good = serialize_checkpoint(spec, Parameters::he_uniform(spec, 1), state);
  InputFile ok = InputFile::from_bytes(good, "ok");
  EXPECT_EQ(read_model_file(ok), good);
  // Within the cap, more bytes are the deserializer's to judge; past it, nothing more is read.
  InputFile big = InputFile::from_bytes(good + std::string(kMaxCheckpointTail, '\0'), "big");
  EXPECT_EQ(error_of([&] { read_model_file(big); }),
            "big: corrupted checkpoint (more than 67108864 bytes of training state after its values)");
  // Reading stopped at the cap: what is left is as long as good's own training state and checksum
  // (everything after magic, version, text length, text, value count, values and velocities).
  const std::size_t values_end =
      8 + 4 + 4 + spec.full_text().size() + 8 + 2 * std::size_t(spec.param_count()) * 4;
  // (One byte less: the reader took one past the cap to tell "more than" from "at most".)
  EXPECT_EQ(big.read(std::size_t(1) << 20).size(), good.size() - values_end - 1);
}

TEST(ModelFiles, AFolderIsNamedAsOne) {
  const std::string dir = test::temp_dir("in-folder");
  EXPECT_EQ(error_of([&] { load_checkpoint(dir); }), dir + ": is a folder");
}

// ---- optdigits: long fields, FIFOs and folders ------------------------------------------------

TEST(OptdigitsInputs, AFiftyMegabyteFieldGivesAShortMessage) {
  const std::string dir = test::temp_dir("in-field");
  const std::string row = optdigits_rows(1);
  for (const char fill : {'9', 'a'}) {
    // One field of 50 MB in the second row: digits (a pixel out of range) or letters.
    const std::string path = write(dir + "/big.tra", row + std::string(50 << 20, fill) + row.substr(1));
    const std::string msg = error_of([&] { data::load_optdigits(path); });
    EXPECT_LT(msg.size(), 300u) << msg.substr(0, 300);
    EXPECT_TRUE(has(msg, path + ":2: line longer than 65536 bytes")) << msg.substr(0, 300);
  }
  // Within the line limit, a long field out of range is cut too (the old message held it whole).
  const std::string digits = std::string(60000, '9') + row.substr(1);
  const std::string msg = error_of([&] { data::parse_optdigits(digits, "rows"); });
  EXPECT_LT(msg.size(), 300u) << msg.substr(0, 300);
  EXPECT_TRUE(has(msg, "rows:1: field 1 (pixel) is '99999")) << msg.substr(0, 300);
  EXPECT_TRUE(has(msg, "...' (60000 bytes), outside 0..16")) << msg.substr(0, 300);
}

TEST(OptdigitsInputs, DataFolderReadsAFifoAndNamesAFolder) {
  const std::string dir = test::temp_dir("in-datadir");
  write(dir + "/optdigits.tes", optdigits_rows(20));
  fs::create_directory(dir + "/optdigits.tra");
  // The old loader took a non-regular optdigits.tra for a missing one ("no data in folder").
  EXPECT_EQ(error_of([&] { data::load_data_dir(dir, 1); }), dir + "/optdigits.tra: is a folder");
  fs::remove(dir + "/optdigits.tra");
  const std::string fifo = make_fifo(dir + "/optdigits.tra");
  FifoWriter w(fifo, optdigits_rows(40));
  const data::Split s = data::load_data_dir(dir, 1);
  EXPECT_EQ(s.train.size(), 40);
  EXPECT_EQ(s.test.size(), 20);
  EXPECT_EQ(s.train.images, data::parse_optdigits(optdigits_rows(40), "x").images);
}

// ---- the command line ------------------------------------------------------------------------

namespace {

// Runs a shell command line in which CLI stands for the scratchcnn binary.
test::CliResult shell(const std::string& line) {
  static const std::string dir = test::temp_dir("in-shell");
  std::string cmd = line;
  for (std::size_t at; (at = cmd.find("CLI")) != std::string::npos;)
    cmd.replace(at, 3, std::string("'") + SCRATCHCNN_CLI_PATH + "'");
  const int status =
      std::system(("(" + cmd + ") >" + dir + "/out 2>" + dir + "/err").c_str());
  test::CliResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = test::slurp(dir + "/out");
  r.err = test::slurp(dir + "/err");
  return r;
}

// A seed-model checkpoint trained for one epoch on a small optdigits folder, and that folder.
struct Trained {
  std::string dir, ckpt;
};
const Trained& trained() {
  static const Trained t = [] {
    Trained r;
    r.dir = test::temp_dir("in-cli");
    write(r.dir + "/optdigits.tra", optdigits_rows(60));
    write(r.dir + "/optdigits.tes", optdigits_rows(30));
    r.ckpt = r.dir + "/c.ckpt";
    const test::CliResult t = test::cli("train --data " + r.dir + " --epochs 1 --batch 16 --save " + r.ckpt);
    EXPECT_EQ(t.code, 0) << t.err;
    return r;
  }();
  return t;
}

}  // namespace

TEST(CliInputs, PredictReadsStandardInputLikeTheFile) {
  const Trained& t = trained();
  const std::string rows = write(t.dir + "/rows.csv", optdigits_rows(25));
  std::string idx_text = images_bytes(25);
  const std::string idx = write(t.dir + "/images", idx_text);
  const std::string idx_gz = write(t.dir + "/images.gz", gzip(idx_text));
  for (const std::string& input : {rows, idx, idx_gz}) {
    const test::CliResult file = shell("CLI predict --probs --checkpoint " + t.ckpt + " " + input);
    ASSERT_EQ(file.code, 0) << input << ": " << file.err;
    ASSERT_EQ(std::count(file.out.begin(), file.out.end(), '\n'), 25) << file.out;
    for (const std::string& name : {std::string("-"), std::string("/dev/stdin")}) {
      const test::CliResult piped =
          shell("cat " + input + " | CLI predict --probs --checkpoint " + t.ckpt + " " + name);
      EXPECT_EQ(piped.code, 0) << input << " as " << name << ": " << piped.err;
      EXPECT_EQ(piped.out, file.out) << input << " as " << name;
    }
  }
  // The checkpoint from standard input, the data from a file.
  const test::CliResult ck = shell("cat " + t.ckpt + " | CLI predict --checkpoint - " + rows);
  EXPECT_EQ(ck.code, 0) << ck.err;
  // Labels through a pipe for an IDX file.
  write(t.dir + "/labels", labels_bytes(25));
  const test::CliResult lb =
      shell("cat " + t.dir + "/labels | CLI predict --checkpoint " + t.ckpt + " --labels - " + idx);
  EXPECT_EQ(lb.code, 0) << lb.err;
  EXPECT_TRUE(has(lb.err, "against the labels of standard input")) << lb.err;
  const test::CliResult twice = shell("CLI predict --checkpoint - - </dev/null");
  EXPECT_EQ(twice.code, 2);
  EXPECT_TRUE(has(twice.err, "standard input (-, /dev/stdin) can be only one of")) << twice.err;
}

TEST(CliInputs, FoldersAreNamedAsFolders) {
  const Trained& t = trained();
  const std::string folder = test::temp_dir("in-cli-folder");
  test::CliResult r = test::cli("train --data " + t.dir + " --resume " + folder + " --epochs 2");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, folder + ": is a folder")) << r.err;  // was "bad magic"
  // predict takes a folder of PNG files: this one holds none.
  r = test::cli("predict --checkpoint " + t.ckpt + " " + folder);
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, folder + ": a folder without any .png file")) << r.err;
  fs::create_directory(folder + "/optdigits.tra");
  write(folder + "/optdigits.tes", optdigits_rows(10));
  r = test::cli("train --data " + folder + " --epochs 1");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, folder + "/optdigits.tra: is a folder")) << r.err;
}

TEST(CliInputs, DevZeroAsCheckpointAndInput) {
  const Trained& t = trained();
  test::CliResult r = test::cli("predict --checkpoint /dev/zero " + t.dir + "/optdigits.tes");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "/dev/zero: not a scratchcnn parameter file or checkpoint (bad magic)"))
      << r.err;
  r = test::cli("predict --checkpoint " + t.ckpt + " /dev/zero");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "/dev/zero:1: line longer than 65536 bytes")) << r.err;
  EXPECT_LT(r.err.size(), 400u);
}

// ---- the memory limit every input is read under (found by a hostile test) ---------------------

namespace {

// Sets the input memory limit for one test and restores the default afterwards.
struct InputLimit {
  explicit InputLimit(std::uint64_t bytes) { set_input_memory_limit(bytes, "the test's limit"); }
  ~InputLimit() { set_input_memory_limit(default_memory_limit(), "the default"); }
};

}  // namespace

// Before, a 10 MB gzip whose header promised 3,000,000 images reached 2.1 GB before anything said
// no, and a checkpoint header of a 2-million-wide dense layer read 1.2 GB of a sparse file.
TEST(InputLimits, HeadersPromisingMoreThanTheLimitAreRefusedBeforeReading) {
  const std::string dir = test::temp_dir("in-limit");
  const InputLimit limit(std::uint64_t(1) << 20);  // 1 MiB
  // 100,000 images of 28x28 are 299 MiB as floats; the file holds only the header.
  const std::string images = write(dir + "/images.gz", gzip(idx_images_header(100000, 28, 28)));
  EXPECT_EQ(error_of([&] { data::load_idx_images(images); }),
            images + ": the header's 100000 images of 28x28 (as floats) need 299 MiB in memory, "
                     "more than the memory limit of 1.00 MiB (the test's limit)");
  const std::string labels_header = test::idx_labels_header(1u << 30);
  const std::string labels = write(dir + "/labels", labels_header);
  EXPECT_TRUE(has(error_of([&] { data::load_idx_labels(labels); }),
                  "the header's 1073741824 labels need 4.00 GiB in memory"));
  // A checkpoint header of a model too big for the limit, and nothing after it.
  const ModelSpec big = model_from_name("flatten dense(64,100000) relu dense(100000,10)");
  TrainingState state;
  state.velocity = Parameters::zeros(big);
  std::string ckpt = serialize_checkpoint(big, Parameters::zeros(big), state);
  ckpt.resize(16 + big.full_text().size() + 8);  // magic, version, text, value count: no values
  const std::string file = write(dir + "/big.ckpt", ckpt);
  EXPECT_TRUE(has(error_of([&] { load_checkpoint(file); }),
                  file + ": the 7500010 values and velocities of model '1x8x8: flatten "
                         "dense(64,100000) relu dense(100000,10)' need 57.2 MiB in memory"));
  // optdigits rows have no header: they are counted as they arrive.
  const std::string rows = write(dir + "/rows.csv", optdigits_rows(5000));
  EXPECT_TRUE(has(error_of([&] { data::load_optdigits(rows); }),
                  rows + ": 4096 rows and more need 1.02 MiB in memory"));
  // Within the limit everything still loads.
  const InputLimit roomy(std::uint64_t(64) << 20);
  EXPECT_EQ(data::load_optdigits(rows).size(), 5000);
}

// An IDX labels header is checked against the images before a label is read: before, a labels
// file promising 2^30 labels for 5 images was read (or waited for) to its end first.
TEST(InputLimits, LabelCountIsCheckedAgainstTheImagesFirst) {
  const std::string dir = test::temp_dir("in-labels");
  const std::string images = write(dir + "/images", images_bytes(5));
  const std::string labels_header = test::idx_labels_header(1u << 30);
  const std::string labels = write(dir + "/labels", labels_header);  // no labels at all
  EXPECT_EQ(error_of([&] { data::load_idx(images, labels); }),
            images + " holds 5 images but " + labels + " holds 1073741824 labels");
}

TEST(InputLimits, TheToolReadsUnderMaxMemory) {
  const std::string dir = test::temp_dir("in-limit-cli");
  const std::string data = dir + "/data";
  std::filesystem::create_directory(data);
  write(data + "/train-images-idx3-ubyte.gz", gzip(idx_images_header(3000000, 28, 28)));
  write(data + "/train-labels-idx1-ubyte", labels_bytes(10));
  write(data + "/t10k-images-idx3-ubyte", images_bytes(10));
  write(data + "/t10k-labels-idx1-ubyte", labels_bytes(10));
  const auto r = test::cli("train --model lenet5 --data " + data + " --max-memory 100M");
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_TRUE(has(r.err, "train-images-idx3-ubyte.gz: the header's 3000000 images of 28x28 (as "
                         "floats) need 8.76 GiB in memory, more than the memory limit of 100 MiB "
                         "(--max-memory)"))
      << r.err;
}
