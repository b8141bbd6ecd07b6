// The one convolution geometry (ConvGeom's factories: the output-size formulas) and the one
// layer table of both networks (models/sfm_layers.h): the modules are built from it in its
// declaration order, and its sizes are the ones the networks produce.
#include <catch2/catch.hpp>

#include "tests/test_support.h"

#include <string>
#include <vector>

#include "engine/ops.h"
#include "models/dispnet.h"
#include "models/posenet.h"
#include "models/sfm_layers.h"

using namespace sfm;

TEST_CASE("conv geometry: factories give the ops' output sizes", "[conv]") {
  // conv1 of both networks at 128x416: (128 + 6 - 7)/2 + 1 = 64, (416 + 6 - 7)/2 + 1 = 208.
  const ConvGeom c1 = ConvGeom::conv(4, 3, 128, 416, 32, 7, 2, 3);
  CHECK(c1.Ho == 64);
  CHECK(c1.Wo == 208);
  CHECK(c1.consistent());
  CHECK(c1.K() == 3 * 49);
  CHECK(c1.P() == 64 * 208);
  // A kernel larger than the padded input: no output, not consistent.
  const ConvGeom big = ConvGeom::conv(1, 1, 2, 2, 1, 7, 1, 1);
  CHECK(big.Ho == 0);
  CHECK_FALSE(big.consistent());
  // The ops agree with the factories (conv2d and conv_transpose2d, odd sizes, every stride residue).
  Rng rng(5);
  for (int s = 1; s <= 3; ++s)
    for (int k : {1, 2, 3, 4, 5}) {
      const int p = k / 2;
      for (int op = 0; op < s; ++op) {
        INFO("k " << k << " s " << s << " p " << p << " op " << op);
        const ConvGeom g = ConvGeom::conv(2, 3, 9, 11, 4, k, s, p);
        Tensor y = conv2d(rand_uniform(Shape{2, 3, 9, 11}, rng), rand_uniform(Shape{4, 3, k, k}, rng), Tensor(), s, p);
        CHECK(y.shape() == Shape{2, 4, g.Ho, g.Wo});
        // transposed: x [2,4,5,6] * w [4,3,k,k] -> [2,3,H,W]; the adjoint convolution maps back to 5x6.
        const ConvGeom t = ConvGeom::transposed(2, 4, 5, 6, 3, k, s, p, op);
        CHECK(t.O == 4);
        CHECK(t.C == 3);
        CHECK(t.Ho == 5);
        CHECK(t.Wo == 6);
        CHECK(t.H == (5 - 1) * s - 2 * p + k + op);
        if (t.H < 1 || t.W < 1) continue;
        CHECK(t.consistent());
        Tensor z = conv_transpose2d(rand_uniform(Shape{2, 4, 5, 6}, rng), rand_uniform(Shape{4, 3, k, k}, rng),
                                    Tensor(), s, p, op);
        CHECK(z.shape() == Shape{2, 3, t.H, t.W});
      }
    }
}

namespace {

// The module's parameters are the table's layers in declaration order, weight then bias, with
// the table's shapes.
void check_module_matches(const Module& m, const std::vector<LayerSpec>& layers) {
  const std::vector<LayerSpec> decl = in_declaration_order(layers);
  REQUIRE(m.param_names().size() == 2 * decl.size());
  int64_t count = 0;
  for (size_t i = 0; i < decl.size(); ++i) {
    const LayerSpec& l = decl[i];
    INFO(l.full_name());
    CHECK(l.declared == (int)i);
    CHECK(m.param_names()[2 * i] == l.param + ".weight");
    CHECK(m.param_names()[2 * i + 1] == l.param + ".bias");
    const Shape w = l.transposed ? Shape{l.in_channels, l.out_channels, l.k, l.k}
                                 : Shape{l.out_channels, l.in_channels, l.k, l.k};
    CHECK(m.parameters()[2 * i].shape() == w);
    CHECK(m.parameters()[2 * i + 1].shape() == Shape{l.out_channels});
    count += l.num_parameters();
  }
  CHECK(count == m.num_parameters());
}

}  // namespace

TEST_CASE("layer table: the networks are built from it, in its declaration order", "[models][conv]") {
  check_module_matches(DispNet(3), dispnet_layers());
  for (PoseExpNetConfig pc : {PoseExpNetConfig{2, true, MaskMode::Sigmoid}, PoseExpNetConfig{2, false},
                              PoseExpNetConfig{4, true, MaskMode::Softmax}}) {
    INFO("sources " << pc.num_sources << " explainability " << pc.explainability);
    check_module_matches(PoseExpNet(pc, 3), posenet_layers(pc));
  }
  CHECK_THROWS_WITH(find_layer(dispnet_layers(), "conv9a"), Catch::Contains("dispnet has no layer 'conv9a'"));
}

TEST_CASE("layer table: sizes are the ones the networks produce", "[models][conv]") {
  // 50x70: odd sizes at every level (50 70 -> 25 35 -> 13 18 -> 7 9 -> 4 5 -> 2 3 -> 1 2 -> 1 1).
  const int64_t N = 1, H = 50, W = 70;
  const std::vector<ConvLayer> disp = at_size(dispnet_layers(), N, H, W);
  auto find = [](const std::vector<ConvLayer>& v, const std::string& name) -> const ConvLayer& {
    for (const ConvLayer& l : v)
      if (l.spec.name == name) return l;
    FAIL("no layer " << name);
    return v.front();
  };
  CHECK(find(disp, "conv1a").in_shape() == Shape{1, 3, 50, 70});
  CHECK(find(disp, "conv1a").out_shape() == Shape{1, 32, 25, 35});
  CHECK(find(disp, "conv7b").out_shape() == Shape{1, 512, 1, 1});
  // upconv7 doubles the 1x1 map, then the network crops to level 6 (1x2): the overshoot the
  // crop removes is at most one row/column.
  CHECK(find(disp, "upconv7").out_shape() == Shape{1, 512, 2, 2});
  CHECK(find(disp, "iconv7").in_shape() == Shape{1, 1024, 1, 2});
  CHECK(find(disp, "iconv1").in_shape() == Shape{1, 17, 50, 70});
  // The disparity heads' outputs are the shapes DispNet::forward returns.
  DispNet d(1);
  std::vector<Tensor> disps = d.forward(Tensor::zeros(Shape{N, 3, H, W}));
  for (int level = 1; level <= 4; ++level)
    CHECK(find(disp, "disp" + std::to_string(level)).out_shape() == disps[level - 1].shape());
  // PoseExpNet: 9 input channels for 2 sources, the pose head on the 1x1 map, masks per source.
  const std::vector<ConvLayer> pose = at_size(posenet_layers({2, true}), N, H, W);
  CHECK(find(pose, "conv1").in_shape() == Shape{1, 9, 50, 70});
  CHECK(find(pose, "pose_pred").in_shape() == Shape{1, 256, 1, 1});
  CHECK(find(pose, "pose_pred").out_shape() == Shape{1, 12, 1, 1});
  PoseExpNet p({2, true}, 2);
  const Tensor x = Tensor::zeros(Shape{N, 3, H, W});
  PoseExpOutput o = p.forward(x, {x, x});
  for (int level = 1; level <= 4; ++level)
    CHECK(find(pose, "mask" + std::to_string(level)).out_shape() == o.masks[level - 1].shape());
  // The whole table at the training size: every geometry consistent, both networks, in order.
  const std::vector<ConvLayer> all = sfmlearner_conv_layers(4, 128, 416, 2);
  CHECK(all.size() == dispnet_layers().size() + posenet_layers({2, true}).size());
  CHECK(all.front().spec.full_name() == "dispnet conv1a");
  CHECK(all.back().spec.full_name() == "posenet mask1");
  for (const ConvLayer& l : all) {
    INFO(l.spec.full_name());
    CHECK(l.geom.consistent());
    CHECK(l.geom.N == 4);
  }
  CHECK(sfmlearner_conv_layers(1, 128, 416, 2, false).size() == dispnet_layers().size() + 8);  // no mask decoder
}
