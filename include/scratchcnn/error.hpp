#pragma once
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace scratchcnn {

// Every failure the library reports to a caller: bad model text, shape mismatch, bad data file,
// bad parameter file, diverging training. The message names what and where.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Text from an input (a field, a line, model text) as it may appear in an error message: quoted,
// printable ASCII kept, every other byte written as \xNN, and cut to at most `max` input bytes
// with the full length named ("'abc...' (52428800 bytes)"). A message quoting user input uses
// this, so a 50 MB field or raw binary never reaches a terminal as is.
std::string excerpt(std::string_view text, std::size_t max = 40);

// A whole message as it may be printed on a terminal: control bytes and bytes that are not valid
// UTF-8 written as \xNN (valid UTF-8 such as a path with accents stays as it is), and cut to at
// most `max` bytes with the full length named. The tool prints every error through it, so no file
// name, flag value or environment variable can move the cursor or fill the screen.
std::string terminal_safe(std::string_view message, std::size_t max = 2000);

}  // namespace scratchcnn
