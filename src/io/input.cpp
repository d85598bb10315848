// Reading input files (files.hpp): one bounded reader for files, FIFOs, devices, standard input
// and bytes in memory, plain or gzip.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "scratchcnn/error.hpp"
#include "scratchcnn/files.hpp"

namespace scratchcnn {

namespace {
constexpr std::size_t kRawBuffer = std::size_t(1) << 18;
// How far past the end of gzip data a message counts the bytes there.
constexpr std::uint64_t kCountTrailing = std::uint64_t(1) << 20;
}  // namespace

struct InputFile::Impl {
  std::string name;
  Kind kind = Kind::Other;
  Gzip mode = Gzip::Raw;
  int fd = -1;
  bool owns_fd = false;
  bool from_memory = false;
  std::string memory;  // from_bytes: the bytes
  std::size_t memory_pos = 0;
  std::uint64_t file_size = 0;    // a regular file's size (0: unknown)
  std::uint64_t source_read = 0;  // raw bytes read from the descriptor

  // Raw (file) bytes read but not yet used: raw[raw_pos, raw_end).
  std::vector<char> raw = std::vector<char>(kRawBuffer);
  std::size_t raw_pos = 0, raw_end = 0;
  bool raw_eof = false;

  bool decided = false;   // plain or gzip known
  bool inflating = false;
  bool z_ready = false;
  bool member_ended = false;  // a gzip member ended; what follows is not checked yet
  z_stream z{};

  // Output bytes peeked but not consumed: ahead[ahead_pos, size).
  std::string ahead;
  std::size_t ahead_pos = 0;

  ~Impl() {
    if (z_ready) inflateEnd(&z);
    if (owns_fd && fd >= 0) ::close(fd);
  }

  [[noreturn]] void fail(const std::string& what) const { throw Error(name + ": " + what); }

  // Reads raw bytes into dst (up to n); 0 at the end.
  std::size_t read_source(char* dst, std::size_t n) {
    if (n == 0 || raw_eof) return 0;
    if (from_memory) {
      const std::size_t k = std::min(n, memory.size() - memory_pos);
      std::memcpy(dst, memory.data() + memory_pos, k);
      memory_pos += k;
      if (k == 0) raw_eof = true;
      return k;
    }
    for (;;) {
      const ssize_t k = ::read(fd, dst, std::min<std::size_t>(n, SSIZE_MAX));
      if (k > 0) {
        source_read += static_cast<std::uint64_t>(k);
        return static_cast<std::size_t>(k);
      }
      if (k == 0) {
        raw_eof = true;
        return 0;
      }
      if (errno == EINTR) continue;
      fail(std::string("read error: ") + std::strerror(errno));
    }
  }

  std::size_t raw_avail() const { return raw_end - raw_pos; }

  // Makes at least `k` raw bytes available when the source has them.
  void ensure_raw(std::size_t k) {
    if (raw_avail() >= k) return;
    if (raw_pos > 0) {
      std::memmove(raw.data(), raw.data() + raw_pos, raw_avail());
      raw_end -= raw_pos;
      raw_pos = 0;
    }
    while (raw_end < k) {
      const std::size_t got = read_source(raw.data() + raw_end, raw.size() - raw_end);
      if (got == 0) return;
      raw_end += got;
    }
  }

  void decide() {
    if (decided) return;
    decided = true;
    if (mode != Gzip::Auto) return;
    ensure_raw(2);
    if (raw_avail() >= 2 && static_cast<unsigned char>(raw[raw_pos]) == 0x1f &&
        static_cast<unsigned char>(raw[raw_pos + 1]) == 0x8b) {
      inflating = true;
      if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) fail("read error: out of memory");
      z_ready = true;
    }
  }

  // Bytes after a gzip member that are not another member: refused, counted for the message.
  [[noreturn]] void trailing_after_gzip() {
    std::uint64_t n = raw_avail();
    raw_pos = raw_end;
    while (n <= kCountTrailing) {
      const std::size_t got = read_source(raw.data(), raw.size());
      if (got == 0) break;
      n += got;
    }
    const std::string count =
        n > kCountTrailing ? "more than " + std::to_string(kCountTrailing) + " bytes"
                           : std::to_string(n) + (n == 1 ? " byte" : " bytes");
    fail(count + " after the end of the gzip data (not another gzip member; corrupted?)");
  }

  // Up to n output bytes, at least one unless at the end.
  std::size_t produce(char* dst, std::size_t n) {
    if (n == 0) return 0;
    decide();
    if (!inflating) {
      if (raw_avail() > 0) {
        const std::size_t k = std::min(n, raw_avail());
        std::memcpy(dst, raw.data() + raw_pos, k);
        raw_pos += k;
        return k;
      }
      return read_source(dst, n);
    }
    for (;;) {
      if (member_ended) {
        ensure_raw(2);
        if (raw_avail() == 0) return 0;
        if (raw_avail() < 2 || static_cast<unsigned char>(raw[raw_pos]) != 0x1f ||
            static_cast<unsigned char>(raw[raw_pos + 1]) != 0x8b)
          trailing_after_gzip();
        // Another member: concatenated gzip members are one stream (RFC 1952, gunzip).
        inflateReset(&z);
        member_ended = false;
      }
      if (raw_avail() == 0) {
        ensure_raw(1);
        if (raw_avail() == 0) fail("read error: the gzip stream is truncated");
      }
      z.next_in = reinterpret_cast<Bytef*>(raw.data() + raw_pos);
      z.avail_in = static_cast<uInt>(raw_avail());
      z.next_out = reinterpret_cast<Bytef*>(dst);
      z.avail_out = static_cast<uInt>(std::min<std::size_t>(n, UINT_MAX));
      const uInt out_before = z.avail_out;
      const int ret = inflate(&z, Z_NO_FLUSH);
      raw_pos = raw_end - z.avail_in;
      const std::size_t produced = out_before - z.avail_out;
      if (ret == Z_STREAM_END) member_ended = true;
      else if (ret != Z_OK && ret != Z_BUF_ERROR)
        fail(std::string("read error: ") +
             (ret == Z_MEM_ERROR ? "out of memory"
                                 : z.msg != nullptr ? z.msg : "corrupted gzip data"));
      if (produced > 0) return produced;
    }
  }

  std::size_t read_into(char* dst, std::size_t n) {
    std::size_t done = 0;
    if (ahead_pos < ahead.size()) {
      const std::size_t k = std::min(n, ahead.size() - ahead_pos);
      std::memcpy(dst, ahead.data() + ahead_pos, k);
      ahead_pos += k;
      done = k;
      if (ahead_pos == ahead.size()) {
        ahead.clear();
        ahead_pos = 0;
      }
    }
    while (done < n) {
      const std::size_t got = produce(dst + done, n - done);
      if (got == 0) break;
      done += got;
    }
    return done;
  }
};

InputFile::InputFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

InputFile::InputFile(const std::string& path, Gzip gzip) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.mode = gzip;
  if (path == "-") {
    m.name = "standard input";
    m.fd = STDIN_FILENO;
  } else {
    m.name = path;
    m.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (m.fd < 0) {
      const int err = errno;
      m.fail(std::string("cannot open: ") + (err == ENOENT ? "no such file" : std::strerror(err)));
    }
    m.owns_fd = true;
  }
  struct stat st {};
  if (::fstat(m.fd, &st) != 0) m.fail(std::string("cannot open: ") + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) m.fail("is a folder");
  m.kind = S_ISREG(st.st_mode)    ? Kind::Regular
           : S_ISFIFO(st.st_mode) ? Kind::Fifo
           : S_ISCHR(st.st_mode)  ? Kind::CharDevice
                                  : Kind::Other;
  if (m.kind == Kind::Regular) {
    // Standard input may be a file already read in part: what is left starts at its offset.
    const off_t at = ::lseek(m.fd, 0, SEEK_CUR);
    if (at >= 0 && st.st_size > at) m.file_size = static_cast<std::uint64_t>(st.st_size - at);
  }
}

InputFile InputFile::from_bytes(std::string bytes, std::string name, Gzip gzip) {
  auto m = std::make_unique<Impl>();
  m->name = std::move(name);
  m->mode = gzip;
  m->kind = Kind::Other;
  m->from_memory = true;
  m->memory = std::move(bytes);
  // Small inputs (fuzzers make many) get a small buffer.
  m->raw.resize(std::min(kRawBuffer, std::max<std::size_t>(m->memory.size(), 16)));
  return InputFile(std::move(m));
}

InputFile::InputFile(InputFile&&) noexcept = default;
InputFile& InputFile::operator=(InputFile&&) noexcept = default;
InputFile::~InputFile() = default;

const std::string& InputFile::name() const { return impl_->name; }
InputFile::Kind InputFile::kind() const { return impl_->kind; }

bool InputFile::gzip() {
  impl_->decide();
  return impl_->inflating;
}

std::size_t InputFile::read(char* dst, std::size_t n) { return impl_->read_into(dst, n); }

std::string InputFile::read(std::size_t n) {
  std::string out;
  while (out.size() < n) {
    // Grows with what arrives (doubling), never by what was asked for.
    const std::size_t step = std::min(n - out.size(), std::max<std::size_t>(kRawBuffer, out.size()));
    const std::size_t old = out.size();
    out.resize(old + step);
    const std::size_t got = impl_->read_into(out.data() + old, step);
    out.resize(old + got);
    if (got < step) break;
  }
  return out;
}

std::string_view InputFile::peek(std::size_t n) {
  Impl& m = *impl_;
  if (m.ahead_pos > 0) {
    m.ahead.erase(0, m.ahead_pos);
    m.ahead_pos = 0;
  }
  while (m.ahead.size() < n) {
    const std::size_t old = m.ahead.size();
    m.ahead.resize(n);
    const std::size_t got = m.produce(m.ahead.data() + old, n - old);
    m.ahead.resize(old + got);
    if (got == 0) break;
  }
  return std::string_view(m.ahead).substr(0, std::min(n, m.ahead.size()));
}

std::optional<std::uint64_t> InputFile::remaining() {
  Impl& m = *impl_;
  m.decide();
  if (m.inflating) return std::nullopt;
  const std::uint64_t buffered = m.raw_avail() + (m.ahead.size() - m.ahead_pos);
  if (m.from_memory) return buffered + (m.memory.size() - m.memory_pos);
  if (m.file_size == 0 || m.source_read > m.file_size) return std::nullopt;
  return buffered + (m.file_size - m.source_read);
}

std::uint64_t InputFile::skip(std::uint64_t limit) {
  std::vector<char> buf(static_cast<std::size_t>(std::min<std::uint64_t>(kRawBuffer, limit + 1)));
  std::uint64_t n = 0;
  while (n <= limit) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), limit + 1 - n));
    const std::size_t got = impl_->read_into(buf.data(), want);
    n += got;
    if (got < want) break;
  }
  return n;
}

std::string read_file(const std::string& path, std::size_t max) {
  InputFile in(path);
  std::string bytes = in.read(max == std::numeric_limits<std::size_t>::max() ? max : max + 1);
  if (bytes.size() > max)
    throw Error(in.name() + ": larger than " + std::to_string(max) + " bytes, the most read here");
  return bytes;
}

}  // namespace scratchcnn
