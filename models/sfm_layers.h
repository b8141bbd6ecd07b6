#pragma once
// The layer table of SfMLearner's two networks, DispNet and PoseExpNet (docs/DESIGN.md
// "Models"), defined once: every convolution layer with its parameters' name, kind, channels,
// kernel, stride, padding, activation and the scale of its input. models/dispnet.cpp and
// models/posenet.cpp build their parameters and run their layers from it; the kernel tests,
// `sfm bench ops`, `sfm bench kernels` and the roofline of `sfm bench train` take the layer
// shapes from it (sfmlearner_conv_layers), so all of them cover exactly what training runs.
// Only the wiring (skips, concatenations, crops, heads) lives in the networks' forward().
#include <cstdint>
#include <string>
#include <vector>

#include "boundary/op_types.h"  // ConvGeom, Activation
#include "engine/tensor.h"

namespace sfm {

// How PoseExpNet is built.
enum class MaskMode { Sigmoid, Softmax };  // one sigmoid channel per source (port) | 2-class softmax (original)

struct PoseExpNetConfig {
  int num_sources = 2;         // sequence length - 1
  bool explainability = true;  // build the mask decoder (only when its loss weight > 0)
  MaskMode mask_mode = MaskMode::Sigmoid;
};

// One layer of a network, independent of the image size.
struct LayerSpec {
  std::string net;    // "dispnet" | "posenet"
  std::string name;   // "conv1a", "upconv7", "iconv7", "disp4", "pose_pred", "mask4"
  std::string param;  // prefix of its parameters in the module: "conv1.0" -> conv1.0.weight, conv1.0.bias
  bool transposed = false;              // conv_transpose2d (weight [in,out,k,k]) or conv2d ([out,in,k,k])
  int64_t in_channels = 0, out_channels = 0;
  int k = 1, stride = 1, pad = 0, output_padding = 0;
  Activation act = Activation::None;
  // The input's size: the image's halved `level` times, as the stride-2 encoder rounds it
  // (level 0: the image; each stride-2 layer of level l produces level l + 1). A transposed
  // layer's output is cropped by the network to level - 1.
  int level = 0;
  bool image_input = false;  // the network's first layer: its input (the images) needs no gradient
  int declared = 0;          // position in the module's parameter order (the PyTorch port's state-dict order)

  std::string full_name() const { return net + " " + name; }  // "dispnet conv1a"
  int64_t num_parameters() const { return in_channels * out_channels * k * k + out_channels; }
};

// y = act(conv(x, w) + b) or act(conv_transpose(x, w) + b) with the layer's stride, padding
// and output padding: how a network runs a layer.
Tensor apply_layer(const LayerSpec& l, const Tensor& x, const Tensor& w, const Tensor& b);

// The layers in forward order (DispNet: encoder, then per decoder level upconv, iconv, disp).
std::vector<LayerSpec> dispnet_layers();
std::vector<LayerSpec> posenet_layers(const PoseExpNetConfig& cfg = {});
// The same layers in parameter-declaration order (LayerSpec::declared): the order a module
// registers and initialises them, which fixes the initial weights for a seed.
std::vector<LayerSpec> in_declaration_order(std::vector<LayerSpec> layers);
// The layer called `name` ("conv1a"); an error naming the network if there is none.
const LayerSpec& find_layer(const std::vector<LayerSpec>& layers, const std::string& name);

// A layer at a batch and image size: its geometry in convolution terms (ConvGeom; a
// transposed layer: the convolution it is the adjoint of, ConvGeom::transposed).
struct ConvLayer {
  LayerSpec spec;
  ConvGeom geom;
  // The layer's own input, weight and output shapes (for a transposed layer: input
  // [N,O,Ho,Wo], weight [O,C,k,k], output [N,C,H,W] of geom).
  Shape in_shape() const;
  Shape weight_shape() const { return Shape{geom.O, geom.C, geom.k, geom.k}; }
  Shape out_shape() const;
  int64_t out_channels() const { return spec.out_channels; }
  double flops() const { return geom.flops(); }  // one pass; each backward pass has the same count
};

// Every layer at batch N and an H x W image, with the sizes the networks produce (the
// encoder's outputs define the levels; upconvs overshoot by at most a row/column, cropped).
std::vector<ConvLayer> at_size(const std::vector<LayerSpec>& layers, int64_t N, int64_t H, int64_t W);
// DispNet then PoseExpNet (num_sources sources, sigmoid masks; explainability: the mask
// decoder) at batch N and H x W: every convolution one training step runs.
std::vector<ConvLayer> sfmlearner_conv_layers(int64_t N, int64_t H, int64_t W, int num_sources = 2,
                                              bool explainability = true);

}  // namespace sfm
