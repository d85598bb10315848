// Image folders of PNG files, channel conversion and bilinear resizing (dataset.hpp).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "scratchcnn/data/dataset.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/files.hpp"
#include "scratchcnn/memory.hpp"

namespace scratchcnn::data {

namespace fs = std::filesystem;

void parse_resize(const std::string& text, LoadOptions& into, const std::string& what) {
  const auto bad = [&] {
    return Error(what + ": '" + text + "' is not HxW (height x width, each 1.." +
                 std::to_string(kMaxImageSide) + "), e.g. 32x32");
  };
  const std::size_t x = text.find_first_of("xX");
  if (x == std::string::npos || x == 0 || x + 1 == text.size()) throw bad();
  int sides[2] = {0, 0};
  const std::string parts[2] = {text.substr(0, x), text.substr(x + 1)};
  for (int i = 0; i < 2; ++i) {
    if (parts[i].size() > 6) throw bad();
    for (char ch : parts[i])
      if (ch < '0' || ch > '9') throw bad();
    sides[i] = std::stoi(parts[i]);
    if (sides[i] < 1 || sides[i] > kMaxImageSide) throw bad();
  }
  into.resize_h = sides[0];
  into.resize_w = sides[1];
}

void convert_channels(Picture& p, int channels) {
  if (channels != 1 && channels != 3)
    throw Error("convert_channels: " + std::to_string(channels) + " channels (1 or 3)");
  if (p.c == channels) return;
  const std::size_t plane = std::size_t(p.h) * p.w;
  if (p.c == 1 && channels == 3) {
    p.pixels.resize(3 * plane);
    std::copy(p.pixels.begin(), p.pixels.begin() + std::ptrdiff_t(plane),
              p.pixels.begin() + std::ptrdiff_t(plane));
    std::copy(p.pixels.begin(), p.pixels.begin() + std::ptrdiff_t(plane),
              p.pixels.begin() + std::ptrdiff_t(2 * plane));
  } else if (p.c == 3 && channels == 1) {
    for (std::size_t i = 0; i < plane; ++i)
      p.pixels[i] = static_cast<float>(0.299 * p.pixels[i] + 0.587 * p.pixels[plane + i] +
                                       0.114 * p.pixels[2 * plane + i]);
    p.pixels.resize(plane);
    p.pixels.shrink_to_fit();
  } else {
    throw Error("convert_channels: from " + std::to_string(p.c) + " to " +
                std::to_string(channels) + " channels (only 1 and 3 convert)");
  }
  p.c = channels;
}

namespace {

// For one axis: per output index, the two input indices and the weight of the second.
struct Taps {
  std::vector<int> lo, hi;
  std::vector<double> frac;
};

Taps taps(int in, int out) {
  Taps t;
  const double scale = double(in) / double(out);
  for (int o = 0; o < out; ++o) {
    const double s = std::max(0.0, (o + 0.5) * scale - 0.5);
    const int lo = std::min(static_cast<int>(std::floor(s)), in - 1);
    t.lo.push_back(lo);
    t.hi.push_back(std::min(lo + 1, in - 1));
    t.frac.push_back(s - lo);
  }
  return t;
}

}  // namespace

void resize_bilinear(Picture& p, int h, int w) {
  if (h < 1 || w < 1 || p.h < 1 || p.w < 1)
    throw Error("resize_bilinear: from " + std::to_string(p.h) + "x" + std::to_string(p.w) +
                " to " + std::to_string(h) + "x" + std::to_string(w));
  if (h == p.h && w == p.w) return;
  const Taps ty = taps(p.h, h), tx = taps(p.w, w);
  std::vector<float> out(std::size_t(p.c) * h * w);
  for (int c = 0; c < p.c; ++c) {
    const float* src = p.pixels.data() + std::size_t(c) * p.h * p.w;
    float* dst = out.data() + std::size_t(c) * h * w;
    for (int y = 0; y < h; ++y) {
      const float* r0 = src + std::size_t(ty.lo[std::size_t(y)]) * p.w;
      const float* r1 = src + std::size_t(ty.hi[std::size_t(y)]) * p.w;
      const double fy = ty.frac[std::size_t(y)];
      for (int x = 0; x < w; ++x) {
        const std::size_t x0 = std::size_t(tx.lo[std::size_t(x)]), x1 = std::size_t(tx.hi[std::size_t(x)]);
        const double fx = tx.frac[std::size_t(x)];
        const double top = double(r0[x0]) * (1 - fx) + double(r0[x1]) * fx;
        const double bottom = double(r1[x0]) * (1 - fx) + double(r1[x1]) * fx;
        dst[std::size_t(y) * w + x] = static_cast<float>(top * (1 - fy) + bottom * fy);
      }
    }
  }
  p.pixels = std::move(out);
  p.h = h;
  p.w = w;
}

namespace {

void apply(Picture& p, const LoadOptions& o) {
  if (o.channels != 0) convert_channels(p, o.channels);
  if (o.resize_h != 0) resize_bilinear(p, o.resize_h, o.resize_w);
}

std::string shape_text(int c, int h, int w) {
  return std::to_string(c) + "x" + std::to_string(h) + "x" + std::to_string(w);
}

}  // namespace

void apply_load_options(Dataset& d, const LoadOptions& o) {
  const int c = o.channels != 0 ? o.channels : d.c;
  const int h = o.resize_h != 0 ? o.resize_h : d.h;
  const int w = o.resize_w != 0 ? o.resize_w : d.w;
  if (c == d.c && h == d.h && w == d.w) return;
  if (d.c != 1 && d.c != 3)
    throw Error("data " + d.source + ": --channels converts 1 and 3 channels, not " +
                std::to_string(d.c));
  check_input_size(d.source, std::to_string(d.size()) + " images of " + shape_text(c, h, w) +
                                 " (as floats)",
                   std::uint64_t(d.size()) * c * h * w * sizeof(float));
  std::vector<float> out;
  out.reserve(std::size_t(d.size()) * c * h * w);
  for (int i = 0; i < d.size(); ++i) {
    Picture p{d.c, d.h, d.w, std::vector<float>(d.image(i), d.image(i) + d.sample_size())};
    apply(p, o);
    out.insert(out.end(), p.pixels.begin(), p.pixels.end());
  }
  d.images = std::move(out);
  d.c = c;
  d.h = h;
  d.w = w;
}

namespace {

bool is_png_name(const std::string& name) {
  if (name.size() < 4) return false;
  std::string ext = name.substr(name.size() - 4);
  for (char& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return ext == ".png";
}

// The sub-folders of `dir` (not starting with '.'), sorted by name in byte order.
std::vector<std::string> class_folders(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) throw Error("image folder " + dir.string() + ": cannot list: " + ec.message());
  for (const fs::directory_entry& e : it) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    std::error_code ec2;
    if (fs::is_directory(e.path(), ec2)) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

struct Entry {
  std::string path;
  int label = 0;
  PngHeader header;
};

}  // namespace

Dataset load_image_folder(const std::string& dir, const LoadOptions& options, int* skipped) {
  const fs::path d(dir);
  std::error_code ec;
  if (!fs::is_directory(d, ec)) throw Error("image folder " + dir + ": not a folder");
  Dataset out;
  out.class_names = class_folders(d);
  const int classes = static_cast<int>(out.class_names.size());
  if (classes == 0)
    throw Error("image folder " + dir + ": no class folders (expected one sub-folder per class, "
                "each holding that class's .png images)");
  if (classes < 2)
    throw Error("image folder " + dir + ": only one class folder (" + out.class_names[0] +
                "); a classifier needs at least 2");
  if (classes > kMaxClasses)
    throw Error("image folder " + dir + ": " + std::to_string(classes) +
                " class folders, more than the " + std::to_string(kMaxClasses) + " allowed");

  // First every file's header: sizes, channels and memory are checked before any decoding.
  std::vector<Entry> entries;
  int other = 0;
  for (int label = 0; label < classes; ++label) {
    const fs::path cdir = d / out.class_names[std::size_t(label)];
    std::vector<std::string> files;
    int others_here = 0;
    std::string an_other;
    fs::directory_iterator it(cdir, ec);
    if (ec) throw Error("class folder " + cdir.string() + ": cannot list: " + ec.message());
    for (const fs::directory_entry& e : it) {
      const std::string name = e.path().filename().string();
      std::error_code ec2;
      if (is_png_name(name) && !fs::is_directory(e.path(), ec2)) {
        files.push_back(e.path().string());
      } else {
        ++others_here;
        if (an_other.empty() || name < an_other) an_other = name;
      }
    }
    if (files.empty())
      throw Error("class folder " + cdir.string() + ": no .png images" +
                  (others_here ? " (PNG only: " + std::to_string(others_here) +
                                     (others_here == 1 ? " other entry" : " other entries") +
                                     " skipped, e.g. " + an_other + ")"
                               : std::string()));
    other += others_here;
    std::sort(files.begin(), files.end());
    for (std::string& f : files) {
      InputFile in(f);
      entries.push_back(Entry{std::move(f), label, read_png_header(in)});
    }
  }
  if (entries.size() > std::size_t(0x7fffffff))
    throw Error("image folder " + dir + ": too many images");

  const Entry& first = entries.front();
  const int c = options.channels ? options.channels : first.header.channels();
  const int h = options.resize_h ? options.resize_h : first.header.height;
  const int w = options.resize_w ? options.resize_w : first.header.width;
  for (const Entry& e : entries) {
    if (!options.resize_h && (e.header.height != h || e.header.width != w))
      throw Error(e.path + ": " + std::to_string(e.header.height) + "x" +
                  std::to_string(e.header.width) + " pixels (height x width), but " + first.path +
                  " is " + std::to_string(h) + "x" + std::to_string(w) +
                  "; all images must have one size (--resize HxW resizes them all)");
    if (!options.channels && e.header.channels() != c)
      throw Error(e.path + ": " + (e.header.channels() == 1 ? "gray" : "colour (RGB)") +
                  ", but " + first.path + " is " + (c == 1 ? "gray" : "colour (RGB)") +
                  "; --channels 1 or --channels 3 converts them all to one");
  }
  const std::uint64_t values = std::uint64_t(entries.size()) * c * h * w;
  check_input_size(dir, std::to_string(entries.size()) + " images of " + shape_text(c, h, w) +
                            " (as floats)",
                   values * sizeof(float));

  out.c = c;
  out.h = h;
  out.w = w;
  out.classes = classes;
  out.source = dir;
  out.images.reserve(static_cast<std::size_t>(values));
  out.labels.reserve(entries.size());
  for (const Entry& e : entries) {
    InputFile in(e.path);
    Picture p = load_png(in);
    if (p.h != e.header.height || p.w != e.header.width || p.c != e.header.channels())
      throw Error(e.path + ": changed while the folder was read");
    apply(p, options);
    out.images.insert(out.images.end(), p.pixels.begin(), p.pixels.end());
    out.labels.push_back(e.label);
  }
  if (skipped) *skipped = other;
  return out;
}

}  // namespace scratchcnn::data
