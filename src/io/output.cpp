// The output writer (files.hpp).
#include <fcntl.h>
#include <signal.h>
#include <linux/magic.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "scratchcnn/error.hpp"
#include "scratchcnn/files.hpp"

namespace scratchcnn {

namespace {

std::string reason(int err) { return std::strerror(err); }

// The folder part and the name part of a path, as written ("a/b" -> "a", "b"; "b" -> ".", "b").
std::pair<std::string, std::string> split_path(const std::string& p) {
  const auto slash = p.find_last_of('/');
  if (slash == std::string::npos) return {".", p};
  std::string dir = p.substr(0, slash);
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (dir.empty()) dir = "/";
  return {dir, p.substr(slash + 1)};
}

// Whether `dir` lies on procfs, where a symlink such as /proc/self/fd/1 is a handle to an open file
// (a pipe, a terminal, the file stdout goes to), not a name to follow.
bool on_procfs(const std::string& dir) {
  struct statfs s {};
  return ::statfs(dir.c_str(), &s) == 0 && s.f_type == PROC_SUPER_MAGIC;
}

// Closes a descriptor when it goes out of scope.
struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  int release() {
    const int f = fd;
    fd = -1;
    return f;
  }
};

// The target's folder, opened for creating, renaming and fsyncing in it. A folder we may write and
// search but not read (mode 0300) cannot be opened for fsync: then it is opened with O_PATH, which
// is enough for the rest, and its fsync is skipped.
struct Folder {
  Fd fd;
  bool can_sync = true;
};

void open_folder(const OutputTarget& t, Folder& f) {
  f.fd.fd = ::open(t.folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (f.fd.fd < 0 && errno == EACCES) {
    f.fd.fd = ::open(t.folder.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    f.can_sync = false;
  }
  if (f.fd.fd < 0)
    throw Error(t.path + ": cannot open folder '" + t.folder + "' (" + reason(errno) + ")");
}

std::uint64_t random_u64() {
  std::uint64_t v = 0;
  if (::getrandom(&v, sizeof v, GRND_NONBLOCK) == static_cast<ssize_t>(sizeof v)) return v;
  // No entropy source: time, process and a counter through splitmix64 (still unique per call).
  static std::atomic<std::uint64_t> counter{0};
  struct timespec ts {};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  std::uint64_t z = std::uint64_t(ts.tv_nsec) ^ (std::uint64_t(ts.tv_sec) << 30) ^
                    (std::uint64_t(::getpid()) << 48) ^ (++counter * 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// A temporary file's name for target `name`: at most its first 32 bytes (cut at a UTF-8 character
// boundary), ".tmp-", and 12 random letters and digits (71 bits): never longer than 49 bytes, so any
// name the file system allows for the target leaves room for it.
std::string temp_name(const std::string& name) {
  static const char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::size_t keep = std::min<std::size_t>(name.size(), 32);
  while (keep > 0 && keep < name.size() && (static_cast<unsigned char>(name[keep]) & 0xC0) == 0x80)
    --keep;
  std::string t = name.substr(0, keep) + ".tmp-";
  std::uint64_t r = random_u64();
  for (int i = 0; i < 12; ++i) {
    if (i == 10) r = random_u64();
    t += kChars[r % 62];
    r /= 62;
  }
  return t;
}

// Creates a new temporary file beside the target: O_EXCL and O_NOFOLLOW, so that nothing planted
// under the name (a file, a symlink) is opened; mode 0600 until it is complete. Retries on a name
// that exists.
int create_temp(const OutputTarget& t, int dirfd, std::string& tmp) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    tmp = temp_name(t.name);
    const int fd = ::openat(dirfd, tmp.c_str(),
                            O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd >= 0) return fd;
    if (errno == EEXIST) continue;
    const int err = errno;
    if (err == EACCES || err == EPERM || err == EROFS)
      throw Error(t.path + ": folder '" + t.folder + "' is not writable (" + reason(err) + ")");
    throw Error(t.path + ": cannot create a file in folder '" + t.folder + "' (" + reason(err) + ")");
  }
  throw Error(t.path + ": cannot create a temporary file in folder '" + t.folder +
              "' (every name tried exists)");
}

void write_all(int fd, const std::string& bytes, const std::string& path) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(path + ": write failed (" + reason(errno) + ")");
    }
    done += static_cast<std::size_t>(n);
  }
}

// The process umask, read without changing it where /proc allows.
mode_t current_umask() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("Umask:", 0) == 0) return static_cast<mode_t>(std::strtoul(line.c_str() + 6, nullptr, 8));
  const mode_t m = ::umask(077);
  ::umask(m);
  return m;
}

// The descriptor N of this process that /proc/self/fd/N (or /dev/fd/N, /dev/stdout) names, or -1.
int own_descriptor(const std::string& dir, const std::string& name) {
  if (name.empty() || name.size() > 9 || name.find_first_not_of("0123456789") != std::string::npos)
    return -1;
  char real[PATH_MAX];
  if (::realpath(dir.c_str(), real) == nullptr) return -1;
  const std::string pid = std::to_string(::getpid()), tid = std::to_string(::gettid());
  const std::string r = real;
  if (r != "/proc/" + pid + "/fd" && r != "/proc/" + pid + "/task/" + tid + "/fd") return -1;
  return std::stoi(name);
}

// A device, FIFO or the file behind a /proc/self/fd link, written as it is: never created,
// truncated or renamed over. One of this process's own descriptors (/dev/stdout) is written
// through, so that its offset moves on as for anything else written to it; anything else is opened
// for appending.
void check_descriptor(const OutputTarget& t) {
  const int flags = ::fcntl(t.fd, F_GETFL);
  if (flags < 0 || (flags & O_ACCMODE) == O_RDONLY)
    throw Error(t.path + ": descriptor " + std::to_string(t.fd) + " is not open for writing");
}

// Opens a device or FIFO for appending. A FIFO is opened without blocking, so that one nobody
// reads from is an error now rather than a run that hangs at its end.
int open_direct(const OutputTarget& t) {
  const int fd = ::open(t.path.c_str(), O_WRONLY | O_APPEND | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    if (err == ENXIO) throw Error(t.path + ": a FIFO that no process reads from");
    throw Error(t.path + ": cannot open for writing (" + reason(err) + ")");
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) (void)::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

void write_direct(const OutputTarget& t, const std::string& bytes) {
  Fd opened;
  int fd = t.fd;
  if (fd >= 0) {
    check_descriptor(t);
  } else {
    opened.fd = fd = open_direct(t);
  }
  // A FIFO whose reader went away: EPIPE (an Error naming the file), not a silent SIGPIPE death.
  struct sigaction ignore {}, old {};
  ignore.sa_handler = SIG_IGN;
  const bool swapped = ::sigaction(SIGPIPE, &ignore, &old) == 0;
  try {
    write_all(fd, bytes, t.path);
  } catch (...) {
    if (swapped) ::sigaction(SIGPIPE, &old, nullptr);
    throw;
  }
  if (swapped) ::sigaction(SIGPIPE, &old, nullptr);
  struct stat st {};
  if (::fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) && ::fsync(fd) != 0 &&
      errno != EINVAL)
    throw Error(t.path + ": write failed (" + reason(errno) + ")");
  if (opened.fd >= 0 && ::close(opened.release()) != 0)
    throw Error(t.path + ": write failed (" + reason(errno) + ")");
}

// /dev/stdout, /dev/fd/N, /proc/self/fd/N (the link `name` in procfs folder `dir`): the open file
// itself, written as it is through this process's descriptor.
OutputTarget procfs_target(const std::string& path, const std::string& dir,
                           const std::string& name) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw Error(path + ": cannot write there (" + reason(errno) + ")");
  if (S_ISDIR(st.st_mode)) throw Error(path + ": is a folder");
  OutputTarget t;
  t.path = path;
  t.exists = t.direct = true;
  t.dev = st.st_dev;
  t.ino = st.st_ino;
  t.folder = dir;
  t.name = name;
  t.fd = own_descriptor(dir, name);
  return t;
}

// The path the symbolic link `p` (in folder `dir`) points to.
std::string link_target(const std::string& path, const std::string& p, const std::string& dir) {
  std::string target(PATH_MAX + 1, '\0');
  const ssize_t n = ::readlink(p.c_str(), target.data(), target.size());
  if (n < 0) throw Error(path + ": cannot read the symbolic link '" + p + "' (" + reason(errno) + ")");
  if (n == 0 || static_cast<std::size_t>(n) > PATH_MAX)
    throw Error(path + ": the symbolic link '" + p + "' cannot be followed");
  target.resize(static_cast<std::size_t>(n));
  return target[0] == '/' ? target : (dir == "/" ? "/" : dir + "/") + target;
}

// Follows `path` through its symbolic links to the name a write lands on (which need not exist),
// or to a link into procfs (/proc/self/fd/N: a handle to an open file, not a name to follow).
struct Walked {
  std::string p;
  bool procfs = false;
};

Walked walk_links(const std::string& path) {
  std::string p = path;
  struct stat st {};
  for (int hops = 0;; ++hops) {
    if (hops > 40) throw Error(path + ": too many levels of symbolic links");
    if (::lstat(p.c_str(), &st) != 0) {
      const int err = errno;
      if (err == ENOENT) return {p, false};
      if (err == ENOTDIR) throw Error(path + ": a part of the path is not a folder");
      throw Error(path + ": cannot write there (" + reason(err) + ")");
    }
    if (!S_ISLNK(st.st_mode)) return {p, false};
    const auto [dir, name] = split_path(p);
    if (on_procfs(dir)) return {p, true};
    p = link_target(path, p, dir);
  }
}

// The folder `dir` of the resolved name, symlinks resolved; it must exist.
std::string real_folder(const std::string& path, const std::string& dir) {
  char real[PATH_MAX];
  if (::realpath(dir.c_str(), real) == nullptr) {
    const int err = errno;
    if (err == ENOENT) throw Error(path + ": folder '" + dir + "' does not exist");
    if (err == ENOTDIR) throw Error(path + ": '" + dir + "' is not a folder");
    throw Error(path + ": folder '" + dir + "' cannot be used (" + reason(err) + ")");
  }
  struct stat ds {};
  if (::stat(real, &ds) != 0 || !S_ISDIR(ds.st_mode))
    throw Error(path + ": '" + dir + "' is not a folder");
  return real;
}

}  // namespace

OutputTarget resolve_output(const std::string& path) {
  if (path.empty()) throw Error("an empty file name");
  const Walked w = walk_links(path);
  if (w.procfs) {
    const auto [dir, name] = split_path(w.p);
    return procfs_target(path, dir, name);
  }
  const std::string& p = w.p;
  OutputTarget t;
  t.path = path;
  struct stat st {};
  const bool found = ::lstat(p.c_str(), &st) == 0;
  if (found && S_ISDIR(st.st_mode)) throw Error(path + ": is a folder");
  const auto [dir, name] = split_path(p);
  if (name.empty() || name == "." || name == "..") throw Error(path + ": names a folder, not a file");
  t.folder = real_folder(path, dir);
  t.name = name;
  if (found) {
    // A block device holds a file system, a socket takes no open(): neither is an output.
    if (S_ISBLK(st.st_mode)) throw Error(path + ": a block device (a disk), not a file to write");
    if (S_ISSOCK(st.st_mode)) throw Error(path + ": a socket, not a file to write");
    t.exists = true;
    t.direct = !S_ISREG(st.st_mode);
    t.dev = st.st_dev;
    t.ino = st.st_ino;
  }
  return t;
}

bool is_standard_input(const std::string& path) {
  if (path == "-") return true;
  if (path.empty()) return false;
  try {
    const Walked w = walk_links(path);
    if (!w.procfs) return false;
    const auto [dir, name] = split_path(w.p);
    return own_descriptor(dir, name) == STDIN_FILENO;
  } catch (const Error&) {
    return false;  // a broken name is refused when it is opened
  }
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  const OutputTarget t = resolve_output(path);
  if (t.direct) return write_direct(t, bytes);

  Folder folder;
  open_folder(t, folder);
  std::string tmp;
  Fd fd(create_temp(t, folder.fd.fd, tmp));
  try {
    write_all(fd.fd, bytes, path);
    if (::fsync(fd.fd) != 0) throw Error(path + ": write failed (" + reason(errno) + ")");
    // The permissions of the file it replaces (and its owner and group where we may set them:
    // as root, or a group we belong to); a new file gets what open(0666) would give it.
    struct stat old {};
    if (t.exists && ::fstatat(folder.fd.fd, t.name.c_str(), &old, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISREG(old.st_mode)) {
      struct stat mine {};
      if (::fstat(fd.fd, &mine) == 0 && (mine.st_uid != old.st_uid || mine.st_gid != old.st_gid) &&
          ::fchown(fd.fd, old.st_uid, old.st_gid) != 0)
        (void)!::fchown(fd.fd, static_cast<uid_t>(-1), old.st_gid);
      if (::fchmod(fd.fd, old.st_mode & 07777) != 0)
        throw Error(path + ": cannot set its permissions (" + reason(errno) + ")");
    } else if (::fchmod(fd.fd, 0666 & ~current_umask()) != 0) {
      throw Error(path + ": cannot set its permissions (" + reason(errno) + ")");
    }
    if (::close(fd.release()) != 0) throw Error(path + ": write failed (" + reason(errno) + ")");
    if (::renameat(folder.fd.fd, tmp.c_str(), folder.fd.fd, t.name.c_str()) != 0)
      throw Error(path + ": cannot replace '" + t.resolved() + "' (" + reason(errno) + ")");
  } catch (...) {
    ::unlinkat(folder.fd.fd, tmp.c_str(), 0);
    throw;
  }
  // The rename is durable once the folder is on disk too.
  if (folder.can_sync && ::fsync(folder.fd.fd) != 0 && errno != EINVAL)
    throw Error(path + ": written, but folder '" + t.folder + "' could not be synced (" +
                reason(errno) + ")");
}

OutputTarget check_output(const std::string& path) {
  const OutputTarget t = resolve_output(path);
  if (t.direct) {
    if (t.fd >= 0) {
      check_descriptor(t);  // how the descriptor is open, not the mode of what it points to
    } else if (::faccessat(AT_FDCWD, path.c_str(), W_OK, AT_EACCESS) != 0) {
      // Not opened here: opening and closing a FIFO would end its reader's input.
      throw Error(path + ": cannot open for writing (" + reason(errno) + ")");
    }
    return t;
  }
  Folder folder;
  open_folder(t, folder);
  std::string tmp;
  ::close(create_temp(t, folder.fd.fd, tmp));
  ::unlinkat(folder.fd.fd, tmp.c_str(), 0);
  // In a sticky folder (/tmp) only the owner of a file, of the folder, or root may replace it.
  struct stat ds {}, fs {};
  if (t.exists && ::fstat(folder.fd.fd, &ds) == 0 && (ds.st_mode & S_ISVTX) &&
      ::fstatat(folder.fd.fd, t.name.c_str(), &fs, AT_SYMLINK_NOFOLLOW) == 0) {
    const uid_t me = ::geteuid();
    if (me != 0 && fs.st_uid != me && ds.st_uid != me)
      throw Error(path + ": belongs to another user in the sticky folder '" + t.folder +
                  "' and cannot be replaced");
  }
  return t;
}

}  // namespace scratchcnn
