#pragma once
// Reading and writing the files the library and the tool touch (docs/file-formats.md, "Files the
// tool writes" and "What is read").
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace scratchcnn {

// Where a write to `path` lands, found by following `path` the way write_file_atomic does.
struct OutputTarget {
  std::string path;    // as given
  std::string folder;  // the folder of the file finally written, symlinks resolved (absolute)
  std::string name;    // its name in `folder`; folder + "/" + name is the resolved path
  bool exists = false;  // false: the file will be created
  bool direct = false;  // an existing device, FIFO or socket: written in place, never replaced
  std::uint64_t dev = 0, ino = 0;  // when it exists
  int fd = -1;  // /dev/stdout, /dev/fd/N: this process's descriptor N, written through (direct)

  std::string resolved() const { return folder == "/" ? "/" + name : folder + "/" + name; }
};

// Follows `path` through every symlink (a dangling one too) to the file a write would land on.
// Throws Error naming `path` and the reason: a missing folder, a part of the path that is not a
// folder, a symlink loop, a name longer than the file system allows, a folder as the target.
OutputTarget resolve_output(const std::string& path);

// Writes `bytes` to `path`, the one way every output of the library and the tool is written:
//   - `path` is resolved first (resolve_output): a symlink stays, and its target is replaced;
//   - an existing device, FIFO or socket (/dev/null) is opened and written in place; /dev/stdout
//     and /dev/fd/N are written through that descriptor of this process;
//   - otherwise the bytes go to a new temporary file with an unpredictable name in the target's own
//     folder (created with O_EXCL|O_NOFOLLOW, mode 0600), are fsynced, get the permissions (and,
//     where allowed, the owner and group) of the file they replace, or 0666 & ~umask for a new
//     file, and are renamed over the target; then the folder is fsynced.
// On failure the temporary file is removed and nothing at `path` changes; the Error names `path`
// and the reason.
void write_file_atomic(const std::string& path, const std::string& bytes);

// Checks now that write_file_atomic(path, ...) can succeed later, by doing what it does up to the
// write: resolving `path`, and creating and removing a temporary file of the same kind in the same
// folder (for a device or FIFO: checking write permission). Returns the target; throws the Error
// the write would throw.
OutputTarget check_output(const std::string& path);

// ---- Reading -------------------------------------------------------------------------------------
// Every reader opens its input through InputFile and reads only what the format's header promises
// (plus one byte, to refuse trailing data): no input is read whole before it is checked, so
// /dev/zero, an endless FIFO, a sparse file or a gzip bomb costs at most what its header claims.

// Whether `path` names this process's standard input: "-", or a name that leads through symbolic
// links to its descriptor 0 (/dev/stdin, /dev/fd/0, /proc/self/fd/0). A command that reads
// several inputs lets at most one of them be standard input: a second read would find it consumed.
bool is_standard_input(const std::string& path);

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
