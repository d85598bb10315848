// The command's output files, checked before any work starts (outputs.hpp).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "commands.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/files.hpp"

namespace scratchcnn::cli {

void check_output_path(const std::string& flag, const std::string& path) {
  try {
    (void)check_output(path);
  } catch (const Error& e) {
    throw Error(flag + " " + e.what());
  }
}

std::vector<FileArg> data_inputs(const std::string& dir) {
  std::vector<FileArg> v;
  for (const std::string& f : data::data_dir_files(dir)) v.push_back({"--data", f});
  return v;
}

namespace {

// What a file named on the command line is, for comparing: an existing regular file by device and
// inode; an output not there yet by its resolved path. Devices, FIFOs and the like hold no content
// a write could destroy. An output written through a descriptor (/dev/stdout, /proc/self/fd/N)
// may still land in a regular file (`>> input`, `5<> input`): it is that file, for comparing with
// inputs and with outputs that replace files; two such outputs may share one (--json /dev/stdout
// --csv /dev/stdout > report), since each appends.
struct Identity {
  bool regular = false, missing = false, direct = false;
  std::uint64_t dev = 0, ino = 0;
  std::string resolved;
};

Identity output_identity(const FileArg& f) {
  const OutputTarget t = resolve_output(f.path);
  Identity id;
  id.regular = t.exists && !t.direct;
  id.missing = !t.exists;
  id.direct = t.direct;
  id.dev = t.dev;
  id.ino = t.ino;
  id.resolved = t.resolved();
  struct stat st {};
  if (t.direct && ::stat(f.path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    id.regular = true;
    id.dev = st.st_dev;
    id.ino = st.st_ino;
  }
  return id;
}

Identity input_identity(const FileArg& f) {
  Identity id;
  struct stat st {};
  // "-" is standard input (InputFile), which may be a redirected file: `--resume - < r.ckpt`.
  const int got = f.path == "-" ? ::fstat(STDIN_FILENO, &st) : ::stat(f.path.c_str(), &st);
  if (got == 0 && S_ISREG(st.st_mode)) {
    id.regular = true;
    id.dev = st.st_dev;
    id.ino = st.st_ino;
  }
  return id;  // a missing input fails when it is read
}

bool same(const Identity& a, const Identity& b) {
  if (a.direct && b.direct) return false;
  if (a.regular && b.regular) return a.dev == b.dev && a.ino == b.ino;
  return a.missing && b.missing && a.resolved == b.resolved;
}

}  // namespace

void check_aliases(const std::vector<FileArg>& outputs, const std::vector<FileArg>& inputs,
                   const std::vector<std::pair<std::string, std::string>>& allowed) {
  std::vector<std::pair<FileArg, Identity>> outs, ins;
  for (const FileArg& f : outputs)
    if (!f.path.empty()) {
      try {
        outs.emplace_back(f, output_identity(f));
      } catch (const Error& e) {
        throw Error(f.flag + " " + e.what());
      }
    }
  for (const FileArg& f : inputs)
    if (!f.path.empty()) ins.emplace_back(f, input_identity(f));
  for (std::size_t i = 0; i < outs.size(); ++i) {
    const auto& [o, oid] = outs[i];
    for (std::size_t j = 0; j < i; ++j)
      if (same(outs[j].second, oid))
        throw Error(outs[j].first.flag + " " + outs[j].first.path + " and " + o.flag + " " +
                    o.path + " are the same file: each output needs its own");
    for (const auto& [in, iid] : ins) {
      if (!same(oid, iid)) continue;
      if (std::find(allowed.begin(), allowed.end(), std::pair(o.flag, in.flag)) != allowed.end())
        continue;
      throw Error(o.flag + " " + o.path + " is the same file as " + in.flag + " " + in.path +
                  ": an output must not overwrite an input");
    }
  }
}

}  // namespace scratchcnn::cli
