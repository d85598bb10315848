// Loads a parameter file or checkpoint written by `scratchcnn train --save` and classifies the
// images of an optdigits-format file (64 pixels 0..16 and a label per row), printing one line per
// image: its index and predicted class.
//   classify MODEL.bin DIGITS.csv
#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "scratchcnn/checkpoint.hpp"
#include "scratchcnn/data/dataset.hpp"
#include "scratchcnn/network.hpp"
#include "scratchcnn/trainer.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s MODEL.bin DIGITS.csv\n", argv[0]);
    return 2;
  }
  try {
    // The file records its model, so none needs to be named here. It is read bounded by its own
    // header, so a wrong file is refused early and cheaply.
    const scratchcnn::LoadedModel model = scratchcnn::load_model(argv[1]);
    const scratchcnn::ModelSpec& spec = model.spec;
    const scratchcnn::data::Dataset images = scratchcnn::data::load_optdigits(argv[2]);
    // The model must take these images (shape and classes): a LeNet-5 file and 8x8 rows do not
    // fit, and the error says so instead of predicting from the wrong pixels.
    scratchcnn::check_data_fits(spec, images);

    // The checkpoint's convolution algorithm, so that the logits are those of the run that made it.
    auto net = scratchcnn::make_network(scratchcnn::PathKind::Fast, spec, model.params,
                                        model.network_options());
    const int classes = spec.classes();
    std::vector<float> logits(std::size_t(images.size()) * classes);
    // Sized views: predict checks both sizes against the model and throws on a mismatch.
    net->predict(images.images, logits);

    int right = 0;
    for (int i = 0; i < images.size(); ++i) {
      const float* z = logits.data() + std::size_t(i) * classes;
      const int label = static_cast<int>(std::max_element(z, z + classes) - z);
      right += label == images.labels[std::size_t(i)];
      std::printf("%d %d\n", i, label);
    }
    std::fprintf(stderr, "%d of %d images classified as their label says\n", right, images.size());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "classify: error: %s\n", e.what());
    return 1;
  }
}
