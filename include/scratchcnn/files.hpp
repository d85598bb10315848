#pragma once
// Reading and writing the files the library and the tool touch (docs/file-formats.md, "Files the
// tool writes").
#include <cstdint>
#include <string>

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

// The whole file.
std::string read_file(const std::string& path);

}  // namespace scratchcnn
