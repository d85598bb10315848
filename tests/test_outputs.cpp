// How every output file is written (files.hpp, write_file_atomic) and how the tool guards its
// outputs: planted symlinks, symlinked targets, permissions, devices and FIFOs, an output on an
// input or on another output, names too long, a forgotten flag value.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <grp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "scratchcnn/checkpoint.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/files.hpp"
#include "scratchcnn/rng.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace scratchcnn;
using namespace scratchcnn::test;

// Every fsync of this test binary, recorded while `g_record_fsync` is set: whether the descriptor
// was a folder, and its inode. (This definition takes the place of the C library's for the
// statically linked library code; the real call is made through syscall.)
namespace {
bool g_record_fsync = false;
std::vector<std::pair<bool, ino_t>> g_fsyncs;
}  // namespace

extern "C" int fsync(int fd) {
  if (g_record_fsync) {
    struct stat st {};
    if (::fstat(fd, &st) == 0) g_fsyncs.emplace_back(S_ISDIR(st.st_mode), st.st_ino);
  }
  return static_cast<int>(::syscall(SYS_fsync, fd));
}

namespace {

constexpr uid_t kNobody = 65534;

void put(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

struct stat lstat_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path << ": " << std::strerror(errno);
  return st;
}

mode_t mode_of(const std::string& path) { return lstat_of(path).st_mode & 07777; }

std::string link_of(const std::string& path) {
  std::error_code ec;
  return fs::is_symlink(path, ec) ? fs::read_symlink(path).string() : std::string("(not a link)");
}

// The names in a folder, to see that no temporary file stayed behind.
std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> v;
  for (const auto& e : fs::directory_iterator(dir)) v.push_back(e.path().filename().string());
  std::sort(v.begin(), v.end());
  return v;
}

// Runs `f` in a child process as an unprivileged user: nobody when this test runs as root (root
// passes every permission check, so a test of "not writable" needs another user), else as the
// current user. Returns the child's exit code; `message` gets what it wrote to the pipe.
int as_normal_user(const std::function<int(std::string&)>& f, std::string& message) {
  int p[2];
  if (::pipe(p) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    if (::geteuid() == 0 &&
        (::setgroups(0, nullptr) != 0 || ::setgid(kNobody) != 0 || ::setuid(kNobody) != 0))
      ::_exit(99);
    std::string m;
    const int code = f(m);
    (void)!::write(p[1], m.data(), m.size());
    ::_exit(code);
  }
  ::close(p[1]);
  char buf[4096];
  ssize_t n;
  message.clear();
  while ((n = ::read(p[0], buf, sizeof buf)) > 0) message.append(buf, std::size_t(n));
  ::close(p[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Whether as_normal_user may search and write/read the given folders (not where TMPDIR lies in a
// folder only root may enter).
bool normal_user_reaches(const std::vector<std::string>& dirs) {
  std::string unused;
  return as_normal_user(
             [&](std::string&) {
               for (const auto& d : dirs)
                 if (::access(d.c_str(), R_OK | X_OK) != 0) return 1;
               return 0;
             },
             unused) == 0;
}
#define SKIP_UNLESS_NORMAL_USER_REACHES(...)                                                    \
  if (!normal_user_reaches({__VA_ARGS__}))                                                     \
  GTEST_SKIP() << "user nobody cannot enter the temporary folder (TMPDIR), which this test needs"

// The message of write_file_atomic / check_output, or "" when it succeeds.
std::string error_text(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// ---- The command-line tool, run the way a user runs it ----

struct ToolRun {
  int code = -1;
  std::string out, err;
};

// Runs the tool with `args` (shell words) in folder `cwd`, as `exec`, so that the tool has the pid
// of the forked child; `in_child` runs in that child first (it knows the pid the tool will have).
// `normal_user`: as nobody when this test runs as root, from a copy of the tool nobody may run.
ToolRun run_cli(const std::string& cwd, const std::string& args, bool normal_user = false,
            const std::function<void()>& in_child = {}) {
  static const std::string io = [] {
    const std::string d = temp_dir("outputs-io");
    fs::permissions(d, fs::perms::all);
    return d;
  }();
  static const std::string tool = [] {
    const std::string d = temp_dir("outputs-bin");
    fs::permissions(d, fs::perms(0755));
    fs::copy_file(SCRATCHCNN_CLI_PATH, d + "/scratchcnn");
    fs::permissions(d + "/scratchcnn", fs::perms(0755));
    return d + "/scratchcnn";
  }();
  const std::string out = io + "/stdout", err = io + "/stderr";
  std::remove(out.c_str());
  std::remove(err.c_str());
  const std::string cmd = "cd '" + cwd + "' && exec '" + (normal_user ? tool : SCRATCHCNN_CLI_PATH) +
                          "' " + args + " >" + out + " 2>" + err + " </dev/null";
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (normal_user && ::geteuid() == 0 &&
        (::setgroups(0, nullptr) != 0 || ::setgid(kNobody) != 0 || ::setuid(kNobody) != 0))
      ::_exit(99);
    if (in_child) in_child();
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(98);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ToolRun r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

// A small optdigits-format data folder (readable by everyone).
std::string tiny_data() {
  const std::string dir = learnable_optdigits("outputs-data", 5);
  fs::permissions(dir, fs::perms(0755));
  for (const char* name : {"optdigits.tra", "optdigits.tes"})
    fs::permissions(dir + "/" + name, fs::perms(0644));
  return dir;
}

// A folder everyone may write, for outputs of runs as nobody.
std::string open_dir(const std::string& tag) {
  const std::string d = temp_dir(tag);
  fs::permissions(d, fs::perms::all);
  return d;
}

}  // namespace

// ---- The writer ----

// Defect 1: the old writer opened NAME.tmp.<pid> without O_EXCL/O_NOFOLLOW, so a symlink planted
// there had its target overwritten. Neither that name nor other guesses are opened now.
TEST(Writer, PlantedSymlinksAtTempNamesAreNotFollowed) {
  const std::string dir = temp_dir("w-plant");
  const std::string victim = dir + "/victim", target = dir + "/out.bin";
  put(victim, "precious");
  const std::vector<std::string> planted = {
      target + ".tmp." + std::to_string(::getpid()), target + ".tmp", dir + "/.out.bin.tmp",
      target + "~", target + ".tmp-" + std::to_string(::getpid())};
  for (const auto& p : planted) fs::create_symlink(victim, p);
  write_file_atomic(target, "checkpoint bytes");
  write_file_atomic(target, "checkpoint bytes, again");
  EXPECT_EQ(slurp(victim), "precious");
  EXPECT_EQ(slurp(target), "checkpoint bytes, again");
  EXPECT_TRUE(S_ISREG(lstat_of(target).st_mode));
  for (const auto& p : planted) EXPECT_EQ(link_of(p), victim) << p;
  // Nothing else stayed behind.
  EXPECT_EQ(names_in(dir).size(), planted.size() + 2);
}

// Defect 4: a symlinked output lost its link (the new file was renamed over the link).
TEST(Writer, SymlinkedTargetKeepsTheLinkAndItsTargetIsReplaced) {
  const std::string dir = temp_dir("w-link");
  fs::create_directory(dir + "/real");
  put(dir + "/real/t.bin", "old");
  fs::create_symlink("real/t.bin", dir + "/link");        // relative
  fs::create_symlink(dir + "/link", dir + "/link2");       // a chain
  fs::create_symlink("real/new.bin", dir + "/dangling");  // to a file not there yet
  write_file_atomic(dir + "/link2", "new");
  EXPECT_EQ(link_of(dir + "/link2"), dir + "/link");
  EXPECT_EQ(link_of(dir + "/link"), "real/t.bin");
  EXPECT_EQ(slurp(dir + "/real/t.bin"), "new");
  write_file_atomic(dir + "/dangling", "created");
  EXPECT_EQ(link_of(dir + "/dangling"), "real/new.bin");
  EXPECT_EQ(slurp(dir + "/real/new.bin"), "created");
  EXPECT_EQ(names_in(dir + "/real"), (std::vector<std::string>{"new.bin", "t.bin"}));
  const OutputTarget t = resolve_output(dir + "/link2");
  EXPECT_EQ(t.resolved(), fs::canonical(dir + "/real/t.bin").string());
  EXPECT_TRUE(t.exists);
  EXPECT_FALSE(t.direct);
}

// Defect 4: a 0600 file came back 0644. Permissions stay; a new file gets 0666 & ~umask.
TEST(Writer, KeepsPermissionsAndANewFileFollowsTheUmask) {
  const std::string dir = temp_dir("w-mode");
  for (const mode_t m : {mode_t(0600), mode_t(0640), mode_t(0444), mode_t(0755)}) {
    const std::string p = dir + "/f" + std::to_string(m);
    put(p, "old");
    ::chmod(p.c_str(), m);
    write_file_atomic(p, "new");
    EXPECT_EQ(mode_of(p), m) << std::oct << m;
    EXPECT_EQ(slurp(p), "new");
  }
  const mode_t old = ::umask(027);
  write_file_atomic(dir + "/fresh", "x");
  ::umask(old);
  EXPECT_EQ(mode_of(dir + "/fresh"), mode_t(0640));
}

// As root the replaced file's owner and group stay (the temp file is root's until then).
TEST(Writer, KeepsOwnerAndGroupAsRoot) {
  if (::geteuid() != 0) GTEST_SKIP() << "only root can give a file to another user to test this";
  const std::string dir = temp_dir("w-owner");
  const std::string p = dir + "/theirs";
  put(p, "old");
  ASSERT_EQ(::chown(p.c_str(), kNobody, kNobody), 0);
  ::chmod(p.c_str(), 0640);
  write_file_atomic(p, "new");
  const struct stat st = lstat_of(p);
  EXPECT_EQ(st.st_uid, kNobody);
  EXPECT_EQ(st.st_gid, gid_t(kNobody));
  EXPECT_EQ(st.st_mode & 07777, mode_t(0640));
}

// Defect 2: as root a character device was replaced by a regular file. A device of our own (the
// system's /dev/null where that cannot be made) is written in place and stays a device.
TEST(Writer, DeviceIsWrittenInPlaceAndStaysADevice) {
  const std::string dir = temp_dir("w-dev");
  std::string dev = dir + "/null";
  // (Where mknod is not allowed, or /tmp is mounted nodev, the system's /dev/null instead.)
  if (::mknod(dev.c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0) {
    const int fd = ::open(dev.c_str(), O_WRONLY);
    if (fd >= 0) ::close(fd);
    else ::unlink(dev.c_str());
    if (fd < 0) dev = "/dev/null";
  } else {
    dev = "/dev/null";
  }
  write_file_atomic(dev, "discarded");
  const struct stat st = lstat_of(dev);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(1, 3));
  EXPECT_TRUE(resolve_output(dev).direct);
  EXPECT_EQ(names_in(dir).size(), dev == "/dev/null" ? 0u : 1u);
}

// Defect 2: a FIFO is opened and written, not renamed over.
TEST(Writer, FifoIsWrittenInPlace) {
  const std::string dir = temp_dir("w-fifo");
  const std::string fifo = dir + "/pipe";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(reader, 0);
  write_file_atomic(fifo, "through the pipe");
  char buf[64] = {};
  const ssize_t n = ::read(reader, buf, sizeof buf);
  ::close(reader);
  EXPECT_EQ(std::string(buf, n > 0 ? std::size_t(n) : 0), "through the pipe");
  EXPECT_TRUE(S_ISFIFO(lstat_of(fifo).st_mode));
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"pipe"});
}

// Defect 2: /dev/stdout and /dev/fd/N are the open file itself: a pipe is written, a regular file
// behind the descriptor is written at its offset (which moves on) and keeps its inode.
TEST(Writer, DevFdLinksWriteToTheOpenFile) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  write_file_atomic("/dev/fd/" + std::to_string(p[1]), "to the pipe");
  ::close(p[1]);
  char buf[64] = {};
  const ssize_t n = ::read(p[0], buf, sizeof buf);
  ::close(p[0]);
  EXPECT_EQ(std::string(buf, n > 0 ? std::size_t(n) : 0), "to the pipe");

  const std::string dir = temp_dir("w-fd");
  const std::string file = dir + "/captured";
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "head\n", 5), 5);
  const ino_t ino = lstat_of(file).st_ino;
  write_file_atomic("/proc/self/fd/" + std::to_string(fd), "tail\n");
  ASSERT_EQ(::write(fd, "end\n", 4), 4);  // after the tail, as the descriptor's offset moved on
  ::close(fd);
  EXPECT_EQ(slurp(file), "head\ntail\nend\n");
  EXPECT_EQ(lstat_of(file).st_ino, ino);
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"captured"});
}

// Defect 11: the folder was not fsynced after the rename. The file and then its folder are.
TEST(Writer, FsyncsTheFileAndThenTheFolder) {
  const std::string dir = temp_dir("w-sync");
  g_fsyncs.clear();
  g_record_fsync = true;
  write_file_atomic(dir + "/f", "bytes");
  g_record_fsync = false;
  const std::vector<std::pair<bool, ino_t>> want = {{false, lstat_of(dir + "/f").st_ino},
                                                    {true, lstat_of(dir).st_ino}};
  EXPECT_EQ(g_fsyncs, want);
}

// Any failure leaves the target as it was and no temporary file (a write cut short by
// RLIMIT_FSIZE, which binds root too).
TEST(Writer, FailedWriteLeavesTheTargetAndNoTempFile) {
  const std::string dir = temp_dir("w-fail");
  const std::string p = dir + "/keep";
  put(p, "the old contents");
  struct rlimit old {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  const auto previous = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = old;
  small.rlim_cur = 100;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  const std::string message = error_text([&] { write_file_atomic(p, std::string(10000, 'x')); });
  ::setrlimit(RLIMIT_FSIZE, &old);
  ::signal(SIGXFSZ, previous);
  EXPECT_TRUE(has(message, p + ": write failed (")) << message;
  EXPECT_EQ(slurp(p), "the old contents");
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"keep"});
}

// The up-front check predicts what the write would meet, with the path and the reason.
TEST(Writer, CheckPredictsTheFailuresOfTheWrite) {
  const std::string dir = temp_dir("w-check");
  put(dir + "/file", "x");
  fs::create_directory(dir + "/sub");
  fs::create_symlink("loop", dir + "/loop");
  struct Case {
    std::string path, message;
  };
  const Case cases[] = {
      {dir + "/nowhere/x", "folder '" + dir + "/nowhere' does not exist"},
      {dir + "/file/x", "not a folder"},
      {dir + "/sub", "is a folder"},
      {dir + "/sub/", "is a folder"},
      {dir + "/loop", "symbolic links"},
      {dir + "/" + std::string(NAME_MAX + 1, 'n'), "File name too long"},
      {dir + std::string(PATH_MAX / 2, '/') + std::string(PATH_MAX / 2, '/') + "x", "too long"},
      {"", "empty file name"},
  };
  for (const auto& c : cases) {
    const std::string check = error_text([&] { (void)check_output(c.path); });
    const std::string write = error_text([&] { write_file_atomic(c.path, "x"); });
    EXPECT_TRUE(has(check, c.message)) << c.path.substr(0, 200) << "\n" << check;
    EXPECT_EQ(check, write);
  }
  EXPECT_EQ(names_in(dir), (std::vector<std::string>{"file", "loop", "sub"}));
}

// Defect 11: a name of 253 bytes passed the check and failed at the first write (NAME.tmp.<pid>
// was too long). Any name the file system takes can be written.
TEST(Writer, TheLongestNameTheFileSystemTakesCanBeWritten) {
  const std::string dir = temp_dir("w-long");
  for (const std::size_t len : {std::size_t(253), std::size_t(NAME_MAX)}) {
    const std::string p = dir + "/" + std::string(len, 'c');
    EXPECT_NO_THROW((void)check_output(p));
    EXPECT_NO_THROW(write_file_atomic(p, "ok"));
    EXPECT_EQ(slurp(p), "ok");
  }
  // A multi-byte name is cut for the temporary file at a character boundary.
  std::string utf8;
  while (utf8.size() + 3 <= NAME_MAX) utf8 += "\xe2\x82\xac";  // the euro sign
  EXPECT_NO_THROW(write_file_atomic(dir + "/" + utf8, "ok"));
  EXPECT_EQ(names_in(dir).size(), 3u);
}

// Defect 2, a normal user's side: /dev/null was refused ("folder '/dev' is not writable"). A folder
// the user may not write is refused by the check and the write alike, naming it; a folder the user
// may write but not read (no fsync of it possible) still works.
TEST(Writer, PermissionsOfANormalUser) {
  const std::string dir = open_dir("w-user");
  fs::create_directory(dir + "/ro");
  put(dir + "/ro/kept", "old");
  ::chmod((dir + "/ro/kept").c_str(), 0666);
  ::chmod((dir + "/ro").c_str(), 0555);
  fs::create_directory(dir + "/wx");
  ::chmod((dir + "/wx").c_str(), 0333);
  fs::create_directory(dir + "/sticky");
  ::chmod((dir + "/sticky").c_str(), 01777);
  put(dir + "/sticky/theirs", "root's");
  ::chmod((dir + "/sticky/theirs").c_str(), 0666);
  const bool other_users_file = ::geteuid() == 0;  // as root the file is another user's to nobody
  SKIP_UNLESS_NORMAL_USER_REACHES(dir);
  const std::string ro = fs::canonical(dir + "/ro").string();
  std::string message;
  const int code = as_normal_user(
      [&](std::string& m) {
        m = error_text([] { (void)check_output("/dev/null"); }) +
            error_text([] { write_file_atomic("/dev/null", "x"); });
        if (!m.empty()) return 1;
        const std::string c = error_text([&] { (void)check_output(dir + "/ro/kept"); });
        const std::string w = error_text([&] { write_file_atomic(dir + "/ro/kept", "new"); });
        m = c + "\n" + w;
        if (c.empty() || c != w || !has(c, "folder '" + ro + "' is not writable")) return 2;
        m = error_text([&] { write_file_atomic(dir + "/wx/out", "written"); });
        if (!m.empty()) return 3;
        if (!other_users_file) return 0;
        // Another user's file in a sticky folder (/tmp) cannot be replaced: said up front.
        const std::string sc = error_text([&] { (void)check_output(dir + "/sticky/theirs"); });
        const std::string sw = error_text([&] { write_file_atomic(dir + "/sticky/theirs", "new"); });
        m = sc + "\n" + sw;
        return has(sc, "belongs to another user in the sticky folder") && has(sw, "theirs") ? 0 : 4;
      },
      message);
  EXPECT_EQ(code, 0) << message;
  EXPECT_EQ(slurp(dir + "/sticky/theirs"), "root's");
  EXPECT_EQ(slurp(dir + "/ro/kept"), "old");
  ::chmod((dir + "/wx").c_str(), 0755);
  EXPECT_EQ(slurp(dir + "/wx/out"), "written");
  EXPECT_EQ(names_in(dir + "/wx"), std::vector<std::string>{"out"});
  EXPECT_TRUE(S_ISCHR(lstat_of("/dev/null").st_mode));
  ::chmod((dir + "/ro").c_str(), 0755);
}

// ---- The command-line tool ----

// Defect 1 through the tool: links planted at NAME.tmp.<pid> of the very pid the tool runs with,
// and at other guesses, stay links and their target stays as it was.
TEST(CliOutputs, PlantedSymlinksAtTempNamesAreNotFollowed) {
  const std::string data = tiny_data();
  const std::string dir = temp_dir("c-plant");
  const std::string victim = dir + "/victim";
  put(victim, "precious");
  std::vector<std::string> guesses;
  for (const char* name : {"/c.ckpt", "/m.csv"})
    for (const char* suffix : {".tmp", "~", ".swp"}) guesses.push_back(dir + name + suffix);
  for (const auto& g : guesses) fs::create_symlink(victim, g);
  const ToolRun r = run_cli(dir, "train --data " + data + " --epochs 2 --save c.ckpt --metrics m.csv",
                        false, [&] {
                          const std::string pid = std::to_string(::getpid());
                          for (const char* name : {"/c.ckpt", "/m.csv"})
                            (void)!::symlink(victim.c_str(), (dir + name + ".tmp." + pid).c_str());
                        });
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(slurp(victim), "precious");
  for (const auto& g : guesses) EXPECT_EQ(link_of(g), victim) << g;
  int pid_links = 0;
  for (const auto& name : names_in(dir))
    if (name.find(".tmp.") != std::string::npos) {
      ++pid_links;
      EXPECT_EQ(link_of(dir + "/" + name), victim) << name;
    }
  EXPECT_EQ(pid_links, 2);
  EXPECT_EQ(load_checkpoint(dir + "/c.ckpt").state.epoch, 2);
}

// Defect 4 through the tool: a symlinked --save stays a link; its target gets the checkpoint; a
// private checkpoint stays private.
TEST(CliOutputs, SymlinkedSaveKeepsTheLinkAndPermissionsStay) {
  const std::string data = tiny_data();
  const std::string dir = temp_dir("c-link");
  fs::create_directory(dir + "/runs");
  fs::create_symlink("runs/real.ckpt", dir + "/latest.ckpt");
  ToolRun r = run_cli(dir, "train --data " + data + " --epochs 1 --save latest.ckpt");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(link_of(dir + "/latest.ckpt"), "runs/real.ckpt");
  EXPECT_EQ(load_checkpoint(dir + "/runs/real.ckpt").state.epoch, 1);
  ::chmod((dir + "/runs/real.ckpt").c_str(), 0600);
  r = run_cli(dir, "train --data " + data + " --resume latest.ckpt --save latest.ckpt --epochs 2");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(link_of(dir + "/latest.ckpt"), "runs/real.ckpt");
  EXPECT_EQ(mode_of(dir + "/runs/real.ckpt"), mode_t(0600));
  EXPECT_EQ(load_checkpoint(dir + "/runs/real.ckpt").state.epoch, 2);
  EXPECT_EQ(names_in(dir + "/runs"), std::vector<std::string>{"real.ckpt"});
}

// Defect 2 through the tool: as root, --metrics /dev/null turned /dev/null into a regular file; as
// a normal user it was refused with "folder '/dev' is not writable". Both work, and it stays a
// device. A FIFO output is written in place.
TEST(CliOutputs, DevNullAndFifoOutputsAreWrittenInPlace) {
  const std::string data = tiny_data();
  const std::string dir = open_dir("c-dev");
  ToolRun r = run_cli(dir, "train --data " + data + " --epochs 1 --metrics /dev/null --save /dev/null");
  EXPECT_EQ(r.code, 0) << r.err;
  struct stat st = lstat_of("/dev/null");
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(1, 3));
  ASSERT_EQ(run_cli(dir, "train --data " + data + " --epochs 1 --save e.ckpt").code, 0);
  const std::string fifo = dir + "/json";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0666), 0);
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(reader, 0);
  r = run_cli(dir, "eval --checkpoint e.ckpt --data " + data + " --json json");
  std::string got(65536, '\0');
  const ssize_t n = ::read(reader, got.data(), got.size());
  ::close(reader);
  got.resize(n > 0 ? std::size_t(n) : 0);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(got, "\"accuracy\": ")) << got;
  EXPECT_TRUE(S_ISFIFO(lstat_of(fifo).st_mode));
  // /dev/stdout (here a file the shell opened) gets the JSON after what was printed before it.
  r = run_cli(dir, "eval --checkpoint e.ckpt --data " + data + " --json /dev/stdout");
  EXPECT_EQ(r.code, 0) << r.err;
  const auto table = r.out.find("accuracy  "), json = r.out.find("\"accuracy\": "),
             wrote = r.out.find("wrote /dev/stdout");
  EXPECT_TRUE(table < json && json < wrote && wrote != std::string::npos) << r.out;
  EXPECT_TRUE(fs::is_symlink("/dev/stdout"));

  SKIP_UNLESS_NORMAL_USER_REACHES(dir, data);
  r = run_cli(dir, "train --data " + data + " --epochs 1 --metrics /dev/null", true);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(S_ISCHR(lstat_of("/dev/null").st_mode));
}

// Defect 3: an output on an input or on another output destroyed it, exit 0. Each pair is refused
// before any work, naming both flags; the input stays byte for byte.
TEST(CliOutputs, AnOutputOnAnInputOrAnotherOutputIsRefused) {
  const std::string data = tiny_data();
  const std::string dir = temp_dir("c-alias");
  ASSERT_EQ(run_cli(dir, "train --data " + data + " --epochs 1 --save r.ckpt").code, 0);
  fs::create_symlink("r.ckpt", dir + "/r-link");
  put(dir + "/old.csv", "an old table\n");
  struct Case {
    std::string args, first, second, kept;
  };
  const std::string d = " --data " + data;
  const Case cases[] = {
      {"train" + d + " --epochs 1 --save x.ckpt --metrics x.ckpt", "--save", "--metrics", ""},
      {"train" + d + " --epochs 1 --save old.csv --metrics ./old.csv", "--save", "--metrics", "old.csv"},
      {"train" + d + " --resume r.ckpt --epochs 2 --metrics r.ckpt", "--metrics", "--resume", "r.ckpt"},
      {"train" + d + " --resume r.ckpt --epochs 2 --metrics r-link", "--metrics", "--resume", "r.ckpt"},
      {"train" + d + " --init r.ckpt --save r.ckpt", "--save", "--init", "r.ckpt"},
      {"train" + d + " --init r.ckpt --metrics r-link", "--metrics", "--init", "r.ckpt"},
      {"train" + d + " --save " + data + "/optdigits.tes", "--save", "--data", data + "/optdigits.tes"},
      {"train" + d + " --metrics " + data + "/../" + fs::path(data).filename().string() +
           "/optdigits.tra", "--metrics", "--data", data + "/optdigits.tra"},
      {"compare" + d + " --json " + data + "/optdigits.tra", "--json", "--data", data + "/optdigits.tra"},
      {"compare" + d + " --init r.ckpt --json r-link", "--json", "--init", "r.ckpt"},
      {"eval" + d + " --checkpoint r.ckpt --json r.ckpt", "--json", "--checkpoint", "r.ckpt"},
      {"eval" + d + " --checkpoint r.ckpt --csv r-link", "--csv", "--checkpoint", "r.ckpt"},
      {"eval" + d + " --checkpoint r.ckpt --json e.out --csv e.out", "--json", "--csv", ""},
      {"eval" + d + " --checkpoint r.ckpt --csv " + data + "/optdigits.tes", "--csv", "--data",
       data + "/optdigits.tes"},
      // Outputs written through a descriptor that is open on an input (found by a hostile test).
      {"train" + d + " --epochs 1 --init r.ckpt --metrics /proc/self/fd/5 5<>r.ckpt", "--metrics",
       "--init", "r.ckpt"},
      {"eval" + d + " --checkpoint r.ckpt --json /dev/fd/5 5>>r.ckpt", "--json", "--checkpoint",
       "r.ckpt"},
      {"train" + d + " --epochs 1 --metrics /dev/fd/5 --save o.ckpt 5>>o.ckpt", "--save",
       "--metrics", ""},
  };
  for (const auto& c : cases) {
    const std::string kept = c.kept.empty() ? "" : (c.kept[0] == '/' ? c.kept : dir + "/" + c.kept);
    const std::string before = kept.empty() ? "" : slurp(kept);
    const ToolRun r = run_cli(dir, c.args);
    EXPECT_EQ(r.code, 1) << c.args << "\n" << r.out << r.err;
    EXPECT_TRUE(has(r.err, c.first + " ") && has(r.err, c.second + " ") && has(r.err, "same file"))
        << c.args << "\n" << r.err;
    EXPECT_FALSE(has(r.out, "epoch")) << c.args << "\n" << r.out;
    if (!kept.empty()) {
      EXPECT_TRUE(slurp(kept) == before) << c.args << ": " << kept << " changed";
    }
  }
  EXPECT_FALSE(fs::exists(dir + "/x.ckpt"));
  EXPECT_FALSE(fs::exists(dir + "/e.out"));
  EXPECT_TRUE(fs::is_symlink(dir + "/r-link"));
  // Continuing in place stays allowed, through a link too; devices may be shared by outputs.
  ToolRun r = run_cli(dir, "train" + d + " --resume r.ckpt --save r-link --epochs 2");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(load_checkpoint(dir + "/r.ckpt").state.epoch, 2);
  r = run_cli(dir, "eval" + d + " --checkpoint r.ckpt --json /dev/null --csv /dev/null");
  EXPECT_EQ(r.code, 0) << r.err;
}

// Defect 11: a 253-character --save name passed the up-front check and failed after epoch 1. It
// now works, and a name longer than the file system allows fails before training.
TEST(CliOutputs, LongSaveNamesWorkOrFailBeforeTraining) {
  const std::string data = tiny_data();
  const std::string dir = temp_dir("c-long");
  const std::string name = std::string(253, 's');
  ToolRun r = run_cli(dir, "train --data " + data + " --epochs 1 --save " + name);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(load_checkpoint(dir + "/" + name).state.epoch, 1);
  const std::string too_long = std::string(NAME_MAX + 1, 'l');
  r = run_cli(dir, "train --data " + data + " --epochs 1 --metrics " + too_long);
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "--metrics " + too_long + ": ") && has(r.err, "File name too long")) << r.err;
  EXPECT_FALSE(has(r.out, "epoch")) << r.out;
}

// Defect 11: `--save --help` trained into a file named --help. A valued flag followed by a flag is a
// usage error; values that start with a single dash are values, and --flag=--x gives one with two.
TEST(CliOutputs, AFlagWhereAValueBelongsIsAUsageError) {
  const std::string data = tiny_data();
  const std::string dir = temp_dir("c-flag");
  for (const char* args : {"train --save --help", "train --metrics --epochs 1", "eval --json --csv x",
                           "compare --json --help"}) {
    const ToolRun r = run_cli(dir, std::string(args) + " --data " + data);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.err;
    const std::string flag = std::string(args).substr(std::string(args).find(' ') + 1);
    EXPECT_TRUE(has(r.err, flag.substr(0, flag.find(' ')) + " needs a value, not the flag"))
        << args << "\n" << r.err;
    EXPECT_TRUE(has(r.err, "--help' for the flags")) << args;
  }
  EXPECT_TRUE(names_in(dir).empty());
  ToolRun r = run_cli(dir, "train --data " + data + " --lr -1");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "--lr: -1 is outside")) << r.err;
  r = run_cli(dir, "train --data " + data + " --epochs 0 --save=--odd");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"--odd"});
}

// A folder the user may not write fails up front naming the folder; one the user may write but not
// read (its fsync impossible) takes the checkpoint.
TEST(CliOutputs, FolderPermissionsOfANormalUser) {
  const std::string data = tiny_data();
  const std::string dir = open_dir("c-perm");
  fs::create_directory(dir + "/ro");
  ::chmod((dir + "/ro").c_str(), 0555);
  fs::create_directory(dir + "/wx");
  ::chmod((dir + "/wx").c_str(), 0333);
  SKIP_UNLESS_NORMAL_USER_REACHES(dir, data);
  ToolRun r = run_cli(dir, "train --data " + data + " --epochs 1 --save ro/c.ckpt", true);
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "--save ro/c.ckpt: folder '" + fs::canonical(dir + "/ro").string() +
                             "' is not writable"))
      << r.err;
  EXPECT_FALSE(has(r.out, "epoch")) << r.out;
  r = run_cli(dir, "train --data " + data + " --epochs 1 --save wx/c.ckpt", true);
  EXPECT_EQ(r.code, 0) << r.err;
  ::chmod((dir + "/wx").c_str(), 0755);
  ::chmod((dir + "/ro").c_str(), 0755);
  EXPECT_EQ(load_checkpoint(dir + "/wx/c.ckpt").state.epoch, 1);
  EXPECT_EQ(names_in(dir + "/wx"), std::vector<std::string>{"c.ckpt"});
}

// Found in review: "-" (standard input) was compared as a file named "-", so an output could
// replace the very file fed on standard input; a FIFO with no reader hung the run at its end;
// a block device was written to in place.
TEST(CliOutputs, StandardInputFifosWithoutReadersAndBlockDevices) {
  const std::string data = tiny_data();
  const std::string dir = temp_dir("c-stdin");
  ASSERT_EQ(run_cli(dir, "train --data " + data + " --epochs 1 --save r.ckpt").code, 0);
  const std::string before = slurp(dir + "/r.ckpt");
  const std::string cmd = "cd '" + dir + "' && '" + SCRATCHCNN_CLI_PATH +
                          "' eval --data " + data + " --checkpoint - --json r.ckpt < r.ckpt" +
                          " >stdout 2>stderr";
  const int status = std::system(cmd.c_str());
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_TRUE(has(slurp(dir + "/stderr"), "--json r.ckpt is the same file as --checkpoint -"))
      << slurp(dir + "/stderr");
  EXPECT_EQ(slurp(dir + "/r.ckpt"), before);

  // A FIFO nobody reads: an error naming it, at once, not a hang.
  ASSERT_EQ(::mkfifo((dir + "/fifo").c_str(), 0600), 0);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(error_of([&] { write_file_atomic(dir + "/fifo", "x"); }),
            dir + "/fifo: a FIFO that no process reads from");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_TRUE(fs::is_fifo(dir + "/fifo"));

  // A block device is never an output (as root, this would have overwritten a disk).
  for (const char* disk : {"/dev/loop0", "/dev/sda", "/dev/vda", "/dev/nvme0n1"}) {
    struct stat st {};
    if (::stat(disk, &st) != 0 || !S_ISBLK(st.st_mode)) continue;
    EXPECT_EQ(error_of([&] { check_output(disk); }),
              std::string(disk) + ": a block device (a disk), not a file to write");
    break;
  }
}
