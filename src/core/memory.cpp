#include "scratchcnn/memory.hpp"

#include <omp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <new>
#include <sstream>

#include "scratchcnn/error.hpp"
#include "fast/layout.hpp"
#include "fast/network.hpp"
#include "reference/network.hpp"

namespace scratchcnn {

int max_threads() { return std::clamp(omp_get_max_threads(), 1, kMaxThreads); }

namespace {

// Sizes are summed in double: a model within the limits of model_spec.hpp times a batch of 2^20
// can pass 2^64 bytes. Converted back with saturation.
constexpr double kSaturate = 9.0e18;
std::uint64_t bytes_of(double b) { return b >= kSaturate ? std::uint64_t(kSaturate) : std::uint64_t(b); }

// What one heap allocation of `bytes` costs with glibc malloc: an 8-byte header, 16-byte
// granularity, 32 bytes at least. Used for the reference path's many small vectors.
// Blocks of 128 KiB and more are mapped on their own: whole pages.
double alloc(double bytes) {
  if (bytes <= 0) return 0;
  if (bytes >= 128 * 1024) return std::ceil((bytes + 16) / 4096) * 4096;
  return std::max(32.0, std::ceil((bytes + 8) / 16) * 16);
}

// A vector grown by push_back to n elements of `elem` bytes: capacity the next power of two.
double grown(double n, double elem) {
  if (n <= 0) return 0;
  return alloc(std::exp2(std::ceil(std::log2(n))) * elem);
}

// One AlignedBuffer (fast/layout.hpp) of n floats: 64-byte aligned operator new.
double aligned(double floats) {
  return floats <= 0 ? 0 : alloc(double(fast::align_floats(std::size_t(floats))) * 4.0 + 64);
}

MemoryEstimate estimate_fast(const ModelSpec& spec, int batch, int threads, MemoryUse use,
                             const NetworkOptions& options) {
  const fast::Footprint f = fast::footprint(spec, fast::options_of(options));
  const double chunks = std::ceil(double(batch) / fast::kChunk);
  const double used_threads = std::max(1.0, std::min<double>(threads, chunks));
  const double flat = aligned(double(f.parameter_floats));
  MemoryEstimate e;
  e.parameters = bytes_of(flat);
  e.gradients = bytes_of(flat);  // mean_: allocated for inference too
  e.velocities = bytes_of(2 * flat);  // velocities and Adam's second moments (flat_params.hpp)
  // A model with batch norm trains with one workspace per chunk (its activations live until the
  // batch statistics of backward are known) and one batch of per-chunk statistics.
  const bool staged = spec.running_count() > 0 && use == MemoryUse::Training;
  const double workspaces = staged ? std::max(used_threads, chunks) : used_threads;
  if (use == MemoryUse::Training) {
    e.partials = bytes_of(aligned(chunks * double(f.parameter_floats)) +
                          (staged ? aligned(chunks * double(spec.running_count())) : 0.0));
    e.other = bytes_of(alloc(double(batch) * 8) + alloc(double(batch)));  // losses, correct flags
  }
  e.workspaces = bytes_of(workspaces * aligned(double(f.workspace_floats)) + alloc(workspaces * 16));
  e.other += bytes_of(double(spec.layers.size()) * 1024 + 65536);  // kernels, offsets, the spec
  return e;
}

// The reference path's bytes, summed over the layers. `temp` is one layer's per-sample tensors
// alive at once.
struct ReferenceBytes {
  double params = 0, grads = 0, vel = 0, work = 0, other = 0, temp = 0;
};

using RefT = float;
constexpr double kRefT = sizeof(RefT);

void add_dense_reference(ReferenceBytes& r, const LayerSpec& ls, double b, bool train) {
  // Each neuron holds n_in weight Params in one vector and its bias Param (dense.hpp); a
  // Param is value, velocity, second moment and its gradient list (module.hpp).
  const double t = kRefT, n_in = ls.in, n_out = ls.out;
  r.other += alloc(n_out * sizeof(reference::LinearNode<RefT>));
  r.params += n_out * alloc(n_in * sizeof(reference::Param<RefT>));
  r.vel += 2 * (n_in + 1) * n_out * t;
  r.work += n_out * alloc(n_in * t);  // each node remembers its input
  if (train) {
    r.grads += n_out * (n_in + 1) * grown(b, t);  // one list per Param
    r.temp += 2 * alloc(n_in * t) + grown(b, t);  // a node's backward vector, a mean's list
  }
}

void add_conv_reference(ReferenceBytes& r, const LayerSpec& ls, const LayerInfo& li, double b,
                        bool train) {
  // Each output channel holds cin kernels of k*k Params and a bias Param (conv.hpp).
  const double t = kRefT, cin = ls.in, cout = ls.out, kk = double(ls.k) * ls.k;
  const double hp = double(li.in.h) + 2.0 * ls.pad, wp = double(li.in.w) + 2.0 * ls.pad;
  const double kernels = alloc(cin * sizeof(std::vector<reference::Param<RefT>>)) +
                         cin * alloc(kk * sizeof(reference::Param<RefT>));
  r.other += alloc(cout * sizeof(reference::ConvNode<RefT>));
  r.params += cout * kernels;
  r.vel += 2 * (cin * kk + 1) * cout * t;
  // Each output channel keeps a zero-padded copy of every input channel.
  r.work += cout * (grown(cin, sizeof(reference::Matrix<RefT>)) + cin * alloc(hp * wp * t));
  if (train) {
    r.grads += cout * (cin * kk + 1) * grown(b, t);  // one list per Param
    // Backward of one channel: the full convolution pads the kernel by the size of the stride-1
    // output gradient (with stride > 1, the output gradient dilated to it: one more matrix);
    // the kernel's values as a matrix (ConvNode::kernel) for forward and backward.
    const double dh = hp - ls.k + 1, dw = wp - ls.k + 1;
    const double fh = ls.k + 2.0 * (dh - 1), fw = ls.k + 2.0 * (dw - 1);
    r.temp += 3 * alloc(fh * fw * t) + 2 * cin * alloc(double(li.in.h) * li.in.w * t) +
              4 * alloc(kk * t) + (ls.conv_stride() > 1 ? alloc(dh * dw * t) : 0.0);
  }
}

MemoryEstimate estimate_reference(const ModelSpec& spec, int batch, MemoryUse use) {
  const double t = kRefT, b = batch;
  const bool train = use == MemoryUse::Training;
  ReferenceBytes r;
  double transient = 0;  // per-sample tensors alive at once, the largest over the layers
  double widest = 0;     // the most values per sample at any layer
  for (std::size_t l = 0; l < spec.layers.size(); ++l) {
    const LayerSpec& ls = spec.layers[l];
    const LayerInfo& li = spec.info[l];
    const double fin = double(li.in.size()), fout = double(li.out.size());
    // Model::forward/backward keep the value and its successor; modules copy them (to_maps,
    // from_maps, grad = g): a few tensors of both sizes at once.
    r.temp = 4 * alloc((fin + fout) * t);
    switch (ls.kind) {
      case LayerKind::Dense: add_dense_reference(r, ls, b, train); break;
      case LayerKind::Conv: add_conv_reference(r, ls, li, b, train); break;
      case LayerKind::ReLU:
      case LayerKind::Sigmoid:
      case LayerKind::Tanh: r.work += alloc(fout * t); break;  // the output it remembers
      case LayerKind::Dropout: r.work += alloc(fout * t); break;  // the factors of its mask
      case LayerKind::MaxPool: r.work += alloc(fout * sizeof(std::size_t)); break;  // argmax
      case LayerKind::BatchNorm:
        // Per channel a node of two Params; in training the batch's inputs (the module's copy and
        // the network's list of a segment's inputs) and its list of values between modules.
        r.params += fout / std::max(1.0, double(li.out.h) * li.out.w) * 2 * sizeof(reference::Param<RefT>);
        if (train) {
          r.work += 3 * b * alloc(fin * t);
          r.grads += 2 * double(ls.out) * grown(b, t);
        }
        break;
      case LayerKind::Flatten:
      case LayerKind::AvgPool:
      case LayerKind::GlobalAvgPool:
      case LayerKind::Normalize: break;
    }
    transient = std::max(transient, r.temp);
    widest = std::max(widest, std::max(fin, fout));
  }
  // A model with batch norm trains in segments (reference/network.hpp): the batch's images as the
  // first segment's inputs and the list of every sample's value between modules besides.
  if (train && spec.running_count() > 0)
    r.work += b * (alloc(double(spec.input.size()) * t) + alloc(widest * t));
  r.other += double(spec.layers.size()) * 256;  // module objects
  MemoryEstimate e;
  e.parameters = bytes_of(r.params - r.vel);  // the optimizer state lives inside the Params
  e.gradients = bytes_of(r.grads);
  e.velocities = bytes_of(r.vel);
  e.workspaces = bytes_of(r.work + transient);
  e.other = bytes_of(r.other);
  return e;
}

std::string mib_text(double v, const char* unit) {
  char b[32];
  std::snprintf(b, sizeof b, v < 10 ? "%.2f %s" : v < 100 ? "%.1f %s" : "%.0f %s", v, unit);
  return b;
}

// A whole file's first line as an unsigned number; 0 when missing or "max".
std::uint64_t read_limit_file(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  if (!f || !std::getline(f, line)) return 0;
  if (line.empty() || !std::isdigit(static_cast<unsigned char>(line[0]))) return 0;
  try {
    return std::stoull(line);
  } catch (...) {
    return 0;
  }
}

// The memory limit of this process's cgroup (v2: memory.max of its own group and its parents as
// mounted; v1: memory.limit_in_bytes). 0 when none is set.
std::uint64_t cgroup_limit() {
  std::uint64_t best = 0;
  auto take = [&](std::uint64_t v) {
    // v1 reports "no limit" as a huge number (LONG_MAX rounded to pages).
    if (v > 0 && v < (std::uint64_t(1) << 60)) best = best == 0 ? v : std::min(best, v);
  };
  std::ifstream f("/proc/self/cgroup");
  std::string line;
  while (std::getline(f, line)) {
    const auto a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    if (controllers.empty()) {  // v2: walk up to the root of the mounted hierarchy
      for (;;) {
        take(read_limit_file("/sys/fs/cgroup" + (path == "/" ? "" : path) + "/memory.max"));
        if (path.empty() || path == "/") break;
        path = path.substr(0, path.rfind('/'));
      }
    } else if (controllers.find("memory") != std::string::npos) {
      take(read_limit_file("/sys/fs/cgroup/memory" + (path == "/" ? "" : path) +
                           "/memory.limit_in_bytes"));
      take(read_limit_file("/sys/fs/cgroup/memory/memory.limit_in_bytes"));
    }
  }
  return best;
}

}  // namespace

std::uint64_t MemoryEstimate::total() const {
  const double t = double(parameters) + double(gradients) + double(velocities) + double(partials) +
                   double(workspaces) + double(other) + double(data);
  return bytes_of(t);
}

std::string MemoryEstimate::str() const {
  std::string parts;
  const std::pair<const char*, std::uint64_t> all[] = {
      {"parameters", parameters}, {"gradients", gradients},   {"velocities", velocities},
      {"partial sums", partials}, {"workspaces", workspaces}, {"other", other},
      {"data and copies", data}};
  for (const auto& [name, v] : all)
    if (v > 0) parts += (parts.empty() ? "" : ", ") + std::string(name) + " " + format_bytes(v);
  return format_bytes(total()) + " (" + parts + ")";
}

MemoryEstimate estimate_memory(PathKind path, const ModelSpec& spec, int batch, int threads,
                               MemoryUse use, const NetworkOptions& options) {
  if (batch < 1) throw Error("memory estimate: batch size " + std::to_string(batch) + " is below 1");
  if (threads <= 0) threads = max_threads();
  threads = std::min(threads, kMaxThreads);
  return path == PathKind::Fast ? estimate_fast(spec, batch, threads, use, options)
                                : estimate_reference(spec, batch, use);
}

std::uint64_t dataset_bytes(const data::Dataset& d) {
  return d.images.capacity() * sizeof(float) + d.labels.capacity() * sizeof(int);
}

std::uint64_t parameters_bytes(const ModelSpec& spec) {
  return bytes_of(double(spec.param_count()) * sizeof(float) +
                  double(spec.layers.size()) * (sizeof(LayerParams) + 64));
}

std::string format_bytes(std::uint64_t bytes) {
  const double v = double(bytes);
  if (v < 1024) return std::to_string(bytes) + " B";
  if (v < 1024.0 * 1024) return mib_text(v / 1024, "KiB");
  if (v < 1024.0 * 1024 * 1024) return mib_text(v / (1024.0 * 1024), "MiB");
  if (v < 1024.0 * 1024 * 1024 * 1024) return mib_text(v / (1024.0 * 1024 * 1024), "GiB");
  return mib_text(v / (1024.0 * 1024 * 1024 * 1024), "TiB");
}

std::uint64_t parse_memory_size(const std::string& text, const std::string& what) {
  const std::string bad = what + ": " + excerpt(text) +
                          " is not a size (a number of bytes with an optional K, M, G or T "
                          "suffix, e.g. 512M or 8G; 0 = no limit)";
  std::size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  const std::string number = text.substr(0, i);
  std::string unit = text.substr(i);
  for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (number.empty() || number == "." || std::count(number.begin(), number.end(), '.') > 1)
    throw Error(bad);
  double scale = 1;
  if (unit.empty() || unit == "B") scale = 1;
  else if (unit == "K" || unit == "KB" || unit == "KIB") scale = 1024.0;
  else if (unit == "M" || unit == "MB" || unit == "MIB") scale = 1024.0 * 1024;
  else if (unit == "G" || unit == "GB" || unit == "GIB") scale = 1024.0 * 1024 * 1024;
  else if (unit == "T" || unit == "TB" || unit == "TIB") scale = 1024.0 * 1024 * 1024 * 1024;
  else throw Error(bad);
  double v = 0;
  std::istringstream in(number);
  in.imbue(std::locale::classic());
  if (!(in >> v) || !in.eof()) throw Error(bad);
  const double bytes = v * scale;
  if (!(bytes < 1.8e19)) throw Error(what + ": " + excerpt(text) + " does not fit 64 bits");
  // 0 means no limit: a size that rounds down to it would silently turn the limit off.
  if (v > 0 && bytes < 1) throw Error(what + ": " + excerpt(text) + " is less than one byte");
  return std::uint64_t(bytes);
}

std::uint64_t SystemMemory::usable() const {
  std::uint64_t u = physical;
  for (std::uint64_t v : {cgroup, rlimit})
    if (v > 0 && (u == 0 || v < u)) u = v;
  return u;
}

std::string SystemMemory::source() const {
  const std::uint64_t u = usable();
  if (u == 0) return "unknown physical memory";
  if (u == rlimit && rlimit != physical) return "the address-space limit (ulimit) of " + format_bytes(u);
  if (u == cgroup && cgroup != physical) return "the cgroup memory limit of " + format_bytes(u);
  return format_bytes(u) + " of physical memory";
}

SystemMemory system_memory() {
  SystemMemory m;
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0) m.physical = std::uint64_t(pages) * std::uint64_t(page);
  m.cgroup = cgroup_limit();
  for (int r : {RLIMIT_AS, RLIMIT_DATA}) {
    struct rlimit rl {};
    if (::getrlimit(r, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur > 0)
      m.rlimit = m.rlimit == 0 ? std::uint64_t(rl.rlim_cur) : std::min<std::uint64_t>(m.rlimit, rl.rlim_cur);
  }
  return m;
}

std::uint64_t default_memory_limit() { return system_memory().usable() / 4 * 3; }

namespace {

struct InputLimit {
  std::mutex m;
  bool set = false;
  std::uint64_t bytes = 0;
  std::string source;
};

InputLimit& input_limit() {
  static InputLimit l;
  return l;
}

}  // namespace

std::uint64_t input_memory_limit() {
  InputLimit& l = input_limit();
  const std::lock_guard<std::mutex> lock(l.m);
  return l.set ? l.bytes : default_memory_limit();
}

void set_input_memory_limit(std::uint64_t bytes, const std::string& source) {
  InputLimit& l = input_limit();
  const std::lock_guard<std::mutex> lock(l.m);
  l.set = true;
  l.bytes = bytes;
  l.source = source;
}

void check_input_size(const std::string& where, const std::string& what, std::uint64_t bytes) {
  const std::uint64_t limit = input_memory_limit();
  if (limit == 0 || bytes <= limit) return;
  std::string source;
  {
    InputLimit& l = input_limit();
    const std::lock_guard<std::mutex> lock(l.m);
    source = l.set ? l.source : "the default: 3/4 of " + system_memory().source();
  }
  throw Error(where + ": " + what + " need " + format_bytes(bytes) +
              " in memory, more than the memory limit of " + format_bytes(limit) + " (" + source +
              ")");
}

void check_memory(const MemoryEstimate& e, std::uint64_t limit, const std::string& what,
                  const std::string& note) {
  if (limit == 0 || e.total() <= limit) return;
  throw Error(what + " needs an estimated " + e.str() + ", more than the memory limit of " +
              format_bytes(limit) + (note.empty() ? "" : " (" + note + ")") +
              "; use a smaller model or batch");
}

std::unique_ptr<Network> make_network(PathKind path, const ModelSpec& spec, const Parameters& p,
                                      const MemoryBudget& budget, const NetworkOptions& options) {
  MemoryEstimate e =
      estimate_memory(path, spec, budget.batch, budget.threads, budget.use, options);
  e.data = budget.extra;
  check_memory(e, budget.limit,
               std::string("the ") + path_name(path) + " path with batch " +
                   std::to_string(budget.batch) +
                   (path == PathKind::Fast ? " on " + std::to_string(budget.threads > 0
                                                                          ? std::min(budget.threads, kMaxThreads)
                                                                          : max_threads()) +
                                                 " threads"
                                           : std::string()),
               budget.note);
  return make_network(path, spec, p, options);
}

}  // namespace scratchcnn
