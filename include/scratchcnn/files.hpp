#pragma once
// Reading and writing the files the library and the tool touch (docs/file-formats.md, "Files").
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace scratchcnn {

// Writes atomically: a temporary file beside `path`, flushed and fsynced, then renamed over it.
// On failure nothing at `path` changes.
void write_file_atomic(const std::string& path, const std::string& bytes);

// ---- Reading -------------------------------------------------------------------------------------
// Every reader opens its input through InputFile and reads only what the format's header promises
// (plus one byte, to refuse trailing data): no input is read whole before it is checked, so
// /dev/zero, an endless FIFO, a sparse file or a gzip bomb costs at most what its header claims.

// An input opened for reading: a file, a FIFO, a character device, or standard input ("-").
// Move-only; the descriptor is closed (standard input is left open) on destruction.
class InputFile {
 public:
  enum class Kind { Regular, Fifo, CharDevice, Other };
  enum class Gzip {
    Raw,   // the bytes as they are
    Auto,  // a stream starting with the gzip magic 1f 8b is inflated, anything else passed raw
  };

  // Opens `path` ("-" is standard input). Throws Error "PATH: cannot open: no such file",
  // "PATH: is a folder", or "PATH: cannot open: <reason>".
  explicit InputFile(const std::string& path, Gzip gzip = Gzip::Raw);
  // Bytes already in memory, read the same way (parsers of in-memory data, fuzzers); `name`
  // stands for them in messages.
  static InputFile from_bytes(std::string bytes, std::string name, Gzip gzip = Gzip::Raw);
  InputFile(InputFile&&) noexcept;
  InputFile& operator=(InputFile&&) noexcept;
  ~InputFile();

  // The path, or "standard input" for "-": what messages name.
  const std::string& name() const;
  Kind kind() const;
  // Whether the bytes are inflated gzip (decided by the first read or peek).
  bool gzip();

  // Up to `n` bytes (inflated when gzip); fewer only at the end. Memory grows with what arrives,
  // never with `n`. Throws Error "NAME: read error: ..." for a failed read or a corrupted or
  // truncated gzip stream, and "NAME: ... after the end of the gzip data" for bytes after it that
  // are not another gzip member (concatenated members are one stream, as for gunzip).
  std::string read(std::size_t n);
  // Reads into dst; returns the count, fewer than n only at the end.
  std::size_t read(char* dst, std::size_t n);
  // The next `n` bytes (fewer at the end) without consuming them: the next read returns them
  // again. Format sniffing uses this, so no byte is lost on a pipe.
  std::string_view peek(std::size_t n);
  // How many bytes are left, when that is known without reading them: a regular file read raw
  // (its size; not for files that report size 0, as /proc does) or raw bytes in memory.
  std::optional<std::uint64_t> remaining();
  // Reads and drops up to `limit` + 1 bytes and returns how many there were: `limit` + 1 means
  // "more than `limit`". For messages such as "N bytes after ...".
  std::uint64_t skip(std::uint64_t limit);

 private:
  struct Impl;
  explicit InputFile(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A file's bytes up to `max` ("-" is standard input); throws Error when it holds more. For small
// files of no particular format; the format readers read through InputFile themselves.
std::string read_file(const std::string& path, std::size_t max = std::size_t(64) << 20);

}  // namespace scratchcnn
