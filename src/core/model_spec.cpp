#include "scratchcnn/model_spec.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "scratchcnn/error.hpp"
#include "core/text.hpp"

namespace scratchcnn {

std::string Shape::str() const {
  if (flat) return std::to_string(c);
  return std::to_string(c) + "x" + std::to_string(h) + "x" + std::to_string(w);
}

std::string LayerSpec::text() const {
  switch (kind) {
    case LayerKind::Conv: {
      std::string s = "conv(" + std::to_string(in) + "," + std::to_string(out) +
                      ",k=" + std::to_string(k);
      // Stride 1 is not written, so the text of a model without strides keeps its bytes.
      if (stride > 1) s += ",stride=" + std::to_string(stride);
      if (pad != 0) s += ",pad=" + std::to_string(pad);
      return s + ")";
    }
    case LayerKind::Dense:
      return "dense(" + std::to_string(in) + "," + std::to_string(out) + ")";
    case LayerKind::ReLU: return "relu";
    case LayerKind::Sigmoid: return "sigmoid";
    case LayerKind::Tanh: return "tanh";
    case LayerKind::MaxPool: return "maxpool(" + std::to_string(k) + ")";
    case LayerKind::AvgPool:
      return "avgpool(" + std::to_string(k) +
             (stride != 0 && stride != k ? ",stride=" + std::to_string(stride) : std::string()) + ")";
    case LayerKind::GlobalAvgPool: return "gap";
    case LayerKind::Flatten: return "flatten";
    case LayerKind::Dropout: return "dropout(" + shortest_float(rate) + ")";
    case LayerKind::Normalize: {
      const auto list = [](const std::vector<float>& v) {
        std::string t;
        for (std::size_t i = 0; i < v.size(); ++i) t += (i ? ":" : "") + shortest_float(v[i]);
        return t;
      };
      return "normalize(mean=" + list(mean) + ",std=" + list(stdev) + ")";
    }
    case LayerKind::BatchNorm: return "batchnorm";
  }
  return "?";
}

std::string ModelSpec::text() const {
  std::string s;
  for (const auto& l : layers) {
    if (!s.empty()) s += ' ';
    s += l.text();
  }
  return s;
}

std::string ModelSpec::full_text() const { return input.str() + ": " + text(); }

int ModelSpec::classes() const { return info.empty() ? input.c : info.back().out.c; }

std::int64_t ModelSpec::param_count() const {
  std::int64_t n = 0;
  for (const auto& i : info) n += i.params;
  return n;
}

std::int64_t ModelSpec::running_count() const {
  std::int64_t n = 0;
  for (const auto& l : layers) n += l.running_count();
  return n;
}

std::int64_t ModelSpec::forward_flops() const {
  std::int64_t n = 0;
  for (const auto& i : info) n += i.flops;
  return n;
}

std::int64_t ModelSpec::train_flops() const {
  std::int64_t n = 0;
  for (std::size_t i = 0; i < layers.size(); ++i)
    n += (layers[i].has_params() ? 3 : 2) * info[i].flops;
  return n;
}

namespace {

constexpr int kMaxDim = kMaxDimension;
constexpr std::size_t kMaxLayers = 4096;

// Reads a non-negative integer in [lo, hi]; `what` names it in errors.
int parse_int(std::string_view s, int lo, int hi, const std::string& what) {
  int v = 0;
  const auto* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, v);
  if (s.empty() || ec != std::errc() || p != end)
    throw Error(what + ": " + excerpt(s) + " is not an integer");
  if (v < lo || v > hi)
    throw Error(what + ": " + std::to_string(v) + " is outside " + std::to_string(lo) + ".." +
                std::to_string(hi));
  return v;
}

// Splits model text into layer tokens: a word, optionally followed by a parenthesised argument
// list (which may contain spaces).
std::vector<std::string> tokenize(const std::string& text) {
  std::vector<std::string> tokens;
  std::size_t i = 0;
  while (i < text.size()) {
    if (std::isspace(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < text.size() && !std::isspace(static_cast<unsigned char>(text[j])) && text[j] != '(')
      ++j;
    // Allow spaces between the name and '('.
    std::size_t k = j;
    while (k < text.size() && std::isspace(static_cast<unsigned char>(text[k]))) ++k;
    if (k < text.size() && text[k] == '(') {
      const std::size_t close = text.find(')', k);
      if (close == std::string::npos)
        throw Error("model text: unclosed '(' in " + excerpt(trim(text.substr(i))));
      std::string tok = text.substr(i, j - i) + text.substr(k, close + 1 - k);
      tokens.push_back(tok);
      i = close + 1;
    } else {
      tokens.push_back(text.substr(i, j - i));
      i = j;
    }
  }
  return tokens;
}

// A conv layer's k=K (required, first) and then stride=S and pad=P (optional, at most once each,
// in either order): args[2] and on.
void parse_conv_window(LayerSpec& l, const std::vector<std::string>& args, const std::string& where,
                       const char* form) {
  bool have_k = false, have_stride = false, have_pad = false;
  for (std::size_t a = 2; a < args.size(); ++a) {
    const std::string_view arg = args[a];
    const auto eq = arg.find('=');
    const std::string key(eq == arg.npos ? "" : trim(arg.substr(0, eq)));
    const std::string val(eq == arg.npos ? "" : trim(arg.substr(eq + 1)));
    if (key == "k" && a == 2) {
      l.k = parse_int(val, 1, kMaxWindow, where + " kernel size k");
      have_k = true;
    } else if (key == "stride" && a > 2 && !have_stride) {
      l.stride = parse_int(val, 1, kMaxWindow, where + " stride");
      have_stride = true;
    } else if (key == "pad" && a > 2 && !have_pad) {
      l.pad = parse_int(val, 0, kMaxWindow, where + " padding");
      have_pad = true;
    } else {
      throw Error(where + ": unexpected argument " + excerpt(args[a]) + ", expects the form " + form);
    }
  }
  if (!have_k) throw Error(where + ": missing k=K, expects the form " + form);
}

LayerSpec parse_layer(const std::string& token, int index) {
  const std::string where = "layer " + std::to_string(index) + " " + excerpt(token);
  const auto open = token.find('(');
  const std::string name = token.substr(0, open);
  std::vector<std::string> args;
  if (open != std::string::npos) {
    const std::string inner = token.substr(open + 1, token.size() - open - 2);
    std::stringstream ss(inner);
    std::string a;
    while (std::getline(ss, a, ',')) args.emplace_back(trim(a));
    if (!inner.empty() && inner.back() == ',') args.push_back("");
  }
  auto want_args = [&](std::size_t lo, std::size_t hi, const char* form) {
    if (open == std::string::npos && lo > 0)
      throw Error(where + ": needs arguments, e.g. " + form);
    if (args.size() < lo || args.size() > hi)
      throw Error(where + ": expects the form " + form);
  };
  LayerSpec l;
  if (name == "conv") {
    const char* form = "conv(in,out,k=K,stride=S,pad=P) (stride and pad optional)";
    want_args(3, 5, form);
    l.kind = LayerKind::Conv;
    l.in = parse_int(args[0], 1, kMaxDim, where + " input channels");
    l.out = parse_int(args[1], 1, kMaxDim, where + " output channels");
    parse_conv_window(l, args, where, form);
  } else if (name == "dense") {
    want_args(2, 2, "dense(in,out)");
    l.kind = LayerKind::Dense;
    l.in = parse_int(args[0], 1, kMaxDenseSize, where + " inputs");
    l.out = parse_int(args[1], 1, kMaxDenseSize, where + " outputs");
  } else if (name == "maxpool") {
    want_args(1, 1, "maxpool(K)");
    l.kind = LayerKind::MaxPool;
    l.k = parse_int(args[0], 1, kMaxWindow, where + " window");
  } else if (name == "avgpool") {
    const char* form = "avgpool(K) or avgpool(K,stride=S)";
    want_args(1, 2, form);
    l.kind = LayerKind::AvgPool;
    l.k = parse_int(args[0], 1, kMaxWindow, where + " window");
    l.stride = l.k;
    if (args.size() == 2) {
      const std::string_view arg = args[1];
      const auto eq = arg.find('=');
      if (eq == arg.npos || trim(arg.substr(0, eq)) != "stride")
        throw Error(where + ": unexpected argument " + excerpt(args[1]) + ", expects the form " + form);
      l.stride = parse_int(std::string(trim(arg.substr(eq + 1))), 1, kMaxWindow, where + " stride");
    }
  } else if (name == "dropout") {
    want_args(1, 1, "dropout(P)");
    l.kind = LayerKind::Dropout;
    const std::string& text = args[0];
    const std::optional<double> p = parse_finite(text);
    if (!p) throw Error(where + ": probability " + excerpt(text) + " is not a number, expects dropout(P)");
    l.rate = static_cast<float>(*p) + 0.0f;  // -0 is 0
    if (!(l.rate >= 0 && l.rate < 1))
      throw Error(where + ": probability " + excerpt(text) + " is outside 0 <= P < 1");
  } else if (name == "normalize") {
    const char* form = "normalize(mean=M,std=S) or, per channel, normalize(mean=M1:M2:M3,std=S1:S2:S3)";
    want_args(2, 2, form);
    l.kind = LayerKind::Normalize;
    const auto values = [&](const std::string& arg, const char* key, bool positive) {
      const auto eq = arg.find('=');
      if (eq == std::string::npos || trim(arg.substr(0, eq)) != key)
        throw Error(where + ": unexpected argument " + excerpt(arg) + ", expects the form " + form);
      std::vector<float> out;
      const std::string all(trim(arg.substr(eq + 1)));
      if (!all.empty() && all.back() == ':')
        throw Error(where + ": an empty " + key + " value after the last ':'");
      std::stringstream list{all};
      std::string item;
      while (std::getline(list, item, ':')) {
        const std::string t(trim(item));
        const std::optional<double> v = parse_finite(t);
        const float f = v ? static_cast<float>(*v) : 0.0f;
        if (!v || !std::isfinite(f))
          throw Error(where + ": " + key + " value " + excerpt(t) + " is not a finite number");
        if (positive && !(f >= 1e-30f))
          throw Error(where + ": std value " + excerpt(t) + " must be above 0 (at least 1e-30)");
        out.push_back(f);
        if (out.size() > std::size_t(kMaxDim))
          throw Error(where + ": more " + key + " values than a model may have channels");
      }
      if (out.empty()) throw Error(where + ": no " + std::string(key) + " values, expects the form " + form);
      return out;
    };
    l.mean = values(args[0], "mean", false);
    l.stdev = values(args[1], "std", true);
  } else if (name == "batchnorm") {
    if (open != std::string::npos)
      throw Error(where + ": takes no arguments (its channels are its input's), write 'batchnorm'");
    l.kind = LayerKind::BatchNorm;
  } else if (name == "gap") {
    if (open != std::string::npos) throw Error(where + ": takes no arguments, write 'gap'");
    l.kind = LayerKind::GlobalAvgPool;
  } else if (name == "relu" || name == "sigmoid" || name == "tanh" || name == "flatten") {
    if (open != std::string::npos) throw Error(where + ": takes no arguments, write '" + name + "'");
    l.kind = name == "relu"      ? LayerKind::ReLU
             : name == "sigmoid" ? LayerKind::Sigmoid
             : name == "tanh"    ? LayerKind::Tanh
                                 : LayerKind::Flatten;
  } else {
    throw Error(where + ": unknown layer kind " + excerpt(name) +
                " (known: conv, dense, relu, sigmoid, tanh, maxpool, avgpool, gap, dropout, "
                "normalize, batchnorm, flatten)");
  }
  return l;
}

// a * b in 64 bits, or Error naming `where` and `what` when it leaves int64: a model text may ask
// for anything. Every operand is already bounded (kMaxDimension, kMaxWindow, kMaxDenseSize), so
// this only guards the products of several of them.
std::int64_t mul(std::int64_t a, std::int64_t b, const std::string& where, const char* what) {
  std::int64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r))
    throw Error(where + ": too large: its " + what + " overflows 64 bits");
  return r;
}

// Throws naming the layer and the quantity unless 0 <= value <= limit.
void within(std::int64_t value, std::int64_t limit, const std::string& where, const std::string& what,
            const char* why) {
  if (value > limit)
    throw Error(where + ": too large: " + what + " " + std::to_string(value) + ", the limit is " +
                std::to_string(limit) + " (" + why + ")");
}

constexpr const char* kWhyValues = "the fast path indexes 16 samples of them with 32-bit ints";
constexpr const char* kWhyParams = "per layer, so that a 32-bit int indexes every weight";
constexpr const char* kWhyFlops = "per layer, so that totals fit 64 bits";

// Conv: channels must match and the kernel fit the padded input; the weights, the FLOPs and the
// fast path's zero-padded copies of the input and of the output gradient are bounded. With stride
// S the output is floor((H + 2P - K) / S) + 1 rows (likewise columns), as in PyTorch: when S does
// not divide H + 2P - K, the last rows and columns of the padded input are in no window (their
// input gradient is 0).
LayerInfo infer_conv(const LayerSpec& l, Shape s, const std::string& where) {
  const std::string got = s.str();
  if (s.flat)
    throw Error(where + ": expects a CxHxW input with " + std::to_string(l.in) +
                " channels, gets a flat vector of " + got);
  if (s.c != l.in)
    throw Error(where + ": expects " + std::to_string(l.in) + " input channels, gets " +
                std::to_string(s.c) + " (input " + got + ")");
  const std::int64_t hp = std::int64_t(s.h) + 2 * std::int64_t(l.pad);
  const std::int64_t wp = std::int64_t(s.w) + 2 * std::int64_t(l.pad);
  if (hp < l.k || wp < l.k)
    throw Error(where + ": kernel " + std::to_string(l.k) + " with padding " +
                std::to_string(l.pad) + " does not fit input " + got);
  const std::int64_t st = l.conv_stride();
  const std::int64_t ho = (hp - l.k) / st + 1, wo = (wp - l.k) / st + 1;
  LayerInfo info;
  info.in = s;
  // ho <= h + 2 pad <= kMaxDimension + 2 kMaxWindow: an int.
  info.out = Shape{l.out, static_cast<int>(ho), static_cast<int>(wo), false};
  within(info.out.size(), kMaxSampleValues, where, "output values per sample", kWhyValues);
  const std::int64_t weights = mul(mul(std::int64_t(l.out) * l.in, l.k, where, "weight count"),
                                   l.k, where, "weight count");
  info.params = weights + l.out;
  within(info.params, kMaxLayerParams, where, "parameters", kWhyParams);
  // The fast path keeps a zero-padded copy of the input and of the output gradient (for
  // the input gradient, padded by k - 1 on every side): the same bound as the activations.
  within(mul(mul(l.in, hp, where, "padded input"), wp, where, "padded input"),
         kMaxSampleValues, where, "padded input values", kWhyValues);
  const std::int64_t gh = ho + 2 * std::int64_t(l.k - 1), gw = wo + 2 * std::int64_t(l.k - 1);
  within(mul(mul(l.out, gh, where, "padded gradient"), gw, where, "padded gradient"),
         kMaxSampleValues, where, "padded output-gradient values", kWhyValues);
  info.flops = mul(mul(2 * ho, wo, where, "FLOP count"), weights, where, "FLOP count");
  return info;
}

// Dense layer i of spec: a flat input of its width; names what feeds it when the widths differ.
LayerInfo infer_dense(const ModelSpec& spec, std::size_t i, Shape s, const std::string& where) {
  const LayerSpec& l = spec.layers[i];
  if (!s.flat)
    throw Error(where + ": expects a flat vector of " + std::to_string(l.in) +
                ", gets " + s.str() + " (add 'flatten' before it)");
  if (s.c != l.in)
    throw Error(where + ": expects " + std::to_string(l.in) + " inputs, gets " +
                std::to_string(s.c) +
                (i > 0 ? " (the output of layer " + std::to_string(i) + " '" +
                             spec.layers[i - 1].text() + "')"
                       : std::string(" (the model input)")));
  within(l.weight_count() + l.bias_count(), kMaxLayerParams, where, "parameters", kWhyParams);
  LayerInfo info;
  info.in = s;
  info.out = Shape{l.out, 1, 1, true};
  info.params = l.weight_count() + l.bias_count();
  info.flops = 2 * std::int64_t(l.out) * l.in;
  return info;
}

// The layers without parameters: pointwise, max-pool, average pools, flatten.
LayerInfo infer_parameterless(const LayerSpec& l, Shape s, const std::string& where) {
  const std::string got = s.str();
  LayerInfo info;
  info.in = s;
  if (l.kind == LayerKind::MaxPool) {
    if (s.flat) throw Error(where + ": expects a CxHxW input, gets a flat vector of " + got);
    if (s.h % l.k != 0 || s.w % l.k != 0)
      throw Error(where + ": input height and width must be divisible by " +
                  std::to_string(l.k) + ", gets " + got);
    info.out = Shape{s.c, s.h / l.k, s.w / l.k, false};
    info.flops = s.size();
  } else if (l.kind == LayerKind::AvgPool) {
    if (s.flat) throw Error(where + ": expects a CxHxW input, gets a flat vector of " + got);
    const int k = l.k, st = l.stride > 0 ? l.stride : l.k;
    // The windows must cover the input exactly: no row or column is silently left out.
    if (s.h < k || s.w < k || (s.h - k) % st != 0 || (s.w - k) % st != 0)
      throw Error(where + ": a " + std::to_string(k) + "x" + std::to_string(k) + " window moved by " +
                  std::to_string(st) + " must cover the input exactly ((H - " + std::to_string(k) +
                  ") and (W - " + std::to_string(k) + ") divisible by " + std::to_string(st) +
                  "), gets " + got);
    info.out = Shape{s.c, (s.h - k) / st + 1, (s.w - k) / st + 1, false};
    info.flops = info.out.size() * k * k;
  } else if (l.kind == LayerKind::GlobalAvgPool) {
    if (s.flat) throw Error(where + ": expects a CxHxW input, gets a flat vector of " + got);
    info.out = Shape{s.c, 1, 1, false};
    info.flops = s.size();
  } else if (l.kind == LayerKind::Flatten) {
    if (s.flat) throw Error(where + ": input is already flat (" + got + ")");
    // s.size() is 64-bit and was checked against kMaxSampleValues (< 2^31) when s was made.
    within(s.size(), kMaxSampleValues, where, "flattened size", kWhyValues);
    info.out = Shape{static_cast<int>(s.size()), 1, 1, true};
  } else if (l.kind == LayerKind::Normalize) {
    for (const auto* v : {&l.mean, &l.stdev})
      if (v->size() != 1 && v->size() != std::size_t(s.c))
        throw Error(where + ": " + std::to_string(v->size()) + " " +
                    (v == &l.mean ? "mean" : "std") + " values for an input of " +
                    std::to_string(s.c) + (s.flat ? " features" : " channels") + " (" + got +
                    "): give one for all or one per " + (s.flat ? "feature" : "channel"));
    info.out = s;
    info.flops = 2 * s.size();
  } else if (l.kind == LayerKind::BatchNorm) {
    // One scale and shift per channel (CxHxW) or per feature (flat); l.in and l.out are s.c.
    info.out = s;
    info.params = l.weight_count() + l.bias_count();
    info.flops = 2 * s.size();
  } else {  // ReLU, Sigmoid, Tanh, Dropout
    info.out = s;
    info.flops = s.size();
  }
  return info;
}

LayerInfo infer_layer(const ModelSpec& spec, std::size_t i, Shape s) {
  const LayerSpec& l = spec.layers[i];
  const std::string where = "layer " + std::to_string(i + 1) + " '" + l.text() + "'";
  LayerInfo info = l.kind == LayerKind::Conv    ? infer_conv(l, s, where)
                   : l.kind == LayerKind::Dense ? infer_dense(spec, i, s, where)
                                                : infer_parameterless(l, s, where);
  // Every size must fit the int arithmetic of both paths.
  within(info.out.size(), kMaxSampleValues, where, "output values per sample", kWhyValues);
  within(info.flops, kMaxLayerFlops, where, "FLOPs per sample", kWhyFlops);
  return info;
}

// Shape inference: fills spec.info, or throws naming the layer and both sizes. Every size is
// computed in 64 bits and checked against the limits of model_spec.hpp before it is narrowed.
void infer_shapes(ModelSpec& spec) {
  spec.info.clear();
  Shape s = spec.input;
  within(s.size(), kMaxSampleValues, "model input " + s.str(), "values per sample", kWhyValues);
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    if (spec.layers[i].kind == LayerKind::BatchNorm) spec.layers[i].in = spec.layers[i].out = s.c;
    spec.info.push_back(infer_layer(spec, i, s));
    s = spec.info.back().out;
  }
  if (spec.layers.empty()) throw Error("model text: no layers");
  if (!s.flat)
    throw Error("model: the last layer '" + spec.layers.back().text() + "' outputs " + s.str() +
                "; softmax cross-entropy needs a flat vector of class scores (end with dense)");
  if (s.c < 2)
    throw Error("model: the last layer '" + spec.layers.back().text() +
                "' outputs 1 value; at least 2 classes are needed");
}

}  // namespace

Shape parse_shape(const std::string& text, const std::string& what) {
  std::vector<std::string> parts;
  std::stringstream ss(text);
  std::string p;
  while (std::getline(ss, p, 'x')) parts.push_back(p);
  if (parts.size() != 3 || text.empty() || text.back() == 'x')
    throw Error(what + ": " + excerpt(text) + " is not of the form CxHxW (e.g. 1x28x28)");
  Shape s;
  s.c = parse_int(parts[0], 1, kMaxDim, what + " channels");
  s.h = parse_int(parts[1], 1, kMaxDim, what + " height");
  s.w = parse_int(parts[2], 1, kMaxDim, what + " width");
  return s;
}

ModelSpec parse_model(const std::string& text, Shape input) {
  if (input.flat || input.c < 1 || input.h < 1 || input.w < 1 || input.c > kMaxDimension ||
      input.h > kMaxDimension || input.w > kMaxDimension)
    throw Error("model input shape " + input.str() + " is invalid (each of C, H, W must be in 1.." +
                std::to_string(kMaxDimension) + ")");
  ModelSpec spec;
  spec.input = input;
  const auto tokens = tokenize(text);
  if (tokens.size() > kMaxLayers)
    throw Error("model text: " + std::to_string(tokens.size()) + " layers, at most " +
                std::to_string(kMaxLayers));
  for (std::size_t i = 0; i < tokens.size(); ++i)
    spec.layers.push_back(parse_layer(tokens[i], static_cast<int>(i + 1)));
  infer_shapes(spec);
  return spec;
}

const BuiltinModel* find_builtin(const std::string& name) {
  for (const BuiltinModel& b : kBuiltinModels)
    if (name == b.name) return &b;
  return nullptr;
}

ModelSpec model_from_name(const std::string& name_or_text, const Shape* input) {
  if (const BuiltinModel* b = find_builtin(name_or_text))
    return parse_model(b->text, input ? *input : b->input);
  return parse_model(name_or_text, input ? *input : Shape{1, 8, 8});
}

ModelSpec parse_full_text(const std::string& full_text) {
  const auto colon = full_text.find(':');
  if (colon == std::string::npos)
    throw Error("model record " + excerpt(full_text) + " has no input shape");
  const std::string shape(trim(std::string_view(full_text).substr(0, colon)));
  return parse_model(full_text.substr(colon + 1), parse_shape(shape, "recorded input shape"));
}

}  // namespace scratchcnn
