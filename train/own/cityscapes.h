#pragma once
// `sfm prepare --cityscapes ROOT`: Cityscapes' video snippets -> the formatted layout.
//
// Reads ROOT/leftImg8bit_sequence/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png (30-frame
// snippets around each annotated frame) and ROOT/camera/<split>/<city>/<city>_<seq>_*_camera.json
// (fields intrinsic.fx, fy, u0, v0; the first such file of the snippet, in name order, as
// SfMLearner's cityscapes_loader.py globs it). One scene "<city>_<seq>" per snippet, frames in
// frame-number order, written by own::prepare_sequences(): the car-hood band is cut as
// SfMLearner does (it resizes to 171 rows and keeps the top int(0.75 * 171) = 128; here the
// bottom int(0.25 * h0) input rows, 256 of 1024, are cropped before one resize, so K follows
// the crop and the resize exactly), then --stride, the motion filter and the resize.
#include <string>
#include <vector>

#include "train/own/own_camera.h"

namespace sfm::own {

constexpr double kCityscapesHoodFraction = 0.25;

// The snippets of the given splits ("train", "val", "test", "train_extra"), sorted by scene
// name. Errors name the folder or file (missing tree, a snippet without camera JSON, a JSON
// without intrinsic.fx/fy/u0/v0).
std::vector<ImageSequence> cityscapes_sequences(const std::string& root, const std::vector<std::string>& splits);
// K of one camera JSON file.
Eigen::Matrix3d read_cityscapes_camera(const std::string& path);

}  // namespace sfm::own
