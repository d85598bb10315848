// libFuzzer target: bytes -> the parameter-file and checkpoint readers. Every input either loads
// (then its values are finite and it serializes back to the same bytes) or throws
// scratchcnn::Error. Mutations rarely get past the checksum here: fuzz_checkpoint_sealed
// recomputes it so that they reach the parser.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "scratchcnn/checkpoint.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/files.hpp"
#include "scratchcnn/parameters.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    const scratchcnn::Checkpoint c = scratchcnn::deserialize_checkpoint(bytes, "fuzz");
    // Versions 2 and 3 come back byte for byte (version 1 is written as version 2;
    // fuzz_checkpoint_sealed checks that it reads back the same).
    std::uint32_t version = 0;
    std::memcpy(&version, bytes.data() + 8, 4);
    if (version >= 2 &&
        scratchcnn::serialize_checkpoint(c.spec, c.params, c.state) != bytes)
      __builtin_trap();
  } catch (const scratchcnn::Error&) {
  }
  try {
    const scratchcnn::ModelSpec spec = scratchcnn::parameter_file_model(bytes, "fuzz");
    const scratchcnn::Parameters p = scratchcnn::deserialize_parameters(bytes, spec, "fuzz");
    // deserialize_parameters also reads checkpoints (their parameters); only a parameter file
    // must come back byte for byte.
    if (bytes.compare(0, 8, "SCNNPARM") == 0 &&
        scratchcnn::serialize_parameters(spec, p) != bytes)
      __builtin_trap();
  } catch (const scratchcnn::Error&) {
  }
  // The bounded file reader hands the deserializers a prefix of the bytes or refuses them.
  try {
    scratchcnn::InputFile in = scratchcnn::InputFile::from_bytes(bytes, "fuzz");
    const std::string read = scratchcnn::read_model_file(in);
    if (bytes.compare(0, read.size(), read) != 0) __builtin_trap();
    (void)scratchcnn::deserialize_checkpoint(read, "fuzz");
  } catch (const scratchcnn::Error&) {
  }
  return 0;
}
